// The landing page (GET /): what Headstart is, where to go next, a first request to copy, and —
// on a local system only — whether a worker is connected to train.
import { Hono } from 'hono';
import type { AppEnv } from '../env.js';
import { escapeHtml } from '../html/escape.js';
import { lessons } from '../lessons/catalog.js';
import { PAGE_SECURITY_HEADERS } from './embed.js';

/** A worker that asked for work this recently counts as connected (its long polls last 20 s). */
export const CONNECTED_SECONDS = 60;

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

const STYLE = `
:root { --fg: #1b1f24; --bg: #fdfdfc; --muted: #57606a; --accent: #0b5cad; --code-bg: #f4f5f7; --rule: #d8dee4;
  --ok: #1a7f37; --warn: #9a6700; color-scheme: light dark; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0f1419; --muted: #9da7b3; --accent: #6cb6ff;
  --code-bg: #161b22; --rule: #30363d; --ok: #3fb950; --warn: #d29922; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 1.0625rem/1.6 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 46rem; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
h1 { font-size: clamp(1.9rem, 5vw, 2.6rem); margin: 0 0 .5rem; line-height: 1.15; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; }
p.lead { font-size: 1.15rem; margin: 0 0 1.5rem; }
a { color: var(--accent); }
ul.links { list-style: none; padding: 0; display: grid; grid-template-columns: repeat(auto-fit, minmax(13rem, 1fr)); gap: .75rem; }
ul.links a { display: block; border: 1px solid var(--rule); border-radius: 8px; padding: .8rem 1rem; text-decoration: none; height: 100%; }
ul.links a:hover, ul.links a:focus-visible { border-color: var(--accent); }
ul.links strong { display: block; }
ul.links span { color: var(--muted); font-size: .9rem; }
pre { background: var(--code-bg); padding: 1rem; border-radius: 8px; overflow-x: auto; font-size: .875rem; line-height: 1.5; user-select: all; }
pre:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.status { border-left: 4px solid var(--rule); padding: .5rem 1rem; }
.status.ok { border-color: var(--ok); } .status.none { border-color: var(--warn); }
.muted { color: var(--muted); font-size: .95rem; }
`;

interface WorkerStatus {
  readonly connected: number;
  readonly lastSeenAt: string | null;
  readonly providers: readonly string[];
}

async function workerStatus(db: D1Database): Promise<WorkerStatus> {
  const since = new Date(Date.now() - CONNECTED_SECONDS * 1000).toISOString();
  const { results } = await db
    .prepare(
      'SELECT provider, last_seen_at AS lastSeenAt FROM workers WHERE last_seen_at >= ? ORDER BY last_seen_at DESC LIMIT 100',
    )
    .bind(since)
    .all<{ provider: string | null; lastSeenAt: string }>();
  return {
    connected: results.length,
    lastSeenAt: results[0]?.lastSeenAt ?? null,
    providers: [...new Set(results.map((r) => r.provider ?? 'unknown'))],
  };
}

function statusHtml(status: WorkerStatus): string {
  if (status.connected === 0)
    return `<p class="status none" role="status"><strong>No worker connected.</strong> Uploads and
classification work; fine-tune jobs wait in the queue until a worker asks for them
(<code>npm start</code> runs one; <code>npm run worker</code> starts another).</p>`;
  return `<p class="status ok" role="status"><strong>${status.connected} worker${status.connected > 1 ? 's' : ''} connected</strong>
(${escapeHtml(status.providers.join(', '))}), ready to train fine-tune jobs.</p>`;
}

function renderHome(origin: string, status: WorkerStatus | null): string {
  const lesson = [...lessons().values()][0];
  const photo = 'bee.jpg';
  const request = `curl -H 'content-type: image/jpeg' --data-binary @${photo} \\
  '${origin}/v1/classify?topK=3'`;
  const lessonLink = lesson
    ? `<li><a href="/lessons/${escapeHtml(lesson.frontmatter.id)}"><strong>The lesson</strong><span>${escapeHtml(lesson.frontmatter.title)}: ${lesson.frontmatter.duration} minutes, with widgets and a quiz</span></a></li>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Headstart · transfer learning for computer vision</title>
<meta name="description" content="Learn transfer learning, then use it: classify photos at the edge and train your own heads on a pretrained backbone in minutes.">
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Headstart</h1>
<p class="lead">A backbone pretrained on ImageNet already knows edges, textures and object parts,
so a small head trained on a few hundred of your labelled photos makes a good classifier in
minutes. Headstart teaches how that works and runs it for you: classification at the edge, and
fine-tune jobs on GPU workers.</p>
${status ? statusHtml(status) : ''}
<h2>Start here</h2>
<ul class="links">
${lessonLink}
<li><a href="/console"><strong>Console</strong><span>your datasets, fine-tunes, heads and aliases, with your API key</span></a></li>
<li><a href="/docs"><strong>API reference</strong><span>every route, with its errors and limits</span></a></li>
<li><a href="/openapi.json"><strong>OpenAPI document</strong><span>generate a client from it</span></a></li>
<li><a href="/v1/models"><strong>Backbones</strong><span>the pretrained models you can classify with and train on</span></a></li>
</ul>
<h2>Your first request</h2>
<p>Classify a photo with a pretrained backbone (no key needed):</p>
<pre tabindex="0" aria-label="A first request"><code>${escapeHtml(request)}</code></pre>
<p class="muted">Training your own head needs an API key: upload an ImageFolder dataset to
<code>/v1/datasets</code>, submit <code>/v1/fine-tunes</code>, then classify with
<code>?model=head_…</code>. The <code>headstart</code> CLI does each step in one command.</p>
</main>
</body>
</html>`;
}

export const homeRoutes = new Hono<AppEnv>().get('/', async (c) => {
  const url = new URL(c.req.url);
  // Only a local system says whether a worker is connected: it is how a developer knows that
  // jobs will run, and nobody else's business.
  const status = LOCAL_HOSTS.has(url.hostname) ? await workerStatus(c.env.DB) : null;
  return c.html(renderHome(url.origin, status), 200, {
    ...PAGE_SECURITY_HEADERS.lesson,
    'cache-control': status ? 'no-store' : 'public, max-age=300',
  });
});
