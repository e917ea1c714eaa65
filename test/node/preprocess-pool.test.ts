// The worker's preprocessing threads: real photos decoded and rendered on worker threads into
// shared slots give the same bytes as the main thread, a corrupt image fails only itself, and a
// closed pool refuses work.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AUGMENTATION_PRESETS,
  AugmentationSchema,
  CENTRE_VIEW,
  trainingViews,
} from '../../src/shared/augment.js';
import { MOBILENET_PREPROCESSING as P, type Preprocessing } from '../../src/shared/manifest.js';
import { preprocess } from '../../src/shared/preprocess.js';
import { decodeFile } from '../../src/gpu-worker/decode.js';
import {
  ImageDecodeError,
  createViewRenderer,
  type ViewRequest,
} from '../../src/gpu-worker/preprocess-pool.js';
import { parityPhotos } from '../support/photos.js';

const SQUASH: Preprocessing = { ...P, resize: { ...P.resize, mode: 'squash' } };
const lesson = AugmentationSchema.parse(AUGMENTATION_PRESETS.lesson);
const small = AugmentationSchema.parse(AUGMENTATION_PRESETS['small-dataset']);

const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/** Centre views in both framings plus seeded augmented views (crops, flips, jitter, rotation). */
function viewsOf(width: number, height: number, key: string): ViewRequest[] {
  const augmented = [
    ...trainingViews(width, height, lesson, { seed: 3, imageKey: key, count: 2 }),
    ...trainingViews(width, height, small, { seed: 3, imageKey: key, count: 1 }),
  ];
  return [
    { view: CENTRE_VIEW, preprocessing: P },
    { view: CENTRE_VIEW, preprocessing: SQUASH },
    ...augmented.map((view) => ({ view, preprocessing: P })),
  ];
}

const VIEW_SIZE = 3 * 224 * 224;
const sharedTargets = (n: number) => {
  const all = new Float32Array(new SharedArrayBuffer(n * VIEW_SIZE * 4)).fill(Number.NaN);
  return Array.from({ length: n }, (_, i) => all.subarray(i * VIEW_SIZE, (i + 1) * VIEW_SIZE));
};

