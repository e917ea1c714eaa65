// Trained heads at the edge, inside workerd with the real local R2, D1 and coordinator: heads
// registered by job completion, classification with heads and aliases (one backbone pass for
// many heads), batch classification, the heads API, downloads and deletion.
import { SELF } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { openZip, readZipEntry } from '../../src/edge/datasets/zip.js';
import { softmax } from '../../src/shared/head-math.js';
import { headKeys } from '../../src/shared/heads.js';
import { fixtureBytes, fixtureFloats, parityIndex, seedBackbone } from './fixtures.js';
import { makeHead, type MadeHead } from './heads-helpers.js';
import { call, freshState, problemOf, tenant, workerToken } from './jobs-helpers.js';

const V2 = 'mobilenet-v2-0.35';
const V1 = 'mobilenet-v1-0.25';

interface Predictions {
  model: string;
  head?: { id: string; backbone: string };
  predictions: { label: string; index: number; score: number }[];
}
type Single = Predictions & { backbonePasses: number };
interface Multi {
  results: Predictions[];
  backbonePasses: number;
}

beforeEach(async () => {
  await freshState();
  await seedBackbone(V2);
  await seedBackbone(V1);
});

async function setup() {
  const { apiKey, tenantId } = await tenant();
  const worker = await workerToken();
  const make = (seed: number, extra: Partial<Parameters<typeof makeHead>[0]> = {}) =>
    makeHead({
      apiKey,
      tenantId,
      worker,
      backbone: V2,
      labels: ['ants', 'bees', 'wasps'],
      seed,
      ...extra,
    });
  return { apiKey, tenantId, worker, make };
}

async function classify(photo: Uint8Array, query: string, key?: string) {
  return call(`/v1/classify?${query}`, {
    ...(key ? { key } : {}),
    headers: { 'content-type': 'image/jpeg' },
    body: photo,
  });
}

/** The head's probabilities on parity photo 0, from onnxruntime-node's embedding of it. */
async function expectedProbabilities(head: MadeHead): Promise<Float32Array> {
  const index = await parityIndex();
  const [, dim] = index.outputs[V2]!.embedding! as [number, number];
  const embedding = (await fixtureFloats(`parity/${V2}-embedding.bin`)).subarray(0, dim);
  const { w1, b1, classes } = head.weights;
  const logits = new Float32Array(classes);
  for (let j = 0; j < classes; j++) {
    let sum = b1[j]!;
    for (let i = 0; i < dim; i++) sum += embedding[i]! * w1[i * classes + j]!;
    logits[j] = sum;
  }
  return softmax(logits);
}

const scoresOf = (p: Predictions) => {
  const scores = new Array<number>(p.predictions.length);
  for (const q of p.predictions) scores[q.index] = q.score;
  return scores;
};

