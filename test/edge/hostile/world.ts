// The legitimate state the hostile corpus runs against, built through the real API: two tenants
// with uploaded datasets, imported backbones, trained heads and aliases, jobs in every state, live
// and stale leases.
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { generateSecret, hashSecret } from '../../../src/shared/secrets.js';
import type { JobView, LeaseGrant } from '../../../src/shared/jobs.js';
import { tinyCardJson, tinyModel } from '../../support/tiny-backbone.js';
import { fixtureBytes, seedBackbone } from '../fixtures.js';
import { backboneManifest, completionForm } from '../heads-helpers.js';
import { asJob, call, freshState, leaseOne, tenant, workerToken } from '../jobs-helpers.js';
import { solidPng } from './images.js';
import { buildZip } from './zips.js';
import { jobCount } from './snapshot.js';

export const V1 = 'mobilenet-v1-0.25';
export const V2 = 'mobilenet-v2-0.35';
export const LESSON = 'cv-transfer-learning';
/** The names of the tiny backbones A and B import. */
export const TINY_A = 'a-tiny';
export const TINY_B = 'b-tiny';
const LABELS = ['ants', 'bees'];

export interface Tenant {
  readonly tenantId: string;
  readonly apiKey: string;
  /** A second key of the same tenant for dataset uploads (rate limits are per key). */
  readonly uploadKey: string;
}

export interface World {
  readonly a: Tenant;
  readonly b: Tenant;
  /** A key of tenant A that was revoked. */
  readonly revokedKey: string;
  readonly worker: string;
  readonly revokedWorker: string;
  readonly photos: {
    readonly jpeg: Uint8Array;
    readonly png: Uint8Array;
    readonly webp: Uint8Array;
  };
  readonly other: { readonly gif: Uint8Array; readonly tiff: Uint8Array };
  readonly datasetA: string;
  readonly datasetB: string;
  /** An image stored in B's dataset (never in A's). */
  readonly imageOfB: string;
  readonly headA: string;
  readonly headB: string;
  /** A's head on its own backbone TINY_A (no alias), which keeps that backbone in use. */
  readonly headOnTinyA: string;
  /** Alias of A pointing at headA; alias of B pointing at headB. */
  readonly aliasA: string;
  readonly aliasB: string;
  /** A's succeeded job, with the completion a worker sent for it (to replay). */
  readonly succeeded: {
    readonly id: string;
    readonly token: string;
    readonly form: () => FormData;
  };
  readonly succeededB: { readonly id: string };
  /** A's running job: the current lease token and the one from the attempt that failed. */
  readonly running: { readonly id: string; readonly token: string; readonly staleToken: string };
  /** A's queued job, submitted with an Idempotency-Key. */
  readonly queued: { readonly id: string; readonly idempotencyKey: string };
  readonly canceled: { readonly id: string };
  /** B's queued job, submitted in a batch. */
  readonly queuedB: { readonly id: string; readonly batchId: string };
}

/** A small valid dataset archive: two classes, three training and one validation image each. */
async function datasetZip(shade: number): Promise<Uint8Array> {
  const entries = [];
  for (const [c, label] of LABELS.entries()) {
    for (const [i, split] of ['train', 'train', 'train', 'val'].entries()) {
      const png = await solidPng(8, 8, [shade, c * 100, i * 40]);
      entries.push({ name: `${split}/${label}/${i}.png`, data: png });
    }
  }
  return buildZip(entries);
}

