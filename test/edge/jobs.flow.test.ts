// Fine-tune jobs end to end inside workerd, with the real local Queue, Durable Object, D1 and R2:
// submit → queue → coordinator → lease → heartbeat/progress → complete, and the failure paths.
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  SELF,
} from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { coordinatorOf, shardIdOf } from '../../src/edge/jobs/shards.js';
import { handleJobsQueue } from '../../src/edge/jobs/queue-consumer.js';
import { exportHeadOnnx } from '../../src/shared/head-onnx.js';
import { headKeys } from '../../src/shared/heads.js';
import { MISSING_IMAGE, datasetKeys } from '../../src/shared/datasets.js';
import { seedBackbone } from './fixtures.js';
import { backboneManifest, completionForm, seededWeights } from './heads-helpers.js';
import {
  leaseOne,
  asGrant,
  asJob,
  call,
  dataset,
  eventually,
  freshState,
  lease,
  problemOf,
  tenant,
  workerToken,
} from './jobs-helpers.js';
import type { JobMessage } from '../../src/edge/env.js';

const V2 = 'mobilenet-v2-0.35';

beforeEach(async () => {
  await freshState();
  await seedBackbone(V2);
});

const epoch = (n: number) => ({
  epoch: n,
  epochs: 20,
  trainLoss: 0.5,
  trainAccuracy: 0.8,
  valLoss: 0.4,
  valAccuracy: 0.85,
  lr: 1e-3,
  seconds: 0.1,
});

/** A completion form with a real (tiny) ONNX head for the seeded v2 backbone. */
async function headForm(leaseToken: string, extra: Record<string, unknown> = {}) {
  return completionForm(leaseToken, await backboneManifest(V2), {
    labels: ['ants', 'bees'],
    seed: 1,
    metrics: { valAccuracy: 0.93 },
    manifestExtra: extra,
  }).form;
}

