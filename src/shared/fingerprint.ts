// Weights fingerprint: identifies a model by its tensors, not by how its files were sharded.
import { concatBytes, toHex } from './bytes.js';

/** One named weight tensor, its bytes little-endian as stored by TF.js and ONNX. */
export interface NamedTensorBytes {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** Lowercase hex of a sha256 digest computed with WebCrypto (available in workerd and Node). */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  // WebCrypto wants an ArrayBuffer-backed view; copy when given a shared or pooled buffer.
  const view =
    data.buffer instanceof ArrayBuffer
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
  const digest = await crypto.subtle.digest('SHA-256', view);
  return toHex(new Uint8Array(digest));
}

/**
 * sha256 over the tensors sorted by name, each as the UTF-8 header
 * `name\ndtype\nshape joined by "x"\nbyte length\n` followed by its raw bytes. Two sources with
 * the same weights get the same fingerprint however they are split into files.
 *
 * @example
 * const fp = await weightsFingerprint([{ name: 'conv1/kernel', dtype: 'float32', shape: [3, 3, 3, 8], bytes }]);
 */
export async function weightsFingerprint(tensors: readonly NamedTensorBytes[]): Promise<string> {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.name === sorted[i - 1]!.name)
      throw new Error(`duplicate tensor name ${sorted[i]!.name}`);
  }
  const encoder = new TextEncoder();
  const parts = sorted.flatMap((t) => [
    encoder.encode(`${t.name}\n${t.dtype}\n${t.shape.join('x')}\n${t.bytes.byteLength}\n`),
    t.bytes,
  ]);
  return sha256Hex(concatBytes(parts));
}
