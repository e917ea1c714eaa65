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

/**
 * Taps in the order the output is written: mirrored when the output is flipped, with each start
 * already multiplied by the pixel stride, so the inner loop does no index arithmetic.
 */
interface RowTaps {
  readonly offset: Int32Array;
  readonly count: Int32Array;
  readonly weights: Float64Array;
  readonly maxTaps: number;
}

function rowTaps(xs: AxisTaps, stride: number, flip: boolean): RowTaps {
  const n = xs.start.length;
  if (!flip) {
    const offset = new Int32Array(n);
    for (let i = 0; i < n; i++) offset[i] = xs.start[i]! * stride;
    return { offset, count: xs.count, weights: xs.weights, maxTaps: xs.maxTaps };
  }
  const offset = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Float64Array(xs.weights.length);
  for (let i = 0; i < n; i++) {
    const col = n - 1 - i;
    offset[i] = xs.start[col]! * stride;
    count[i] = xs.count[col]!;
    weights.set(xs.weights.subarray(col * xs.maxTaps, (col + 1) * xs.maxTaps), i * xs.maxTaps);
  }
  return { offset, count, weights, maxTaps: xs.maxTaps };
}

/**
 * One output row of the horizontal pass over 8-bit pixels `stride` bytes apart from `base`.
 * Kept separate from the float version so each stays monomorphic (one array type per loop).
 */
function horizontalRowBytes(
  src: Uint8Array | Uint8ClampedArray,
  base: number,
  stride: number,
  taps: RowTaps,
  outWidth: number,
  tmp: Float32Array,
  dstRow: number,
): void {
  const { offset, count, weights, maxTaps } = taps;
  for (let i = 0, d = dstRow, wBase = 0; i < outWidth; i++, d += 3, wBase += maxTaps) {
    const n = count[i]!;
    let p = base + offset[i]!;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let k = 0; k < n; k++, p += stride) {
      const w = weights[wBase + k]!;
      r += src[p]! * w;
      g += src[p + 1]! * w;
      b += src[p + 2]! * w;
    }
    tmp[d] = r;
    tmp[d + 1] = g;
    tmp[d + 2] = b;
  }
}

/** The horizontal pass over one composited (float RGB) row. */
function horizontalRowFloat(
  src: Float32Array,
  taps: RowTaps,
  outWidth: number,
  tmp: Float32Array,
  dstRow: number,
): void {
  const { offset, count, weights, maxTaps } = taps;
  for (let i = 0, d = dstRow, wBase = 0; i < outWidth; i++, d += 3, wBase += maxTaps) {
    const n = count[i]!;
    let p = offset[i]!;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let k = 0; k < n; k++, p += 3) {
      const w = weights[wBase + k]!;
      r += src[p]! * w;
      g += src[p + 1]! * w;
      b += src[p + 2]! * w;
    }
    tmp[d] = r;
    tmp[d + 1] = g;
    tmp[d + 2] = b;
  }
}

/**
 * Working memory for `resample`, reused from call to call by whoever renders many images (the
 * worker's preprocessing threads): fewer large short-lived arrays, far less garbage collection.
 * The result of a call that uses it is valid until the next such call.
 */
export class ResampleScratch {
  private tmp = new Float32Array(0);
  private out = new Float32Array(0);
  /** An array of exactly `length` values for the horizontal pass. */
  rows(length: number): Float32Array {
    if (this.tmp.length < length) this.tmp = new Float32Array(length);
    return this.tmp.subarray(0, length);
  }
  output(length: number): Float32Array {
    if (this.out.length < length) this.out = new Float32Array(length);
    return this.out.subarray(0, length);
  }
}

/**
 * Resamples `image` onto `grid` one output row at a time: `sink(j, row)` receives row j as HWC
 * float32 RGB in [0, 255] (the same array every call, valid until the sink returns).
 */