async function submitted(key: string, datasetId: string, body: Record<string, unknown> = {}) {
  const res = await call('/v1/fine-tunes', { key, json: { datasetId, ...body } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return asJob(res);
}

describe('a fine-tune job', () => {
  it('flows queue → coordinator → lease → heartbeat → progress → complete', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const datasetId = await dataset(tenantId);
    const job = await submitted(apiKey, datasetId, { optimizer: { lr: 3e-4 } });
    expect(job).toMatchObject({ status: 'queued', attempts: 0, datasetId });
    expect(job.spec).toMatchObject({
      epochs: 20,
      batchSize: 32,
      optimizer: { type: 'adam', lr: 3e-4 },
      scheduler: { type: 'step', stepSize: 7, gamma: 0.1 },
    });

    const grant = await leaseOne(worker, { waitSeconds: 2 });
    expect(grant).toMatchObject({ jobId: job.id, attempt: 1, maxAttempts: 3 });
    expect(grant.spec.datasetId).toBe(datasetId);

    const beat = await call(`/internal/v1/jobs/${job.id}/heartbeat`, {
      key: worker,
      json: { leaseToken: grant.leaseToken },
    });
    expect(beat.status).toBe(200);
    expect(beat.body).toMatchObject({ cancelRequested: false });
    expect(
      (
        await call(`/internal/v1/jobs/${job.id}/progress`, {
          key: worker,
          json: { leaseToken: grant.leaseToken, metrics: epoch(1) },
        })
      ).status,
    ).toBe(200);
    const running = asJob(await call(`/v1/fine-tunes/${job.id}`, { key: apiKey }));
    expect(running).toMatchObject({
      status: 'running',
      attempts: 1,
      progress: { epoch: 1, valAccuracy: 0.85 },
    });

    const manifest = await call(`/internal/v1/jobs/${job.id}/dataset`, {
      key: worker,
      headers: { 'x-lease-token': grant.leaseToken },
    });
    expect(manifest.body).toMatchObject({ id: datasetId });

    const done = await call(`/internal/v1/jobs/${job.id}/complete`, {
      key: worker,
      body: await headForm(grant.leaseToken),
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const finished = asJob(await call(`/v1/fine-tunes/${job.id}`, { key: apiKey }));
    expect(finished).toMatchObject({ status: 'succeeded', metrics: { valAccuracy: 0.93 } });
    expect(finished.headId).toMatch(/^head_[0-9a-f]{32}$/);
    const stored = await env.MODELS.get(headKeys(finished.headId!).model);
    const sent = exportHeadOnnx(seededWeights(1280, 2, 1), { producerVersion: 'test' });
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(sent);
    expect(await env.MODELS.head(headKeys(finished.headId!).manifest)).not.toBeNull();
  });

  it('hands the held job its images in bulk: framed, in order, a missing one marked', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const datasetId = await dataset(tenantId);
    // Three stored objects, one of 3 MB (streamed, not buffered), and one hash never stored.
    const images = [new Uint8Array(3 * 1024 * 1024), new Uint8Array([1, 2, 3]), new Uint8Array(0)];
    images[0]!.forEach((_, i, a) => (a[i] = (i * 31) % 251));
    const hashes = images.map((_, i) =>
      String(i + 1)
        .repeat(64)
        .slice(0, 64),
    );
    for (const [i, bytes] of images.entries())
      await env.DATASETS.put(datasetKeys(datasetId).image(hashes[i]!), bytes);
    const missing = 'f'.repeat(64);
    const job = await submitted(apiKey, datasetId);
    const grant = await leaseOne(worker, { waitSeconds: 2 });
    expect(grant.jobId).toBe(job.id);

    const asked = [hashes[1]!, missing, hashes[0]!, hashes[2]!];
    const res = await SELF.fetch(`https://edge.test/internal/v1/jobs/${job.id}/dataset/images`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${worker}`,
        'x-lease-token': grant.leaseToken,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ sha256: asked }),
    });
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    const view = new DataView(body.buffer);
    const records: (Uint8Array | null)[] = [];
    let at = 0;
    while (at < body.byteLength) {
      const length = view.getUint32(at);
      at += 4;
      if (length === MISSING_IMAGE) records.push(null);
      else {
        records.push(body.slice(at, at + length));
        at += length;
      }
    }
    expect(records).toHaveLength(4);
    expect(records[0]).toEqual(images[1]);
    expect(records[1]).toBeNull();
    expect(records[2]).toEqual(images[0]);
    expect(records[3]).toEqual(images[2]);
  });

  it('is registered once when the queue delivers its message twice', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const job = await submitted(apiKey, await dataset(tenantId));
    const message = {
      id: 'm1',
      timestamp: new Date(),
      attempts: 1,
      body: { type: 'register' as const, jobId: job.id, tenantId },
    };
    const batch = createMessageBatch<JobMessage>('headstart-jobs', [
      message,
      { ...message, id: 'm2' },
    ]);
    const ctx = createExecutionContext();
    await handleJobsQueue(batch, env);
    // (The pool's declared result type does not resolve against our workers-types entry point.)
    const result = (await getQueueResult(batch, ctx)) as unknown as {
      explicitAcks: string[];
      retryMessages: unknown[];
    };
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toEqual(['m1', 'm2']);
    const coordinator = coordinatorOf(env, tenantId);
    await eventually(async () => ((await coordinator.stats()).queued === 1 ? true : undefined));
    expect((await coordinator.list(tenantId, { limit: 10 })).map((j) => j.id)).toEqual([job.id]);
    expect((await lease(worker, { waitSeconds: 1 })).status).toBe(200);
    expect((await lease(worker, { waitSeconds: 0 })).status).toBe(204);
  });

  it('is recorded as failed, not lost, when its message lands on the dead-letter queue', async () => {
    const { apiKey, tenantId } = await tenant();
    const job = await submitted(apiKey, await dataset(tenantId));
    const dead = createMessageBatch<JobMessage>('headstart-jobs-dlq', [
      {
        id: 'd1',
        timestamp: new Date(),
        attempts: 1,
        body: { type: 'register', jobId: job.id, tenantId },
      },
    ]);
    await handleJobsQueue(dead, env);
    const failed = await eventually(async () => {
      const view = asJob(await call(`/v1/fine-tunes/${job.id}`, { key: apiKey }));
      return view.status === 'failed' ? view : undefined;
    });
    expect(failed.lastError).toMatch(/could not be scheduled/);
  });

  it('goes back to the queue when its lease expires, and is leased again as attempt 2', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const job = await submitted(apiKey, await dataset(tenantId));
    const first = await leaseOne(worker, { waitSeconds: 2, leaseSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    // The alarm may already have fired on its own; run it now if it has not.
    await runDurableObjectAlarm(env.COORDINATOR.get(shardIdOf(env, tenantId)));
    const requeued = asJob(await call(`/v1/fine-tunes/${job.id}`, { key: apiKey }));
    expect(requeued).toMatchObject({ status: 'queued', attempts: 1 });
    expect(requeued.lastError).toMatch(/stopped sending heartbeats/);

    const second = asGrant(await lease(worker, { waitSeconds: 1 }));
    expect(second).toMatchObject({ jobId: job.id, attempt: 2 });

    // The first worker's token is stale now: heartbeat and completion are refused, nothing stored.
    const stale = await call(`/internal/v1/jobs/${job.id}/heartbeat`, {
      key: worker,
      json: { leaseToken: first.leaseToken },
    });
    expect(stale.status).toBe(409);
    expect(problemOf(stale)).toMatchObject({ code: 'lease_conflict', field: 'body.leaseToken' });
    const staleDone = await call(`/internal/v1/jobs/${job.id}/complete`, {
      key: worker,
      body: await headForm(first.leaseToken),
    });
    expect(staleDone.status).toBe(409);
    expect((await env.MODELS.list({ prefix: 'heads/' })).objects).toHaveLength(0);
    // A replayed completion after success is refused too.
    expect(
      (
        await call(`/internal/v1/jobs/${job.id}/complete`, {
          key: worker,
          body: await headForm(second.leaseToken),
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await call(`/internal/v1/jobs/${job.id}/complete`, {
          key: worker,
          body: await headForm(second.leaseToken),
        })
      ).status,
    ).toBe(409);
  });

  it('fails with lastError once its attempts are used up', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const job = await submitted(apiKey, await dataset(tenantId), { maxAttempts: 2 });
    const stub = env.COORDINATOR.get(shardIdOf(env, tenantId));
    for (let attempt = 1; attempt <= 2; attempt++) {
      const grant = await leaseOne(worker, { waitSeconds: 1, leaseSeconds: 1 });
      expect(grant.attempt).toBe(attempt);
      await new Promise((r) => setTimeout(r, 1100));
      await runDurableObjectAlarm(stub);
    }
    const failed = asJob(await call(`/v1/fine-tunes/${job.id}`, { key: apiKey }));
    expect(failed).toMatchObject({ status: 'failed', attempts: 2 });
    expect(failed.lastError).toMatch(/attempt 2 of 2/);
  });

  it('reports a permanent failure at once and retries a retryable one', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const job = await submitted(apiKey, await dataset(tenantId));
    const grant = await leaseOne(worker, { waitSeconds: 2 });
    const retry = await call(`/internal/v1/jobs/${job.id}/fail`, {
      key: worker,
      json: { leaseToken: grant.leaseToken, message: 'worker ran out of memory', retryable: true },
    });
    expect(asJob(retry)).toMatchObject({ status: 'queued', lastError: 'worker ran out of memory' });
    const again = asGrant(await lease(worker, { waitSeconds: 1 }));
    const permanent = await call(`/internal/v1/jobs/${job.id}/fail`, {
      key: worker,
      json: {
        leaseToken: again.leaseToken,
        message: 'the dataset has only one class',
        retryable: false,
      },
    });
    expect(asJob(permanent)).toMatchObject({
      status: 'failed',
      attempts: 2,
      lastError: 'the dataset has only one class',
    });
  });

  it('can be canceled while leased: the worker learns it at its next heartbeat', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const job = await submitted(apiKey, await dataset(tenantId));
    const grant = await leaseOne(worker, { waitSeconds: 2 });
    const canceling = await call(`/v1/fine-tunes/${job.id}/cancel`, {
      key: apiKey,
      method: 'POST',
    });
    expect(asJob(canceling)).toMatchObject({ status: 'running', cancelRequested: true });
    const beat = await call(`/internal/v1/jobs/${job.id}/heartbeat`, {
      key: worker,
      json: { leaseToken: grant.leaseToken },
    });
    expect(beat.body).toMatchObject({ cancelRequested: true });
    const ack = await call(`/internal/v1/jobs/${job.id}/fail`, {
      key: worker,
      json: { leaseToken: grant.leaseToken, message: 'canceled by the user', retryable: true },
    });
    expect(asJob(ack).status).toBe('canceled');
    expect(
      problemOf(await call(`/v1/fine-tunes/${job.id}/cancel`, { key: apiKey, method: 'POST' }))
        .code,
    ).toBe('conflict');
  });

  it('is canceled at once while queued, and is never leased afterwards', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const job = await submitted(apiKey, await dataset(tenantId));
    const canceled = await eventually(async () => {
      const res = await call(`/v1/fine-tunes/${job.id}/cancel`, { key: apiKey, method: 'POST' });
      return res.status === 200 ? asJob(res) : undefined;
    });
    expect(canceled.status).toBe('canceled');
    expect((await lease(worker, { waitSeconds: 0 })).status).toBe(204);
  });

  it('streams its progress as server-sent events until it ends', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const job = await submitted(apiKey, await dataset(tenantId));
    const grant = await leaseOne(worker, { waitSeconds: 2 });
    await call(`/internal/v1/jobs/${job.id}/complete`, {
      key: worker,
      body: await headForm(grant.leaseToken),
    });
    const events = await call(`/v1/fine-tunes/${job.id}/events`, { key: apiKey });
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    expect(String(events.body)).toContain('event: job');
    expect(String(events.body)).toContain('"status":"succeeded"');
    expect(String(events.body)).toContain('event: end');
  });
});
