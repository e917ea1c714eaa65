// The isolate's head sessions: an LRU bounded by bytes whose evicted sessions are freed once no
// request holds them, so wasm memory stays flat however many heads pass through — in workerd
// with the real local R2 and onnxruntime-web. (With sessions never freed, the last test measured
// 3.3 MiB of growth and the second saw an evicted session still answering.)
import { env } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acquireHead,
  evictHead,
  HEAD_CACHE_BYTES,
  headCacheStats,
  setHeadCacheLimit,
} from '../../src/edge/classification/head-store.js';
import { forgetImmutable, heldHere } from '../../src/edge/classification/location-cache.js';
import { runtimeMemoryBytes } from '../../src/edge/classification/onnx-backend.js';
import { concatBytes } from '../../src/shared/bytes.js';
import { sha256Hex } from '../../src/shared/fingerprint.js';
import { exportHeadOnnx } from '../../src/shared/head-onnx.js';
import { headKeys } from '../../src/shared/heads.js';
import { seedBackbone } from './fixtures.js';
import { backboneManifest, seededWeights } from './heads-helpers.js';

const BACKBONE = 'mobilenet-v1-0.25';
/** Room for four of the heads below (set once one has been weighed). */
let LIMIT = 0;

/** Writes a head to R2 as the edge stores a completed job's head; returns its id. */
async function putHead(seed: number): Promise<string> {
  const backbone = await backboneManifest(BACKBONE);
  const weights = seededWeights(backbone.embeddingDim, 3, seed);
  const onnx = exportHeadOnnx(weights, { producerVersion: 'test' });
  const manifest = new TextEncoder().encode(
    JSON.stringify({
      formatVersion: 1,
      kind: 'head',
      backbone: { id: backbone.id, fingerprint: backbone.fingerprint },
      input: { name: 'embedding', dim: backbone.embeddingDim },
      preprocessing: backbone.preprocessing,
      id2label: { '0': 'a', '1': 'b', '2': `c${seed}` },
      metrics: { valAccuracy: 0.9, valLoss: 0.3, bestEpoch: 1, epochsRun: 1, inputMode: 'crop' },
    }),
  );
  const headId = `head_${(await sha256Hex(concatBytes([onnx, manifest]))).slice(0, 32)}`;
  const keys = headKeys(headId);
  await env.MODELS.put(keys.model, onnx);
  await env.MODELS.put(keys.manifest, manifest);
  return headId;
}

const feeds = (dim: number) => ({
  embedding: { data: new Float32Array(dim).fill(0.2), dims: [1, dim] },
});

async function touch(headId: string): Promise<void> {
  const { release } = await acquireHead(env.MODELS, headId);
  release();
}

let heads: string[] = [];
beforeAll(async () => {
  await seedBackbone(BACKBONE);
  heads = [];
  for (let seed = 1; seed <= 48; seed++) heads.push(await putHead(seed));
  evictHead(heads[0]!);
  await touch(heads[0]!);
  LIMIT = 4 * headCacheStats().bytes + 1;
  setHeadCacheLimit(LIMIT);
});
afterAll(() => setHeadCacheLimit(HEAD_CACHE_BYTES));

describe('head sessions', () => {
  it('keeps the heads that fit in the byte bound, least recently used out first', async () => {
    for (const id of heads) evictHead(id);
    for (const id of heads.slice(0, 5)) await touch(id);
    const stats = headCacheStats();
    expect(stats.heads).toEqual(heads.slice(1, 5));
    expect(stats.bytes).toBeLessThanOrEqual(LIMIT);
  });

  it('frees an evicted head once the request holding it is done, not before', async () => {
    for (const id of heads) evictHead(id);
    const held = await acquireHead(env.MODELS, heads[0]!);
    const dim = held.value.manifest.input.dim;
    for (const id of heads.slice(1, 6)) await touch(id);
    expect(headCacheStats().heads).not.toContain(heads[0]);
    // Evicted but held: it still answers.
    const out = await held.value.session.run(feeds(dim), ['probabilities']);
    expect(out.probabilities!.dims).toEqual([1, 3]);
    held.release();
    await new Promise((r) => setTimeout(r, 10));
    await expect(held.value.session.run(feeds(dim), ['probabilities'])).rejects.toThrow();
    // The next request loads it again, and it answers.
    const again = await acquireHead(env.MODELS, heads[0]!);
    const reloaded = await again.value.session.run(feeds(dim), ['probabilities']);
    expect(reloaded.probabilities!.dims).toEqual([1, 3]);
    again.release();
  });

  it('keeps wasm memory flat while many heads pass through a small cache', async () => {
    for (const id of heads) evictHead(id);
    // Warm up: the first few sessions grow the heap to its working size.
    for (const id of heads.slice(0, 8)) await touch(id);
    const before = runtimeMemoryBytes();
    for (let round = 0; round < 3; round++) for (const id of heads.slice(8)) await touch(id);
    const grown = runtimeMemoryBytes() - before;
    console.log(
      `head sessions: ${3 * (heads.length - 8)} loads through a ${headCacheStats().heads.length}-head cache grew wasm memory by ${(grown / 1024).toFixed(0)} KiB`,
    );
    // 120 loads of sessions that were never freed would grow it by megabytes.
    expect(grown).toBeLessThan(1024 * 1024);
  });
});

describe("the location's cache", () => {
  it('gives a cold isolate a head without R2, and reads R2 again once forgotten', async () => {
    const headId = await putHead(90);
    const keys = headKeys(headId);
    await forgetImmutable([keys.model, keys.manifest]);
    expect(await heldHere(keys.model)).toBe(false);
    await touch(headId); // cold everywhere: from R2, then kept in this location
    expect(await heldHere(keys.model)).toBe(true);
    expect(await heldHere(keys.manifest)).toBe(true);
    // An isolate without it in memory, in this location, while R2 has lost the files: the
    // location's copies serve it (and pass the content-hash check).
    evictHead(headId);
    await env.MODELS.delete([keys.model, keys.manifest]);
    const { value, release } = await acquireHead(env.MODELS, headId);
    expect(value.id).toBe(headId);
    expect(value.labels).toEqual(['a', 'b', 'c90']);
    release();
    // Without the location's copies it must come from R2, which no longer has it.
    evictHead(headId);
    await forgetImmutable([keys.model, keys.manifest]);
    await expect(touch(headId)).rejects.toMatchObject({ code: 'not_found' });
  });
});
