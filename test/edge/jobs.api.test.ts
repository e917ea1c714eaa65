// The public jobs API in workerd: auth, tenant isolation, idempotency, batches, validation.
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { coordinatorOf } from '../../src/edge/jobs/shards.js';
import { resolveFineTuneSpec, type JobView } from '../../src/shared/jobs.js';
import { seedBackbone } from './fixtures.js';
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

describe('authentication', () => {
  it('refuses a missing, unknown or wrong-kind credential with 401', async () => {
    const { tenantId } = await tenant();
    const worker = await workerToken();
    const datasetId = await dataset(tenantId);
    const none = await call('/v1/fine-tunes', { json: { datasetId } });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect(problemOf(none)).toMatchObject({ code: 'unauthorized', field: 'header.authorization' });
    expect(
      (await call('/v1/fine-tunes', { key: 'hs_key_forged', json: { datasetId } })).status,
    ).toBe(401);
    // Worker tokens reach only the internal API …
    expect((await call('/v1/fine-tunes', { key: worker, json: { datasetId } })).status).toBe(401);
  });

  it('keeps tenants out of the internal API', async () => {
    const { apiKey } = await tenant();
    const res = await call('/internal/v1/leases', { key: apiKey, json: { waitSeconds: 0 } });
    expect(res.status).toBe(401);
  });

  it('stores only hashes of keys', async () => {
    const { apiKey } = await tenant();
    const rows = await env.DB.prepare('SELECT key_hash FROM api_keys').all<{ key_hash: string }>();
    expect(rows.results).toHaveLength(1);
    expect(rows.results[0]!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows.results)).not.toContain(apiKey.slice(7));
  });
});

describe('tenant isolation', () => {
  it("answers another tenant's job, batch and dataset ids with 404", async () => {
    const a = await tenant('a');
    const b = await tenant('b');
    const datasetA = await dataset(a.tenantId);
    const job = asJob(
      await call('/v1/fine-tunes', { key: a.apiKey, json: { datasetId: datasetA } }),
    );
    const batch = (
      await call('/v1/fine-tunes/batch', {
        key: a.apiKey,
        json: { jobs: [{ datasetId: datasetA }] },
      })
    ).body as { batchId: string };

    expect((await call(`/v1/fine-tunes/${job.id}`, { key: b.apiKey })).status).toBe(404);
    expect(
      (await call(`/v1/fine-tunes/${job.id}/cancel`, { key: b.apiKey, method: 'POST' })).status,
    ).toBe(404);
    expect((await call(`/v1/fine-tunes/${job.id}/events`, { key: b.apiKey })).status).toBe(404);
    expect((await call(`/v1/batches/${batch.batchId}`, { key: b.apiKey })).status).toBe(404);
    const foreignDataset = await call('/v1/fine-tunes', {
      key: b.apiKey,
      json: { datasetId: datasetA },
    });
    expect(foreignDataset.status).toBe(404);
    expect(problemOf(foreignDataset).field).toBe('body.datasetId');

    await eventually(async () =>
      (await coordinatorOf(env, a.tenantId).stats()).queued === 2 ? true : undefined,
    );
    const listB = (await call('/v1/fine-tunes', { key: b.apiKey })).body as { jobs: JobView[] };
    expect(listB.jobs).toEqual([]);
    const listA = (await call('/v1/fine-tunes', { key: a.apiKey })).body as { jobs: JobView[] };
    expect(listA.jobs).toHaveLength(2);
  });
});

describe('idempotency', () => {
  it('returns the same job for the same key and body, and 409 for another body', async () => {
    const { apiKey, tenantId } = await tenant();
    const datasetId = await dataset(tenantId);
    const headers = { 'idempotency-key': 'nightly-2026-11-27' };
    const first = await call('/v1/fine-tunes', {
      key: apiKey,
      headers,
      json: { datasetId, epochs: 10 },
    });
    expect(first.status).toBe(201);
    // Same request, keys in another order: the same job.
    const again = await call('/v1/fine-tunes', {
      key: apiKey,
      headers,
      json: { epochs: 10, datasetId },
    });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(asJob(again).id).toBe(asJob(first).id);
    const other = await call('/v1/fine-tunes', {
      key: apiKey,
      headers,
      json: { datasetId, epochs: 11 },
    });
    expect(other.status).toBe(409);
    expect(problemOf(other)).toMatchObject({
      code: 'idempotency_conflict',
      field: 'header.idempotency-key',
    });
    const rows = await env.DB.prepare('SELECT COUNT(*) AS n FROM jobs').first<{ n: number }>();
    expect(rows!.n).toBe(1);
  });
});