function resampleRows(
  image: RgbImage,
  grid: SampleGrid,
  scratch: ResampleScratch | undefined,
  sink: (j: number, row: Float32Array) => void,
): void {
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
  // Every value of the buffer is written before it is read, so reused memory needs no clearing.
  const tmpLength = (rowEnd - rowStart) * rowStride;
  const tmp = scratch ? scratch.rows(tmpLength) : new Float32Array(tmpLength);
  const composited = channels === 4 ? new Float32Array(width * 3) : undefined;
  const flip = grid.flipX === true;
  const byteTaps = rowTaps(xs, channels, flip);
  const floatTaps = composited ? rowTaps(xs, 3, flip) : byteTaps;
  for (let y = rowStart; y < rowEnd; y++) {
    const dstRow = (y - rowStart) * rowStride;
    const srcRow = y * width * channels;
    if (composited && !rowOpaque(data, srcRow, width)) {
      compositeRow(data, srcRow, width, composited);
      horizontalRowFloat(composited, floatTaps, outWidth, tmp, dstRow);
    } else {
      horizontalRowBytes(data, srcRow, channels, byteTaps, outWidth, tmp, dstRow);
    }
  }

  // Vertical pass: each output value sums its taps in a double, top to bottom, and is rounded
  // to float32 once (by the store into `row`).
  const row = new Float32Array(rowStride);
  for (let j = 0; j < outHeight; j++) {
    const n = ys.count[j]!;
    const wBase = j * ys.maxTaps;
    const first = (ys.start[j]! - rowStart) * rowStride;
    if (n === 1) {
      const w0 = ys.weights[wBase]!;
      for (let i = 0; i < rowStride; i++) row[i] = 0 + tmp[first + i]! * w0;
    } else if (n === 2) {
      const w0 = ys.weights[wBase]!;
      const w1 = ys.weights[wBase + 1]!;
      const r1 = first + rowStride;
      for (let i = 0; i < rowStride; i++) row[i] = 0 + tmp[first + i]! * w0 + tmp[r1 + i]! * w1;
    } else if (n === 3) {
      const w0 = ys.weights[wBase]!;
      const w1 = ys.weights[wBase + 1]!;
      const w2 = ys.weights[wBase + 2]!;
      const r1 = first + rowStride;
      const r2 = r1 + rowStride;
      for (let i = 0; i < rowStride; i++)
        row[i] = 0 + tmp[first + i]! * w0 + tmp[r1 + i]! * w1 + tmp[r2 + i]! * w2;
    } else {
      for (let i = 0; i < rowStride; i++) {
        let acc = 0;
        for (let k = 0, src = first + i; k < n; k++, src += rowStride)
          acc += tmp[src]! * ys.weights[wBase + k]!;
        row[i] = acc;
      }
    }
    sink(j, row);
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
export function resample(
  image: RgbImage,
  grid: SampleGrid,
  scratch?: ResampleScratch,
): Float32Array {
  const rowStride = grid.outWidth * 3;
  const length = grid.outHeight * rowStride;
  let out: Float32Array | undefined;
  resampleRows(image, grid, scratch, (j, row) => {
    out ??= scratch ? scratch.output(length) : new Float32Array(length);
    out.set(row, j * rowStride);
  });
  return out!;
}

/** Per-channel normalisation: ((v · rescaleFactor) − mean) / std. */
export interface Normalization {
  readonly rescaleFactor: number;
  readonly image_mean: readonly number[];
  readonly image_std: readonly number[];
}

/**
 * `resample` and normalisation in one pass: writes ((v · rescaleFactor) − mean) / std per
 * channel straight into planar NCHW `out` (a new array by default), with the same values as
 * normalising `resample`'s result, without the intermediate image.
 *
 * @example
 * const tensor = resampleNormalized(img, grid, manifest.preprocessing);
 */
export function resampleNormalized(
  image: RgbImage,
  grid: SampleGrid,
  norm: Normalization,
  out: Float32Array = new Float32Array(grid.outWidth * grid.outHeight * 3),
  scratch?: ResampleScratch,
): Float32Array {
  const { outWidth: w, outHeight: h } = grid;
  const plane = w * h;
  if (out.length !== plane * 3)
    throw new RangeError(`the output holds ${out.length} values, expected ${plane * 3}`);
  const scale = norm.rescaleFactor;
  const [m0, m1, m2] = norm.image_mean as [number, number, number];
  const [s0, s1, s2] = norm.image_std as [number, number, number];
  resampleRows(image, grid, scratch, (j, row) => {
    const r = j * w;
    const g = plane + r;
    const b = 2 * plane + r;
    for (let x = 0, i = 0; x < w; x++, i += 3) {
      out[r + x] = (row[i]! * scale - m0) / s0;
      out[g + x] = (row[i + 1]! * scale - m1) / s1;
      out[b + x] = (row[i + 2]! * scale - m2) / s2;
    }
  });
  return out;
}
