// Hostile requests to the fine-tune and batch APIs: malformed, oversized and deeply nested JSON,
// invalid hyperparameters, prototype-polluting keys, reused idempotency keys, another tenant's
// jobs, batches and datasets, and transitions a job has already made.
import { MAX_JSON_BYTES } from '../../../src/edge/http/json.js';
import {
  bigJson,
  forgedKey,
  nestedArrays,
  nestedObjects,
  request,
  type HostileCase,
  type RequestOptions,
} from './corpus.js';
import type { World } from './world.js';

/** POST /v1/fine-tunes as tenant A with `opts` (a body, headers). */
const submit =
  (opts: (w: World) => RequestOptions) =>
  (w: World): Request =>
    request('/v1/fine-tunes', { key: w.a.apiKey, ...opts(w) });

/** A fine-tune request on A's dataset with `spec` merged in, refused naming `field` (if given). */
const hyper = (name: string, spec: Record<string, unknown>, field?: string): HostileCase => ({
  area: 'jobs',
  name: `invalid hyperparameters: ${name}`,
  request: submit((w) => ({ json: { datasetId: w.datasetA, ...spec } })),
  code: 'invalid_request',
  ...(field === undefined ? {} : { field }),
});

const get =
  (path: (w: World) => string, method = 'GET') =>
  (w: World) =>
    request(path(w), { key: w.a.apiKey, method });

