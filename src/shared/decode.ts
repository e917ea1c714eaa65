// Image decoding shared by the edge and the worker: the decoding contract. Every photo is
// decoded straight to the size its model needs (JPEG shrunk in the DCT domain, PNG box-shrunk
// row by row as it inflates, WebP decoded whole by photon's wasm and box-shrunk), composited
// over white, then turned upright — the same code in workerd and Node, so training and serving
// see identical pixels.
import { boxShrink } from './codecs/box.js';
import { decodeJpegScaled, jpegDecodeBytes, readJpegInfo } from './codecs/jpeg.js';
import { decodePngScaled, pngDecodeBytes, readPngInfo } from './codecs/png.js';
import { decodeScaleFor, decodeTarget, scaledSize, type DecodeScale } from './codecs/scale.js';
import type { RgbImage } from './image.js';
import type { ImageHeader } from './image-header.js';
import type { Preprocessing } from './manifest.js';
import { applyOrientation } from './orientation.js';

/**
 * Version of the decoding contract (the scaling rule and each codec's arithmetic). Anything
 * derived from decoded pixels and kept (the worker's embedding cache) is keyed by it.
 */
export const DECODING_CONTRACT = 'scaled-v1';

/** The part of photon's `PhotonImage` class we use (WebP); each runtime passes its own build. */
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

/** How one image will be decoded: the shrink factor, the upright decoded size, the memory. */
export interface DecodePlan {
  readonly scale: DecodeScale;
  /** Upright size after decoding (what preprocessing and augmentation see). */
  readonly width: number;
  readonly height: number;
  /** Bytes the decode allocates at most (working buffers and the result). */
  readonly costBytes: number;
}

/** The shorter side a decoded image keeps for a backbone's preprocessing (see decodeTarget). */
export { decodeTarget };

/**
 * The shrink factor and upright decoded size of an image from its metadata alone (what the
 * worker needs to lay out augmented views before it fetches the photo).
 *
 * @example
 * decodedSize({ width: 2048, height: 1536, orientation: 6 }, 256); // { scale: 4, width: 384, height: 512 }
 */
export function decodedSize(
  image: { readonly width: number; readonly height: number; readonly orientation?: number },
  target: number,
): { scale: DecodeScale; width: number; height: number } {
  const scale = decodeScaleFor(image.width, image.height, target);
  const stored = scaledSize(image.width, image.height, scale);
  return (image.orientation ?? 1) >= 5
    ? { scale, width: stored.height, height: stored.width }
    : { scale, ...stored };
}

/**
 * Plans the decode of an inspected image for a model whose preprocessing needs `target` pixels
 * on the shorter side, reading only headers: callers refuse an image whose `costBytes` is over
 * their budget before any decoding.
 *
 * @example
 * const plan = planDecode(bytes, header, decodeTarget(manifest.preprocessing));
 * // a 4000 × 3000 JPEG: { scale: 8, width: 500, height: 375, costBytes: ~3.4e6 }
 */
export function planDecode(bytes: Uint8Array, header: ImageHeader, target: number): DecodePlan {
  const { scale, ...size } = decodedSize(header, target);
  const stored = scaledSize(header.width, header.height, scale);
  // Turning the image upright copies the decoded pixels once.
  const upright = header.orientation > 1 ? stored.width * stored.height * 3 : 0;
  let costBytes: number;
  if (header.format === 'jpeg') {
    const info = readJpegInfo(bytes);
    // The inspection read the last frame header, this the first: a file with two is corrupt.
    if (info.width !== header.width || info.height !== header.height)
      throw new DecodeError(
        `the JPEG declares two frame sizes (${info.width}×${info.height} and ${header.width}×${header.height})`,
      );
    // The entropy-coded data is copied once without its stuffed bytes.
    costBytes = jpegDecodeBytes(info, scale) + bytes.byteLength;
  } else if (header.format === 'png') costBytes = pngDecodeBytes(readPngInfo(bytes), scale);
  // WebP is decoded whole: RGBA in the decoder's linear memory, its YUV planes, and the copy out.
  else costBytes = header.width * header.height * 10 + stored.width * stored.height * 3;
  return { scale, ...size, costBytes: costBytes + upright };
}

/**
 * Decodes JPEG (baseline, progressive, greyscale, CMYK), PNG (any bit depth, alpha, interlaced)
 * or WebP shrunk by `plan.scale`, composited over white, and turned upright by the EXIF
 * orientation: an RGB image of plan.width × plan.height.
 *
 * @example
 * const image = await decodeScaled(PhotonImage, bytes, header, plan);
 */
export async function decodeScaled(
  codec: ImageCodec,
  bytes: Uint8Array,
  header: ImageHeader,
  plan: Pick<DecodePlan, 'scale'>,
): Promise<RgbImage> {
  let decoded: RgbImage;
  if (header.format === 'jpeg') decoded = decodeJpegScaled(bytes, plan.scale);
  else if (header.format === 'png') decoded = await decodePngScaled(bytes, plan.scale);
  else decoded = boxShrink(decodeWhole(codec, bytes, header), plan.scale);
  const expected = scaledSize(header.width, header.height, plan.scale);
  if (decoded.width !== expected.width || decoded.height !== expected.height) {
    throw new DecodeError(
      `decoded ${decoded.width}×${decoded.height} at 1/${plan.scale}, but the header declares ${header.width}×${header.height}`,
    );
  }
  return applyOrientation(decoded, header.orientation);
}

/**
 * Plans for `p` and decodes: the one call for an image that feeds one preprocessing.
 *
 * @example
 * const image = await decodeForModel(PhotonImage, bytes, header, manifest.preprocessing);
 */
export function decodeForModel(
  codec: ImageCodec,
  bytes: Uint8Array,
  header: ImageHeader,
  p: Preprocessing,
): Promise<RgbImage> {
  return decodeScaled(codec, bytes, header, planDecode(bytes, header, decodeTarget(p)));
}

/** A whole-image decode with photon (RGBA, as stored), checked against the header. */
export function decodeWhole(codec: ImageCodec, bytes: Uint8Array, header: ImageHeader): RgbImage {
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
    return { width, height, channels: 4, data: decoded.get_raw_pixels() };
  } finally {
    decoded.free();
  }
}
