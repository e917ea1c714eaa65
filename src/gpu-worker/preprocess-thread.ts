// A preprocessing thread: decodes one image at a time and renders its views straight into the
// shared batch buffers, so decoding and resampling run on every core instead of the main thread.
import { parentPort } from 'node:worker_threads';
import { renderView } from '../shared/augment.js';
import { ResampleScratch } from '../shared/resample.js';
import { DecodeError } from '../shared/decode.js';
import { decodeFile, decoderMemoryBytes } from './decode.js';
import { decodePreprocessing, type RenderReply, type RenderRequest } from './preprocess-pool.js';

if (!parentPort) throw new Error('preprocess-thread.ts runs as a worker thread');
const port = parentPort;

/** The resampler's working memory, reused from view to view. */
const scratch = new ResampleScratch();

/** Requests are handled one at a time, in order: the pool matches replies to requests by order. */
let queue: Promise<void> = Promise.resolve();

port.on('message', (req: RenderRequest) => {
  queue = queue.then(() => handle(req));
});

async function handle(req: RenderRequest): Promise<void> {
  const started = performance.now();
  let reply: RenderReply;
  try {
    const image = await decodeFile(req.bytes, decodePreprocessing(req.views));
    req.views.forEach((v, i) =>
      renderView(image, v.view, v.preprocessing, { out: req.targets[i]!, scratch }),
    );
    reply = {
      id: req.id,
      ok: true,
      ms: performance.now() - started,
      decoderBytes: decoderMemoryBytes(),
    };
  } catch (err) {
    reply = {
      id: req.id,
      ok: false,
      message: err instanceof Error ? err.message : String(err),
      trapped: err instanceof DecodeError && err.trapped,
      decoderBytes: decoderMemoryBytes(),
    };
  }
  port.postMessage(reply);
}
port.postMessage({ ready: true });
