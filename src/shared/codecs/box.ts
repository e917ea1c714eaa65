// The box shrink of the decoding contract for formats decoded whole (WebP): alpha composited over
// white per pixel, then each scale × scale box averaged — the same arithmetic the PNG decoder
// applies to its rows as they arrive.
import type { RgbImage } from '../image.js';
import type { DecodeScale } from './scale.js';

/**
 * `image` (RGB or RGBA, 8-bit) composited over white and shrunk by `scale`: output pixel
 * (ox, oy) is the rounded mean of the source pixels in [ox·scale, (ox+1)·scale) ×
 * [oy·scale, (oy+1)·scale), partial boxes at the edges included.
 *
 * @example
 * const small = boxShrink(rgba2000x1500, 4); // 500 × 375 RGB
 */
export function boxShrink(image: RgbImage, scale: DecodeScale): RgbImage {
  const { width, height, channels, data } = image;
  const outW = Math.ceil(width / scale);
  const outH = Math.ceil(height / scale);
  const out = new Uint8Array(outW * outH * 3);
  const sums = new Uint32Array(outW * 3);
  for (let oy = 0; oy < outH; oy++) {
    sums.fill(0);
    const y1 = Math.min(height, (oy + 1) * scale);
    for (let y = oy * scale; y < y1; y++) {
      let at = y * width * channels;
      for (let x = 0; x < width; x++, at += channels) {
        const o = ((x / scale) | 0) * 3;
        if (channels === 4) {
          const a = data[at + 3]!;
          const white = 255 * (255 - a) + 127;
          sums[o] = sums[o]! + Math.floor((data[at]! * a + white) / 255);
          sums[o + 1] = sums[o + 1]! + Math.floor((data[at + 1]! * a + white) / 255);
          sums[o + 2] = sums[o + 2]! + Math.floor((data[at + 2]! * a + white) / 255);
        } else {
          sums[o] = sums[o]! + data[at]!;
          sums[o + 1] = sums[o + 1]! + data[at + 1]!;
          sums[o + 2] = sums[o + 2]! + data[at + 2]!;
        }
      }
    }
    const rows = y1 - oy * scale;
    for (let ox = 0; ox < outW; ox++) {
      const n = (Math.min(width, (ox + 1) * scale) - ox * scale) * rows;
      const half = Math.floor(n / 2);
      for (let c = 0; c < 3; c++) {
        out[(oy * outW + ox) * 3 + c] = Math.floor((sums[ox * 3 + c]! + half) / n);
      }
    }
  }
  return { width: outW, height: outH, channels: 3, data: out };
}
