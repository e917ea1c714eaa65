// Submitting and reading fine-tune jobs: validation, idempotency, D1 records, the queue, and the
// coordinator's view of each job.
import { z } from 'zod';
import { sha256Hex } from '../../shared/fingerprint.js';
import {
  FineTuneSpecSchema,
  resolveFineTuneSpec,
  type FineTuneSpec,
  type JobView,
} from '../../shared/jobs.js';
import { newId } from '../../shared/secrets.js';
import { cutBlocks, planStrategy } from '../../shared/strategies.js';
import { getBackboneManifest, resolveBackboneRef } from '../classification/model-store.js';
import type { Env, JobMessage } from '../env.js';
import { ApiError } from '../errors.js';
import { settle, type CoordinatorClient } from './coordinator.js';
import { coordinatorOf } from './shards.js';

/** Most jobs in one batch (one queue sendBatch, one D1 transaction). */
export const MAX_BATCH_JOBS = 100;

export interface JobDeps {
  readonly db: D1Database;
  readonly queue: Queue<JobMessage>;
  readonly coordinator: CoordinatorClient;
  /** Backbone manifests: fine-tuning jobs name blocks, checked against them. */
  readonly models: R2Bucket;
}

/** What the job functions use, for one tenant: its coordinator shard among them. */
export function jobDeps(env: Env, tenantId: string): JobDeps {
  return {
    db: env.DB,
    queue: env.JOBS_QUEUE,
    coordinator: coordinatorOf(env, tenantId),
    models: env.MODELS,
  };
}

const JobRecordSchema = z.object({
  id: z.string(),
  tenant_id: z.string(),
  dataset_id: z.string(),
  batch_id: z.string().nullable(),
  spec_json: z.string(),
  idempotency_key: z.string().nullable(),
  request_hash: z.string(),
  created_at: z.string(),
});
type JobRecord = z.infer<typeof JobRecordSchema>;

/** JSON with sorted keys, so equal requests hash equally whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const hashRequest = (value: unknown) => sha256Hex(new TextEncoder().encode(canonical(value)));

/** Validates one request into a spec, naming the field at fault under `location`. */
async function validateSpec(
  { db, models }: Pick<JobDeps, 'db' | 'models'>,
  tenantId: string,
  request: unknown,
  location: string,
): Promise<FineTuneSpec> {
  const parsed = resolveFineTuneSpec(request);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = [
      ...(issue?.path ?? []),
      ...(issue?.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : []),
    ];
    const field = path.length > 0 ? `${location}.${path.map(String).join('.')}` : location;
    throw new ApiError('invalid_request', issue?.message ?? 'invalid job', field);
  }
  const spec = parsed.data;
  const ref = await resolveBackboneRef(models, tenantId, spec.backbone);
  if (!ref)
    throw new ApiError(
      'invalid_request',
      `no backbone "${spec.backbone}"; GET /v1/backbones lists the ones you can use`,
      `${location}.backbone`,
    );
  // The worker and the head carry the full reference (a tenant's backbone: `{tenantId}/{name}`).
  spec.backbone = ref;
  const manifest = await getBackboneManifest(models, ref, `${location}.backbone`);
  if (
    spec.strategy !== 'feature_extraction' ||
    spec.trainableFrom !== null ||
    spec.unfreeze.length > 0
  ) {
    if (manifest.onnx.quantized && spec.strategy !== 'feature_extraction')
      throw new ApiError(
        'backbone_not_trainable',
        `"${manifest.id}" has integer-quantized weights: there are no float weights to train, so it takes strategy "feature_extraction" only`,
        `${location}.strategy`,
      );
    const planned = planStrategy(spec, cutBlocks(manifest.blocks));
    if ('problem' in planned)
      throw new ApiError(
        'invalid_request',
        planned.problem.message,
        `${location}.${planned.problem.field}`,
      );
  }
  const dataset = await db
    .prepare("SELECT id FROM datasets WHERE id = ? AND tenant_id = ? AND status = 'ready'")
    .bind(spec.datasetId, tenantId)
    .first();
  if (!dataset)
    throw new ApiError('not_found', `no dataset ${spec.datasetId}`, `${location}.datasetId`);
  return spec;
}