describe('classification with trained heads', () => {
  it('runs the backbone and then the head, matching onnxruntime-node within 1e-4', async () => {
    const { apiKey, make } = await setup();
    const head = await make(1);
    const photo = await fixtureBytes('parity/photo-0.jpg');
    const res = await classify(photo, `model=${head.headId}&topK=3`, apiKey);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const body = res.body as Single;
    expect(body).toMatchObject({ model: head.headId, head: { id: head.headId, backbone: V2 } });
    expect(body.backbonePasses).toBe(1);
    expect(body.predictions.map((p) => p.label).sort()).toEqual(['ants', 'bees', 'wasps']);
    const expected = await expectedProbabilities(head);
    const got = scoresOf(body);
    for (let j = 0; j < 3; j++) expect(Math.abs(got[j]! - expected[j]!)).toBeLessThan(1e-4);
    // Best first.
    expect(body.predictions[0]!.score).toBeGreaterThanOrEqual(body.predictions[1]!.score);
  });

  it('answers several heads and a backbone classifier with one pass per backbone', async () => {
    const { apiKey, make } = await setup();
    const a = await make(1);
    const b = await make(2);
    const photo = await fixtureBytes('parity/photo-0.jpg');
    const res = await classify(photo, `model=${a.headId},${V1},${b.headId}&topK=3`, apiKey);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const body = res.body as Multi;
    expect(body.results.map((r) => r.model)).toEqual([a.headId, V1, b.headId]);
    // v2 once for both heads, v1 once for its own classifier.
    expect(body.backbonePasses).toBe(2);
    expect(body.results[1]!.predictions[0]!.label).toBeTypeOf('string');
    for (const [i, head] of [
      [0, a],
      [2, b],
    ] as const) {
      const alone = (await classify(photo, `model=${head.headId}&topK=3`, apiKey)).body as Single;
      expect(body.results[i]!.predictions).toEqual(alone.predictions);
    }
    // A head trained on squashed inputs needs its own pass of the same backbone.
    const squash = await make(3, { mode: 'squash' });
    const mixed = await classify(photo, `model=${a.headId},${squash.headId}`, apiKey);
    expect((mixed.body as Multi).backbonePasses).toBe(2);
  });

  it('keeps heads private: no key → 401, another tenant → 404, unknown → 404', async () => {
    const { make } = await setup();
    const head = await make(1);
    const other = await tenant('other');
    const photo = await fixtureBytes('parity/photo-0.jpg');
    const anonymous = await classify(photo, `model=${head.headId}`);
    expect(anonymous.status).toBe(401);
    expect(problemOf(anonymous)).toMatchObject({
      code: 'unauthorized',
      field: 'header.authorization',
    });
    const foreign = await classify(photo, `model=${head.headId}`, other.apiKey);
    expect(foreign.status).toBe(404);
    expect(problemOf(foreign)).toMatchObject({ code: 'not_found', field: 'query.model' });
    const unknown = await classify(photo, `model=head_${'0'.repeat(32)}`, other.apiKey);
    expect(unknown.status).toBe(404);
    const badKey = await classify(photo, `model=${V1}`, 'hs_key_notarealkey0000000000000');
    expect(badKey.status).toBe(401);
    const twice = await classify(photo, `model=${V1},${V1}`);
    expect(twice.status).toBe(400);
    expect(problemOf(twice).field).toBe('query.model');
    const tooMany = await classify(
      photo,
      `model=${Array.from({ length: 9 }, (_, i) => `m${i}`).join(',')}`,
    );
    expect(tooMany.status).toBe(400);
  });

  it('refuses a head whose manifest does not fit its backbone when the worker stores it', async () => {
    const { apiKey, tenantId, worker } = await setup();
    const refused = await makeHead({
      apiKey,
      tenantId,
      worker,
      backbone: V2,
      labels: ['a', 'b'],
      seed: 1,
      manifestExtra: { backbone: { id: V2, fingerprint: 'b'.repeat(64) } },
      expectStatus: 422,
    });
    expect(problemOf(refused.completion)).toMatchObject({
      code: 'unprocessable',
      field: 'form.manifest',
    });
    expect(problemOf(refused.completion).detail).toContain('other weights');
    const job = await call(`/v1/fine-tunes/${refused.jobId}`, { key: apiKey });
    expect(job.body).toMatchObject({ status: 'running', headId: null });
    const heads = await call('/v1/heads', { key: apiKey });
    expect((heads.body as { heads: unknown[] }).heads).toEqual([]);
  });
});

describe('aliases', () => {
  it('pin a name on a head and move it to another', async () => {
    const { apiKey, make } = await setup();
    const a = await make(1);
    const b = await make(2);
    const photo = await fixtureBytes('parity/photo-0.jpg');
    const put = (name: string, headId: string) =>
      call(`/v1/aliases/${name}`, { key: apiKey, method: 'PUT', json: { headId } });
    expect((await put('production', a.headId)).status).toBe(200);
    const first = (await classify(photo, 'model=production', apiKey)).body as Single;
    expect(first).toMatchObject({ model: 'production', head: { id: a.headId } });
    const moved = await put('production', b.headId);
    expect(moved.body).toMatchObject({ name: 'production', headId: b.headId });
    const second = (await classify(photo, 'model=production', apiKey)).body as Single;
    expect(second.head!.id).toBe(b.headId);
    expect(second.predictions).not.toEqual(first.predictions);

    const list = await call('/v1/aliases', { key: apiKey });
    expect(list.body).toMatchObject({ aliases: [{ name: 'production', headId: b.headId }] });
    const heads = (await call('/v1/heads', { key: apiKey })).body as {
      heads: { id: string; aliases: string[] }[];
    };
    expect(heads.heads.find((h) => h.id === b.headId)!.aliases).toEqual(['production']);

    // Bad names and targets.
    expect(problemOf(await put('Bad_Name', a.headId)).field).toBe('path.name');
    expect((await put(V1, a.headId)).status).toBe(400); // dots are not alias characters
    const missing = await put('staging', `head_${'f'.repeat(32)}`);
    expect(missing.status).toBe(404);
    expect(problemOf(missing).field).toBe('body.headId');
    const other = await tenant('other');
    const foreign = await call('/v1/aliases/production', {
      key: other.apiKey,
      method: 'PUT',
      json: { headId: a.headId },
    });
    expect(foreign.status).toBe(404);
    expect((await classify(photo, 'model=production', other.apiKey)).status).toBe(404);

    expect((await call('/v1/aliases/production', { key: apiKey, method: 'DELETE' })).status).toBe(
      204,
    );
    expect((await classify(photo, 'model=production', apiKey)).status).toBe(404);
  });
});

