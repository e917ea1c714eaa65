// A tenant's own backbones through the API, inside workerd with the real local R2 and D1:
// imported with POST /v1/backbones (checked and trial-run in the edge's onnxruntime-web), named
// like catalogue backbones in jobs and /v1/classify, invisible to other tenants, and deleted only
// once nothing uses them.
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_BACKBONES_PER_TENANT } from '../../src/edge/routes/backbones.js';
import { backboneKeys } from '../../src/shared/backbones.js';
import { parseBackboneManifest } from '../../src/shared/manifest.js';
import { tinyCardJson, tinyModel, zooInt8Card } from '../support/tiny-backbone.js';
import { fixtureBytes, seedBackbone } from './fixtures.js';
import { makeHead } from './heads-helpers.js';
import {
  asJob,
  call,
  dataset,
  eventually,
  freshState,
  problemOf,
  tenant,
  workerToken,
} from './jobs-helpers.js';

beforeEach(freshState);

const LABELS5 = ['a', 'b', 'c', 'd', 'e'];

/** POST /v1/backbones with `model` bytes and a card. */
function importBackbone(key: string, model: Uint8Array, card: unknown) {
  const form = new FormData();
  form.set('model', new File([model], 'model.onnx'));
  form.set('card', JSON.stringify(card));
  return call('/v1/backbones', { key, body: form });
}

const tinyWithClassifier = (id = 'my-tiny') =>
  tinyCardJson({ id, outputs: { logits: 'scores', labels: LABELS5 } });

/** Every R2 object key under the tenant backbones prefix. */
async function storedKeys(): Promise<string[]> {
  const listed = await env.MODELS.list({ prefix: 'tenant-backbones/' });
  return listed.objects.map((o) => o.key);
}

