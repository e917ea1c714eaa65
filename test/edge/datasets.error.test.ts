// Archives refused as a whole (zip bombs, broken or oversized archives, too few classes or
// images) leave nothing behind; bad single uploads are refused with the field at fault.
import { reset } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { ingestArchive } from '../../src/edge/datasets/ingest.js';
import { addImage } from '../../src/edge/datasets/store.js';
import {
  datasetKeys,
  DEFAULT_DATASET_LIMITS,
  type DatasetLimits,
} from '../../src/shared/datasets.js';
import { expectApiError, fixture, listKeys, stageArchive } from './datasets-helpers.js';

beforeEach(() => reset());

const limits = (overrides: Partial<DatasetLimits>) => ({ ...DEFAULT_DATASET_LIMITS, ...overrides });

/** Ingests a fixture expecting refusal `code`; checks nothing is left anywhere in the bucket. */
async function refused(
  fixture: string,
  code: Parameters<typeof expectApiError>[1],
  overrides = {},
) {
  const staged = await stageArchive(fixture);
  const error = await expectApiError(
    ingestArchive(env.DATASETS, { ...staged, limits: limits(overrides) }),
    code,
  );
  expect(await listKeys()).toEqual([]);
  return error.message;
}

describe('whole-archive refusals', () => {
  it('refuses a zip bomb by its declared ratio before inflating anything', async () => {
    expect(await refused('bomb.zip', 'archive_too_large')).toMatch(
      /^entry "train\/a\/x\.jpg" declares 209715200 bytes from \d+ \(over 50×\): a zip bomb$/,
    );
  });

  it('refuses a zip bomb that lies about its size once the inflated bytes give it away', async () => {
    expect(await refused('bomb-lying.zip', 'archive_too_large')).toBe(
      'entry "train/ants/x.jpg" inflates to over 50× its compressed size: a zip bomb',
    );
  });

  it('refuses an archive that inflates past the total cap', async () => {
    expect(
      await refused('hymenoptera.zip', 'archive_too_large', {
        maxTotalUncompressedBytes: 10 * 1024 * 1024,
      }),
    ).toMatch(/^the archive inflates to \d+ bytes \(limit 10485760\)$/);
  });

  it('refuses too many entries, an oversized archive and too many images', async () => {
    expect(await refused('hymenoptera.zip', 'archive_too_large', { maxEntries: 100 })).toBe(
      'the archive has 406 entries (limit 100)',
    );
    expect(await refused('hymenoptera.zip', 'archive_too_large', { maxArchiveBytes: 1e6 })).toMatch(
      /^the archive is \d+ bytes \(limit 1000000\)$/,
    );
    // Images are already written when the fifth is reached: they go too.
    expect(await refused('noval.zip', 'archive_too_large', { maxImages: 4 })).toBe(
      'more than 4 images',
    );
  });

  it('refuses what is not a ZIP, a truncated ZIP and overlapping entries', async () => {
    expect(await refused('not-a-zip.zip', 'invalid_archive')).toBe(
      'the archive cannot be read: not a ZIP archive',
    );
    expect(await refused('truncated.zip', 'invalid_archive')).toBe(
      'the archive cannot be read: no end-of-central-directory record (truncated archive?)',
    );
    expect(await refused('overlap.zip', 'invalid_archive')).toMatch(/overlaps the next record$/);
  });

  it('refuses a layout without train/, too few or too many classes, and thin classes', async () => {
    expect(await refused('no-train.zip', 'invalid_dataset')).toBe(
      'the archive has no train/<class>/ folders',
    );
    expect(await refused('noval.zip', 'invalid_dataset', { minClasses: 3 })).toBe(
      '2 class(es) in train/ (at least 3 needed)',
    );
    expect(await refused('noval.zip', 'invalid_dataset', { maxClasses: 1 })).toBe(
      '2 classes in train/ (limit 1)',
    );
    expect(await refused('noval.zip', 'invalid_dataset', { minImagesPerClass: 10 })).toBe(
      'class "bees" has 9 usable training image(s) (at least 10 needed)',
    );
  });

  it('answers 404 for a missing archive and 400 for a malformed dataset id', async () => {
    const missing = await expectApiError(
      ingestArchive(env.DATASETS, {
        tenant: 't',
        datasetId: 'ds_abcdefgh12',
        archiveKey: 'datasets/ds_abcdefgh12/archive.zip',
      }),
      'not_found',
    );
    expect(missing.field).toBe('archiveKey');
    const staged = await stageArchive('zip64.zip');
    const bad = await expectApiError(
      ingestArchive(env.DATASETS, { ...staged, datasetId: 'ds_x/../../models' }),
      'invalid_request',
    );
    expect(bad.field).toBe('datasetId');
    const split = await expectApiError(
      ingestArchive(env.DATASETS, { ...staged, split: { valFraction: 1.5 } }),
      'invalid_request',
    );
    expect(split.field).toBe('split.valFraction');
    expect(await listKeys()).toEqual([staged.archiveKey]);
  });
});