describe('the heads API', () => {
  it('lists heads with metrics and shows one with its confusion matrix and evaluation', async () => {
    const { apiKey, make } = await setup();
    const evaluation = {
      formatVersion: 1,
      inputMode: 'crop',
      classes: ['ants', 'bees', 'wasps'],
      images: [
        {
          sha256: 'c'.repeat(64),
          path: 'val/ants/1.jpg',
          label: 'ants',
          predicted: 'bees',
          probabilities: [0.2, 0.7, 0.1],
        },
      ],
    };
    const a = await make(1, { evaluation });
    const b = await make(2);
    const list = (await call('/v1/heads', { key: apiKey })).body as {
      heads: { id: string; jobId: string; backbone: string; labels: string[]; metrics: unknown }[];
    };
    expect(list.heads.map((h) => h.id).sort()).toEqual([a.headId, b.headId].sort());
    expect(list.heads.find((h) => h.id === a.headId)).toMatchObject({
      jobId: a.jobId,
      backbone: V2,
      labels: ['ants', 'bees', 'wasps'],
      metrics: { valAccuracy: 0.9, bestEpoch: 4, epochsRun: 6, inputMode: 'crop' },
    });
    const one = await call(`/v1/heads/${a.headId}`, { key: apiKey });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      id: a.headId,
      confusion: {
        labels: ['ants', 'bees', 'wasps'],
        matrix: [
          [9, 1, 1],
          [1, 9, 1],
          [1, 1, 9],
        ],
      },
      manifest: { kind: 'head', backbone: { id: V2 } },
    });
    expect((await call(`/v1/heads/${a.headId}/evaluation`, { key: apiKey })).body).toEqual(
      evaluation,
    );
    expect((await call(`/v1/heads/${b.headId}/evaluation`, { key: apiKey })).status).toBe(404);
    const other = await tenant('other');
    expect((await call(`/v1/heads/${a.headId}`, { key: other.apiKey })).status).toBe(404);
    expect(((await call('/v1/heads', { key: other.apiKey })).body as { heads: [] }).heads).toEqual(
      [],
    );
    expect((await call('/v1/heads')).status).toBe(401);
    expect(problemOf(await call('/v1/heads/nope', { key: apiKey })).field).toBe('path.id');
  });

  it('downloads a head as a zip that stands on its own, or one file', async () => {
    const { apiKey, make } = await setup();
    const head = await make(1);
    const res = await call(`/v1/heads/${head.headId}/download?backbone=true`, { key: apiKey });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toContain(`${head.headId}.zip`);
    // `call` decoded the body as text: fetch the bytes again.
    const raw = await env.MODELS.get(headKeys(head.headId).model);
    const stored = new Uint8Array(await raw!.arrayBuffer());
    const zipBytes = new Uint8Array(
      await (
        await fetchRaw(`/v1/heads/${head.headId}/download?backbone=true`, apiKey)
      ).arrayBuffer(),
    );
    const source = {
      size: zipBytes.byteLength,
      read: (offset: number, length: number) =>
        Promise.resolve(zipBytes.subarray(offset, offset + length)),
    };
    const entries = await openZip(source, { maxEntries: 10, maxDirectoryBytes: 1 << 16 });
    expect(entries.map((e) => e.name)).toEqual([
      'model.onnx',
      'manifest.json',
      'README.md',
      'backbone.onnx',
    ]);
    const read = (i: number) =>
      readZipEntry(source, entries[i]!, { maxBytes: 64 << 20, maxRatio: 1000 });
    expect(await read(0)).toEqual(stored);
    const manifest = JSON.parse(new TextDecoder().decode(await read(1))) as {
      id2label: Record<string, string>;
    };
    expect(manifest.id2label).toEqual({ '0': 'ants', '1': 'bees', '2': 'wasps' });
    expect(new TextDecoder().decode(await read(2))).toContain('probabilities');
    expect((await read(3)).byteLength).toBeGreaterThan(1_000_000);

    const file = await fetchRaw(`/v1/heads/${head.headId}/download?file=model.onnx`, apiKey);
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(stored);
    expect(
      problemOf(await call(`/v1/heads/${head.headId}/download?file=x`, { key: apiKey })).field,
    ).toBe('query.file');
  });

  it('deletes a head: refused while an alias pins it, then 404 everywhere and files gone', async () => {
    const { apiKey, make } = await setup();
    const head = await make(1);
    const photo = await fixtureBytes('parity/photo-0.jpg');
    expect((await classify(photo, `model=${head.headId}`, apiKey)).status).toBe(200);
    await call('/v1/aliases/production', {
      key: apiKey,
      method: 'PUT',
      json: { headId: head.headId },
    });
    const pinned = await call(`/v1/heads/${head.headId}`, { key: apiKey, method: 'DELETE' });
    expect(pinned.status).toBe(409);
    expect(problemOf(pinned).detail).toContain('production');
    await call('/v1/aliases/production', { key: apiKey, method: 'DELETE' });
    const other = await tenant('other');
    expect(
      (await call(`/v1/heads/${head.headId}`, { key: other.apiKey, method: 'DELETE' })).status,
    ).toBe(404);
    expect((await call(`/v1/heads/${head.headId}`, { key: apiKey, method: 'DELETE' })).status).toBe(
      204,
    );
    const gone = await classify(photo, `model=${head.headId}`, apiKey);
    expect(gone.status).toBe(404);
    expect(problemOf(gone)).toMatchObject({ code: 'not_found', field: 'query.model' });
    expect((await call(`/v1/heads/${head.headId}`, { key: apiKey })).status).toBe(404);
    expect(((await call('/v1/heads', { key: apiKey })).body as { heads: [] }).heads).toEqual([]);
    expect(await env.MODELS.get(headKeys(head.headId).model)).toBeNull();
    expect(await env.MODELS.get(headKeys(head.headId).manifest)).toBeNull();
  });
});

