// The widgets' shared stylesheet. Themable through CSS custom properties on the element or any
// ancestor; the defaults pass WCAG AA (fg 15.8:1, muted and accent 6.4:1 on white, white on
// accent 6.4:1). Colour is never the only signal: states also carry text or shape.

const CSS = `
:host {
  --_accent: var(--headstart-accent, #0b57d0);
  --_bg: var(--headstart-bg, #ffffff);
  --_fg: var(--headstart-fg, #1f2328);
  --_muted: var(--headstart-muted, #57606a);
  --_font: var(--headstart-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
  --_radius: var(--headstart-radius, 8px);
  --_ok: #1a7f37;
  --_bad: #b3261e;
  display: block;
  box-sizing: border-box;
  max-width: 100%;
  margin: 1rem 0;
  padding: 1rem;
  border: 1px solid var(--_muted);
  border-radius: var(--_radius);
  background: var(--_bg);
  color: var(--_fg);
  font-family: var(--_font);
  font-size: 1rem;
  line-height: 1.5;
}
:host([hidden]) { display: none; }
*, *::before, *::after { box-sizing: inherit; }
[hidden] { display: none !important; }
h3, h4 { margin: 0 0 0.5rem; font-size: 1.1rem; line-height: 1.3; }
h4 { font-size: 1rem; }
p { margin: 0.5rem 0; }
.muted { color: var(--_muted); font-size: 0.9rem; }
.visually-hidden {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
button, input, select { font: inherit; color: inherit; }
button {
  padding: 0.45rem 1rem; border: 2px solid var(--_accent); border-radius: var(--_radius);
  background: var(--_accent); color: var(--_bg); cursor: pointer; font-weight: 600;
}
button.secondary { background: transparent; color: var(--_accent); }
button:disabled { opacity: 0.55; cursor: not-allowed; }
:focus-visible, .dropzone:focus-within { outline: 3px solid var(--_accent); outline-offset: 2px; }
input[type='text'], input[type='password'] {
  padding: 0.35rem 0.5rem; border: 1px solid var(--_muted); border-radius: calc(var(--_radius) / 2);
  background: var(--_bg);
}
input[type='radio'], input[type='range'], input[type='checkbox'] { accent-color: var(--_accent); }
fieldset {
  margin: 0 0 1rem; padding: 0.75rem 1rem; border: 1px solid var(--_muted);
  border-radius: var(--_radius);
}
legend { padding: 0 0.25rem; font-weight: 600; }
.option { display: flex; gap: 0.5rem; align-items: baseline; padding: 0.2rem 0; cursor: pointer; }
.actions { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0.75rem 0; }
.alert {
  margin: 0.75rem 0; padding: 0.5rem 0.75rem; border-left: 4px solid var(--_bad);
  border-radius: calc(var(--_radius) / 2); background: var(--_bg); color: var(--_fg);
}
.verdict { margin: 0.5rem 0 0; padding-left: 0.75rem; border-left: 4px solid var(--_muted); }
.verdict.right { border-left-color: var(--_ok); }
.verdict.wrong { border-left-color: var(--_bad); border-left-style: double; border-left-width: 6px; }
.verdict strong { margin-right: 0.35rem; }
.score { font-size: 1.1rem; font-weight: 700; }
.dropzone {
  display: flex; flex-direction: column; align-items: center; justify-content: center; gap: 0.25rem;
  min-height: 7rem; padding: 1rem; border: 2px dashed var(--_muted); border-radius: var(--_radius);
  text-align: center; cursor: pointer;
}
.dropzone.over { border-style: solid; border-color: var(--_accent); }
.dropzone .cta { color: var(--_accent); font-weight: 600; text-decoration: underline; }
.preview { display: block; max-width: 100%; max-height: 16rem; margin: 0.75rem auto; border-radius: var(--_radius); }
.bars { list-style: none; margin: 0.5rem 0; padding: 0; }
.bars li { display: grid; grid-template-columns: minmax(6rem, 1fr) 2fr 4rem; gap: 0.5rem; align-items: center; padding: 0.15rem 0; }
.bars .label { overflow-wrap: anywhere; }
.bars .value { text-align: right; font-variant-numeric: tabular-nums; }
.track { display: block; height: 0.75rem; border: 1px solid var(--_muted); border-radius: 999px; overflow: hidden; }
.fill { display: block; height: 100%; background: var(--_accent); }
.classes { display: grid; gap: 0.75rem; }
.class-row { display: grid; grid-template-columns: 1fr 1fr auto; gap: 0.5rem; align-items: end; }
.class-row label { display: flex; flex-direction: column; gap: 0.2rem; font-size: 0.9rem; }
@media (max-width: 32rem) { .class-row { grid-template-columns: 1fr; } }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
.chart { width: 100%; height: auto; color: var(--_fg); }
.chart .axis { stroke: var(--_muted); }
.chart text { fill: var(--_fg); font-size: 11px; }
.chart .train { stroke: var(--_accent); fill: none; stroke-width: 2; }
.chart .val { stroke: var(--_fg); fill: none; stroke-width: 2; stroke-dasharray: 5 3; }
.chart circle.train { fill: var(--_accent); }
.chart circle.val { fill: var(--_bg); stroke-width: 1.5; stroke-dasharray: none; }
.legend { display: flex; gap: 1rem; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.25rem; }
th, td { padding: 0.3rem 0.6rem; border: 1px solid var(--_muted); text-align: center; }
th { font-weight: 600; }
td.diagonal { font-weight: 700; outline: 2px solid var(--_accent); outline-offset: -3px; }
.table-scroll { overflow-x: auto; }
.rejected { margin: 0.25rem 0; padding-left: 1.25rem; font-size: 0.9rem; }
.strategy { margin: 0 0 1rem; }
.blocks { display: block; width: 100%; height: auto; }
.blocks .frozen { fill: var(--_bg); stroke: var(--_muted); }
.blocks .trainable { fill: var(--_accent); stroke: var(--_accent); }
.blocks .head { fill: var(--_fg); stroke: var(--_fg); }
.blocks text { fill: var(--_muted); font-size: 10px; }
.slider { display: flex; gap: 0.75rem; align-items: center; flex-wrap: wrap; }
.slider input { flex: 1 1 12rem; }
.tradeoff { display: block; width: 100%; max-width: 34rem; height: auto; }
.tradeoff .axis { stroke: var(--_muted); }
.tradeoff text { fill: var(--_muted); font-size: 10px; }
.tradeoff text.name { fill: var(--_fg); paint-order: stroke; stroke: var(--_bg); stroke-width: 3px; }
.tradeoff .pair { stroke: var(--_muted); stroke-dasharray: 2 2; }
.tradeoff .hym { fill: var(--_accent); }
.tradeoff .flo { fill: var(--_bg); stroke: var(--_fg); stroke-width: 1.5; }
.tradeoff .current text.name { font-weight: 700; }
tr[aria-current] th { outline: 2px solid var(--_accent); outline-offset: -3px; }
.key { display: block; margin: 0 0 1rem; }
.key input { display: block; width: 100%; max-width: 26rem; margin-top: .25rem; }
@media (prefers-reduced-motion: no-preference) { .fill { transition: width 0.3s ease-out; } }
`;

let shared: CSSStyleSheet | null = null;

/**
 * Gives a shadow root the widgets' stylesheet. A constructed stylesheet is shared by every
 * element and is not subject to a page's `style-src` policy; browsers without one get a <style>.
 *
 * @example
 * adoptStyles(this.attachShadow({ mode: 'open' }));
 */
export function adoptStyles(root: ShadowRoot): void {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet === 'function') {
    try {
      shared ??= new CSSStyleSheet();
      if (shared.cssRules.length === 0) shared.replaceSync(CSS);
      root.adoptedStyleSheets = [shared];
      return;
    } catch {
      // Constructable stylesheets unsupported: fall through to a <style> element.
    }
  }
  const style = document.createElement('style');
  style.textContent = CSS;
  root.append(style);
}
