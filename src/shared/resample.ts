// Antialiased separable resampling (triangle filter) from an 8-bit image onto an output grid.
//
// Every resize, crop and flip in Headstart goes through this one function, in workerd and in
// Node alike. It uses only IEEE-754 additions, multiplications and divisions on doubles, so the
// same input gives the same bytes in every JavaScript engine.
import { assertImage, type RgbImage } from './image.js';

/**
 * Where the output grid lies on the source image. The centre of output pixel (i, j) sits at
 * source coordinates (offsetX + (i + 0.5) · scaleX, offsetY + (j + 0.5) · scaleY); a scale above 1
 * shrinks the image and widens the filter accordingly (antialiasing, as PIL and torchvision do).
 */
export interface SampleGrid {
  readonly outWidth: number;
  readonly outHeight: number;
  readonly scaleX: number;
  readonly scaleY: number;
  readonly offsetX: number;
  readonly offsetY: number;
  /** Mirror the output left to right. */
  readonly flipX?: boolean;
}

interface AxisTaps {
  readonly start: Int32Array;
  readonly count: Int32Array;
  /** `maxTaps` weights per output index; unused slots are zero. */
  readonly weights: Float64Array;
  readonly maxTaps: number;
}

function axisTaps(inSize: number, outSize: number, scale: number, offset: number): AxisTaps {
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * maxTaps);
  for (let i = 0; i < outSize; i++) {
    const center = offset + (i + 0.5) * scale;
    let lo = Math.max(0, Math.floor(center - support + 0.5));
    let hi = Math.min(inSize, Math.floor(center + support + 0.5));
    let sum = 0;
    const base = i * maxTaps;
    for (let x = lo; x < hi; x++) {
      const w = 1 - Math.abs((x + 0.5 - center) / filterScale);
      const clipped = w > 0 ? w : 0;
      weights[base + x - lo] = clipped;
      sum += clipped;
    }
    if (sum === 0) {
      // The centre fell outside the image: take the nearest edge pixel (replicate padding).
      const nearest = Math.min(inSize - 1, Math.max(0, Math.floor(center)));
      weights.fill(0, base, base + maxTaps);
      lo = nearest;
      hi = nearest + 1;
      weights[base] = 1;
      sum = 1;
    }
    for (let k = 0; k < hi - lo; k++) weights[base + k]! /= sum;
    start[i] = lo;
    count[i] = hi - lo;
  }
  return { start, count, weights, maxTaps };
}

function rowOpaque(data: Uint8Array | Uint8ClampedArray, srcRow: number, width: number): boolean {
  for (let x = 0; x < width; x++) if (data[srcRow + x * 4 + 3] !== 255) return false;
  return true;
}

/** RGBA → RGB over white: (c·a + 255·(255 − a)) / 255 per channel. */
function compositeRow(
  data: Uint8Array | Uint8ClampedArray,
  srcRow: number,
  width: number,
  out: Float32Array,
): void {
  for (let x = 0; x < width; x++) {
    const p = srcRow + x * 4;
    const a = data[p + 3]!;
    const bg = 255 * (255 - a);
    out[x * 3] = a === 255 ? data[p]! : (data[p]! * a + bg) / 255;
    out[x * 3 + 1] = a === 255 ? data[p + 1]! : (data[p + 1]! * a + bg) / 255;
    out[x * 3 + 2] = a === 255 ? data[p + 2]! : (data[p + 2]! * a + bg) / 255;
  }
}

/** One output row of the horizontal pass, reading pixels `stride` values apart from `base`. */
function horizontalRow(
  src: ArrayLike<number>,
  base: number,
  stride: number,
  xs: AxisTaps,
  flip: boolean,
  outWidth: number,
  tmp: Float32Array,
  dstRow: number,
): void {
  const { start, count, weights, maxTaps } = xs;
  for (let i = 0; i < outWidth; i++) {
    const col = flip ? outWidth - 1 - i : i;
    const n = count[col]!;
    const wBase = col * maxTaps;
    let p = base + start[col]! * stride;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let k = 0; k < n; k++) {
      const w = weights[wBase + k]!;
      r += src[p]! * w;
      g += src[p + 1]! * w;
      b += src[p + 2]! * w;
      p += stride;
    }
    const d = dstRow + i * 3;
    tmp[d] = r;
    tmp[d + 1] = g;
    tmp[d + 2] = b;
  }
}

/**
 * Resamples `image` onto `grid`, returning RGB float32 values in [0, 255], row-major HWC.
 * RGBA input is composited over white first, so transparent regions read as white paper.
 *
 * @example
 * // halve a 448×448 image to 224×224
 * const rgb = resample(img, { outWidth: 224, outHeight: 224, scaleX: 2, scaleY: 2, offsetX: 0, offsetY: 0 });
 */
export function resample(image: RgbImage, grid: SampleGrid): Float32Array {
  assertImage(image);
  const { outWidth, outHeight } = grid;
  if (
    !Number.isInteger(outWidth) ||
    !Number.isInteger(outHeight) ||
    outWidth < 1 ||
    outHeight < 1
  ) {
    throw new RangeError(`output size must be positive integers, got ${outWidth}×${outHeight}`);
  }
  if (!(grid.scaleX > 0) || !(grid.scaleY > 0)) {
    throw new RangeError('resample scales must be positive');
  }
  const { width, channels, data } = image;
  const xs = axisTaps(width, outWidth, grid.scaleX, grid.offsetX);
  const ys = axisTaps(image.height, outHeight, grid.scaleY, grid.offsetY);

  let rowStart = Number.POSITIVE_INFINITY;
  let rowEnd = 0;
  for (let j = 0; j < outHeight; j++) {
    const s = ys.start[j]!;
    rowStart = Math.min(rowStart, s);
    rowEnd = Math.max(rowEnd, s + ys.count[j]!);
  }

  // Horizontal pass over only the source rows the vertical pass will read. Rows with
  // transparency are first composited over white into a float row; opaque rows are read as is.
  const rowStride = outWidth * 3;
  const tmp = new Float32Array((rowEnd - rowStart) * rowStride);
  const composited = channels === 4 ? new Float32Array(width * 3) : undefined;
  for (let y = rowStart; y < rowEnd; y++) {
    const dstRow = (y - rowStart) * rowStride;
    const srcRow = y * width * channels;
    if (composited && !rowOpaque(data, srcRow, width)) {
      compositeRow(data, srcRow, width, composited);
      horizontalRow(composited, 0, 3, xs, grid.flipX === true, outWidth, tmp, dstRow);
    } else {
      horizontalRow(data, srcRow, channels, xs, grid.flipX === true, outWidth, tmp, dstRow);
    }
  }

  // Vertical pass, accumulated in doubles and rounded to float32 once.
  const out = new Float32Array(outHeight * rowStride);
  const acc = new Float64Array(rowStride);
  for (let j = 0; j < outHeight; j++) {
    const lo = ys.start[j]!;
    const n = ys.count[j]!;
    const wBase = j * ys.maxTaps;
    acc.fill(0);
    for (let k = 0; k < n; k++) {
      const w = ys.weights[wBase + k]!;
      const src = (lo + k - rowStart) * rowStride;
      for (let i = 0; i < rowStride; i++) acc[i]! += tmp[src + i]! * w;
    }
    out.set(acc, j * rowStride);
  }
  return out;
}
