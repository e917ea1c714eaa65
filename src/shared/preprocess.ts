// The one preprocessing function: decoded pixels → the float32 NCHW tensor a backbone expects.
import type { RgbImage } from './image.js';
import type { Preprocessing } from './manifest.js';
import { resampleNormalized, type SampleGrid } from './resample.js';

/**
 * The grid that resizes the shorter side to `resize.shortestEdge` (other side floored, as
 * torchvision does) and then takes the centre `crop` — computed in one pass, without
 * materialising the resized image. In `squash` mode the whole image maps onto the crop size.
 */
export function centreCropGrid(width: number, height: number, p: Preprocessing): SampleGrid {
  if (p.resize.mode === 'squash') {
    const { width: outWidth, height: outHeight } = p.crop;
    return {
      outWidth,
      outHeight,
      scaleX: width / outWidth,
      scaleY: height / outHeight,
      offsetX: 0,
      offsetY: 0,
    };
  }
  const edge = p.resize.shortestEdge;
  const resizedW = width <= height ? edge : Math.max(edge, Math.floor((edge * width) / height));
  const resizedH = width <= height ? Math.max(edge, Math.floor((edge * height) / width)) : edge;
  const left = Math.round((resizedW - p.crop.width) / 2);
  const top = Math.round((resizedH - p.crop.height) / 2);
  const scaleX = width / resizedW;
  const scaleY = height / resizedH;
  return {
    outWidth: p.crop.width,
    outHeight: p.crop.height,
    scaleX,
    scaleY,
    offsetX: left * scaleX,
    offsetY: top * scaleY,
  };
}

/**
 * Turns RGB values in [0, 255] (row-major HWC, as `resample` returns them) into the model's
 * normalised NCHW layout: ((v · rescaleFactor) − mean) / std per channel.
 */
export function normalize(
  rgb: Float32Array,
  width: number,
  height: number,
  p: Preprocessing,
  out: Float32Array = new Float32Array(width * height * 3),
): Float32Array {
  const plane = width * height;
  if (rgb.length !== plane * 3) {
    throw new RangeError(
      `expected ${plane * 3} values for ${width}×${height} RGB, got ${rgb.length}`,
    );
  }
  if (out.length !== plane * 3)
    throw new RangeError(`the output holds ${out.length} values, expected ${plane * 3}`);
  for (let c = 0; c < 3; c++) {
    const mean = p.image_mean[c]!;
    const std = p.image_std[c]!;
    const base = c * plane;
    for (let i = 0; i < plane; i++) {
      out[base + i] = (rgb[i * 3 + c]! * p.rescaleFactor - mean) / std;
    }
  }
  return out;
}

/**
 * Preprocesses one decoded image for inference: resize, centre crop, normalise. The result is
 * the data of a `[1, 3, crop.height, crop.width]` float32 tensor.
 *
 * @example
 * const tensor = preprocess({ width, height, channels: 4, data: rgba }, manifest.preprocessing);
 * // tensor.length === 3 * 224 * 224
 */
export function preprocess(image: RgbImage, p: Preprocessing): Float32Array {
  return resampleNormalized(image, centreCropGrid(image.width, image.height, p), p);
}

/**
 * Concatenates per-image tensors of one shape into a batch `[n, ...shape]`.
 *
 * @example
 * const batch = stackBatch([a, b]); // a.length === b.length
 */
export function stackBatch(tensors: readonly Float32Array[]): Float32Array {
  const first = tensors[0];
  if (first === undefined) throw new RangeError('cannot stack an empty batch');
  const out = new Float32Array(first.length * tensors.length);
  tensors.forEach((t, i) => {
    if (t.length !== first.length) {
      throw new RangeError(`batch item ${i} has ${t.length} values, expected ${first.length}`);
    }
    out.set(t, i * first.length);
  });
  return out;
}
