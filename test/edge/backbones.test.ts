// The catalogue's bigger backbones in workerd with the real local R2 and D1: MobileNetV2 1.0
// (imported from ONNX, torchvision preprocessing) and MobileNet v1 0.75 classify real photos, and
// a user's own int8 backbone classifies and takes feature extraction only.
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import benchResults from '../../bench/results.json';
import { parseBackboneManifest } from '../../src/shared/manifest.js';
import { fixtureBytes, seedBackbone } from './fixtures.js';
import { asJob, call, dataset, freshState, problemOf, tenant } from './jobs-helpers.js';

beforeEach(freshState);

interface Classified {
  predictions: { label: string; score: number }[];
  timings: Record<string, number>;
}

describe('the stronger catalogue backbones', () => {
  it.each([
    ['mobilenet-v2-1.0', 1280],
    ['mobilenet-v1-0.75', 768],
  ])('%s labels the bee photo "bee" and lists its embedding size', async (id, dim) => {
    await seedBackbone(id);
    const res = await call(`/v1/classify?model=${id}&k=5`, {
      body: await fixtureBytes('images/bee.jpg'),
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const body = res.body as Classified;
    expect(body.predictions[0]!.label).toBe('bee');
    expect(body.predictions[0]!.score).toBeGreaterThan(0.5);
    const listed = await call('/v1/models');
    const models = (listed.body as { models: { id: string }[] }).models;
    expect(models.find((m) => m.id === id)).toMatchObject({ embeddingDim: dim, numLabels: 1000 });
  });

  it('serves the imported ONNX backbone with its own preprocessing and provenance', async () => {
    await seedBackbone('mobilenet-v2-1.0');
    const res = await call('/v1/models/mobilenet-v2-1.0');
    const manifest = parseBackboneManifest(res.body);
    expect(manifest.source.format).toBe('onnx');
    expect(manifest.preprocessing.image_mean).toEqual([0.485, 0.456, 0.406]);
    expect(manifest.blocks!.filter((b) => b.input).map((b) => b.name)).toContain('block_16');
  });
});

describe('GET /v1/models: what was measured, for choosing', () => {
  it('shows each catalogue backbone its benchmark figures, and an imported one none', async () => {
    await seedBackbone('user-mnv2-int8');
    const res = await call('/v1/models');
    type Listed = { id: string; measured: Record<string, unknown> | null };
    const models = (res.body as { models: Listed[] }).models;
    const figure = (key: string) =>
      (benchResults.figures as Record<string, { value: number } | undefined>)[key]?.value ?? null;
    const v2 = models.find((m) => m.id === 'mobilenet-v2-1.0')!;
    expect(v2.measured).toMatchObject({
      edgeInferenceMs: figure('backbone.mobilenet-v2-1.0.workerd_ms'),
      nodeInferenceMs: figure('backbone.mobilenet-v2-1.0.node_ms'),
      referenceAccuracy: {
        hymenoptera_data: figure('train.hymenoptera_data.mobilenet-v2-1.0.val_acc'),
        flower_photos_subset: figure('train.flower_photos_subset.mobilenet-v2-1.0.val_acc'),
      },
    });
    expect(figure('train.hymenoptera_data.mobilenet-v2-1.0.val_acc')).not.toBeNull();
    expect(models.find((m) => m.id === 'mobilenet-v2-0.35')!.measured).toMatchObject({
      referenceAccuracy: {
        hymenoptera_data: figure('train.hymenoptera_data.mobilenet-v2-0.35.val_acc'),
      },
    });
    expect(models.find((m) => m.id === 'user-mnv2-int8')!.measured).toBeNull();
  });
});

describe("a user's own int8 ONNX backbone (imported with models:import --onnx)", () => {
  const ID = 'user-mnv2-int8';

  it('classifies with its own ImageNet classifier', async () => {
    await seedBackbone(ID);
    const res = await call(`/v1/classify?model=${ID}&k=5`, {
      body: await fixtureBytes('images/bee.jpg'),
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((res.body as Classified).predictions[0]!.label).toBe('bee');
  });

  it.each(['fine_tune', 'full'])(
    'refuses strategy %s at submission with backbone_not_trainable, and queues nothing',
    async (strategy) => {
      await seedBackbone(ID);
      const { tenantId, apiKey } = await tenant();
      const datasetId = await dataset(tenantId);
      const res = await call('/v1/fine-tunes', {
        key: apiKey,
        json: { datasetId, backbone: ID, strategy },
      });
      expect(res.status).toBe(422);
      expect(problemOf(res)).toMatchObject({
        code: 'backbone_not_trainable',
        field: 'body.strategy',
      });
      expect(problemOf(res).detail).toMatch(/integer-quantized weights/);
      const jobs = await env.DB.prepare('SELECT COUNT(*) AS n FROM jobs').first<{ n: number }>();
      expect(jobs!.n).toBe(0);
    },
  );

  it('accepts feature extraction on it', async () => {
    await seedBackbone(ID);
    const { tenantId, apiKey } = await tenant();
    const datasetId = await dataset(tenantId);
    const res = await call('/v1/fine-tunes', {
      key: apiKey,
      json: { datasetId, backbone: ID },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(asJob(res).spec.backbone).toBe(ID);
  });

  it('refuses a backbone that was never imported, naming the field', async () => {
    const { tenantId, apiKey } = await tenant();
    const datasetId = await dataset(tenantId);
    const res = await call('/v1/fine-tunes', {
      key: apiKey,
      json: { datasetId, backbone: 'resnet-50' },
    });
    expect(res.status).toBe(400);
    expect(problemOf(res)).toMatchObject({ code: 'invalid_request', field: 'body.backbone' });
    expect(problemOf(res).detail).toMatch(/no backbone "resnet-50"/);
  });
});
