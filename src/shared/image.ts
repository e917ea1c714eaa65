// Decoded pixels as both runtimes hand them to preprocessing: 8-bit RGB or RGBA, row-major.

/**
 * An 8-bit image in memory, row-major, interleaved channels.
 *
 * @example
 * const img: RgbImage = { width: 2, height: 1, channels: 3, data: new Uint8Array([255, 0, 0, 0, 0, 255]) };
 */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** 3 = RGB, 4 = RGBA (alpha is composited over white by preprocessing). */
  readonly channels: 3 | 4;
  readonly data: Uint8Array | Uint8ClampedArray;
}

/** Throws a RangeError when the buffer does not hold exactly width × height × channels bytes. */
export function assertImage(image: RgbImage): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image dimensions must be positive integers, got ${width}×${height}`);
  }
  if (channels !== 3 && channels !== 4) {
    throw new RangeError(`image must have 3 (RGB) or 4 (RGBA) channels, got ${String(channels)}`);
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw new RangeError(
      `image buffer holds ${data.length} bytes, expected ${expected} (${width}×${height}×${channels})`,
    );
  }
}
