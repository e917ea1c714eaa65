// The preprocessing contract, checked in Node and in workerd alike.
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../../src/shared/image.js';
import { MOBILENET_PREPROCESSING as P, PreprocessingSchema } from '../../src/shared/manifest.js';
import { centreCropGrid, normalize, preprocess, stackBatch } from '../../src/shared/preprocess.js';
import { resample } from '../../src/shared/resample.js';
import { createRng } from '../../src/shared/random.js';

function solid(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, channels: 3, data };
}

function noise(width: number, height: number, seed: number, channels: 3 | 4 = 3): RgbImage {
  const rng = createRng(seed);
  const data = new Uint8Array(width * height * channels).map(() => Math.floor(rng() * 256));
  return { width, height, channels, data };
}

/** A deliberately plain 2-D triangle-filter resampler: the reference the fast one must match. */
function naiveResample(
  img: RgbImage,
  outW: number,
  outH: number,
  sx: number,
  sy: number,
  ox: number,
  oy: number,
) {
  const out = new Float64Array(outW * outH * 3);
  const fsx = Math.max(sx, 1);
  const fsy = Math.max(sy, 1);
  for (let j = 0; j < outH; j++) {
    for (let i = 0; i < outW; i++) {
      const cx = ox + (i + 0.5) * sx;
      const cy = oy + (j + 0.5) * sy;
      let sum = 0;
      const acc = [0, 0, 0];
      for (let y = 0; y < img.height; y++) {
        const wy = Math.max(0, 1 - Math.abs((y + 0.5 - cy) / fsy));
        if (wy === 0) continue;
        for (let x = 0; x < img.width; x++) {
          const wx = Math.max(0, 1 - Math.abs((x + 0.5 - cx) / fsx));
          if (wx === 0) continue;
          for (let c = 0; c < 3; c++)
            acc[c]! += img.data[(y * img.width + x) * img.channels + c]! * wx * wy;
          sum += wx * wy;
        }
      }
      for (let c = 0; c < 3; c++) out[(j * outW + i) * 3 + c] = acc[c]! / sum;
    }
  }
  return out;
}

describe('preprocess', () => {
  it('returns a 3×224×224 tensor in [-1, 1] whatever the input size', () => {
    for (const [w, h] of [
      [500, 333],
      [333, 500],
      [224, 224],
      [64, 48],
      [3000, 2000],
    ] as const) {
      const t = preprocess(noise(w, h, w + h), P);
      expect(t.length).toBe(3 * 224 * 224);
      expect(t.every((v) => v >= -1 && v <= 1)).toBe(true);
    }
  });

  it('maps a solid colour to (v / 255 − 0.5) / 0.5 in each channel plane', () => {
    const t = preprocess(solid(317, 211, [255, 0, 51]), P);
    const plane = 224 * 224;
    expect(t.slice(0, plane).every((v) => v === 1)).toBe(true);
    expect(t.slice(plane, 2 * plane).every((v) => v === -1)).toBe(true);
    const expected = Math.fround((51 / 255 - 0.5) / 0.5);
    expect(t.slice(2 * plane).every((v) => Math.abs(v - expected) < 1e-6)).toBe(true);
  });

  it('lays channels out as planes (NCHW) and keeps left on the left', () => {
    const img = solid(400, 300, [0, 0, 0]);
    for (let y = 0; y < 300; y++) for (let x = 0; x < 200; x++) img.data[(y * 400 + x) * 3] = 255;
    const t = preprocess(img, P);
    expect(t[10 * 224 + 5]).toBe(1); // red plane, left side
    expect(t[10 * 224 + 220]).toBe(-1); // red plane, right side
    expect(t[224 * 224 + 10 * 224 + 5]).toBe(-1); // green plane
  });

  it('resizes the shorter side to 256 (floor) and centres the 224 crop', () => {
    const g = centreCropGrid(500, 333, P);
    // 500×333 → 384×256 (floor of 384.38), crop offsets 80 and 16 in resized pixels.
    expect(g.scaleY).toBeCloseTo(333 / 256, 12);
    expect(g.scaleX).toBeCloseTo(500 / 384, 12);
    expect(g.offsetX).toBeCloseTo(80 * (500 / 384), 9);
    expect(g.offsetY).toBeCloseTo(16 * (333 / 256), 9);
    expect([g.outWidth, g.outHeight]).toEqual([224, 224]);
  });

  it('matches a plain 2-D triangle-filter reference to 1e-4 when shrinking and enlarging', () => {
    for (const [w, h] of [
      [97, 61],
      [23, 31],
    ] as const) {
      const img = noise(w, h, 99);
      const grid = {
        outWidth: 40,
        outHeight: 28,
        scaleX: w / 40,
        scaleY: h / 28,
        offsetX: 0,
        offsetY: 0,
      };
      const fast = resample(img, grid);
      const ref = naiveResample(img, 40, 28, grid.scaleX, grid.scaleY, 0, 0);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(fast[i]! - ref[i]!));
      expect(worst).toBeLessThan(1e-4 * 255);
    }
  });

  it('composites transparent pixels over white', () => {
    const img = noise(300, 300, 5, 4);
    for (let i = 0; i < 300 * 300; i++) img.data[i * 4 + 3] = 0;
    const t = preprocess(img, P);
    expect(t.every((v) => v === 1)).toBe(true);
  });

  it('is deterministic: the same input gives identical bytes', () => {
    const img = noise(640, 427, 3);
    const a = preprocess(img, P);
    const b = preprocess(img, P);
    expect(a.every((v, i) => Object.is(v, b[i]))).toBe(true);
  });

  it('refuses a buffer that does not match the declared size', () => {
    const bad: RgbImage = { width: 10, height: 10, channels: 3, data: new Uint8Array(299) };
    expect(() => preprocess(bad, P)).toThrow(/expected 300/);
  });

  it('normalises with the contract mean and std', () => {
    const rgb = new Float32Array([0, 127.5, 255]);
    const out = normalize(rgb, 1, 1, { ...P, image_mean: [0, 0.5, 1], image_std: [1, 0.5, 0.25] });
    expect(Array.from(out)).toEqual([0, 0, 0]);
  });

  it('stacks images into a batch and refuses mixed sizes', () => {
    const a = new Float32Array([1, 2]);
    const b = new Float32Array([3, 4]);
    expect(Array.from(stackBatch([a, b]))).toEqual([1, 2, 3, 4]);
    expect(() => stackBatch([a, new Float32Array(3)])).toThrow(/batch item 1/);
    expect(() => stackBatch([])).toThrow(/empty/);
  });

  it('validates contracts: the crop must fit the resize', () => {
    const result = PreprocessingSchema.safeParse({ ...P, crop: { width: 300, height: 300 } });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['crop']);
  });
});