describe('batches', () => {
  it('accepts 20 jobs at once, registers all of them, and summarises them', async () => {
    const { apiKey, tenantId } = await tenant();
    const datasetId = await dataset(tenantId);
    const jobs = Array.from({ length: 20 }, (_, i) => ({
      datasetId,
      optimizer: { lr: [1e-3, 3e-4, 1e-4, 3e-5][i % 4] },
      head: { dropout: [0.2, 0.5][i % 2] },
      seed: i,
    }));
    const res = await call('/v1/fine-tunes/batch', { key: apiKey, json: { jobs } });
    expect(res.status).toBe(201);
    const batch = res.body as { batchId: string; jobs: JobView[] };
    expect(batch.jobs).toHaveLength(20);
    expect(new Set(batch.jobs.map((j) => j.id)).size).toBe(20);
    expect(batch.jobs[6]!.spec).toMatchObject({
      optimizer: { lr: 1e-4 },
      head: { type: 'linear', dropout: 0.2 },
      seed: 6,
    });
    await eventually(async () =>
      (await coordinatorOf(env, tenantId).stats()).queued === 20 ? true : undefined,
    );
    const summary = (await call(`/v1/batches/${batch.batchId}`, { key: apiKey })).body as {
      jobs: JobView[];
      counts: Record<string, number>;
    };
    expect(summary.counts).toMatchObject({ queued: 20, running: 0 });
    expect(summary.jobs.map((j) => j.id)).toEqual(batch.jobs.map((j) => j.id));
  });

  it('refuses the whole batch when one job is invalid, naming it', async () => {
    const { apiKey, tenantId } = await tenant();
    const datasetId = await dataset(tenantId);
    const res = await call('/v1/fine-tunes/batch', {
      key: apiKey,
      json: { jobs: [{ datasetId }, { datasetId }, { datasetId, optimizer: { lr: -1 } }] },
    });
    expect(res.status).toBe(400);
    expect(problemOf(res)).toMatchObject({
      code: 'invalid_request',
      field: 'body.jobs.2.optimizer.lr',
    });
    expect((await env.DB.prepare('SELECT COUNT(*) AS n FROM jobs').first<{ n: number }>())!.n).toBe(
      0,
    );
  });
});

