// A preprocessing thread: decodes one image at a time and renders its views into backbone
// tensors, so decoding and resampling run on every core instead of the main thread alone.
import { parentPort } from 'node:worker_threads';
import { renderView } from '../shared/augment.js';
import { ResampleScratch } from '../shared/resample.js';
import { decodeFile } from './decode.js';
import type { RenderReply, RenderRequest } from './preprocess-pool.js';

const port = parentPort;
if (!port) throw new Error('preprocess-thread.ts runs as a worker thread');

/** The resampler's working memory and tensor buffers handed back by the main thread, reused. */
const scratch = new ResampleScratch();
const spare: ArrayBuffer[] = [];

port.on('message', (req: RenderRequest) => {
  spare.push(...req.spare);
  const started = performance.now();
  let reply: RenderReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const image = decodeFile(req.bytes);
    const tensors = req.views.map((v) => {
      const { width, height } = v.preprocessing.crop;
      const bytes = width * height * 3 * 4;
      const i = spare.findIndex((b) => b.byteLength === bytes);
      const out = i < 0 ? undefined : new Float32Array(spare.splice(i, 1)[0]!);
      return renderView(image, v.view, v.preprocessing, { scratch, ...(out ? { out } : {}) });
    });
    transfer = tensors.map((t) => t.buffer as ArrayBuffer);
    reply = { id: req.id, ok: true, tensors, ms: performance.now() - started };
  } catch (err) {
    reply = { id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply, transfer);
});
port.postMessage({ ready: true });
