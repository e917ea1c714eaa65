// Seeded, portable pseudo-random numbers: the same seed gives the same stream in every runtime.

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/**
 * Mulberry32: a small, fast 32-bit generator — plenty for augmentation and data splits.
 *
 * @example
 * const rng = createRng(42);
 * rng(); // 0.6011037519201636, on every machine
 */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Derives a 32-bit seed from any parts (FNV-1a over their text), so per-image, per-view streams
 * are independent of the order in which images are processed.
 *
 * @example
 * const rng = createRng(deriveSeed(job.seed, image.sha256, viewIndex));
 */
export function deriveSeed(...parts: readonly (string | number)[]): number {
  let hash = 0x811c9dc5;
  const text = parts.join('\u0000');
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A uniform number in [lo, hi). */
export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng();
}

/** A uniform integer in [lo, hi] (both included). */
export function randomInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}
