// The web console (GET /console): a page that holds one <headstart-console> element. Everything
// it shows comes from the public API with the reader's own key, which never reaches this route.
import { Hono } from 'hono';
import type { AppEnv } from '../env.js';
import { PAGE_SECURITY_HEADERS } from './embed.js';

const STYLE = `
:root { --fg: #1b1f24; --bg: #fdfdfc; --accent: #0b5cad; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header, main { max-width: 72rem; margin: 0 auto; padding: 0 1rem; }
header { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: baseline; padding-top: 1rem; }
header h1 { font-size: 1.5rem; margin: 0; }
a { color: var(--accent); }
a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
headstart-console { margin-top: .5rem; }
`;

/** The console page: static, so it may be cached; the key lives in the reader's browser only. */
export function renderConsolePage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Console · Headstart</title>
<meta name="description" content="Your Headstart datasets, fine-tune jobs, heads and aliases.">
<style>${STYLE}</style>
<script type="module" src="/widgets.js"></script>
</head>
<body>
<header><h1>Headstart console</h1><a href="/">Home</a><a href="/docs">API reference</a></header>
<main>
<headstart-console><p>The console needs JavaScript: it runs in this page and calls the Headstart API with your key.</p></headstart-console>
</main>
</body>
</html>`;
}

export const consoleRoutes = new Hono<AppEnv>().get('/console', (c) =>
  c.html(renderConsolePage(), 200, {
    ...PAGE_SECURITY_HEADERS.lesson,
    'cache-control': 'public, max-age=300',
  }),
);
