// The worker's image decoder: photon's Node build — the same wasm decoder the edge runs, so a
// head is trained on exactly the pixels it will later be served.
import { PhotonImage, initPhoton } from '@cf-wasm/photon/node';
import { decodeImage } from '../shared/decode.js';
import type { RgbImage } from '../shared/image.js';
import { sniffImage } from '../shared/image-header.js';

/**
 * Sniffs and decodes an encoded image, throwing with the reason when it is not a usable
 * JPEG, PNG or WebP.
 *
 * @example
 * const image = decodeFile(await readFile('bee.jpg'));
 */
export function decodeFile(bytes: Uint8Array): RgbImage {
  const sniffed = sniffImage(bytes);
  if (sniffed.kind === 'unsupported')
    throw new Error(`${sniffed.format.toUpperCase()} images are not supported`);
  if (sniffed.kind === 'invalid') throw new Error(sniffed.reason);
  return decodeImage(PhotonImage, bytes, sniffed.header);
}

/** The decoder's wasm exports, resolved once (the Node build instantiates synchronously). */
let exportsOf: unknown;
void (initPhoton.promise as Promise<unknown> | null)?.then((e) => (exportsOf = e));

/**
 * Bytes of linear memory this thread's decoder holds now (0 before it is ready). Wasm memory
 * only grows: this is also its high-water mark.
 */
export function decoderMemoryBytes(): number {
  const memory =
    exportsOf && typeof exportsOf === 'object' && 'memory' in exportsOf
      ? exportsOf.memory
      : undefined;
  return memory instanceof WebAssembly.Memory ? memory.buffer.byteLength : 0;
}
