// Hostile archives: path traversal, symlinks and nested archives are rejected entry by entry,
// and nothing is ever written outside datasets/<id>/.
import { reset } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { ingestArchive } from '../../src/edge/datasets/ingest.js';
import { datasetKeys, type DatasetManifest } from '../../src/shared/datasets.js';
import { expectApiError, fixture, listKeys, stageArchive } from './datasets-helpers.js';

beforeEach(() => reset());

/** Every key in the bucket is the dataset's archive, its manifest or one of its images. */
async function expectOnlyDatasetObjects(datasetId: string, manifest: DatasetManifest) {
  const keys = datasetKeys(datasetId);
  const images = [...manifest.images.train, ...manifest.images.val];
  const all = await listKeys();
  expect(all.every((k) => k.startsWith(keys.prefix))).toBe(true);
  expect(all).toEqual(
    [keys.archive, keys.manifest, ...images.map((i) => keys.image(i.sha256))].sort(),
  );
}

const reasonsOf = (manifest: DatasetManifest) =>
  Object.fromEntries(manifest.rejected.map((r) => [r.path, `${r.reason}: ${r.detail}`]));

describe('hostile archives', () => {
  it('rejects path traversal, absolute paths, drive letters, backslashes and NUL', async () => {
    const staged = await stageArchive('traversal.zip');
    const manifest = await ingestArchive(env.DATASETS, staged);
    expect(reasonsOf(manifest)).toEqual({
      'train/../../evil.jpg': 'unsafe_path: the path has a ".." segment',
      '/etc/x.jpg': 'unsafe_path: the path has an absolute path',
      'C:/windows/x.jpg': 'unsafe_path: the path has a drive letter',
      'train\\ants\\back.jpg': 'unsafe_path: the path has a backslash',
      'train/ants/nul\u0000.jpg': 'unsafe_path: the path has a NUL character',
      '../outside/': 'unsafe_path: the path has a ".." segment',
    });
    expect(manifest.counts).toEqual({ train: { ants: 2, bees: 2 }, val: { ants: 1, bees: 1 } });
    await expectOnlyDatasetObjects(staged.datasetId, manifest);
  });

  it('rejects symbolic links without reading them', async () => {
    const staged = await stageArchive('symlink.zip');
    const manifest = await ingestArchive(env.DATASETS, staged);
    expect(reasonsOf(manifest)).toEqual({
      'train/ants/link.jpg': 'symlink: a symbolic link',
      'train/bees': 'symlink: a symbolic link',
    });
    await expectOnlyDatasetObjects(staged.datasetId, manifest);
  });

  it('never opens nested archives, whether named as such or disguised as photos', async () => {
    const staged = await stageArchive('nested.zip');
    const manifest = await ingestArchive(env.DATASETS, staged);
    expect(reasonsOf(manifest)).toEqual({
      'train/ants/inner.zip': 'nested_archive: archives inside the archive are not read',
      'train/ants/photos.tar.gz': 'nested_archive: archives inside the archive are not read',
      'train/bees/photo.jpg': 'nested_archive: a ZIP archive',
    });
    expect(manifest.counts).toEqual({ train: { ants: 2, bees: 2 }, val: { ants: 1, bees: 1 } });
    await expectOnlyDatasetObjects(staged.datasetId, manifest);
  });

  it('never deletes or writes outside the prefix, even for an upload kept elsewhere', async () => {
    await env.DATASETS.put('uploads/bomb.zip', await fixture('datasets/bomb.zip'));
    await env.DATASETS.put('datasets/ds_neighbour01/manifest.json', '{}');
    await expectApiError(
      ingestArchive(env.DATASETS, {
        tenant: 't',
        datasetId: 'ds_target0001',
        archiveKey: 'uploads/bomb.zip',
      }),
      'archive_too_large',
    );
    expect(await listKeys()).toEqual(['datasets/ds_neighbour01/manifest.json', 'uploads/bomb.zip']);
  });
});
