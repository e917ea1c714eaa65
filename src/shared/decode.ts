// Image decoding shared by the edge and the worker: the same wasm decoder (photon, Rust's
// `image` crate) in both runtimes, so training and serving see identical pixels.
import type { RgbImage } from './image.js';
import type { ImageHeader } from './image-header.js';
import { applyOrientation } from './orientation.js';

/** The part of photon's `PhotonImage` class we use; each runtime passes its own build. */
export interface ImageCodec {
  new_from_byteslice(bytes: Uint8Array): {
    get_width(): number;
    get_height(): number;
    get_raw_pixels(): Uint8Array;
    free(): void;
  };
}

/** The decoder rejected the bytes (corrupt data that the header checks could not see). */
export class DecodeError extends Error {
  override name = 'DecodeError';
  /**
   * The wasm decoder trapped (a Rust panic) rather than returning an error: its instance may
   * have leaked memory, so a long-lived thread counts these and is replaced after a few.
   */
  readonly trapped: boolean;
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.trapped = cause instanceof WebAssembly.RuntimeError;
  }
}

/**
 * Decodes JPEG (baseline, progressive, greyscale, CMYK), PNG (any bit depth, alpha) or WebP
 * into upright RGBA pixels, checking the result against the header.
 *
 * @example
 * const image = decodeImage(PhotonImage, bytes, header); // header from sniffImage(bytes)
 */
export function decodeImage(codec: ImageCodec, bytes: Uint8Array, header: ImageHeader): RgbImage {
  let decoded: ReturnType<ImageCodec['new_from_byteslice']>;
  try {
    decoded = codec.new_from_byteslice(bytes);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new DecodeError(`the ${header.format.toUpperCase()} data is corrupt (${why})`, err);
  }
  try {
    const width = decoded.get_width();
    const height = decoded.get_height();
    if (width !== header.width || height !== header.height) {
      throw new DecodeError(
        `decoded ${width}×${height}, but the header declares ${header.width}×${header.height}`,
      );
    }
    return applyOrientation(
      { width, height, channels: 4, data: decoded.get_raw_pixels() },
      header.orientation,
    );
  } finally {
    decoded.free();
  }
}
