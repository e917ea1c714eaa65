// Everything a host page embeds: the widgets script (custom elements), one iframe page per
// widget, and an oEmbed endpoint. Embed pages may be framed by any site (CSP frame-ancestors —
// not X-Frame-Options, which would forbid exactly what they are for); lesson pages may not.
import { z } from 'zod';
import { Hono } from 'hono';
import { WIDGETS_JS, WIDGETS_SHA256 } from '../generated/widgets.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { escapeHtml } from '../html/escape.js';
import { parseInput } from '../http/validate.js';
import { lessons } from '../lessons/catalog.js';

const csp = (frameAncestors: string) =>
  [
    "default-src 'self'",
    "script-src 'self'",
    // The pages' own <style> element (widgets use constructed stylesheets, which CSP allows).
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors}`,
  ].join('; ');

const COMMON = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'strict-origin-when-cross-origin',
};

/** Headers of the HTML pages: lesson pages stay first-party; embed pages take the configured ancestors. */
export const PAGE_SECURITY_HEADERS = {
  lesson: { ...COMMON, 'content-security-policy': csp("'self'") },
  embed: (ancestors: string) => ({ ...COMMON, 'content-security-policy': csp(ancestors) }),
};

/** Each embeddable widget: its element, title, the query parameters it takes, a default height. */
const WIDGETS = {
  quiz: { tag: 'headstart-quiz', title: 'Knowledge check', params: ['lesson'], height: 900 },
  classifier: {
    tag: 'headstart-classifier',
    title: 'Image classifier',
    params: ['model', 'top-k'],
    height: 480,
  },
  trainer: {
    tag: 'headstart-trainer',
    title: 'Train a head',
    params: ['backbone', 'strategy'],
    height: 960,
  },
  strategies: {
    tag: 'headstart-strategies',
    title: 'Transfer-learning strategies',
    params: ['backbone', 'classes'],
    height: 560,
  },
} as const;
type WidgetKind = keyof typeof WIDGETS;

const WidgetKindSchema = z.enum(Object.keys(WIDGETS) as [WidgetKind, ...WidgetKind[]]);
const ParamValue = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9._,-]+$/, 'letters, digits, dots, commas, underscores and dashes');

/** The element's attributes from the query (only the widget's own parameters; `topK` → `top-k`). */
function attributesOf(kind: WidgetKind, query: Record<string, string>): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const name of WIDGETS[kind].params) {
    const camel = name.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
    const value = query[name] ?? query[camel];
    if (value !== undefined) attrs[name] = parseInput(ParamValue, value, `query.${camel}`);
  }
  if (kind === 'quiz') {
    const lesson = attrs.lesson ?? 'cv-transfer-learning';
    if (!lessons().has(lesson))
      throw new ApiError('not_found', `no lesson "${lesson}"`, 'query.lesson');
    attrs.lesson = lesson;
  }
  return attrs;
}

function embedPage(kind: WidgetKind, attrs: Record<string, string>, self: string): string {
  const widget = WIDGETS[kind];
  const attrText = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${escapeHtml(v)}"`)
    .join('');
  const quiz = kind === 'quiz' ? lessons().get(attrs.lesson!) : undefined;
  const fallback =
    quiz?.publicQuiz?.questions.map((q) => `<p>${escapeHtml(q.prompt)}</p>`).join('') ??
    `<p>${escapeHtml(widget.title)} (needs JavaScript).</p>`;
  const oembed = `/oembed?url=${encodeURIComponent(self)}&format=json`;
  return `<!doctype html>
<html lang="en" data-headstart-embed="${kind}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(widget.title)} · Headstart</title>
<link rel="alternate" type="application/json+oembed" href="${escapeHtml(oembed)}" title="${escapeHtml(widget.title)}">
<style>body{margin:0;padding:8px;font:16px/1.5 system-ui,sans-serif;background:transparent}</style>
<script type="module" src="/widgets.js"></script>
</head>
<body>
<${widget.tag}${attrText}><div class="widget-fallback">${fallback}</div></${widget.tag}>
</body>
</html>`;
}

const OEmbedQuery = z.object({
  url: z.url({ protocol: /^https?$/ }),
  format: z.string().default('json'),
  maxwidth: z.coerce.number().int().min(100).max(4000).optional(),
  maxheight: z.coerce.number().int().min(100).max(4000).optional(),
});

export const embedRoutes = new Hono<AppEnv>()
  .get('/widgets.js', (c) => {
    const etag = `"${WIDGETS_SHA256}"`;
    const headers = {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=300',
      etag,
      // Host pages on any origin load it as a module script, which needs CORS.
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
    };
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
    return c.body(WIDGETS_JS, 200, headers);
  })
  .get('/embed/:widget', (c) => {
    const kind = parseInput(WidgetKindSchema, c.req.param('widget'), 'path.widget');
    const attrs = attributesOf(kind, c.req.query());
    const ancestors = c.env.EMBED_FRAME_ANCESTORS ?? '*';
    return c.html(embedPage(kind, attrs, c.req.url), 200, PAGE_SECURITY_HEADERS.embed(ancestors));
  })
  .get('/oembed', (c) => {
    const q = parseInput(OEmbedQuery, c.req.query(), 'query');
    if (q.format !== 'json')
      throw new ApiError('not_implemented', 'only format=json is supported', 'query.format');
    const origin = new URL(c.req.url).origin;
    const target = new URL(q.url);
    const match = /^\/embed\/([a-z]+)$/.exec(target.pathname);
    if (target.origin !== origin || !match)
      throw new ApiError('not_found', `not an embeddable Headstart URL: ${q.url}`, 'query.url');
    const kind = parseInput(WidgetKindSchema, match[1], 'query.url');
    attributesOf(kind, Object.fromEntries(target.searchParams));
    const widget = WIDGETS[kind];
    const width = q.maxwidth ?? 720;
    const height = Math.min(widget.height, q.maxheight ?? widget.height);
    const src = escapeHtml(target.href);
    return c.json({
      version: '1.0',
      type: 'rich',
      provider_name: 'Headstart',
      provider_url: origin,
      title: widget.title,
      width,
      height,
      html: `<iframe src="${src}" title="${escapeHtml(widget.title)}" width="${width}" height="${height}" style="border:0;max-width:100%" loading="lazy" data-headstart-embed="${kind}"></iframe><script type="module" src="${escapeHtml(origin)}/widgets.js"></script>`,
    });
  });
