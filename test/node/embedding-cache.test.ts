// The worker's on-disk embedding cache: entries read back exactly, a torn or foreign-size file is
// a miss, and writes of one key at the same moment (a dataset holding the same photo twice) all
// succeed.
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/gpu-worker/embedding-cache.js';
import { tempDir } from '../support/temp.js';

const SHA = 'ab'.repeat(32);
const vector = (seed: number) => Float32Array.from({ length: 8 }, (_, i) => seed + i / 8);

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe('EmbeddingCache', () => {
  it('reads back what it stored, per view, and counts hits and misses', async () => {
    const cache = new EmbeddingCache(await tempDir('emb-cache'), 'f'.repeat(64), 8);
    expect(await cache.get(SHA, 'centre')).toBeUndefined();
    await cache.put(SHA, 'centre', vector(1));
    await cache.put(SHA, 'aug:3', vector(2));
    expect(await cache.get(SHA, 'centre')).toEqual(vector(1));
    expect(await cache.get(SHA, 'aug:3')).toEqual(vector(2));
    expect([cache.hits, cache.misses]).toEqual([2, 1]);
  });

  it('treats a file of the wrong size as a miss', async () => {
    const dir = await tempDir('emb-cache');
    const cache = new EmbeddingCache(dir, 'f'.repeat(64), 8);
    await cache.put(SHA, 'centre', vector(1));
    const [file] = await filesUnder(dir);
    await writeFile(file!, new Uint8Array(12));
    expect(await cache.get(SHA, 'centre')).toBeUndefined();
  });

  it('stores one key written many times at once, leaving no temporary files', async () => {
    const dir = await tempDir('emb-cache');
    const cache = new EmbeddingCache(dir, 'f'.repeat(64), 8);
    // The same photo twice in a dataset: its views are embedded and stored concurrently.
    await Promise.all(Array.from({ length: 16 }, () => cache.put(SHA, 'aug:1', vector(5))));
    expect(await cache.get(SHA, 'aug:1')).toEqual(vector(5));
    const files = await filesUnder(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/\.f32$/);
  });
});
