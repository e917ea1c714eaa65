// The worker's image decoder: the shared decoding contract (the same code the edge runs, with
// photon's Node build for WebP), so a head is trained on exactly the pixels it will be served.
import { PhotonImage, initPhoton } from '@cf-wasm/photon/node';
import { DecodeError, decodeScaled, decodeTarget, planDecode } from '../shared/decode.js';
import type { RgbImage } from '../shared/image.js';
import { sniffImage, type ImageHeader } from '../shared/image-header.js';
import { MOBILENET_PREPROCESSING, type Preprocessing } from '../shared/manifest.js';

/** Sniffs an encoded image, throwing with the reason when it is not a usable JPEG, PNG or WebP. */
export function headerOf(bytes: Uint8Array): ImageHeader {
  const sniffed = sniffImage(bytes);
  if (sniffed.kind === 'unsupported')
    throw new DecodeError(`${sniffed.format.toUpperCase()} images are not supported`);
  if (sniffed.kind === 'invalid') throw new DecodeError(sniffed.reason);
  return sniffed.header;
}

/**
 * Decodes an encoded image for a model with preprocessing `p` (default: our backbones'
 * contract): shrunk to the size it needs, composited over white, upright.
 *
 * @example
 * const image = await decodeFile(await readFile('bee.jpg'), manifest.preprocessing);
 */
export function decodeFile(
  bytes: Uint8Array,
  p: Preprocessing = MOBILENET_PREPROCESSING,
): Promise<RgbImage> {
  const header = headerOf(bytes);
  return decodeScaled(PhotonImage, bytes, header, planDecode(bytes, header, decodeTarget(p)));
}

/** The decoder's wasm exports, resolved once (the Node build instantiates synchronously). */
let exportsOf: unknown;
void (initPhoton.promise as Promise<unknown> | null)?.then((e) => (exportsOf = e));

/**
 * Bytes of linear memory this thread's WebP decoder holds now (0 before it is ready). Wasm
 * memory only grows: this is also its high-water mark.
 */
export function decoderMemoryBytes(): number {
  const memory =
    exportsOf && typeof exportsOf === 'object' && 'memory' in exportsOf
      ? exportsOf.memory
      : undefined;
  return memory instanceof WebAssembly.Memory ? memory.buffer.byteLength : 0;
}