export const JOB_CASES: HostileCase[] = [
  // Bodies.
  {
    area: 'jobs',
    name: 'form-encoded body',
    request: submit((w) => ({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `datasetId=${w.datasetA}`,
    })),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'jobs',
    name: 'JSON without a content type',
    request: submit((w) => ({
      headers: { 'content-type': '' },
      body: JSON.stringify({ datasetId: w.datasetA }),
    })),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'jobs',
    name: 'truncated JSON',
    request: submit((w) => ({ rawJson: `{"datasetId":"${w.datasetA}"` })),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'jobs',
    name: 'JSON that is not UTF-8',
    request: submit(() => ({
      headers: { 'content-type': 'application/json' },
      body: Uint8Array.of(0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d),
    })),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'jobs',
    name: 'deeply nested JSON: 10000 levels of arrays',
    request: submit(() => ({ rawJson: nestedArrays(10_000) })),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'jobs',
    name: 'deeply nested JSON: 100 levels of objects under a real field',
    request: submit((w) => ({
      rawJson: `{"datasetId":"${w.datasetA}","head":${nestedObjects(100)}}`,
    })),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'jobs',
    name: 'oversized JSON (over 256 KiB)',
    request: submit((w) => ({ rawJson: bigJson(MAX_JSON_BYTES, { datasetId: w.datasetA }) })),
    code: 'body_too_large',
    field: 'body',
  },
  {
    area: 'jobs',
    name: 'a JSON array instead of an object',
    request: submit((w) => ({ json: [{ datasetId: w.datasetA }] })),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'jobs',
    name: 'JSON null',
    request: submit(() => ({ rawJson: 'null' })),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'jobs',
    name: 'no dataset id',
    request: submit(() => ({ json: { epochs: 5 } })),
    code: 'invalid_request',
    field: 'body.datasetId',
  },
  // Hyperparameters.
  hyper('epochs=0', { epochs: 0 }, 'body.epochs'),
  hyper('epochs=1e9', { epochs: 1e9 }, 'body.epochs'),
  hyper('epochs=2.5', { epochs: 2.5 }, 'body.epochs'),
  hyper('batchSize=-32', { batchSize: -32 }, 'body.batchSize'),
  hyper('learning rate as a string', { optimizer: { lr: '0.1' } }, 'body.optimizer.lr'),
  hyper('learning rate 0', { optimizer: { lr: 0 } }, 'body.optimizer.lr'),
  hyper('an SGD optimizer', { optimizer: { type: 'sgd' } }, 'body.optimizer.type'),
  hyper('dropout 1.5', { head: { dropout: 1.5 } }, 'body.head.dropout'),
  hyper('a transformer head', { head: { type: 'transformer' } }, 'body.head.type'),
  hyper(
    '1 million hidden units',
    { head: { type: 'mlp', hiddenUnits: 1_000_000 } },
    'body.head.hiddenUnits',
  ),
  hyper('scheduler gamma 0', { scheduler: { gamma: 0 } }, 'body.scheduler.gamma'),
  hyper('a cosine scheduler', { scheduler: { type: 'cosine' } }, 'body.scheduler.type'),
  hyper('1000 augmented views', { augmentation: { views: 1000 } }, 'body.augmentation.views'),
  hyper('label smoothing 0.9', { labelSmoothing: 0.9 }, 'body.labelSmoothing'),
  hyper('seed -1', { seed: -1 }, 'body.seed'),
  hyper('maxAttempts 1000', { maxAttempts: 1000 }, 'body.maxAttempts'),
  hyper(
    'early stopping with patience 0',
    { earlyStopping: { patience: 0, minDelta: 0 } },
    'body.earlyStopping.patience',
  ),
  hyper('an unknown input mode', { inputMode: 'stretch' }, 'body.inputMode'),
  hyper('an unknown backbone', { backbone: 'resnet-999' }, 'body.backbone'),
  hyper('an unknown strategy', { strategy: 'distillation' }, 'body.strategy'),
  hyper('an unknown preset', { preset: 'yolo' }),
  hyper('an unknown field', { gpu: 'all of them' }, 'body.gpu'),
  {
    area: 'jobs',
    name: 'invalid hyperparameters: a __proto__ key',
    request: submit((w) => ({ rawJson: `{"datasetId":"${w.datasetA}","__proto__":{"epochs":0}}` })),
    code: 'invalid_request',
    field: 'body.__proto__',
  },
  {
    area: 'jobs',
    name: 'invalid hyperparameters: a nested __proto__ key',
    request: submit((w) => ({
      rawJson: `{"datasetId":"${w.datasetA}","optimizer":{"__proto__":{"lr":5}}}`,
    })),
    code: 'invalid_request',
    field: 'body.optimizer.__proto__',
  },
  // Datasets and idempotency.
  {
    area: 'jobs',
    name: "another tenant's dataset",
    request: submit((w) => ({ json: { datasetId: w.datasetB } })),
    code: 'not_found',
    field: 'body.datasetId',
  },
  {
    area: 'jobs',
    name: 'a dataset id that is a traversal path',
    request: submit(() => ({ json: { datasetId: 'ds_../../../backbones' } })),
    code: 'invalid_request',
    field: 'body.datasetId',
  },
  {
    area: 'jobs',
    name: 'an Idempotency-Key reused with another body',
    request: submit((w) => ({
      json: { datasetId: w.datasetA, seed: 99 },
      headers: { 'idempotency-key': w.queued.idempotencyKey },
    })),
    code: 'idempotency_conflict',
    field: 'header.idempotency-key',
  },
  {
    area: 'jobs',
    name: 'an Idempotency-Key with spaces',
    request: submit((w) => ({
      json: { datasetId: w.datasetA },
      headers: { 'idempotency-key': 'nightly 1' },
    })),
    code: 'invalid_request',
    field: 'header.idempotency-key',
  },
  {
    area: 'jobs',
    name: 'a 201-character Idempotency-Key',
    request: submit((w) => ({
      json: { datasetId: w.datasetA },
      headers: { 'idempotency-key': 'k'.repeat(201) },
    })),
    code: 'invalid_request',
    field: 'header.idempotency-key',
  },
  // Batches.
  {
    area: 'jobs',
    name: 'batch: jobs is not an array',
    request: (w) =>
      request('/v1/fine-tunes/batch', {
        key: w.a.apiKey,
        json: { jobs: { datasetId: w.datasetA } },
      }),
    code: 'invalid_request',
    field: 'body.jobs',
  },
  {
    area: 'jobs',
    name: 'batch: no jobs',
    request: (w) => request('/v1/fine-tunes/batch', { key: w.a.apiKey, json: { jobs: [] } }),
    code: 'invalid_request',
    field: 'body.jobs',
  },
  {
    area: 'jobs',
    name: 'batch: 101 jobs',
    request: (w) =>
      request('/v1/fine-tunes/batch', {
        key: w.a.apiKey,
        json: { jobs: Array.from({ length: 101 }, () => ({ datasetId: w.datasetA })) },
      }),
    code: 'invalid_request',
    field: 'body.jobs',
  },
  {
    area: 'jobs',
    name: 'batch: one invalid job refuses them all',
    request: (w) =>
      request('/v1/fine-tunes/batch', {
        key: w.a.apiKey,
        json: {
          jobs: [{ datasetId: w.datasetA }, { datasetId: w.datasetA, optimizer: { lr: -1 } }],
        },
      }),
    code: 'invalid_request',
    field: 'body.jobs.1.optimizer.lr',
  },
  {
    area: 'jobs',
    name: "batch: one job on another tenant's dataset",
    request: (w) =>
      request('/v1/fine-tunes/batch', {
        key: w.a.apiKey,
        json: { jobs: [{ datasetId: w.datasetA }, { datasetId: w.datasetB }] },
      }),
    code: 'not_found',
    field: 'body.jobs.1.datasetId',
  },
  // Another tenant's jobs and batches, and transitions already made.
  {
    area: 'jobs',
    name: "reading another tenant's job",
    request: get((w) => `/v1/fine-tunes/${w.queuedB.id}`),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'jobs',
    name: "following another tenant's job events",
    request: get((w) => `/v1/fine-tunes/${w.succeededB.id}/events`),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'jobs',
    name: "canceling another tenant's queued job",
    request: get((w) => `/v1/fine-tunes/${w.queuedB.id}/cancel`, 'POST'),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'jobs',
    name: "reading another tenant's batch",
    request: get((w) => `/v1/batches/${w.queuedB.batchId}`),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'jobs',
    name: 'canceling a job that already succeeded',
    request: get((w) => `/v1/fine-tunes/${w.succeeded.id}/cancel`, 'POST'),
    code: 'conflict',
    field: 'path.id',
  },
  {
    area: 'jobs',
    name: 'canceling a job that is already canceled',
    request: get((w) => `/v1/fine-tunes/${w.canceled.id}/cancel`, 'POST'),
    code: 'conflict',
    field: 'path.id',
  },
  {
    area: 'jobs',
    name: 'deleting a job (no such route)',
    request: get((w) => `/v1/fine-tunes/${w.queued.id}`, 'DELETE'),
    code: 'not_found',
  },
  {
    area: 'jobs',
    name: 'listing with status=everything',
    request: get(() => '/v1/fine-tunes?status=everything'),
    code: 'invalid_request',
    field: 'query.status',
  },
  {
    area: 'jobs',
    name: 'listing with a non-numeric cursor',
    request: get(() => '/v1/fine-tunes?cursor=1%20OR%201%3D1'),
    code: 'invalid_request',
    field: 'query.cursor',
  },
  // Keys.
  {
    area: 'jobs',
    name: 'submitting without a key',
    request: (w) => request('/v1/fine-tunes', { json: { datasetId: w.datasetA } }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'jobs',
    name: 'submitting with a forged key',
    request: (w) =>
      request('/v1/fine-tunes', { key: forgedKey('hs_key'), json: { datasetId: w.datasetA } }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'jobs',
    name: 'submitting with a revoked key',
    request: (w) =>
      request('/v1/fine-tunes', { key: w.revokedKey, json: { datasetId: w.datasetA } }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'jobs',
    name: 'submitting with a 16 KB bearer token',
    request: (w) =>
      request('/v1/fine-tunes', {
        key: `hs_key_${'x'.repeat(16_000)}`,
        json: { datasetId: w.datasetA },
      }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
];