/** The view of a job the coordinator has not registered yet (its message is in the queue). */
function pendingView(record: JobRecord): JobView {
  const spec = FineTuneSpecSchema.parse(JSON.parse(record.spec_json));
  return {
    id: record.id,
    status: 'queued',
    datasetId: record.dataset_id,
    batchId: record.batch_id,
    spec,
    attempts: 0,
    maxAttempts: spec.maxAttempts,
    progress: null,
    history: [],
    metrics: null,
    lastError: null,
    headId: null,
    cancelRequested: false,
    createdAt: record.created_at,
    updatedAt: record.created_at,
    startedAt: null,
    finishedAt: null,
  };
}

async function viewOf(deps: JobDeps, record: JobRecord): Promise<JobView> {
  return (await deps.coordinator.get(record.id, record.tenant_id)) ?? pendingView(record);
}

async function enqueue(deps: JobDeps, tenantId: string, jobIds: readonly string[]): Promise<void> {
  try {
    for (let i = 0; i < jobIds.length; i += MAX_BATCH_JOBS) {
      await deps.queue.sendBatch(
        jobIds
          .slice(i, i + MAX_BATCH_JOBS)
          .map((jobId) => ({ body: { type: 'register', jobId, tenantId } })),
      );
    }
  } catch (err) {
    // Nothing may be accepted that is not on its way to the coordinator: roll the records back.
    await deps.db.batch(
      jobIds.map((id) => deps.db.prepare('DELETE FROM jobs WHERE id = ?').bind(id)),
    );
    console.error('queue send failed', err);
    throw new ApiError(
      'unavailable',
      'the job queue is unavailable; nothing was submitted, try again',
    );
  }
}

