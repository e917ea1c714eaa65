// Hostile requests to the internal worker API: stale, forged and borrowed lease tokens, replayed
// completions and failures, completions a lease holder must not be able to store, API keys on
// internal routes and worker tokens on public ones, and paths out of the backbone and dataset
// stores.
import { backboneManifest, completionForm } from '../heads-helpers.js';
import {
  forgedKey,
  forgedToken,
  nestedArrays,
  request,
  type HostileCase,
  type RequestOptions,
} from './corpus.js';
import { V2, type World } from './world.js';

const LABELS = ['ants', 'bees'];

/** A request to /internal/v1 with the worker token. */
const asWorker =
  (path: (w: World) => string, opts: (w: World) => RequestOptions = () => ({})) =>
  (w: World) =>
    request(`/internal/v1${path(w)}`, { key: w.worker, ...opts(w) });

const json = (body: (w: World) => unknown) => (w: World) => ({ json: body(w) });

const METRICS = {
  epoch: 1,
  epochs: 10,
  trainLoss: 0.5,
  trainAccuracy: 0.8,
  valLoss: 0.6,
  valAccuracy: 0.7,
  lr: 0.001,
  seconds: 1.5,
};

/**
 * POST /internal/v1/jobs/{job}/complete with a real completion (a head for V2) for `token`,
 * changed by `manifest` and `edit` before it is sent.
 */
const complete =
  (
    job: (w: World) => string,
    token: (w: World) => string,
    opts: {
      manifestExtra?: Record<string, unknown>;
      evaluation?: unknown;
      /** Rewrites the manifest's JSON text. */
      manifest?: (text: string) => string;
      edit?: (form: FormData) => void;
    } = {},
  ) =>
  async (w: World) => {
    const { form } = completionForm(token(w), await backboneManifest(V2), {
      labels: LABELS,
      seed: 7,
      ...(opts.manifestExtra ? { manifestExtra: opts.manifestExtra } : {}),
      ...(opts.evaluation ? { evaluation: opts.evaluation } : {}),
    });
    const manifest = form.get('manifest');
    if (opts.manifest && typeof manifest === 'string')
      form.set('manifest', opts.manifest(manifest));
    opts.edit?.(form);
    return request(`/internal/v1/jobs/${job(w)}/complete`, { key: w.worker, body: form });
  };

const running = (w: World) => w.running.id;
const live = (w: World) => w.running.token;

