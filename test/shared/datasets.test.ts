// The dataset contract in both runtimes: limits, class names, and a split that is pinned, so
// the edge and the worker (and every machine) agree on which image is validation.
import { describe, expect, it } from 'vitest';
import {
  ClassNameSchema,
  countImages,
  DatasetLimitsSchema,
  DEFAULT_DATASET_LIMITS,
  SplitSpecSchema,
  stratifiedSplit,
  type DatasetImage,
} from '../../src/shared/datasets.js';

const images: DatasetImage[] = ['ants', 'bees'].flatMap((label, c) =>
  Array.from({ length: 10 }, (_, i) => ({
    sha256: (c * 10 + i).toString(16).padStart(64, '0'),
    label,
    path: `${label}/${i}.jpg`,
    bytes: 1,
    width: 1,
    height: 1,
    format: 'jpeg' as const,
  })),
);

describe('dataset contract', () => {
  it('has valid defaults: 0.2 of a class to val with seed 0', () => {
    expect(DatasetLimitsSchema.parse(DEFAULT_DATASET_LIMITS)).toEqual(DEFAULT_DATASET_LIMITS);
    expect(SplitSpecSchema.parse({})).toEqual({ seed: 0, valFraction: 0.2 });
  });

  it('accepts class names that are one printable, visible path segment', () => {
    for (const ok of ['ants', 'café', 'honey bees', 'x'.repeat(128)])
      expect(ClassNameSchema.safeParse(ok).success, ok).toBe(true);
    for (const bad of ['', '.hidden', 'a/b', 'a\\b', 'a\u0000b', 'tab\there', 'x'.repeat(129)])
      expect(ClassNameSchema.safeParse(bad).success, bad).toBe(false);
  });

  it('splits the same way in every runtime and for any input order', () => {
    const val = (seed: number, valFraction: number, list = images) =>
      stratifiedSplit(list, { seed, valFraction }).val.map((i) => i.path);
    expect(val(0, 0.2)).toEqual(['ants/1.jpg', 'ants/3.jpg', 'bees/2.jpg', 'bees/3.jpg']);
    expect(val(42, 0.3)).toEqual([
      'ants/1.jpg',
      'ants/2.jpg',
      'ants/5.jpg',
      'bees/0.jpg',
      'bees/4.jpg',
      'bees/6.jpg',
    ]);
    expect(val(0, 0.2, [...images].reverse())).toEqual(val(0, 0.2));
  });

  it('counts every class in both splits', () => {
    const split = stratifiedSplit(images, { seed: 0, valFraction: 0.2 });
    expect(countImages(['ants', 'bees', 'wasps'], split)).toEqual({
      train: { ants: 8, bees: 8, wasps: 0 },
      val: { ants: 2, bees: 2, wasps: 0 },
    });
  });
});