function insertJob(
  db: D1Database,
  tenantId: string,
  job: {
    id: string;
    spec: FineTuneSpec;
    batchId: string | null;
    key: string | null;
    hash: string;
    at: string;
  },
) {
  return db
    .prepare(
      `INSERT INTO jobs (id, tenant_id, dataset_id, batch_id, spec_json, idempotency_key, request_hash, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      job.id,
      tenantId,
      job.spec.datasetId,
      job.batchId,
      JSON.stringify(job.spec),
      job.key,
      job.hash,
      job.at,
    );
}

async function findByKey(
  db: D1Database,
  tenantId: string,
  key: string,
): Promise<JobRecord | undefined> {
  const row = await db
    .prepare('SELECT * FROM jobs WHERE tenant_id = ? AND idempotency_key = ?')
    .bind(tenantId, key)
    .first();
  return row ? JobRecordSchema.parse(row) : undefined;
}

/** The same key and body return the original job; the same key with another body is a 409. */
function checkReplay(storedHash: string, hash: string, what: 'request' | 'batch'): void {
  if (storedHash !== hash) {
    throw new ApiError(
      'idempotency_conflict',
      `this Idempotency-Key was used with a different ${what}`,
      'header.idempotency-key',
    );
  }
}

async function replay(deps: JobDeps, existing: JobRecord, hash: string) {
  checkReplay(existing.request_hash, hash, 'request');
  return { job: await viewOf(deps, existing), replayed: true };
}

/**
 * Submits one job. With an idempotency key, the same key and body return the original job
 * (`replayed: true`); the same key with another body is a 409.
 *
 * @example
 * const { job } = await submitJob(jobDeps(env), tenantId, { datasetId }, { idempotencyKey: 'nightly-42' });
 */
export async function submitJob(
  deps: JobDeps,
  tenantId: string,
  request: unknown,
  opts: { idempotencyKey?: string | undefined },
): Promise<{ job: JobView; replayed: boolean }> {
  const hash = await hashRequest(request);
  const key = opts.idempotencyKey ?? null;
  if (key) {
    const existing = await findByKey(deps.db, tenantId, key);
    if (existing) return replay(deps, existing, hash);
  }
  const spec = await validateSpec(deps, tenantId, request, 'body');
  const record: JobRecord = {
    id: newId('job'),
    tenant_id: tenantId,
    dataset_id: spec.datasetId,
    batch_id: null,
    spec_json: JSON.stringify(spec),
    idempotency_key: key,
    request_hash: hash,
    created_at: new Date().toISOString(),
  };
  try {
    await insertJob(deps.db, tenantId, {
      id: record.id,
      spec,
      batchId: null,
      key,
      hash,
      at: record.created_at,
    }).run();
  } catch (err) {
    // A concurrent request with the same key won the race: answer as a replay.
    const existing = key ? await findByKey(deps.db, tenantId, key) : undefined;
    if (!existing) throw err;
    return replay(deps, existing, hash);
  }
  await enqueue(deps, tenantId, [record.id]);
  return { job: pendingView(record), replayed: false };
}

export const BatchRequestSchema = z.object({
  jobs: z
    .array(z.unknown())
    .min(1, 'a batch needs at least one job')
    .max(MAX_BATCH_JOBS, `at most ${MAX_BATCH_JOBS} jobs per batch`),
});

/**
 * Submits many jobs as one batch, all or nothing: one invalid spec refuses the whole batch
 * and names it (`body.jobs.3.optimizer.lr`).
 */
export async function submitBatch(
  deps: JobDeps,
  tenantId: string,
  request: unknown,
  opts: { idempotencyKey?: string | undefined },
): Promise<{ batchId: string; jobs: JobView[]; replayed: boolean }> {
  const parsed = BatchRequestSchema.safeParse(request);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ApiError(
      'invalid_request',
      issue?.message ?? 'invalid batch',
      `body.${issue?.path.join('.') ?? 'jobs'}`,
    );
  }
  const hash = await hashRequest(request);
  const key = opts.idempotencyKey ?? null;
  if (key) {
    const existing = await deps.db
      .prepare('SELECT id, request_hash FROM batches WHERE tenant_id = ? AND idempotency_key = ?')
      .bind(tenantId, key)
      .first<{ id: string; request_hash: string }>();
    if (existing) {
      checkReplay(existing.request_hash, hash, 'batch');
      return { ...(await getBatch(deps, tenantId, existing.id)), replayed: true };
    }
  }
  const specs: FineTuneSpec[] = [];
  for (const [i, job] of parsed.data.jobs.entries())
    specs.push(await validateSpec(deps, tenantId, job, `body.jobs.${i}`));
  const batchId = newId('batch');
  const at = new Date().toISOString();
  const records = specs.map((spec) => ({ id: newId('job'), spec, batchId, key: null, hash, at }));
  await deps.db.batch([
    deps.db
      .prepare(
        'INSERT INTO batches (id, tenant_id, size, idempotency_key, request_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .bind(batchId, tenantId, records.length, key, hash, at),
    ...records.map((r) => insertJob(deps.db, tenantId, r)),
  ]);
  await enqueue(
    deps,
    tenantId,
    records.map((r) => r.id),
  ).catch(async (err: unknown) => {
    await deps.db.prepare('DELETE FROM batches WHERE id = ?').bind(batchId).run();
    throw err;
  });
  const jobs = records.map((r) =>
    pendingView({
      id: r.id,
      tenant_id: tenantId,
      dataset_id: r.spec.datasetId,
      batch_id: batchId,
      spec_json: JSON.stringify(r.spec),
      idempotency_key: null,
      request_hash: hash,
      created_at: at,
    }),
  );
  return { batchId, jobs, replayed: false };
}

async function recordsWhere(db: D1Database, sql: string, ...args: unknown[]): Promise<JobRecord[]> {
  const { results } = await db
    .prepare(sql)
    .bind(...args)
    .all();
  return results.map((r) => JobRecordSchema.parse(r));
}

/** One job of the tenant; another tenant's id is a 404 like an unknown one. */
export async function getJob(deps: JobDeps, tenantId: string, jobId: string): Promise<JobView> {
  const [record] = await recordsWhere(
    deps.db,
    'SELECT * FROM jobs WHERE id = ? AND tenant_id = ?',
    jobId,
    tenantId,
  );
  if (!record) throw new ApiError('not_found', `no job ${jobId}`, 'path.id');
  return viewOf(deps, record);
}

/** The jobs of a batch, in submission order. */
export async function getBatch(
  deps: JobDeps,
  tenantId: string,
  batchId: string,
): Promise<{ batchId: string; jobs: JobView[] }> {
  const records = await recordsWhere(
    deps.db,
    'SELECT * FROM jobs WHERE batch_id = ? AND tenant_id = ? ORDER BY rowid',
    batchId,
    tenantId,
  );
  if (records.length === 0) throw new ApiError('not_found', `no batch ${batchId}`, 'path.id');
  return { batchId, jobs: await Promise.all(records.map((r) => viewOf(deps, r))) };
}

/** Cancels a job: at once when queued, at the worker's next heartbeat when running. */
export async function cancelJob(deps: JobDeps, tenantId: string, jobId: string): Promise<JobView> {
  await getJob(deps, tenantId, jobId);
  const result = await deps.coordinator.cancel(jobId, tenantId);
  if (!result.ok && result.code === 'not_found') {
    throw new ApiError(
      'conflict',
      `job ${jobId} is still being scheduled; try again in a moment`,
      'path.id',
    );
  }
  return settle(result);
}
