// Ingesting real ImageFolder archives inside workerd: counts, content-addressed images in R2,
// the stratified split, single-image uploads and deletion.
import { reset } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { ingestArchive } from '../../src/edge/datasets/ingest.js';
import {
  addImage,
  cachedDatasetManifest,
  deleteDataset,
  getDatasetManifest,
} from '../../src/edge/datasets/store.js';
import { DatasetManifestSchema, datasetKeys, stratifiedSplit } from '../../src/shared/datasets.js';
import { sha256Hex } from '../../src/shared/fingerprint.js';
import { expectApiError, fixture, listKeys, stageArchive } from './datasets-helpers.js';

beforeEach(() => reset());

describe('ingestArchive: hymenoptera_data', () => {
  it('accepts 244 train and 153 val images and explains every other file', async () => {
    const staged = await stageArchive('hymenoptera.zip');
    const manifest = await ingestArchive(env.DATASETS, staged);

    expect(manifest.classes).toEqual(['ants', 'bees']);
    expect(manifest.split).toEqual({ source: 'archive' });
    expect(manifest.images.train).toHaveLength(244);
    expect(manifest.images.val).toHaveLength(153);
    expect(manifest.counts).toEqual({
      train: { ants: 123, bees: 121 },
      val: { ants: 70, bees: 83 },
    });
    expect(manifest.rejected).toEqual([
      {
        path: 'hymenoptera_data/MANIFEST.tsv',
        reason: 'outside_layout',
        detail: 'expected hymenoptera_data/{train,val}/<class>/<file>',
      },
      {
        path: 'hymenoptera_data/train/ants/imageNotFound.gif',
        reason: 'unsupported_format',
        detail: 'GIF is not supported (JPEG, PNG, WebP)',
      },
    ]);
    expect(manifest.ignored).toBe(0);
    expect(manifest.images.train[0]).toMatchObject({
      label: 'ants',
      path: 'hymenoptera_data/train/ants/0013035.jpg',
      format: 'jpeg',
      width: 768,
      height: 512,
    });
    // The manifest on R2 is the one returned, and passes the shared schema.
    const stored = await getDatasetManifest(env.DATASETS, staged.datasetId);
    expect(DatasetManifestSchema.parse(stored)).toEqual(manifest);
  });

  it('stores each image once under its sha256, byte for byte', async () => {
    const staged = await stageArchive('hymenoptera.zip');
    const manifest = await ingestArchive(env.DATASETS, staged);
    const keys = datasetKeys(staged.datasetId);
    const images = [...manifest.images.train, ...manifest.images.val];
    expect(new Set(images.map((i) => i.sha256)).size).toBe(397);
    expect(await listKeys()).toEqual(
      [keys.archive, keys.manifest, ...images.map((i) => keys.image(i.sha256))].sort(),
    );
    const bee = images.find((i) => i.path.endsWith('val/bees/10870992_eebeeb3a12.jpg'))!;
    const object = await env.DATASETS.get(keys.image(bee.sha256));
    const bytes = new Uint8Array(await object!.arrayBuffer());
    expect(bytes).toEqual(await fixture('images/bee.jpg'));
    expect(await sha256Hex(bytes)).toBe(bee.sha256);
    expect(bee.bytes).toBe(bytes.byteLength);
    expect(object!.httpMetadata?.contentType).toBe('image/jpeg');
  });

  it('gives the same manifest when the same archive is ingested again', async () => {
    const staged = await stageArchive('hymenoptera.zip');
    const first = await ingestArchive(env.DATASETS, staged);
    const second = await ingestArchive(env.DATASETS, staged);
    expect({ ...second, createdAt: first.createdAt }).toEqual(first);
    expect(await listKeys()).toHaveLength(2 + 397);
  });
});

