// A highlight.js language definition, opaque to the edge (see highlight.d.ts).
declare const language: unknown;
export default language;