async function upload(key: string, shade: number): Promise<{ id: string; sha256s: string[] }> {
  const res = await call('/v1/datasets?name=hostile-corpus', {
    key,
    body: await datasetZip(shade),
    headers: { 'content-type': 'application/zip' },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const { id } = res.body as { id: string };
  const manifest = await env.DATASETS.get(`datasets/${id}/manifest.json`);
  const images = (await manifest!.json<{ images: { train: { sha256: string }[] } }>()).images;
  return { id, sha256s: images.train.map((i) => i.sha256) };
}

async function submit(key: string, json: unknown, headers: Record<string, string> = {}) {
  const res = await call('/v1/fine-tunes', { key, json, headers });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return asJob(res);
}

async function completeWithHead(worker: string, grant: LeaseGrant, seed: number, on = V2) {
  const backbone = await backboneManifest(on);
  const form = () => completionForm(grant.leaseToken, backbone, { labels: LABELS, seed }).form;
  const done = await call(`/internal/v1/jobs/${grant.jobId}/complete`, {
    key: worker,
    body: form(),
  });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return { headId: asJob(done).headId!, form };
}

/** Imports the tiny ONNX backbone as `name` through POST /v1/backbones. */
async function importTiny(key: string, name: string) {
  const body = new FormData();
  body.set('model', new File([tinyModel()], 'model.onnx'));
  body.set('card', JSON.stringify(tinyCardJson({ id: name })));
  const res = await call('/v1/backbones', { key, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return (res.body as { id: string }).id;
}

async function alias(key: string, name: string, headId: string) {
  const res = await call(`/v1/aliases/${name}`, { key, method: 'PUT', json: { headId } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

async function withUploadKey(t: { tenantId: string; apiKey: string }): Promise<Tenant> {
  const uploadKey = generateSecret('hs_key');
  await env.DB.prepare(
    "INSERT INTO api_keys (key_hash, tenant_id, name, created_at) VALUES (?, ?, 'uploads', ?)",
  )
    .bind(await hashSecret(uploadKey), t.tenantId, new Date().toISOString())
    .run();
  return { ...t, uploadKey };
}

async function revokedCredentials(tenantId: string) {
  const revokedKey = generateSecret('hs_key');
  const now = new Date().toISOString();
  await env.DB.prepare(
    "INSERT INTO api_keys (key_hash, tenant_id, name, created_at, revoked_at) VALUES (?, ?, 'old', ?, ?)",
  )
    .bind(await hashSecret(revokedKey), tenantId, now, now)
    .run();
  const revokedWorker = await workerToken();
  await env.DB.prepare('UPDATE worker_tokens SET revoked_at = ? WHERE token_hash = ?')
    .bind(now, await hashSecret(revokedWorker))
    .run();
  return { revokedKey, revokedWorker };
}

/**
 * Builds the world from empty storage. Jobs are leased one at a time, so each lease takes the
 * job just submitted.
 */
export async function buildWorld(): Promise<World> {
  await freshState();
  await Promise.all([seedBackbone(V1), seedBackbone(V2)]);
  const a = await withUploadKey(await tenant('acme'));
  const b = await withUploadKey(await tenant('globex'));
  const worker = await workerToken();
  const revoked = await revokedCredentials(a.tenantId);
  const [jpeg, png, webp, gif, tiff] = await Promise.all(
    ['bee.jpg', 'bee.png', 'bee.webp', 'bee.gif', 'bee.tiff'].map((f) =>
      fixtureBytes(`images/${f}`),
    ),
  );
  const datasetA = await upload(a.uploadKey, 10);
  const datasetB = await upload(b.uploadKey, 200);

  const first = await submit(a.apiKey, { datasetId: datasetA.id, seed: 1 });
  const firstGrant = await leaseOne(worker, { waitSeconds: 2 });
  expect(firstGrant.jobId).toBe(first.id);
  const headA = await completeWithHead(worker, firstGrant, 1);

  const ofB = await submit(b.apiKey, { datasetId: datasetB.id, seed: 2 });
  const grantB = await leaseOne(worker, { waitSeconds: 2 });
  expect(grantB.jobId).toBe(ofB.id);
  const headB = await completeWithHead(worker, grantB, 2);

  await alias(a.apiKey, 'production', headA.headId);
  await alias(b.apiKey, 'staging', headB.headId);

  // Each tenant imports a tiny backbone of its own; A trains a head on its one.
  const [tinyA] = await Promise.all([importTiny(a.apiKey, TINY_A), importTiny(b.apiKey, TINY_B)]);
  const onTiny = await submit(a.apiKey, { datasetId: datasetA.id, backbone: tinyA, seed: 7 });
  const tinyGrant = await leaseOne(worker, { waitSeconds: 2 });
  expect(tinyGrant.jobId).toBe(onTiny.id);
  const headOnTinyA = await completeWithHead(worker, tinyGrant, 7, tinyA);

  // The running job's first attempt failed: its token is stale, the second attempt's is live.
  const running = await submit(a.apiKey, { datasetId: datasetA.id, seed: 3 });
  const stale = await leaseOne(worker, { waitSeconds: 2 });
  const failed = await call(`/internal/v1/jobs/${running.id}/fail`, {
    key: worker,
    json: { leaseToken: stale.leaseToken, message: 'GPU fell over', retryable: true },
  });
  expect(failed.status, JSON.stringify(failed.body)).toBe(200);
  const live = await leaseOne(worker, { waitSeconds: 2, leaseSeconds: 600 });
  expect(live.jobId).toBe(running.id);

  const queued = await submit(
    a.apiKey,
    { datasetId: datasetA.id, seed: 4 },
    { 'idempotency-key': 'nightly-1' },
  );
  const toCancel = await submit(a.apiKey, { datasetId: datasetA.id, seed: 5 });
  const batch = await call('/v1/fine-tunes/batch', {
    key: b.apiKey,
    json: { jobs: [{ datasetId: datasetB.id, seed: 6 }] },
  });
  expect(batch.status, JSON.stringify(batch.body)).toBe(201);
  const batchB = batch.body as { batchId: string; jobs: JobView[] };
  await waitForJobs(7);
  const canceled = await call(`/v1/fine-tunes/${toCancel.id}/cancel`, {
    key: a.apiKey,
    method: 'POST',
  });
  expect(asJob(canceled).status).toBe('canceled');

  return {
    a,
    b,
    ...revoked,
    worker,
    photos: { jpeg: jpeg!, png: png!, webp: webp! },
    other: { gif: gif!, tiff: tiff! },
    datasetA: datasetA.id,
    datasetB: datasetB.id,
    imageOfB: datasetB.sha256s[0]!,
    headA: headA.headId,
    headB: headB.headId,
    headOnTinyA: headOnTinyA.headId,
    aliasA: 'production',
    aliasB: 'staging',
    succeeded: { id: first.id, token: firstGrant.leaseToken, form: headA.form },
    succeededB: { id: ofB.id },
    running: { id: running.id, token: live.leaseToken, staleToken: stale.leaseToken },
    queued: { id: queued.id, idempotencyKey: 'nightly-1' },
    canceled: { id: toCancel.id },
    queuedB: { id: batchB.jobs[0]!.id, batchId: batchB.batchId },
  };
}

/** Waits until the queue consumer has registered `n` jobs with the coordinator. */
async function waitForJobs(n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await jobCount()) < n) {
    if (Date.now() > deadline) throw new Error(`the coordinator never saw ${n} jobs`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
