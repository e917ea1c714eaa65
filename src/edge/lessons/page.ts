// The readable lesson page: server-rendered HTML with its own stylesheet, highlighted code, and
// the widgets script; it reads well on a phone and without JavaScript.
import { escapeHtml } from '../html/escape.js';
import { lessonLink, type Lesson, type LessonLink } from './catalog.js';

const STYLE = `
:root { --fg: #1b1f24; --bg: #fdfdfc; --muted: #57606a; --accent: #0b5cad; --code-bg: #f4f5f7; --rule: #d8dee4;
  color-scheme: light dark; --headstart-fg: var(--fg); --headstart-bg: var(--bg); --headstart-muted: var(--muted); --headstart-accent: var(--accent); }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0f1419; --muted: #9da7b3; --accent: #6cb6ff; --code-bg: #161b22; --rule: #30363d; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 1.0625rem/1.65 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main, header.top, nav.pager { max-width: 46rem; margin: 0 auto; padding: 0 1.25rem; }
header.top { padding-top: 1.5rem; color: var(--muted); font-size: .9rem; }
header.top a { color: inherit; }
h1 { font-size: clamp(1.8rem, 4vw, 2.4rem); line-height: 1.2; margin: .4rem 0 .6rem; }
h2 { margin-top: 2.4rem; padding-top: .6rem; border-top: 1px solid var(--rule); }
h2, h3 { line-height: 1.3; }
.anchor { margin-left: -1.1em; padding-right: .3em; color: var(--muted); text-decoration: none; opacity: 0; }
h2:hover .anchor, h3:hover .anchor, .anchor:focus { opacity: 1; }
a { color: var(--accent); }
p.meta { color: var(--muted); margin-top: 0; }
figure.code { position: relative; margin: 1.2rem 0; }
figure.code pre { background: var(--code-bg); padding: 1rem; border-radius: 8px; overflow-x: auto; font-size: .875rem; line-height: 1.5; }
figure.code pre:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
:not(pre) > code { background: var(--code-bg); padding: .1em .3em; border-radius: 4px; font-size: .9em; }
.code-lang { position: absolute; right: .6rem; top: .3rem; font-size: .75rem; color: var(--muted); }
.table { overflow-x: auto; }
.table:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { border-bottom: 1px solid var(--rule); padding: .45rem .6rem; text-align: left; vertical-align: top; }
.widget-fallback { border: 1px dashed var(--rule); border-radius: 8px; padding: .8rem 1rem; color: var(--muted); }
headstart-quiz, headstart-classifier, headstart-trainer, headstart-strategies { display: block; margin: 1.5rem 0; }
nav.pager { display: flex; justify-content: space-between; gap: 1rem; padding-top: 2rem; padding-bottom: 3rem; border-top: 1px solid var(--rule); margin-top: 3rem; }
nav.pager .soon { color: var(--muted); }
.hljs-keyword, .hljs-built_in { color: #cf222e; } .hljs-string { color: #0a3069; } .hljs-comment { color: #57606a; font-style: italic; }
.hljs-number, .hljs-literal { color: #0550ae; } .hljs-title, .hljs-title.function_ { color: #8250df; } .hljs-attr, .hljs-variable { color: #953800; }
@media (prefers-color-scheme: dark) { .hljs-keyword, .hljs-built_in { color: #ff7b72; } .hljs-string { color: #a5d6ff; } .hljs-comment { color: #8b949e; }
  .hljs-number, .hljs-literal { color: #79c0ff; } .hljs-title, .hljs-title.function_ { color: #d2a8ff; } .hljs-attr, .hljs-variable { color: #ffa657; } }
`;

function pagerLink(link: LessonLink | null, rel: 'prev' | 'next'): string {
  if (!link) return '<span></span>';
  const arrow = rel === 'prev' ? '← ' : '';
  const after = rel === 'next' ? ' →' : '';
  return link.available
    ? `<a rel="${rel}" href="${escapeHtml(link.url!)}">${arrow}${escapeHtml(link.title ?? link.id)}${after}</a>`
    : `<span class="soon">${arrow}${escapeHtml(link.id)} (coming soon)${after}</span>`;
}

/** The complete HTML document for one lesson. */
export function renderLessonPage(lesson: Lesson): string {
  const fm = lesson.frontmatter;
  const html = lesson.html
    // A table wider than a phone scrolls: focusable, so a keyboard can scroll it too.
    .replaceAll(
      '<table>',
      '<div class="table" tabindex="0" role="region" aria-label="table"><table>',
    )
    .replaceAll('</table>', '</table></div>');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(fm.title)} · Headstart</title>
<meta name="description" content="${escapeHtml(fm.summary)}">
<style>${STYLE}</style>
<script type="module" src="/widgets.js"></script>
</head>
<body>
<header class="top"><a href="/v1/lessons">Lessons</a> · ${escapeHtml(fm.section)} · lesson ${fm.order}</header>
<main>
<p class="meta">${fm.duration} minutes</p>
${html}
</main>
<nav class="pager" aria-label="Lessons">${pagerLink(lessonLink(fm.previous), 'prev')}${pagerLink(lessonLink(fm.next), 'next')}</nav>
</body>
</html>`;
}
