// Trained heads for edge tests, made the way the worker makes them: a job is submitted, leased
// and completed through the internal API with a real ONNX head built by the shared exporter.
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { backboneKeys } from '../../src/shared/backbones.js';
import { exportHeadOnnx, type HeadWeights } from '../../src/shared/head-onnx.js';
import { BackboneManifestSchema, type BackboneManifest } from '../../src/shared/manifest.js';
import { createRng, uniform } from '../../src/shared/random.js';
import { asJob, call, dataset, leaseOne, type Call } from './jobs-helpers.js';

export async function backboneManifest(id: string): Promise<BackboneManifest> {
  const object = await env.MODELS.get(backboneKeys(id).manifest);
  return BackboneManifestSchema.parse(await object!.json());
}

/** Linear head weights drawn from a seeded uniform distribution. */
export function seededWeights(dim: number, classes: number, seed: number): HeadWeights {
  const rng = createRng(seed);
  const fill = (n: number, scale: number) =>
    Float32Array.from({ length: n }, () => uniform(rng, -scale, scale));
  return {
    type: 'linear',
    dim,
    hidden: 0,
    classes,
    w1: fill(dim * classes, 0.5),
    b1: fill(classes, 0.1),
    w2: new Float32Array(0),
    b2: new Float32Array(0),
  };
}

/**
 * The multipart body a worker completes a job with: a seeded linear head on `backbone` as ONNX,
 * its manifest (input mode from `mode`; `metrics` and `manifestExtra` override), and an optional
 * per-image evaluation.
 */
export function completionForm(
  leaseToken: string,
  backbone: BackboneManifest,
  opts: {
    labels: string[];
    seed: number;
    mode?: 'shortest-edge' | 'squash';
    metrics?: Record<string, unknown>;
    manifestExtra?: Record<string, unknown>;
    evaluation?: unknown;
  },
): { form: FormData; weights: HeadWeights } {
  const weights = seededWeights(backbone.embeddingDim, opts.labels.length, opts.seed);
  const form = new FormData();
  form.set('leaseToken', leaseToken);
  form.set(
    'manifest',
    JSON.stringify({
      formatVersion: 1,
      kind: 'head',
      backbone: { id: backbone.id, fingerprint: backbone.fingerprint },
      input: { name: 'embedding', dim: backbone.embeddingDim },
      preprocessing: {
        ...backbone.preprocessing,
        resize: { ...backbone.preprocessing.resize, mode: opts.mode ?? 'shortest-edge' },
      },
      id2label: Object.fromEntries(opts.labels.map((l, i) => [String(i), l])),
      metrics: opts.metrics ?? {
        valAccuracy: 0.9,
        valLoss: 0.3,
        bestEpoch: 4,
        epochsRun: 6,
        inputMode: opts.mode === 'squash' ? 'squash' : 'crop',
        confusion: opts.labels.map((_, i) => opts.labels.map((_, j) => (i === j ? 9 : 1))),
      },
      ...opts.manifestExtra,
    }),
  );
  if (opts.evaluation !== undefined) form.set('evaluation', JSON.stringify(opts.evaluation));
  form.set('head', new File([exportHeadOnnx(weights, { producerVersion: 'test' })], 'head.onnx'));
  return { form, weights };
}

export interface MadeHead {
  readonly headId: string;
  readonly jobId: string;
  readonly weights: HeadWeights;
  readonly labels: string[];
}

/**
 * Submits a job as `apiKey`'s tenant, leases it as `worker` and completes it with a seeded head
 * on `backbone` (which must be in R2). `mode` picks the head's input mode.
 */
export async function makeHead(opts: {
  apiKey: string;
  tenantId: string;
  worker: string;
  backbone: string;
  labels: string[];
  seed: number;
  mode?: 'shortest-edge' | 'squash';
  manifestExtra?: Record<string, unknown>;
  evaluation?: unknown;
  /** The completion's expected status (default 200). */
  expectStatus?: number;
}): Promise<MadeHead & { completion: Call }> {
  const datasetId = await dataset(opts.tenantId);
  const submitted = await call('/v1/fine-tunes', {
    key: opts.apiKey,
    json: { datasetId, backbone: opts.backbone, seed: opts.seed },
  });
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
  const grant = await leaseOne(opts.worker, { waitSeconds: 2 });
  expect(grant.jobId).toBe(asJob(submitted).id);
  const backbone = await backboneManifest(opts.backbone);
  const { form, weights } = completionForm(grant.leaseToken, backbone, opts);
  const done = await call(`/internal/v1/jobs/${grant.jobId}/complete`, {
    key: opts.worker,
    body: form,
  });
  expect(done.status, JSON.stringify(done.body)).toBe(opts.expectStatus ?? 200);
  const job = asJob(done);
  return {
    headId: job.headId!,
    jobId: grant.jobId,
    weights,
    labels: opts.labels,
    completion: done,
  };
}