describe('POST /v1/classify/batch', () => {
  it('answers each image on its own: good photos, a corrupt one, an unsupported one', async () => {
    const { apiKey, make } = await setup();
    const head = await make(1);
    const photo = await fixtureBytes('parity/photo-0.jpg');
    const form = new FormData();
    form.set('model', `${V1},${head.headId}`);
    form.set('topK', '2');
    form.append('images', new File([photo], 'bee.jpg', { type: 'image/jpeg' }));
    form.append('images', new File([photo.slice(0, 2000)], 'cut.jpg', { type: 'image/jpeg' }));
    form.append('images', new File([new TextEncoder().encode('GIF89a....')], 'x.gif'));
    form.append('images', new File([photo], 'again.jpg', { type: 'image/jpeg' }));
    const res = await call('/v1/classify/batch', { key: apiKey, body: form });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const body = res.body as {
      results: {
        index: number;
        filename: string;
        status: number;
        results?: Predictions[];
        error?: { code: string; field: string };
      }[];
      succeeded: number;
      failed: number;
    };
    expect(body).toMatchObject({ succeeded: 2, failed: 2 });
    expect(body.results.map((r) => [r.index, r.filename, r.status])).toEqual([
      [0, 'bee.jpg', 200],
      [1, 'cut.jpg', 422],
      [2, 'x.gif', 415],
      [3, 'again.jpg', 200],
    ]);
    expect(body.results[1]!.error).toMatchObject({
      code: 'invalid_image',
      field: 'form.images[1]',
    });
    expect(body.results[0]!.results!.map((r) => r.model)).toEqual([V1, head.headId]);
    expect(body.results[0]!.results![1]!.predictions).toHaveLength(2);
    expect(body.results[3]!.results).toEqual(body.results[0]!.results);
    const single = (await classify(photo, `model=${head.headId}&topK=2`, apiKey)).body as Single;
    expect(body.results[0]!.results![1]!.predictions).toEqual(single.predictions);
  });

  it('refuses a batch that is empty, too large, or not a form', async () => {
    const photo = await fixtureBytes('parity/photo-0.jpg');
    const empty = new FormData();
    empty.set('model', V1);
    expect(problemOf(await call('/v1/classify/batch', { body: empty })).field).toBe('form.images');
    const many = new FormData();
    for (let i = 0; i < 17; i++) many.append('images', new File([photo], `${i}.jpg`));
    const tooMany = await call('/v1/classify/batch', { body: many });
    expect(tooMany.status).toBe(400);
    expect(problemOf(tooMany).detail).toContain('at most 16');
    const raw = await call('/v1/classify/batch', {
      headers: { 'content-type': 'image/jpeg' },
      body: photo,
    });
    expect(raw.status).toBe(415);
    const unknown = new FormData();
    unknown.set('model', 'no-such-model');
    unknown.append('images', new File([photo], 'a.jpg'));
    const missing = await call('/v1/classify/batch', { body: unknown });
    expect(missing.status).toBe(404);
    expect(problemOf(missing).field).toBe('form.model');
  });
});

async function fetchRaw(path: string, key: string): Promise<Response> {
  return SELF.fetch(`https://edge.test${path}`, { headers: { authorization: `Bearer ${key}` } });
}
