// The slice of highlight.js the edge uses. Its own typings reference the DOM library, which would
// leak browser types into the Worker program, so tsconfig.edge.json maps the imports here.
declare const hljs: {
  registerLanguage(name: string, language: unknown): void;
  registerAliases(aliases: string[], opts: { languageName: string }): void;
  getLanguage(name: string): object | undefined;
  highlight(code: string, opts: { language: string }): { value: string };
};
export default hljs;
