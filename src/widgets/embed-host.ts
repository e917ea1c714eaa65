// The host page's side of an iframe embed. A page that embeds Headstart widgets as iframes
// loads the same bundle:
//
//   <iframe src="https://headstart.example/embed/quiz/cv-transfer-learning" data-headstart-embed
//           title="Knowledge check" style="width:100%;border:0"></iframe>
//   <script type="module" src="https://headstart.example/widgets.js"></script>
//
// and each embedded frame then sizes itself to its content. A frame counts as ours when it has
// a `data-headstart-embed` attribute or its src is on the script's origin under /embed/; a
// message counts only when its `origin` is the script's origin and its `source` is that frame's
// window, so no other frame or page can resize anything. The frame's other messages
// (headstart:score, headstart:complete, headstart:classified) are re-dispatched on the <iframe>
// element as CustomEvents of the same name with the message as detail:
//
//   frame.addEventListener('headstart:score', (e) => console.log(e.detail.score, e.detail.total));
import { isRecord } from './check.js';
import { SCRIPT_ORIGIN } from './client.js';
import { emit } from './dom.js';

/** A frame taller than this is refused as a size (a runaway layout, not a widget). */
const MAX_HEIGHT_PX = 50_000;
const FORWARDED = new Set(['headstart:score', 'headstart:complete', 'headstart:classified']);

function isEmbedFrame(frame: HTMLIFrameElement, origin: string): boolean {
  if (frame.hasAttribute('data-headstart-embed')) return true;
  try {
    const url = new URL(frame.src, frame.ownerDocument.baseURI);
    return url.origin === origin && url.pathname.startsWith('/embed/');
  } catch {
    return false;
  }
}

/** Our embed frame whose window sent a message, or null. */
function frameOf(source: MessageEventSource | null, doc: Document, origin: string) {
  if (!source) return null;
  for (const frame of doc.querySelectorAll('iframe')) {
    if (frame.contentWindow === source) return isEmbedFrame(frame, origin) ? frame : null;
  }
  return null;
}

/**
 * Listens for messages from embedded Headstart frames: sets each frame's height on
 * `headstart:resize`, re-dispatches result messages on the frame. Returns a function that stops.
 *
 * @example
 * const stop = installEmbedHost(); // index.ts does this on load, with the script's origin
 */
export function installEmbedHost(
  origin: string = SCRIPT_ORIGIN,
  doc: Document = document,
): () => void {
  const view = doc.defaultView;
  if (!view) return () => undefined;
  const onMessage = (event: MessageEvent) => {
    if (event.origin !== origin) return;
    const data: unknown = event.data;
    if (!isRecord(data) || typeof data.type !== 'string') return;
    if (data.type !== 'headstart:resize' && !FORWARDED.has(data.type)) return;
    const frame = frameOf(event.source, doc, origin);
    if (!frame) return;
    if (data.type === 'headstart:resize') {
      const height = data.height;
      if (
        typeof height === 'number' &&
        Number.isFinite(height) &&
        height >= 0 &&
        height <= MAX_HEIGHT_PX
      )
        frame.style.height = `${Math.ceil(height)}px`;
      return;
    }
    emit(frame, data.type, data);
  };
  view.addEventListener('message', onMessage);
  return () => view.removeEventListener('message', onMessage);
}
