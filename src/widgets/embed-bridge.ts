// The embed page's side of an iframe embed. On a page marked `<html data-headstart-embed="quiz">`
// (served by the edge under /embed/, CSP script-src 'self', so no inline script), this reports the
// page's height to the parent on every size change and forwards the widget's results:
//
//   { type: 'headstart:resize', widget, height }
//   { type: 'headstart:score', widget, score, total }            ← headstart:graded
//   { type: 'headstart:complete', widget, jobId, headId, valAccuracy } ← headstart:complete
//   { type: 'headstart:classified', widget, model, top }         ← headstart:classified
//
// Messages go to any parent origin ('*'): they carry nothing secret, and the embedding page is
// not known in advance. The host side (embed-host.ts) checks that they come from our origin.
import { isRecord } from './check.js';

type Message = Record<string, unknown> & { readonly type: string; readonly widget: string };

const numberOr = (value: unknown, fallback: number | null): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : fallback;

const stringOr = (value: unknown): string | null => (typeof value === 'string' ? value : null);

const firstOf = (value: unknown): unknown => {
  const items: readonly unknown[] = Array.isArray(value) ? value : [];
  return items[0];
};

/** `{ label, index, score }` of the first prediction (of the first model), or null. */
function topPrediction(detail: Record<string, unknown>): { model: string | null; top: unknown } {
  const firstResult = firstOf(detail.results);
  const first = isRecord(firstResult) ? firstResult : detail;
  const prediction = firstOf(first.predictions);
  const top = isRecord(prediction)
    ? {
        label: stringOr(prediction.label),
        index: numberOr(prediction.index, null),
        score: numberOr(prediction.score, null),
      }
    : null;
  return { model: stringOr(first.model), top };
}

/** Widget events → the message the parent gets for each. */
const FORWARDS: Record<string, (detail: Record<string, unknown>) => Record<string, unknown>> = {
  'headstart:graded': (d) => ({
    type: 'headstart:score',
    score: numberOr(d.score, 0),
    total: numberOr(d.total, 0),
  }),
  'headstart:complete': (d) => ({
    type: 'headstart:complete',
    jobId: stringOr(d.jobId),
    headId: stringOr(d.headId),
    valAccuracy: numberOr(d.valAccuracy, null),
  }),
  'headstart:classified': (d) => ({ type: 'headstart:classified', ...topPrediction(d) }),
};

/**
 * Starts the bridge when this document is an embed page inside a frame; returns a function that
 * stops it (a no-op when nothing was started).
 *
 * Height is the root element's rendered height, rounded up. (The root's scrollHeight never drops
 * below the viewport's, so with it an iframe could grow but never shrink back.)
 *
 * @example
 * // <html data-headstart-embed="quiz"> … <script type="module" src="/widgets.js"></script>
 * installEmbedBridge(); // index.ts does this on load
 */
export function installEmbedBridge(doc: Document = document): () => void {
  const widget = doc.documentElement.dataset.headstartEmbed;
  const view = doc.defaultView;
  if (!widget || !view || view.parent === view) return () => undefined;
  const parent = view.parent;
  const post = (message: Message) => parent.postMessage(message, '*');

  let lastHeight = -1;
  const observer = new ResizeObserver(() => {
    const height = Math.ceil(doc.documentElement.getBoundingClientRect().height);
    if (height === lastHeight) return;
    lastHeight = height;
    post({ type: 'headstart:resize', widget, height });
  });
  observer.observe(doc.documentElement);

  const listeners = Object.entries(FORWARDS).map(([name, forward]) => {
    const listener = (event: Event) => {
      if (!(event instanceof CustomEvent) || !isRecord(event.detail)) return;
      const { type, ...rest } = forward(event.detail);
      post({ ...rest, type: String(type), widget });
    };
    doc.addEventListener(name, listener);
    return [name, listener] as const;
  });

  return () => {
    observer.disconnect();
    for (const [name, listener] of listeners) doc.removeEventListener(name, listener);
  };
}