describe('ingestArchive: layouts and entries', () => {
  it('records a reason for every kind of rejected entry and skips OS clutter', async () => {
    const manifest = await ingestArchive(env.DATASETS, await stageArchive('rejects.zip'));
    const reasons = Object.fromEntries(manifest.rejected.map((r) => [r.path, r.reason]));
    expect(reasons).toEqual({
      't\ufffd\ufffd': 'unsafe_path',
      'README.txt': 'outside_layout',
      'test/ants/t.jpg': 'outside_layout',
      'train/loose.jpg': 'outside_layout',
      'train/ants/sub/deep.jpg': 'outside_layout',
      'val/wasps/w.jpg': 'outside_layout',
      'train/ants/secret.jpg': 'encrypted',
      'train/ants/bzip2.jpg': 'unsupported_compression',
      'train/ants/fifo.jpg': 'special_file',
      'train/ants/copy.jpg': 'duplicate',
      'val/bees/copy.jpg': 'duplicate',
      'train/ants/notes.jpg': 'not_an_image',
      'train/ants/placeholder.gif': 'unsupported_format',
      'train/bees/badcrc.jpg': 'corrupt',
      'train/bees/half.jpg': 'corrupt',
      'train/bees/huge.png': 'too_large',
    });
    expect(manifest.rejected.find((r) => r.path === 'train/ants/copy.jpg')?.detail).toBe(
      'the same bytes as train/ants/ants-0.jpg',
    );
    expect(manifest.ignored).toBe(3);
    expect(manifest.counts).toEqual({ train: { ants: 3, bees: 4 }, val: { ants: 1, bees: 1 } });
    const formats = manifest.images.train.map((i) => [i.path, i.format]);
    expect(formats).toContainEqual(['train/ants/small.png', 'png']);
    expect(formats).toContainEqual(['train/bees/small.webp', 'webp']);
    // A CP437 name (flag bit 11 clear): byte 0x82 is "é".
    expect(formats).toContainEqual(['train/bees/café.jpg', 'jpeg']);
  });

  it('reads ZIP64 archives', async () => {
    const manifest = await ingestArchive(env.DATASETS, await stageArchive('zip64.zip'));
    expect(manifest.counts).toEqual({ train: { ants: 2, bees: 2 }, val: { ants: 1, bees: 1 } });
    expect(manifest.rejected).toEqual([]);
  });
});

describe('stratified split (archive without val/)', () => {
  it('is stated in the manifest and moves about valFraction of each class to val', async () => {
    const manifest = await ingestArchive(env.DATASETS, {
      ...(await stageArchive('noval.zip')),
      split: { seed: 7, valFraction: 0.25 },
    });
    expect(manifest.split).toEqual({ source: 'stratified', seed: 7, valFraction: 0.25 });
    expect(manifest.counts).toEqual({ train: { ants: 9, bees: 7 }, val: { ants: 3, bees: 2 } });
  });

  it('is deterministic for a seed, different for another, and defaults to seed 0 and 0.2', async () => {
    const valOf = async (split?: { seed: number }) => {
      const m = await ingestArchive(env.DATASETS, {
        ...(await stageArchive('noval.zip')),
        ...(split ? { split } : {}),
      });
      return { split: m.split, val: m.images.val.map((i) => i.path) };
    };
    const a = await valOf();
    const b = await valOf({ seed: 0 });
    const c = await valOf({ seed: 1 });
    expect(a.split).toEqual({ source: 'stratified', seed: 0, valFraction: 0.2 });
    expect(b).toEqual(a);
    expect(c.val).not.toEqual(a.val);
    expect(a.val).toHaveLength(2 + 2); // round(12 × 0.2) ants, round(9 × 0.2) bees
  });

  it('keeps at least one val image per class of two or more, and never takes them all', () => {
    const image = (label: string, n: number) => ({
      sha256: n.toString(16).padStart(64, '0'),
      label,
      path: `${label}/${n}`,
      bytes: 1,
      width: 1,
      height: 1,
      format: 'jpeg' as const,
    });
    const images = [image('one', 1), image('two', 2), image('two', 3), image('three', 4)];
    images.push(image('three', 5), image('three', 6));
    const { train, val } = stratifiedSplit(images, { seed: 0, valFraction: 0.01 });
    expect(val.map((i) => i.label).sort()).toEqual(['three', 'two']);
    expect(train.map((i) => i.label).sort()).toEqual(['one', 'three', 'three', 'two']);
    const most = stratifiedSplit(images, { seed: 0, valFraction: 0.99 });
    expect(most.train.map((i) => i.label).sort()).toEqual(['one', 'three', 'two']);
  });
});

