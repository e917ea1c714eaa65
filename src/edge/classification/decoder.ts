// The edge's image decoder: photon's workerd build (its wasm imported as a precompiled module).
import { PhotonImage, initPhoton } from '@cf-wasm/photon/workerd';
import { decodeImage } from '../../shared/decode.js';
import type { RgbImage } from '../../shared/image.js';
import type { ImageHeader } from '../../shared/image-header.js';

/** Decodes an inspected upload into upright RGBA pixels. */
export function decodeUpload(bytes: Uint8Array, header: ImageHeader): RgbImage {
  return decodeImage(PhotonImage, bytes, header);
}

/** Bytes of linear memory the decoder holds now. */
export async function decoderMemoryBytes(): Promise<number> {
  const exports: unknown = await initPhoton.promise;
  const memory =
    exports && typeof exports === 'object' && 'memory' in exports ? exports.memory : undefined;
  return memory instanceof WebAssembly.Memory ? memory.buffer.byteLength : 0;
}
