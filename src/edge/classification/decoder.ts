// The edge's image decoder: the shared decoding contract, with photon's workerd build (its wasm
// imported as a precompiled module) for WebP, the one format decoded whole.
import { PhotonImage, initPhoton } from '@cf-wasm/photon/workerd';
import { decodeScaled, type DecodePlan } from '../../shared/decode.js';
import type { RgbImage } from '../../shared/image.js';
import type { ImageHeader } from '../../shared/image-header.js';

/**
 * Decodes an inspected upload as planned: shrunk to its model's size, upright, RGB. JPEG and
 * WebP decode synchronously, so two requests of one isolate never hold a JPEG or WebP decode's
 * memory at once; only PNG decodes (which await their inflater, a few MB each) can overlap.
 */
export function decodeUpload(
  bytes: Uint8Array,
  header: ImageHeader,
  plan: Pick<DecodePlan, 'scale'>,
): Promise<RgbImage> {
  return decodeScaled(PhotonImage, bytes, header, plan);
}

/** Bytes of linear memory the WebP decoder holds now (its high-water mark: wasm never shrinks). */
export async function decoderMemoryBytes(): Promise<number> {
  const exports: unknown = await initPhoton.promise;
  const memory =
    exports && typeof exports === 'object' && 'memory' in exports ? exports.memory : undefined;
  return memory instanceof WebAssembly.Memory ? memory.buffer.byteLength : 0;
}
