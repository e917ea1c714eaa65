// softmax and top-k, against values worked out by hand.
import { describe, expect, it } from 'vitest';
import { softmax, topK } from '../../src/shared/head-math.js';

describe('head maths', () => {
  it('softmax matches hand-computed values and is stable for large logits', () => {
    const p = softmax([0, Math.log(3)]);
    expect(p[0]).toBeCloseTo(0.25, 6);
    expect(p[1]).toBeCloseTo(0.75, 6);
    const big = softmax([1000, 1000, 1000]);
    expect(Array.from(big).every((v) => Math.abs(v - 1 / 3) < 1e-6)).toBe(true);
  });

  it('topK returns the k best, best first, ties by lower index', () => {
    expect(topK([0.1, 0.7, 0.2, 0.7, 0.05], 3)).toEqual([
      { index: 1, score: 0.7 },
      { index: 3, score: 0.7 },
      { index: 2, score: 0.2 },
    ]);
    expect(topK([3, 1], 5).map((r) => r.index)).toEqual([0, 1]);
    expect(topK([], 3)).toEqual([]);
  });
});