export const INTERNAL_CASES: HostileCase[] = [
  // Leases.
  {
    area: 'internal',
    name: 'lease with an API key',
    request: (w) => request('/internal/v1/leases', { key: w.a.apiKey, json: { waitSeconds: 0 } }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'internal',
    name: 'lease without a token',
    request: () => request('/internal/v1/leases', { json: { waitSeconds: 0 } }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'internal',
    name: 'lease with a forged worker token',
    request: () =>
      request('/internal/v1/leases', { key: forgedKey('hs_worker'), json: { waitSeconds: 0 } }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'internal',
    name: 'lease with a revoked worker token',
    request: (w) =>
      request('/internal/v1/leases', { key: w.revokedWorker, json: { waitSeconds: 0 } }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'internal',
    name: 'lease waiting 9999 seconds',
    request: asWorker(
      () => '/leases',
      json(() => ({ waitSeconds: 9999 })),
    ),
    code: 'invalid_request',
    field: 'body.waitSeconds',
  },
  {
    area: 'internal',
    name: 'lease lasting 0 seconds',
    request: asWorker(
      () => '/leases',
      json(() => ({ waitSeconds: 0, leaseSeconds: 0 })),
    ),
    code: 'invalid_request',
    field: 'body.leaseSeconds',
  },
  {
    area: 'internal',
    name: 'lease with an empty worker id',
    request: asWorker(
      () => '/leases',
      json(() => ({ waitSeconds: 0, workerId: '' })),
    ),
    code: 'invalid_request',
    field: 'body.workerId',
  },
  {
    area: 'internal',
    name: 'lease with a form-encoded body',
    request: asWorker(
      () => '/leases',
      () => ({
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'waitSeconds=0',
      }),
    ),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'internal',
    name: 'lease with a body nested 10000 levels deep',
    request: asWorker(
      () => '/leases',
      () => ({ rawJson: nestedArrays(10_000) }),
    ),
    code: 'invalid_request',
    field: 'body',
  },
  // Heartbeats and progress.
  {
    area: 'internal',
    name: 'heartbeat with the stale token of a failed attempt',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/heartbeat`,
      json((w) => ({ leaseToken: w.running.staleToken })),
    ),
    code: 'lease_conflict',
    field: 'body.leaseToken',
  },
  {
    area: 'internal',
    name: 'heartbeat with a forged token',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/heartbeat`,
      json(() => ({ leaseToken: forgedToken() })),
    ),
    code: 'lease_conflict',
    field: 'body.leaseToken',
  },
  {
    area: 'internal',
    name: 'heartbeat with a token that is not a UUID',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/heartbeat`,
      json(() => ({ leaseToken: "' OR 1=1 --" })),
    ),
    code: 'invalid_request',
    field: 'body.leaseToken',
  },
  {
    area: 'internal',
    name: "heartbeat for another tenant's job with a live token",
    request: asWorker(
      (w) => `/jobs/${w.succeededB.id}/heartbeat`,
      json((w) => ({ leaseToken: w.running.token })),
    ),
    code: 'lease_conflict',
    field: 'body.leaseToken',
  },
  {
    area: 'internal',
    name: 'heartbeat for a job that does not exist',
    request: asWorker(
      () => '/jobs/job_doesnotexist00/heartbeat',
      json((w) => ({ leaseToken: w.running.token })),
    ),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'internal',
    name: 'heartbeat for a succeeded job with its old token',
    request: asWorker(
      (w) => `/jobs/${w.succeeded.id}/heartbeat`,
      json((w) => ({ leaseToken: w.succeeded.token })),
    ),
    code: 'lease_conflict',
    field: 'body.leaseToken',
  },
  {
    area: 'internal',
    name: 'progress with the stale token',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/progress`,
      json((w) => ({ leaseToken: w.running.staleToken, metrics: METRICS })),
    ),
    code: 'lease_conflict',
    field: 'body.leaseToken',
  },
  {
    area: 'internal',
    name: 'progress with an accuracy of 2',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/progress`,
      json((w) => ({ leaseToken: w.running.token, metrics: { ...METRICS, valAccuracy: 2 } })),
    ),
    code: 'invalid_request',
    field: 'body.metrics.valAccuracy',
  },
  {
    area: 'internal',
    name: 'progress for epoch 0',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/progress`,
      json((w) => ({ leaseToken: w.running.token, metrics: { ...METRICS, epoch: 0 } })),
    ),
    code: 'invalid_request',
    field: 'body.metrics.epoch',
  },
  {
    area: 'internal',
    name: 'progress with an extra metric',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/progress`,
      json((w) => ({ leaseToken: w.running.token, metrics: { ...METRICS, html: '<script>' } })),
    ),
    code: 'invalid_request',
    field: 'body.metrics',
  },
  // Failures.
  {
    area: 'internal',
    name: 'replayed failure of the attempt that already failed',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/fail`,
      json((w) => ({
        leaseToken: w.running.staleToken,
        message: 'GPU fell over',
        retryable: true,
      })),
    ),
    code: 'lease_conflict',
    field: 'body.leaseToken',
  },
  {
    area: 'internal',
    name: 'failing a succeeded job with its old token',
    request: asWorker(
      (w) => `/jobs/${w.succeeded.id}/fail`,
      json((w) => ({ leaseToken: w.succeeded.token, message: 'oops', retryable: false })),
    ),
    code: 'lease_conflict',
    field: 'body.leaseToken',
  },
  {
    area: 'internal',
    name: 'failure with an empty message',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/fail`,
      json((w) => ({ leaseToken: w.running.token, message: '', retryable: true })),
    ),
    code: 'invalid_request',
    field: 'body.message',
  },
  {
    area: 'internal',
    name: 'failure with retryable "yes"',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/fail`,
      json((w) => ({ leaseToken: w.running.token, message: 'x', retryable: 'yes' })),
    ),
    code: 'invalid_request',
    field: 'body.retryable',
  },
  // Completions.
  {
    area: 'internal',
    name: 'replayed completion of a succeeded job',
    request: (w) =>
      request(`/internal/v1/jobs/${w.succeeded.id}/complete`, {
        key: w.worker,
        body: w.succeeded.form(),
      }),
    code: 'lease_conflict',
    field: 'form.leaseToken',
  },
  {
    area: 'internal',
    name: 'completion with the stale token of a failed attempt',
    request: complete(running, (w) => w.running.staleToken),
    code: 'lease_conflict',
    field: 'form.leaseToken',
  },
  {
    area: 'internal',
    name: 'completion with a forged token',
    request: complete(running, () => forgedToken()),
    code: 'lease_conflict',
    field: 'form.leaseToken',
  },
  {
    area: 'internal',
    name: "completion of another tenant's job with a live token",
    request: complete((w) => w.succeededB.id, live),
    code: 'lease_conflict',
    field: 'form.leaseToken',
  },
  {
    area: 'internal',
    name: 'completion of a job that does not exist',
    request: complete(() => 'job_doesnotexist00', live),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'internal',
    name: 'completion without a lease token',
    request: complete(running, live, { edit: (f) => f.delete('leaseToken') }),
    code: 'invalid_request',
    field: 'form.leaseToken',
  },
  {
    area: 'internal',
    name: 'completion whose manifest is not JSON',
    request: complete(running, live, { edit: (f) => f.set('manifest', '{"formatVersion":1,') }),
    code: 'invalid_request',
    field: 'form.manifest',
  },
  {
    area: 'internal',
    name: 'completion whose manifest is not a head',
    request: complete(running, live, { manifestExtra: { kind: 'backbone' } }),
    code: 'invalid_request',
    field: 'form.manifest.kind',
  },
  {
    area: 'internal',
    name: 'completion with a __proto__ label',
    request: complete(running, live, {
      manifest: (text) => text.replace('"id2label":{', '"id2label":{"__proto__":"x",'),
    }),
    code: 'invalid_request',
    field: 'form.manifest.id2label.__proto__',
  },
  {
    area: 'internal',
    name: 'completion whose metrics are nested 5000 levels deep',
    request: complete(running, live, {
      manifest: (text) => text.replace('"metrics":{', `"metrics":{"deep":${nestedArrays(5000)},`),
    }),
    code: 'invalid_request',
    field: 'form.manifest',
  },
  {
    area: 'internal',
    name: 'completion whose evaluation is nested 5000 levels deep',
    request: complete(running, live, { edit: (f) => f.set('evaluation', nestedArrays(5000)) }),
    code: 'invalid_request',
    field: 'form.evaluation',
  },
  {
    area: 'internal',
    name: 'completion for a backbone with other weights',
    request: complete(running, live, {
      manifestExtra: { backbone: { id: V2, fingerprint: '0'.repeat(64) } },
    }),
    code: 'unprocessable',
    field: 'form.manifest',
  },
  {
    area: 'internal',
    name: 'completion for a backbone that does not exist',
    request: complete(running, live, {
      manifestExtra: { backbone: { id: 'resnet-999', fingerprint: '0'.repeat(64) } },
    }),
    code: 'not_found',
    field: 'form.manifest.backbone.id',
  },
  {
    area: 'internal',
    name: 'completion whose evaluation has another class count',
    request: complete(running, live, {
      evaluation: { formatVersion: 1, inputMode: 'crop', classes: ['a', 'b', 'c'], images: [] },
    }),
    code: 'invalid_request',
    field: 'form.evaluation.classes',
  },
  {
    area: 'internal',
    name: 'completion without a head file',
    request: complete(running, live, { edit: (f) => f.delete('head') }),
    code: 'invalid_request',
    field: 'form.head',
  },
  {
    area: 'internal',
    name: 'completion with the head as a text field',
    request: complete(running, live, { edit: (f) => f.set('head', 'ONNX') }),
    code: 'invalid_request',
    field: 'form.head',
  },
  {
    area: 'internal',
    name: 'completion sent as JSON',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/complete`,
      json((w) => ({ leaseToken: w.running.token, manifest: {}, head: 'AAAA' })),
    ),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'internal',
    name: 'completion whose multipart body is cut short',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/complete`,
      (w) => ({
        headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
        body: `--xyz\r\nContent-Disposition: form-data; name="leaseToken"\r\n\r\n${w.running.token}`,
      }),
    ),
    code: 'invalid_request',
    field: 'body',
  },
  // Datasets and backbones through a lease.
  {
    area: 'internal',
    name: 'dataset read without a lease token',
    request: asWorker((w) => `/jobs/${w.running.id}/dataset`),
    code: 'invalid_request',
    field: 'header.x-lease-token',
  },
  {
    area: 'internal',
    name: 'dataset read with the stale token',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/dataset`,
      (w) => ({ headers: { 'x-lease-token': w.running.staleToken } }),
    ),
    code: 'lease_conflict',
    field: 'header.x-lease-token',
  },
  {
    area: 'internal',
    name: "dataset read of another tenant's job with a live token",
    request: asWorker(
      (w) => `/jobs/${w.succeededB.id}/dataset`,
      (w) => ({ headers: { 'x-lease-token': w.running.token } }),
    ),
    code: 'lease_conflict',
    field: 'header.x-lease-token',
  },
  {
    area: 'internal',
    name: "image read of another tenant's dataset through a live lease",
    request: asWorker(
      (w) => `/jobs/${w.running.id}/dataset/images/${w.imageOfB}`,
      (w) => ({ headers: { 'x-lease-token': w.running.token } }),
    ),
    code: 'not_found',
    field: 'path.sha256',
  },
  {
    area: 'internal',
    name: 'image read with a traversal path for its hash',
    request: asWorker(
      (w) =>
        `/jobs/${w.running.id}/dataset/images/${encodeURIComponent(`../../${w.datasetB}/manifest.json`)}`,
      (w) => ({ headers: { 'x-lease-token': w.running.token } }),
    ),
    code: 'invalid_request',
    field: 'path.sha256',
  },
  {
    area: 'internal',
    name: 'bulk image read without a lease token',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/dataset/images`,
      json((w) => ({ sha256: [w.imageOfB] })),
    ),
    code: 'invalid_request',
    field: 'header.x-lease-token',
  },
  {
    area: 'internal',
    name: 'bulk image read with the stale token',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/dataset/images`,
      (w) => ({
        headers: { 'x-lease-token': w.running.staleToken },
        json: { sha256: [w.imageOfB] },
      }),
    ),
    code: 'lease_conflict',
    field: 'header.x-lease-token',
  },
  ...(
    [
      ['an empty list', () => ({ sha256: [] }), 'body.sha256'],
      [
        '65 hashes',
        () => ({ sha256: Array.from({ length: 65 }, (_, i) => i.toString(16).padStart(64, '0')) }),
        'body.sha256',
      ],
      ['a hash twice', (w: World) => ({ sha256: [w.imageOfB, w.imageOfB] }), 'body.sha256'],
      [
        'a traversal path for a hash',
        (w: World) => ({ sha256: [`../../${w.datasetB}/manifest.json`] }),
        'body.sha256.0',
      ],
      ['an unknown field', (w: World) => ({ sha256: [w.imageOfB], prefix: 'datasets/' }), 'body'],
      ['a list that is a string', (w: World) => ({ sha256: w.imageOfB }), 'body.sha256'],
    ] as const
  ).map(([what, body, field]): HostileCase => ({
    area: 'internal',
    name: `bulk image read with ${what}`,
    request: asWorker(
      (w) => `/jobs/${w.running.id}/dataset/images`,
      (w) => ({ headers: { 'x-lease-token': w.running.token }, json: body(w) }),
    ),
    code: 'invalid_request',
    field,
  })),
  {
    area: 'internal',
    name: 'bulk image read whose body is not JSON',
    request: asWorker(
      (w) => `/jobs/${w.running.id}/dataset/images`,
      (w) => ({ headers: { 'x-lease-token': w.running.token }, rawJson: '{"sha256":[' }),
    ),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'internal',
    name: 'backbone id that is a traversal path',
    request: asWorker(() => `/backbones/${encodeURIComponent('../heads')}/manifest.json`),
    code: 'invalid_request',
    field: 'path.id',
  },
  {
    area: 'internal',
    name: 'backbone that does not exist',
    request: asWorker(() => '/backbones/resnet-999/model.onnx'),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'internal',
    name: 'a backbone file that is not served',
    request: asWorker(() => `/backbones/${V2}/secrets.json`),
    code: 'not_found',
  },
  // Worker tokens on public routes.
  {
    area: 'internal',
    name: 'worker token listing datasets',
    request: (w) => request('/v1/datasets', { key: w.worker }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'internal',
    name: 'worker token submitting a job',
    request: (w) => request('/v1/fine-tunes', { key: w.worker, json: { datasetId: w.datasetA } }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'internal',
    name: 'worker token deleting a head',
    request: (w) => request(`/v1/heads/${w.headA}`, { key: w.worker, method: 'DELETE' }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'internal',
    name: 'worker token moving an alias',
    request: (w) =>
      request(`/v1/aliases/${w.aliasA}`, {
        key: w.worker,
        method: 'PUT',
        json: { headId: w.headB },
      }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
];