describe('preprocessing threads', () => {
  const pool = createViewRenderer(2);
  const inline = createViewRenderer(0);
  afterAll(() => pool.close());

  it('render real photos into shared slots with the same bytes as the main thread', async () => {
    const files = await parityPhotos();
    const photos = await Promise.all(files.map((f) => readFile(f)));
    await pool.warm();
    await Promise.all(
      photos.map(async (bytes, i) => {
        const image = await decodeFile(new Uint8Array(bytes));
        const views = viewsOf(image.width, image.height, `photo-${i}`);
        // Targets start as NaN: a value the thread failed to write would show.
        const threaded = sharedTargets(views.length);
        const reference = sharedTargets(views.length);
        const [done] = await Promise.all([
          pool.render(new Uint8Array(bytes), views, threaded),
          inline.render(new Uint8Array(bytes), views, reference),
        ]);
        threaded.forEach((t, v) => expect(same(t, reference[v]!)).toBe(true));
        expect(threaded.every((t) => t.every((x) => Number.isFinite(x)))).toBe(true);
        // The centre crop is exactly what the edge computes for the same photo.
        expect(same(threaded[0]!, preprocess(image, P))).toBe(true);
        expect(done.ms).toBeGreaterThan(0);
      }),
    );
  });

  it('fails a corrupt image with ImageDecodeError and keeps serving the next one', async () => {
    const [file] = await parityPhotos();
    const bytes = new Uint8Array(await readFile(file!));
    const truncated = bytes.slice(0, 600);
    const views = [{ view: CENTRE_VIEW, preprocessing: P }];
    await expect(pool.render(truncated, views, sharedTargets(1))).rejects.toBeInstanceOf(
      ImageDecodeError,
    );
    // A whole header over a garbage Huffman table: the decoder refuses the table.
    const badTable = bytes.slice();
    const dht = badTable.findIndex((v, i) => v === 0xff && badTable[i + 1] === 0xc4);
    badTable.fill(0xff, dht + 5, dht + 21);
    await expect(pool.render(badTable, views, sharedTargets(1))).rejects.toThrow(/Huffman/);
    await expect(
      pool.render(new Uint8Array([1, 2, 3, 4]), views, sharedTargets(1)),
    ).rejects.toThrow(/not|unsupported|recogni/i);
    const expected = preprocess(await decodeFile(bytes), P);
    const [target] = sharedTargets(1);
    await pool.render(bytes, views, [target!]);
    expect(same(target!, expected)).toBe(true);
    // The bytes moved to the thread rather than being copied.
    expect(bytes.byteLength).toBe(0);
  });

  it('replaces a thread after repeated decoder traps, failing no image, memory bounded', async () => {
    const recycling = createViewRenderer(1, { maxTraps: 3, maxDecoderBytes: 256 * 1024 * 1024 });
    try {
      const [file] = await parityPhotos();
      const good = new Uint8Array(await readFile(file!));
      const expected = preprocess(await decodeFile(good), P);
      // A lossless WebP whose bitstream is garbage past its header: photon's wasm decoder
      // panics (a trap), which can leak its memory.
      const trap = new Uint8Array(await sharp(good).webp({ lossless: true }).toBuffer());
      trap.fill(0xff, 40, 70);
      const views = [{ view: CENTRE_VIEW, preprocessing: P }];
      // 24 traps queued alongside 24 good photos, all at once through one thread.
      const results = await Promise.all(
        Array.from({ length: 48 }, async (_, i) => {
          const [target] = sharedTargets(1);
          if (i % 2 === 0) {
            const failed = await recycling
              .render(trap.slice(), views, [target!])
              .then(() => null)
              .catch((err: unknown) => err);
            return failed instanceof ImageDecodeError ? 'trap' : `unexpected: ${String(failed)}`;
          }
          await recycling.render(good.slice(), views, [target!]);
          return same(target!, expected) ? 'good' : 'wrong pixels';
        }),
      );
      expect(results.filter((r) => r === 'trap')).toHaveLength(24);
      expect(results.filter((r) => r === 'good')).toHaveLength(24);
      const stats = recycling.stats();
      // 3 traps retire a thread; the up to 3 images already posted to it finish there first (a
      // trap among them counts for no one): 24 traps replace it between 4 and 8 times.
      expect(stats.recycled).toBeGreaterThanOrEqual(4);
      expect(stats.recycled).toBeLessThanOrEqual(8);
      expect(stats.maxDecoderBytes).toBeGreaterThan(0);
      expect(stats.maxDecoderBytes).toBeLessThan(256 * 1024 * 1024);
      const [after] = sharedTargets(1);
      await recycling.render(good.slice(), views, [after!]);
      expect(same(after!, expected)).toBe(true);
      // Without replacement the same traps leave one decoder holding more memory: a trap leaks.
      const kept = createViewRenderer(1, { maxTraps: Infinity, maxDecoderBytes: Infinity });
      try {
        for (let i = 0; i < 48; i++) {
          const [target] = sharedTargets(1);
          await kept.render(trap.slice(), views, [target!]).catch(() => undefined);
        }
        expect(kept.stats().recycled).toBe(0);
        expect(kept.stats().maxDecoderBytes).toBeGreaterThan(stats.maxDecoderBytes);
      } finally {
        await kept.close();
      }
    } finally {
      await recycling.close();
    }
  });

  it('refuses targets the threads cannot write, and work once closed', async () => {
    const views = [{ view: CENTRE_VIEW, preprocessing: P }];
    await expect(
      pool.render(new Uint8Array(8), views, [new Float32Array(VIEW_SIZE)]),
    ).rejects.toThrow(/SharedArrayBuffer/);
    const closing = createViewRenderer(1);
    await closing.warm();
    await closing.close();
    await expect(closing.render(new Uint8Array(8), [], [])).rejects.toThrow(/closed/);
  });
});