describe('per-entry limits', () => {
  it('rejects images over the byte limit without refusing the archive', async () => {
    const manifest = await ingestArchive(env.DATASETS, {
      ...(await stageArchive('noval.zip')),
      limits: limits({ maxImageBytes: 1500, minImagesPerClass: 1 }),
    });
    const tooLarge = manifest.rejected.filter((r) => r.reason === 'too_large');
    expect(tooLarge.length).toBeGreaterThan(0);
    expect(tooLarge[0]!.detail).toMatch(/^declares \d+ bytes \(limit 1500\)$/);
    const kept = [...manifest.images.train, ...manifest.images.val];
    expect(kept.every((i) => i.bytes <= 1500)).toBe(true);
    expect(kept.length + tooLarge.length).toBe(21);
  });
});

describe('failures', () => {
  it('replaces what an earlier attempt left under the dataset prefix', async () => {
    const staged = await stageArchive('zip64.zip');
    const stray = datasetKeys(staged.datasetId).image('0'.repeat(64));
    await env.DATASETS.put(stray, 'left over');
    await ingestArchive(env.DATASETS, staged);
    expect(await listKeys()).not.toContain(stray);
  });

  it('keeps the upload but removes partial output after an unexpected storage failure', async () => {
    const staged = await stageArchive('hymenoptera.zip');
    let puts = 0;
    const flaky = new Proxy(env.DATASETS, {
      get(target, prop) {
        if (prop === 'put')
          return (...args: Parameters<R2Bucket['put']>) => {
            if (++puts > 10) return Promise.reject(new Error('R2 is unavailable'));
            return target.put(...args);
          };
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value.bind(target) as unknown) : value;
      },
    });
    await expect(ingestArchive(flaky, staged)).rejects.toThrow('R2 is unavailable');
    expect(await listKeys()).toEqual([staged.archiveKey]);
  });
});

describe('addImage refusals', () => {
  it('names the field at fault', async () => {
    const staged = await stageArchive('zip64.zip');
    await ingestArchive(env.DATASETS, staged);
    const jpeg = await fixture('images/bee.jpg');
    const add = (split: string, label: string, bytes = jpeg, datasetId = staged.datasetId) =>
      addImage(env.DATASETS, datasetId, { split, label, bytes });
    expect((await expectApiError(add('test', 'bees'), 'invalid_request')).field).toBe('split');
    expect((await expectApiError(add('train', '../bees'), 'invalid_request')).field).toBe('label');
    expect((await expectApiError(add('train', '.hidden'), 'invalid_request')).field).toBe('label');
    expect((await expectApiError(add('train', 'a\u0000b'), 'invalid_request')).field).toBe('label');
    const gif = await fixture('images/bee.gif');
    expect((await expectApiError(add('train', 'bees', gif), 'unsupported_media_type')).field).toBe(
      'body',
    );
    const text = new TextEncoder().encode('hello');
    expect((await expectApiError(add('train', 'bees', text), 'invalid_image')).field).toBe('body');
    await expectApiError(add('train', 'bees', jpeg, 'ds_nonexistent1'), 'not_found');
    await expectApiError(add('train', 'bees', jpeg, '../../x'), 'invalid_request');
    const small = addImage(
      env.DATASETS,
      staged.datasetId,
      { split: 'train', label: 'bees', bytes: jpeg },
      limits({ maxImageBytes: 1000 }),
    );
    expect((await expectApiError(small, 'image_too_large')).field).toBe('body');
  });
});