describe('listing', () => {
  it('pages through jobs created in the same millisecond without skipping or repeating any', async () => {
    const { tenantId, apiKey } = await tenant();
    const spec = resolveFineTuneSpec({ datasetId: await dataset(tenantId) });
    if (!spec.success) throw spec.error;
    // A batch registers its jobs with one creation time.
    const createdAt = Date.now();
    const ids = Array.from({ length: 7 }, (_, i) => `job_sameMillisecond${i}`);
    for (const id of ids)
      await coordinatorOf(env, tenantId).register({
        id,
        tenantId,
        batchId: null,
        spec: spec.data,
        createdAt,
      });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query = `limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await call(`/v1/fine-tunes?${query}`, { key: apiKey })).body as {
        jobs: JobView[];
        nextCursor: string | null;
      };
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });
});

describe('validation', () => {
  // Fine-tuning fields are checked against the backbone's blocks in its manifest.
  beforeEach(() => seedBackbone('mobilenet-v2-0.35'));

  const cases: [string, Record<string, unknown>, number, string, string][] = [
    ['an unknown field', { colour: 'red' }, 400, 'invalid_request', 'body.colour'],
    [
      'a negative learning rate',
      { optimizer: { lr: -0.1 } },
      400,
      'invalid_request',
      'body.optimizer.lr',
    ],
    ['zero epochs', { epochs: 0 }, 400, 'invalid_request', 'body.epochs'],
    ['an unknown backbone', { backbone: 'resnet-999' }, 400, 'invalid_request', 'body.backbone'],
    [
      'an unknown augmentation preset',
      { augmentation: { preset: 'wild' } },
      400,
      'invalid_request',
      'body.augmentation.preset',
    ],
    [
      'fine-tuning from a block the backbone does not have',
      { strategy: 'fine_tune', trainableFrom: 'block_99' },
      400,
      'invalid_request',
      'body.trainableFrom',
    ],
    [
      'a trainable block with feature extraction',
      { strategy: 'feature_extraction', trainableFrom: 'block_16' },
      400,
      'invalid_request',
      'body.trainableFrom',
    ],
    [
      'an unfreeze step that does not move the boundary earlier',
      {
        strategy: 'fine_tune',
        unfreeze: [
          { epoch: 3, from: 'block_15' },
          { epoch: 6, from: 'block_16' },
        ],
      },
      400,
      'invalid_request',
      'body.unfreeze.1.from',
    ],
    [
      'an unfreeze epoch past the last epoch',
      { strategy: 'fine_tune', epochs: 5, unfreeze: [{ epoch: 9, from: 'block_15' }] },
      400,
      'invalid_request',
      'body.unfreeze.0.epoch',
    ],
    [
      'an unknown BatchNorm mode',
      { strategy: 'fine_tune', batchNorm: 'sometimes' },
      400,
      'invalid_request',
      'body.batchNorm',
    ],
  ];
  for (const [what, body, status, code, field] of cases) {
    it(`refuses ${what}`, async () => {
      const { apiKey, tenantId } = await tenant();
      const res = await call('/v1/fine-tunes', {
        key: apiKey,
        json: { datasetId: await dataset(tenantId), ...body },
      });
      expect(res.status).toBe(status);
      expect(problemOf(res)).toMatchObject({ code, field });
    });
  }

  it('refuses bodies that are not JSON, too large, or nested too deep', async () => {
    const { apiKey } = await tenant();
    const notJson = await call('/v1/fine-tunes', {
      key: apiKey,
      body: '{"datasetId":',
      headers: { 'content-type': 'application/json' },
    });
    expect(problemOf(notJson)).toMatchObject({ code: 'invalid_request', field: 'body' });
    const wrongType = await call('/v1/fine-tunes', {
      key: apiKey,
      body: 'datasetId=x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(wrongType.status).toBe(415);
    const big = await call('/v1/fine-tunes', { key: apiKey, json: { pad: 'x'.repeat(300_000) } });
    expect(problemOf(big).code).toBe('body_too_large');
    const deep = await call('/v1/fine-tunes', {
      key: apiKey,
      body: `${'['.repeat(1000)}${']'.repeat(1000)}`,
      headers: { 'content-type': 'application/json' },
    });
    expect(deep.status).toBe(400);
  });

  it('fills a job from the headstart preset by default, and from the lesson preset on request', async () => {
    const { apiKey, tenantId } = await tenant();
    const datasetId = await dataset(tenantId);
    const lesson = {
      datasetId,
      backbone: 'mobilenet-v2-1.0',
      strategy: 'feature_extraction',
      head: { type: 'linear', dropout: 0.5, hiddenUnits: 256 },
      epochs: 20,
      batchSize: 32,
      optimizer: { type: 'adam', lr: 1e-3, weightDecay: 0, backboneLr: 1e-5, layerDecay: 1 },
      scheduler: { type: 'step', stepSize: 7, gamma: 0.1 },
      inputMode: 'crop',
      augmentation: { preset: 'lesson', views: 4 },
      labelSmoothing: 0,
      seed: 0,
      earlyStopping: null,
      maxAttempts: 3,
      trainableFrom: null,
      unfreeze: [],
      batchNorm: 'frozen',
    };
    const byDefault = asJob(await call('/v1/fine-tunes', { key: apiKey, json: { datasetId } }));
    expect(byDefault.spec).toEqual({
      ...lesson,
      inputMode: 'auto',
      optimizer: { ...lesson.optimizer, lr: 3e-3 },
      augmentation: { preset: 'lesson', views: 1 },
    });
    const asLesson = asJob(
      await call('/v1/fine-tunes', { key: apiKey, json: { datasetId, preset: 'lesson' } }),
    );
    expect(asLesson.spec).toEqual(lesson);
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After once a key has submitted too much in a minute', async () => {
    const { apiKey } = await tenant();
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    // The local limiter counts in windows aligned to the clock's minute (120 per window, from
    // wrangler.toml): a run that straddles a minute boundary starts again from zero, so allow
    // for up to three windows' worth before calling the limit missing.
    for (let i = 0; i < 3 * 120 + 1 && !limited; i++) {
      const res = await call('/v1/fine-tunes', { key: apiKey, json: {} });
      if (res.status === 429) limited = res;
    }
    expect(limited).toBeDefined();
    expect(limited!.headers.get('retry-after')).toBe('60');
    expect(problemOf(limited!).code).toBe('rate_limited');
  });
});