describe('addImage, getDatasetManifest, deleteDataset', () => {
  it('adds a labelled image once, deduplicating by sha256', async () => {
    const staged = await stageArchive('zip64.zip');
    await ingestArchive(env.DATASETS, staged);
    const png = await fixture('images/bee.png');
    const added = await addImage(env.DATASETS, staged.datasetId, {
      split: 'val',
      label: 'bees',
      bytes: png,
    });
    expect(added.added).toBe(true);
    expect(added.counts).toEqual({ train: { ants: 2, bees: 2 }, val: { ants: 1, bees: 2 } });
    const again = await addImage(env.DATASETS, staged.datasetId, {
      split: 'train',
      label: 'ants',
      bytes: png,
    });
    expect(again).toEqual({
      sha256: added.sha256,
      added: false,
      duplicateOf: { split: 'val', label: 'bees', path: 'upload' },
      counts: added.counts,
    });
    const manifest = await getDatasetManifest(env.DATASETS, staged.datasetId);
    expect(manifest.images.val.find((i) => i.sha256 === added.sha256)).toMatchObject({
      label: 'bees',
      path: 'upload',
      format: 'png',
    });
    const stored = await env.DATASETS.get(datasetKeys(staged.datasetId).image(added.sha256));
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(png);
  });

  it('treats an image already in the archive as a duplicate, and a new label as a new class', async () => {
    const staged = await stageArchive('hymenoptera.zip');
    await ingestArchive(env.DATASETS, staged);
    const bee = await fixture('images/bee.jpg');
    const dup = await addImage(env.DATASETS, staged.datasetId, {
      split: 'train',
      label: 'bees',
      bytes: bee,
    });
    expect(dup.duplicateOf).toEqual({
      split: 'val',
      label: 'bees',
      path: 'hymenoptera_data/val/bees/10870992_eebeeb3a12.jpg',
    });
    const wasp = await addImage(env.DATASETS, staged.datasetId, {
      split: 'train',
      label: 'wasps',
      bytes: await fixture('images/bee.webp'),
    });
    expect(wasp.counts.train).toEqual({ ants: 123, bees: 121, wasps: 1 });
    expect(wasp.counts.val).toEqual({ ants: 70, bees: 83, wasps: 0 });
    const manifest = await getDatasetManifest(env.DATASETS, staged.datasetId);
    expect(manifest.classes).toEqual(['ants', 'bees', 'wasps']);
  });

  it('keeps both of two images added at the same time (conditional manifest writes)', async () => {
    const staged = await stageArchive('zip64.zip');
    await ingestArchive(env.DATASETS, staged);
    const [png, webp] = await Promise.all([fixture('images/bee.png'), fixture('images/bee.webp')]);
    const results = await Promise.all([
      addImage(env.DATASETS, staged.datasetId, { split: 'train', label: 'bees', bytes: png }),
      addImage(env.DATASETS, staged.datasetId, { split: 'train', label: 'bees', bytes: webp }),
    ]);
    expect(results.map((r) => r.added)).toEqual([true, true]);
    const manifest = await getDatasetManifest(env.DATASETS, staged.datasetId);
    expect(manifest.counts.train).toEqual({ ants: 2, bees: 4 });
  });

  it('deletes every object of a dataset and nothing else', async () => {
    const kept = await stageArchive('zip64.zip');
    await ingestArchive(env.DATASETS, kept);
    const keptKeys = await listKeys();
    const staged = await stageArchive('hymenoptera.zip');
    await ingestArchive(env.DATASETS, staged);
    expect(await deleteDataset(env.DATASETS, staged.datasetId)).toBe(2 + 397);
    expect(await listKeys()).toEqual(keptKeys);
    await expectApiError(getDatasetManifest(env.DATASETS, staged.datasetId), 'not_found');
  });
});

describe('cachedDatasetManifest', () => {
  it('parses a manifest once while R2 says it is unchanged, and reads it again once it changes', async () => {
    const staged = await stageArchive('zip64.zip');
    await ingestArchive(env.DATASETS, staged);
    // What each manifest read brought back: the body, or only metadata (the etag still matched).
    const reads: string[] = [];
    const bucket = {
      get: async (key: string, options?: R2GetOptions) => {
        const object = await env.DATASETS.get(key, options);
        reads.push(!object ? 'none' : 'body' in object ? 'body' : 'metadata');
        return object;
      },
    } as unknown as R2Bucket;
    const first = await cachedDatasetManifest(bucket, staged.datasetId);
    expect(first).toEqual(await getDatasetManifest(env.DATASETS, staged.datasetId));
    expect(await cachedDatasetManifest(bucket, staged.datasetId)).toBe(first);
    expect(reads).toEqual(['body', 'metadata']);

    // addImage rewrites the manifest: the next read sees the new image.
    const added = await addImage(env.DATASETS, staged.datasetId, {
      split: 'val',
      label: 'bees',
      bytes: await fixture('images/bee.png'),
    });
    const changed = await cachedDatasetManifest(bucket, staged.datasetId);
    expect(changed.images.val.map((i) => i.sha256)).toContain(added.sha256);
    expect(changed.counts).toEqual(added.counts);
    expect(await cachedDatasetManifest(bucket, staged.datasetId)).toBe(changed);
    expect(reads).toEqual(['body', 'metadata', 'body', 'metadata']);

    await deleteDataset(env.DATASETS, staged.datasetId);
    await expectApiError(cachedDatasetManifest(bucket, staged.datasetId), 'not_found');
    await expectApiError(cachedDatasetManifest(bucket, 'not-an-id', 'path.id'), 'invalid_request');
  });
});
