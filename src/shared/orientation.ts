// Applies an EXIF orientation to RGBA pixels, so photos are classified the way they are shown.
import type { RgbImage } from './image.js';

/**
 * Returns the upright image for EXIF orientation 1–8 (1 returns the input unchanged).
 *
 * @example
 * const upright = applyOrientation(decoded, 6); // rotated 90° clockwise; width and height swap
 */
export function applyOrientation(image: RgbImage, orientation: number): RgbImage {
  if (orientation <= 1 || orientation > 8) return image;
  const { width: w, height: h, channels: ch, data } = image;
  const swap = orientation >= 5;
  const outW = swap ? h : w;
  const outH = swap ? w : h;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2:
          [sx, sy] = [w - 1 - x, y];
          break;
        case 3:
          [sx, sy] = [w - 1 - x, h - 1 - y];
          break;
        case 4:
          [sx, sy] = [x, h - 1 - y];
          break;
        case 5:
          [sx, sy] = [y, x];
          break;
        case 6:
          [sx, sy] = [y, h - 1 - x];
          break;
        case 7:
          [sx, sy] = [w - 1 - y, h - 1 - x];
          break;
        default:
          [sx, sy] = [w - 1 - y, x];
          break; // 8
      }
      const src = (sy * w + sx) * ch;
      out.set(data.subarray(src, src + ch), (y * outW + x) * ch);
    }
  }
  return { width: outW, height: outH, channels: ch, data: out };
}
