// The catalogue's bigger backbones in workerd with the real local R2 and D1: MobileNetV2 1.0
// (imported from ONNX, torchvision preprocessing) and MobileNet v1 0.75 classify real photos, and
// a backbone with integer-quantized weights takes feature extraction only.
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { backboneKeys } from '../../src/shared/backbones.js';
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
    expect(listed.body).toMatchObject({ models: [{ id, embeddingDim: dim, numLabels: 1000 }] });
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

describe('a backbone with integer-quantized weights', () => {
  /** The v1-0.75 manifest as it would read for its int8 export: quantized, no float blocks. */
  async function seedQuantized(): Promise<void> {
    await seedBackbone('mobilenet-v1-0.75');
    const key = backboneKeys('mobilenet-v1-0.75').manifest;
    const manifest = parseBackboneManifest(await (await env.MODELS.get(key))!.json());
    const { blocks: _blocks, ...rest } = manifest;
    await env.MODELS.put(
      key,
      JSON.stringify({ ...rest, onnx: { ...manifest.onnx, quantized: true } }),
    );
  }

  it.each(['fine_tune', 'full'])(
    'refuses strategy %s at submission with backbone_not_trainable, and queues nothing',
    async (strategy) => {
      await seedQuantized();
      const { tenantId, apiKey } = await tenant();
      const datasetId = await dataset(tenantId);
      const res = await call('/v1/fine-tunes', {
        key: apiKey,
        json: { datasetId, backbone: 'mobilenet-v1-0.75', strategy },
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
    await seedQuantized();
    const { tenantId, apiKey } = await tenant();
    const datasetId = await dataset(tenantId);
    const res = await call('/v1/fine-tunes', {
      key: apiKey,
      json: { datasetId, backbone: 'mobilenet-v1-0.75' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(asJob(res).spec.backbone).toBe('mobilenet-v1-0.75');
  });
});