describe('POST /v1/backbones', () => {
  it('imports a float ONNX backbone: manifest with embedding, blocks and the full reference', async () => {
    const { tenantId, apiKey } = await tenant();
    const res = await importBackbone(apiKey, tinyModel(), tinyWithClassifier());
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.headers.get('location')).toBe('/v1/backbones/my-tiny');
    const manifest = parseBackboneManifest(res.body);
    expect(manifest.id).toBe(`${tenantId}/my-tiny`);
    expect(manifest.embeddingDim).toBe(8);
    expect(manifest.onnx.quantized).toBe(false);
    expect(manifest.blocks!.length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(manifest.id2label!)).toHaveLength(5);
    expect(await storedKeys()).toEqual([
      `${backboneKeys(manifest.id).manifest}`,
      `${backboneKeys(manifest.id).model}`,
    ]);

    const listed = await call('/v1/backbones', { key: apiKey });
    const backbones = (listed.body as { backbones: { id: string; name: string; owner: string }[] })
      .backbones;
    expect(backbones.find((b) => b.name === 'my-tiny')).toMatchObject({
      id: manifest.id,
      owner: 'tenant',
    });
    const one = await call('/v1/backbones/my-tiny', { key: apiKey });
    expect(one.status).toBe(200);
    expect((one.body as { fingerprint: string }).fingerprint).toBe(manifest.fingerprint);
  });

  it('classifies with it by name, and trains on it by name', async () => {
    await seedBackbone('mobilenet-v1-0.25');
    const { tenantId, apiKey } = await tenant();
    const bee = await fixtureBytes('images/bee.jpg');
    const classify = () =>
      call('/v1/classify?model=my-tiny&k=5', {
        key: apiKey,
        body: bee,
        headers: { 'content-type': 'image/jpeg' },
      });
    // Unknown at first (and remembered so by this isolate), known at once after the import here.
    expect((await classify()).status).toBe(404);
    expect((await importBackbone(apiKey, tinyModel(), tinyWithClassifier())).status).toBe(201);
    const res = await call('/v1/classify?model=my-tiny&k=5', {
      key: apiKey,
      body: await fixtureBytes('images/bee.jpg'),
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const predictions = (res.body as { predictions: { label: string; score: number }[] })
      .predictions;
    expect(predictions.map((p) => p.label).sort()).toEqual(LABELS5);
    const sum = predictions.reduce((s, p) => s + p.score, 0);
    expect(sum).toBeCloseTo(1, 4);

    const datasetId = await dataset(tenantId);
    const job = await call('/v1/fine-tunes', {
      key: apiKey,
      json: { datasetId, backbone: 'my-tiny', strategy: 'fine_tune', trainableFrom: 'block_1' },
    });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    expect(asJob(job).spec.backbone).toBe(`${tenantId}/my-tiny`);
  });

  it('imports the shared int8 MobileNetV2: ImageNet classifier works, fine-tuning is refused', async () => {
    await seedBackbone('mobilenet-v1-0.25'); // the ImageNet names come from the catalogue
    const { tenantId, apiKey } = await tenant();
    const res = await importBackbone(
      apiKey,
      await fixtureBytes('sources/mobilenetv2-12-int8.onnx'),
      zooInt8Card('zoo-int8'),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const manifest = parseBackboneManifest(res.body);
    expect(manifest.onnx.quantized).toBe(true);
    expect(manifest.embeddingDim).toBe(1280);

    const classified = await call('/v1/classify?model=zoo-int8&k=5', {
      key: apiKey,
      body: await fixtureBytes('images/bee.jpg'),
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(classified.status, JSON.stringify(classified.body)).toBe(200);
    const labels = (classified.body as { predictions: { label: string }[] }).predictions.map(
      (p) => p.label,
    );
    expect(labels).toContain('bee');

    const datasetId = await dataset(tenantId);
    const extraction = await call('/v1/fine-tunes', {
      key: apiKey,
      json: { datasetId, backbone: 'zoo-int8' },
    });
    expect(extraction.status, JSON.stringify(extraction.body)).toBe(201);
    const refused = await call('/v1/fine-tunes', {
      key: apiKey,
      json: { datasetId, backbone: 'zoo-int8', strategy: 'full' },
    });
    expect(refused.status).toBe(422);
    expect(problemOf(refused)).toMatchObject({
      code: 'backbone_not_trainable',
      field: 'body.strategy',
    });
  });

  it('keeps at most MAX_BACKBONES_PER_TENANT per tenant, storing nothing for the one over', async () => {
    const { apiKey } = await tenant();
    for (let i = 0; i < MAX_BACKBONES_PER_TENANT; i++) {
      const res = await importBackbone(apiKey, tinyModel(), tinyCardJson({ id: `tiny-${i}` }));
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    const before = await storedKeys();
    const over = await importBackbone(apiKey, tinyModel(), tinyCardJson({ id: 'one-more' }));
    expect(over.status).toBe(409);
    expect(problemOf(over)).toMatchObject({ code: 'conflict', field: 'form.model' });
    expect(await storedKeys()).toEqual(before);
    // Another tenant is not affected.
    const other = await tenant('globex');
    const theirs = await importBackbone(
      other.apiKey,
      tinyModel(),
      tinyCardJson({ id: 'one-more' }),
    );
    expect(theirs.status).toBe(201);
  });
});

describe("another tenant's backbone", () => {
  it('is invisible: not listed, 404 by name or full reference, unusable in jobs and classify', async () => {
    await seedBackbone('mobilenet-v1-0.25');
    const owner = await tenant('acme');
    const other = await tenant('globex');
    const made = await importBackbone(owner.apiKey, tinyModel(), tinyWithClassifier());
    expect(made.status).toBe(201);
    const ref = `${owner.tenantId}/my-tiny`;
    const listed = await call('/v1/backbones', { key: other.apiKey });
    expect(JSON.stringify(listed.body)).not.toContain('my-tiny');
    for (const name of ['my-tiny', encodeURIComponent(ref)]) {
      const res = await call(`/v1/backbones/${name}`, { key: other.apiKey });
      expect(res.status).toBe(404);
      const gone = await call(`/v1/backbones/${name}`, { key: other.apiKey, method: 'DELETE' });
      expect(gone.status).toBe(404);
    }
    const bee = await fixtureBytes('images/bee.jpg');
    const classify = (model: string) =>
      call(`/v1/classify?model=${encodeURIComponent(model)}`, {
        key: other.apiKey,
        body: bee,
        headers: { 'content-type': 'image/jpeg' },
      });
    const byName = await classify('my-tiny');
    expect(byName.status, JSON.stringify(byName.body)).toBe(404);
    expect(problemOf(byName).field).toBe('query.model');
    // A full reference is not a model name /v1/classify takes: refused the same whether or not
    // the backbone exists, so the answer says nothing about another tenant.
    const byRef = await classify(ref);
    const byMissingRef = await classify(`${owner.tenantId}/not-there`);
    expect(byRef.status).toBe(400);
    expect(problemOf(byRef)).toMatchObject({ code: 'invalid_request', field: 'query.model' });
    expect(byMissingRef.status).toBe(400);
    const datasetId = await dataset(other.tenantId);
    const job = await call('/v1/fine-tunes', {
      key: other.apiKey,
      json: { datasetId, backbone: ref },
    });
    expect(job.status).toBe(400);
    expect(problemOf(job)).toMatchObject({ code: 'invalid_request', field: 'body.backbone' });
    // Its own copy under the same name is its own.
    const mine = await importBackbone(
      other.apiKey,
      tinyModel({ weight: 0.02 }),
      tinyWithClassifier(),
    );
    expect(mine.status, JSON.stringify(mine.body)).toBe(201);
    expect((mine.body as { id: string }).id).toBe(`${other.tenantId}/my-tiny`);
  });
});

describe('DELETE /v1/backbones/{name}', () => {
  it('waits until no head or unfinished job uses it, then removes every file', async () => {
    const { tenantId, apiKey } = await tenant();
    const worker = await workerToken();
    expect(
      (await importBackbone(apiKey, tinyModel(), tinyCardJson({ id: 'my-tiny' }))).status,
    ).toBe(201);
    const ref = `${tenantId}/my-tiny`;
    const head = await makeHead({
      apiKey,
      tenantId,
      worker,
      backbone: ref,
      labels: ['ants', 'bees'],
      seed: 1,
    });
    const alias = await call('/v1/aliases/production', {
      key: apiKey,
      method: 'PUT',
      json: { headId: head.headId },
    });
    expect(alias.status, JSON.stringify(alias.body)).toBe(200);
    const datasetId = await dataset(tenantId);
    const queued = await call('/v1/fine-tunes', {
      key: apiKey,
      json: { datasetId, backbone: 'my-tiny' },
    });
    expect(queued.status).toBe(201);

    const busy = await call('/v1/backbones/my-tiny', { key: apiKey, method: 'DELETE' });
    expect(busy.status).toBe(409);
    expect(problemOf(busy)).toMatchObject({ code: 'backbone_in_use', field: 'path.name' });
    expect(problemOf(busy).detail).toContain(head.headId);
    expect(problemOf(busy).detail).toContain(asJob(queued).id);
    expect(await storedKeys()).toHaveLength(2);

    // Canceled once the queue has delivered it to the coordinator (409 until then).
    await eventually(async () => {
      const canceled = await call(`/v1/fine-tunes/${asJob(queued).id}/cancel`, {
        key: apiKey,
        method: 'POST',
      });
      return canceled.status === 200 ? true : undefined;
    });
    expect((await call('/v1/aliases/production', { key: apiKey, method: 'DELETE' })).status).toBe(
      204,
    );
    expect((await call(`/v1/heads/${head.headId}`, { key: apiKey, method: 'DELETE' })).status).toBe(
      204,
    );
    const deleted = await call('/v1/backbones/my-tiny', { key: apiKey, method: 'DELETE' });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    expect(await storedKeys()).toEqual([]);
    expect((await call('/v1/backbones/my-tiny', { key: apiKey })).status).toBe(404);
  });

  it('refuses to delete a catalogue backbone', async () => {
    await seedBackbone('mobilenet-v1-0.25');
    const { apiKey } = await tenant();
    const res = await call('/v1/backbones/mobilenet-v1-0.25', { key: apiKey, method: 'DELETE' });
    expect(res.status).toBe(403);
    expect(problemOf(res)).toMatchObject({ code: 'forbidden', field: 'path.name' });
    expect(await env.MODELS.head(backboneKeys('mobilenet-v1-0.25').manifest)).not.toBeNull();
  });
});
