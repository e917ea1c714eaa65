// A preprocessing thread: decodes one image at a time and renders its views straight into the
// shared batch buffers, so decoding and resampling run on every core instead of the main thread.
import { parentPort } from 'node:worker_threads';
import { renderView } from '../shared/augment.js';
import { ResampleScratch } from '../shared/resample.js';
import { DecodeError } from '../shared/decode.js';
import { decodeFile, decoderMemoryBytes } from './decode.js';
import type { RenderReply, RenderRequest } from './preprocess-pool.js';

const port = parentPort;
if (!port) throw new Error('preprocess-thread.ts runs as a worker thread');

/** The resampler's working memory, reused from view to view. */
const scratch = new ResampleScratch();

port.on('message', (req: RenderRequest) => {
  const started = performance.now();
  let reply: RenderReply;
  try {
    const image = decodeFile(req.bytes);
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
});
port.postMessage({ ready: true });
