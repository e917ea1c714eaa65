// A self-contained HTML page for the OpenAPI document: no scripts, no third-party assets.
import { z } from 'zod';
import { escapeHtml } from '../html/escape.js';

const OperationSchema = z.looseObject({
  summary: z.string().optional(),
  description: z.string().optional(),
  parameters: z
    .array(
      z.looseObject({
        name: z.string(),
        in: z.string(),
        required: z.boolean().optional(),
        description: z.string().optional(),
        schema: z.looseObject({ type: z.unknown().optional() }).optional(),
      }),
    )
    .optional(),
  requestBody: z.looseObject({ content: z.record(z.string(), z.unknown()).optional() }).optional(),
  responses: z.record(z.string(), z.looseObject({ description: z.string().optional() })).optional(),
});
type Operation = z.infer<typeof OperationSchema>;

const DocumentSchema = z.looseObject({
  info: z.looseObject({
    title: z.string(),
    version: z.string(),
    description: z.string().optional(),
  }),
  paths: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});

const escape = escapeHtml;
const code = (s: string) => escape(s).replace(/`([^`]+)`/g, '<code>$1</code>');

function renderOperation(path: string, method: string, op: Operation): string {
  const params = (op.parameters ?? [])
    .map(
      (p) =>
        `<tr><td><code>${escape(p.name)}</code></td><td>${escape(p.in)}</td><td>${escape(typeof p.schema?.type === 'string' ? p.schema.type : '')}</td><td>${p.required ? 'yes' : ''}</td><td>${code(p.description ?? '')}</td></tr>`,
    )
    .join('');
  const body = op.requestBody?.content
    ? Object.keys(op.requestBody.content)
        .map((t) => `<code>${escape(t)}</code>`)
        .join(', ')
    : '';
  const responses = Object.entries(op.responses ?? {})
    .map(([status, r]) => `<li><b>${escape(status)}</b> ${code(r.description ?? '')}</li>`)
    .join('');
  const id = `${method}-${path}`.replace(/[^a-z0-9]+/gi, '-');
  return `<section id="${id}">
<h3><span class="method ${escape(method)}">${escape(method.toUpperCase())}</span> <code>${escape(path)}</code></h3>
<p>${code(op.summary ?? '')}</p>${op.description ? `<p>${code(op.description)}</p>` : ''}
${params ? `<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th>description</th></tr>${params}</table>` : ''}
${body ? `<p>Body: ${body}</p>` : ''}
<ul>${responses}</ul>
</section>`;
}

/**
 * Renders the API reference page.
 *
 * @example
 * app.get('/docs', (c) => c.html(renderDocsPage(app.getOpenAPI31Document(config))));
 */
export function renderDocsPage(document: unknown): string {
  const doc = DocumentSchema.parse(document);
  const methods = new Set(['get', 'post', 'put', 'patch', 'delete']);
  const operations = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => methods.has(method))
      .map(([method, op]) => renderOperation(path, method, OperationSchema.parse(op))),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(doc.info.title)} — API reference</title>
<style>
body{font:16px/1.55 system-ui,-apple-system,Segoe UI,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em;background:#f2f4f8;padding:.1em .3em;border-radius:4px}
section{border-top:1px solid #e3e6ee;padding:.5rem 0}
table{border-collapse:collapse;width:100%;font-size:.95em}td,th{border-bottom:1px solid #eef0f5;padding:.3rem;text-align:left;vertical-align:top}
.method{display:inline-block;min-width:3.5rem;text-align:center;border-radius:4px;color:#fff;font-size:.8em;padding:.1rem .4rem;background:#4b56c4}
.method.get{background:#1a7348}.method.delete{background:#a8322a}.method.put{background:#8a5300}
</style></head><body>
<h1>${escape(doc.info.title)} <small>${escape(doc.info.version)}</small></h1>
<p>${code(doc.info.description ?? '')}</p>
<p>Machine-readable: <a href="/openapi.json"><code>/openapi.json</code></a></p>
${operations.join('\n')}
</body></html>`;
}
