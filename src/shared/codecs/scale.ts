// The one scaling rule of the decoding contract: how far an image is shrunk while it is decoded
// (JPEG in the DCT domain, PNG by a box filter as its rows arrive), chosen from the size the
// model's preprocessing needs, so a 12 MP photo never exists at 12 MP in memory.
import type { Preprocessing } from '../manifest.js';

/** Decoding shrinks by one of these factors (libjpeg's scale_denom with scale_num 1). */
export const DECODE_SCALES = [1, 2, 4, 8] as const;
export type DecodeScale = (typeof DECODE_SCALES)[number];

/**
 * The shortest side a decoded image must keep for `p`: the resize target (`shortestEdge`, 256
 * for our backbones) or the crop, whichever is larger. The same for both input modes, so one
 * decode serves crop and squash views alike (the worker decodes each photo once for both).
 */
export function decodeTarget(p: Preprocessing): number {
  return Math.max(p.resize.shortestEdge, p.crop.width, p.crop.height);
}

/**
 * The largest factor that keeps the shorter side (after shrinking, rounded up as the decoders
 * round) at least `target` pixels; 1 for an image that is already small.
 *
 * @example
 * decodeScaleFor(4000, 3000, 256); // 8 (500 × 375)
 * decodeScaleFor(500, 375, 256); // 1
 */
export function decodeScaleFor(width: number, height: number, target: number): DecodeScale {
  const shorter = Math.min(width, height);
  let chosen: DecodeScale = 1;
  for (const d of DECODE_SCALES) if (Math.ceil(shorter / d) >= target) chosen = d;
  return chosen;
}

/** The decoded size of a width × height image at `scale` (each side rounded up). */
export function scaledSize(
  width: number,
  height: number,
  scale: DecodeScale,
): { width: number; height: number } {
  return { width: Math.ceil(width / scale), height: Math.ceil(height / scale) };
}
