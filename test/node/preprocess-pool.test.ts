// The worker's preprocessing threads: real photos decoded and rendered on worker threads give the
// same bytes as the main thread, recycled buffers are fully rewritten, a corrupt image fails only
// itself, and a closed pool refuses work.
import { readFile } from 'node:fs/promises';
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

describe('preprocessing threads', () => {
  const pool = createViewRenderer(2);
  const inline = createViewRenderer(0);
  afterAll(() => pool.close());

  it('render real photos to the same bytes as the main thread, recycled buffers included', async () => {
    const files = await parityPhotos();
    const photos = await Promise.all(files.map((f) => readFile(f)));
    await pool.warm();
    // Two rounds: the second renders into buffers handed back after the first (poisoned with NaN,
    // so a value the thread failed to write would show).
    for (let round = 0; round < 2; round++) {
      const rendered = await Promise.all(
        photos.map(async (bytes, i) => {
          const image = decodeFile(new Uint8Array(bytes));
          const views = viewsOf(image.width, image.height, `photo-${i}`);
          const [threaded, reference] = await Promise.all([
            pool.render(new Uint8Array(bytes), views),
            inline.render(new Uint8Array(bytes), views),
          ]);
          expect(threaded.tensors).toHaveLength(views.length);
          threaded.tensors.forEach((t, v) => expect(same(t, reference.tensors[v]!)).toBe(true));
          // The centre crop is exactly what the edge computes for the same photo.
          expect(same(threaded.tensors[0]!, preprocess(image, P))).toBe(true);
          expect(threaded.ms).toBeGreaterThan(0);
          return threaded.tensors;
        }),
      );
      for (const tensors of rendered) {
        for (const t of tensors) t.fill(Number.NaN);
        pool.recycle(tensors);
      }
    }
  });

  it('fails a corrupt image with ImageDecodeError and keeps serving the next one', async () => {
    const [file] = await parityPhotos();
    const bytes = new Uint8Array(await readFile(file!));
    const truncated = bytes.slice(0, 600);
    const views = [{ view: CENTRE_VIEW, preprocessing: P }];
    await expect(pool.render(truncated, views)).rejects.toBeInstanceOf(ImageDecodeError);
    await expect(pool.render(new Uint8Array([1, 2, 3, 4]), views)).rejects.toThrow(
      /not|unsupported|recogni/i,
    );
    const expected = preprocess(decodeFile(bytes), P);
    const after = await pool.render(bytes, views);
    expect(same(after.tensors[0]!, expected)).toBe(true);
    // The bytes moved to the thread rather than being copied.
    expect(bytes.byteLength).toBe(0);
  });

  it('refuses work once closed', async () => {
    const closing = createViewRenderer(1);
    await closing.warm();
    await closing.close();
    await expect(closing.render(new Uint8Array(8), [])).rejects.toThrow(/closed/);
  });
});
