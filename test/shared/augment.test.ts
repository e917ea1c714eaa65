// Seeded augmentation views: reproducible, within their ranges, and consistent with preprocess.
import { describe, expect, it } from 'vitest';
import {
  AUGMENTATION_PRESETS,
  AugmentationSchema,
  CENTRE_VIEW,
  renderView,
  sampleView,
  trainingViews,
  viewKey,
} from '../../src/shared/augment.js';
import type { RgbImage } from '../../src/shared/image.js';
import { MOBILENET_PREPROCESSING as P } from '../../src/shared/manifest.js';
import { preprocess } from '../../src/shared/preprocess.js';
import { createRng, deriveSeed } from '../../src/shared/random.js';

function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      data.set([(x * 255) / width, (y * 255) / height, (x * y) % 256], (y * width + x) * 3);
  return { width, height, channels: 3, data };
}

const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
const presets = {
  none: AugmentationSchema.parse(AUGMENTATION_PRESETS.none),
  lesson: AugmentationSchema.parse(AUGMENTATION_PRESETS.lesson),
  small: AugmentationSchema.parse(AUGMENTATION_PRESETS['small-dataset']),
};

describe('random', () => {
  it('gives the same stream for the same seed and a different one otherwise', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const sa = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(sa);
    expect([c(), c(), c()]).not.toEqual(sa);
    expect(sa.every((v) => v >= 0 && v < 1)).toBe(true);
  });

  it('derives seeds from parts, sensitive to each part', () => {
    expect(deriveSeed(1, 'abc', 0)).toBe(deriveSeed(1, 'abc', 0));
    expect(deriveSeed(1, 'abc', 0)).not.toBe(deriveSeed(1, 'abc', 1));
    expect(deriveSeed(1, 'abc', 0)).not.toBe(deriveSeed(2, 'abc', 0));
  });
});

describe('augmentation views', () => {
  const img = gradient(480, 320);

  it('are reproducible from (seed, image, index) and differ across indices', () => {
    const opts = { seed: 11, imageKey: 'img-a', count: 4 };
    const first = trainingViews(480, 320, presets.small, opts);
    expect(trainingViews(480, 320, presets.small, opts)).toEqual(first);
    expect(new Set(first.map(viewKey)).size).toBe(4);
    const t1 = renderView(img, first[0]!, P);
    expect(same(t1, renderView(img, first[0]!, P))).toBe(true);
    expect(same(t1, renderView(img, first[1]!, P))).toBe(false);
    expect(trainingViews(480, 320, presets.small, { ...opts, seed: 12 })).not.toEqual(first);
  });

  it('with the "none" preset are all the centre view, rendered exactly like preprocess', () => {
    const views = trainingViews(480, 320, presets.none, { seed: 1, imageKey: 'x', count: 3 });
    expect(views).toEqual([CENTRE_VIEW, CENTRE_VIEW, CENTRE_VIEW]);
    expect(same(renderView(img, CENTRE_VIEW, P), preprocess(img, P))).toBe(true);
  });

  it('sample crop boxes inside the image with the configured area and aspect ranges', () => {
    const rng = createRng(5);
    for (let i = 0; i < 300; i++) {
      const view = sampleView(480, 320, presets.lesson, rng);
      if (view.crop === 'centre') throw new Error('expected a crop box');
      const { x, y, width, height } = view.crop;
      expect(x).toBeGreaterThanOrEqual(0);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(x + width).toBeLessThanOrEqual(480);
      expect(y + height).toBeLessThanOrEqual(320);
      const area = (width * height) / (480 * 320);
      expect(area).toBeGreaterThan(0.07);
      expect(area).toBeLessThanOrEqual(1);
      expect(width / height).toBeGreaterThan(0.7);
      expect(width / height).toBeLessThan(1.4);
    }
  });

  it('keep colour factors and rotation within the preset ranges, and flip about half the time', () => {
    const rng = createRng(9);
    const views = Array.from({ length: 400 }, () => sampleView(480, 320, presets.small, rng));
    for (const v of views) {
      for (const f of [v.brightness, v.contrast, v.saturation]) {
        expect(f).toBeGreaterThanOrEqual(0.7);
        expect(f).toBeLessThanOrEqual(1.3);
      }
      expect(Math.abs(v.rotationDegrees)).toBeLessThanOrEqual(20);
    }
    const flips = views.filter((v) => v.flip).length;
    expect(flips).toBeGreaterThan(150);
    expect(flips).toBeLessThan(250);
  });

  it('mirror the image when flipped', () => {
    const plain = renderView(img, CENTRE_VIEW, P);
    const flipped = renderView(img, { ...CENTRE_VIEW, flip: true }, P);
    for (const [c, y, x] of [
      [0, 10, 3],
      [1, 100, 50],
      [2, 200, 223],
    ] as const) {
      const base = c * 224 * 224 + y * 224;
      expect(flipped[base + x]).toBe(plain[base + 223 - x]);
    }
  });

  it('apply brightness as a scale before clamping', () => {
    const grey: RgbImage = {
      width: 8,
      height: 8,
      channels: 3,
      data: new Uint8Array(192).fill(100),
    };
    const t = renderView(grey, { ...CENTRE_VIEW, brightness: 1.5 }, P);
    expect(t[0]).toBeCloseTo((150 / 255 - 0.5) / 0.5, 5);
    const bright = renderView(grey, { ...CENTRE_VIEW, brightness: 3 }, P);
    expect(bright[0]).toBe(1);
  });

  it('fill rotated-out corners with black and keep the centre', () => {
    const white: RgbImage = {
      width: 300,
      height: 300,
      channels: 3,
      data: new Uint8Array(270000).fill(255),
    };
    const t = renderView(white, { ...CENTRE_VIEW, rotationDegrees: 45 }, P);
    expect(t[0]).toBe(-1);
    expect(t[112 * 224 + 112]).toBeCloseTo(1, 5);
  });

  it('reject invalid configurations with the field at fault', () => {
    const bad = AugmentationSchema.safeParse({
      randomResizedCrop: { scale: [0.9, 0.1], ratio: [0.75, 1.33] },
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['randomResizedCrop', 'scale']);
    expect(AugmentationSchema.safeParse({ horizontalFlip: 2 }).success).toBe(false);
  });
});
