// The isolate's backbone sessions: an LRU bounded by model bytes, where an evicted session is
// released once no request holds it (wasm memory is reused, never returned), in workerd with the
// real local R2.
import { SELF } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acquireBackbone,
  BACKBONE_CACHE_BYTES,
  backboneCacheStats,
  evictBackboneSession,
  getBackboneManifest,
  setBackboneCacheLimit,
} from '../../src/edge/classification/model-store.js';
import { fixtureBytes, seedBackbone } from './fixtures.js';

const ALL = ['mobilenet-v2-1.0', 'mobilenet-v2-0.35', 'mobilenet-v1-0.25', 'mobilenet-v1-0.75'];

/** Smaller than the catalogue (27.8 MB of models), so these tests see evictions. */
const LIMIT = 20 * 1024 * 1024;

beforeAll(async () => {
  for (const id of ALL) await seedBackbone(id);
  setBackboneCacheLimit(LIMIT);
});
afterAll(() => setBackboneCacheLimit(BACKBONE_CACHE_BYTES));

const input = () => ({
  pixel_values: {
    data: new Float32Array(3 * 224 * 224).fill(0.1),
    dims: [1, 3, 224, 224],
  },
});

async function touch(id: string): Promise<void> {
  const { release } = await acquireBackbone(env.MODELS, id);
  release();
}

describe('backbone sessions', () => {
  it('holds the whole catalogue under the default bound (no reloads, which raise the wasm high-water mark)', async () => {
    let bytes = 0;
    for (const id of ALL) bytes += (await getBackboneManifest(env.MODELS, id)).onnx.bytes;
    expect(BACKBONE_CACHE_BYTES).toBeGreaterThanOrEqual(bytes);
  });

  it('keeps the backbones that fit in the byte bound and evicts the least recently used', async () => {
    for (const id of ALL) evictBackboneSession(id);
    await touch('mobilenet-v2-1.0');
    await touch('mobilenet-v2-0.35');
    await touch('mobilenet-v1-0.25');
    expect(backboneCacheStats().backbones).toEqual([
      'mobilenet-v2-1.0',
      'mobilenet-v2-0.35',
      'mobilenet-v1-0.25',
    ]);
    await touch('mobilenet-v2-1.0'); // now the most recently used
    await touch('mobilenet-v1-0.75'); // 10 MB more: the oldest go until it fits
    const stats = backboneCacheStats();
    expect(stats.backbones.at(-1)).toBe('mobilenet-v1-0.75');
    expect(stats.backbones).not.toContain('mobilenet-v2-0.35');
    expect(stats.bytes).toBeLessThanOrEqual(LIMIT);
  });

  it('does not release a session a request still holds, and releases it when that request is done', async () => {
    for (const id of ALL) evictBackboneSession(id);
    const held = await acquireBackbone(env.MODELS, 'mobilenet-v1-0.25');
    for (const id of ['mobilenet-v2-1.0', 'mobilenet-v1-0.75']) await touch(id);
    expect(backboneCacheStats().backbones).not.toContain('mobilenet-v1-0.25');
    // Evicted, but held: it still runs.
    const out = await held.backbone.session.run(input(), ['embedding']);
    expect(out.embedding!.dims).toEqual([1, 256]);
    held.release();
    await new Promise((r) => setTimeout(r, 10));
    await expect(held.backbone.session.run(input(), ['embedding'])).rejects.toThrow();
    // The next request loads it again.
    const again = await acquireBackbone(env.MODELS, 'mobilenet-v1-0.25');
    expect((await again.backbone.session.run(input(), ['embedding'])).embedding!.dims).toEqual([
      1, 256,
    ]);
    again.release();
  });

  it('classifies with every backbone in turn, each request answering while others are evicted', async () => {
    for (const id of [...ALL, ...ALL]) {
      const res = await SELF.fetch(`https://edge.test/v1/classify?model=${id}`, {
        method: 'POST',
        body: await fixtureBytes('images/bee.jpg'),
        headers: { 'content-type': 'image/jpeg' },
      });
      const body = await res.json<{ predictions?: { label: string }[]; code?: string }>();
      if (id === 'mobilenet-v2-0.35') {
        expect(res.status).toBe(422); // an embedder: no classifier of its own
      } else {
        expect(res.status, JSON.stringify(body)).toBe(200);
        expect(body.predictions![0]!.label).toBe('bee');
      }
    }
    expect(backboneCacheStats().bytes).toBeLessThanOrEqual(LIMIT);
  });
});
