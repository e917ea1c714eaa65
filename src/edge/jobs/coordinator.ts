// The job coordinator: SQLite-backed Durable Objects, one per shard (shards.ts places each tenant
// in one), each owning the whole lifecycle of its tenants' jobs — registration, leases with
// tokens, heartbeats, progress, completion, failure, cancellation, lease expiry by alarm — and
// their heads and aliases. With several shards, each tells the job directory when it has work.
import type { Cursor } from '../http/cursor.js';
import { DurableObject } from 'cloudflare:workers';
import { z } from 'zod';
import {
  EpochMetricsSchema,
  FineTuneSpecSchema,
  JOB_STATUSES,
  JsonValueSchema,
  type JsonValue,
  type EpochMetrics,
  type FineTuneSpec,
  type JobEpochEvent,
  type JobStatus,
  type JobView,
  type LeaseGrant,
} from '../../shared/jobs.js';
import { HeadSummarySchema, type AliasView, type HeadSummary } from '../../shared/heads.js';
import type { Env } from '../env.js';
import { ApiError } from '../errors.js';
import { shardCount } from './placement.js';
import { directoryOf } from './shards.js';
import { wakeOrTimeout } from './wait.js';

/** How long a lease lasts without a heartbeat, unless the worker asks for another length. */
export const LEASE_SECONDS = 60;
export const MAX_LEASE_SECONDS = 600;
/** Longest a lease request may wait for work. */
export const MAX_LEASE_WAIT_SECONDS = 25;
/** Longest a watch (an event stream waiting for news of a job) may wait in one call. */
export const MAX_WATCH_MS = 30_000;
/** Epoch events handed out per watch call; a stream asks again for the rest. */
const WATCH_EPOCHS_PER_CALL = 500;

/** What a watcher of a job hears: the job now, and the epochs logged after the seq it knew. */
export interface JobWatch {
  readonly job: JobView;
  readonly epochs: readonly JobEpochEvent[];
  /** More epochs are logged than this call handed out. */
  readonly more: boolean;
}

/**
 * The part of a job whose change is news to a watcher besides its epochs: status, attempt,
 * cancellation and error.
 */
export const watchState = (job: JobView): string =>
  JSON.stringify([job.status, job.attempts, job.cancelRequested, job.lastError, job.headId]);

export type CoordinatorError = {
  ok: false;
  code: 'not_found' | 'lease_conflict' | 'conflict';
  message: string;
};
export type CoordinatorResult<T> = { ok: true; value: T } | CoordinatorError;

interface JobRow extends Record<string, SqlStorageValue> {
  id: string;
  tenant_id: string;
  dataset_id: string;
  batch_id: string | null;
  spec_json: string;
  status: string;
  attempts: number;
  max_attempts: number;
  lease_token: string | null;
  lease_expires_at: number | null;
  lease_seconds: number;
  worker_id: string | null;
  cancel_requested: number;
  progress_json: string | null;
  history_json: string;
  metrics_json: string | null;
  last_error: string | null;
  head_id: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

interface HeadRow extends Record<string, SqlStorageValue> {
  id: string;
  tenant_id: string;
  job_id: string;
  dataset_id: string;
  backbone_id: string;
  labels_json: string;
  summary_json: string;
  bytes: number;
  created_at: number;
  deleted_at: number | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toView(row: JobRow): JobView {
  const history = EpochMetricsSchema.array().parse(JSON.parse(row.history_json));
  return {
    id: row.id,
    status: z.enum(JOB_STATUSES).parse(row.status),
    datasetId: row.dataset_id,
    batchId: row.batch_id,
    spec: FineTuneSpecSchema.parse(JSON.parse(row.spec_json)),
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    progress: history.at(-1) ?? null,
    history,
    metrics:
      row.metrics_json === null
        ? null
        : z.record(z.string(), JsonValueSchema).parse(JSON.parse(row.metrics_json)),
    lastError: row.last_error,
    headId: row.head_id,
    cancelRequested: row.cancel_requested === 1,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
}

const fail = (code: CoordinatorError['code'], message: string): CoordinatorError => ({
  ok: false,
  code,
  message,
});

/**
 * Turns a coordinator result into its value or the matching ApiError (`field` names what was
 * at fault: the job id in the path, or the lease token).
 */
export function settle<T>(result: CoordinatorResult<T>, tokenField = 'body.leaseToken'): T {
  if (result.ok) return result.value;
  if (result.code === 'not_found') throw new ApiError('not_found', result.message, 'path.id');
  if (result.code === 'lease_conflict')
    throw new ApiError('lease_conflict', result.message, tokenField);
  throw new ApiError('conflict', result.message, 'path.id');
}

export class JobCoordinator extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Lease requests waiting for work (long poll). */
  private readonly waiters = new Set<() => void>();
  /** Event streams waiting for news of a job (long poll), by job id. */
  private readonly watchers = new Map<string, Set<() => void>>();
  /** What this shard last told the directory (undefined: nothing yet, or the report failed). */
  private announced: boolean | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, dataset_id TEXT NOT NULL, batch_id TEXT,
      spec_json TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
      max_attempts INTEGER NOT NULL, lease_token TEXT, lease_expires_at INTEGER, lease_seconds INTEGER NOT NULL DEFAULT 60, worker_id TEXT,
      cancel_requested INTEGER NOT NULL DEFAULT 0, progress_json TEXT, history_json TEXT NOT NULL DEFAULT '[]',
      metrics_json TEXT, last_error TEXT, head_id TEXT, created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, queued_at INTEGER NOT NULL)`);
    this.sql.exec('CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(status, queued_at)');
    // Every epoch any attempt reported, numbered per job: what event streams replay and resume
    // from (Last-Event-ID is the seq), so a watcher sees each epoch once however fast they come.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS job_epochs (
      job_id TEXT NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL, epoch INTEGER NOT NULL,
      metrics_json TEXT NOT NULL, PRIMARY KEY (job_id, seq), UNIQUE (job_id, attempt, epoch))`);
    this.sql.exec('CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs(tenant_id, created_at)');
    // Heads and aliases live beside the jobs that made them, so completing a job registers its
    // head atomically and deleting a head cannot leave an alias pointing at nothing.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS heads (
      id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, job_id TEXT NOT NULL, dataset_id TEXT NOT NULL,
      backbone_id TEXT NOT NULL, labels_json TEXT NOT NULL, summary_json TEXT NOT NULL,
      bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, deleted_at INTEGER)`);
    this.sql.exec('CREATE INDEX IF NOT EXISTS heads_tenant ON heads(tenant_id, created_at)');
    this.sql.exec(`CREATE TABLE IF NOT EXISTS aliases (
      tenant_id TEXT NOT NULL, name TEXT NOT NULL, head_id TEXT NOT NULL, updated_at INTEGER NOT NULL,
      PRIMARY KEY (tenant_id, name))`);
    // The number of this shard's last report to the job directory: it only grows, restarts too.
    this.sql.exec(
      'CREATE TABLE IF NOT EXISTS directory_reports (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL)',
    );
  }

  /**
   * Tells the job directory whether this shard has queued jobs, when that changed since the
   * last report (or always, with `force`). Only with several shards: one shard is asked
   * directly. The state and its number are taken before the call leaves, so whichever report
   * arrives last, the directory keeps the newest. A failed report is logged and sent again at
   * the next change; meanwhile the edge's sweep (SWEEP_MS) finds the work.
   */
  private announce(force = false): void {
    if (shardCount(this.env) === 1) return;
    const name = this.ctx.id.name;
    if (name === undefined) return;
    const hasWork =
      this.sql.exec("SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1").toArray().length > 0;
    if (!force && hasWork === this.announced) return;
    this.announced = hasWork;
    const seq = this.sql
      .exec<{ seq: number }>(
        `INSERT INTO directory_reports (id, seq) VALUES (1, 1)
         ON CONFLICT (id) DO UPDATE SET seq = seq + 1 RETURNING seq`,
      )
      .one().seq;
    const sent = directoryOf(this.env)
      .report(name, hasWork, seq)
      .catch((err: unknown) => {
        this.announced = undefined;
        console.error(`coordinator ${name}: reporting to the job directory failed`, err);
      });
    this.ctx.waitUntil(sent);
  }

  private row(id: string): JobRow | undefined {
    return this.sql.exec<JobRow>('SELECT * FROM jobs WHERE id = ?', id).toArray()[0];
  }

  /** Work was queued: wakes the waiting lease requests and tells the directory. */
  private wake(): void {
    for (const wake of [...this.waiters]) wake();
    this.announce();
  }

  /** Tells the event streams watching `jobId` that something changed. */
  private notify(jobId: string): void {
    for (const wake of [...(this.watchers.get(jobId) ?? [])]) wake();
  }

  /** The alarm at the earliest lease expiry; none while nothing runs (no idle wake-ups). */
  private async scheduleAlarm(): Promise<void> {
    const next = this.sql
      .exec<{ at: number | null }>(
        "SELECT MIN(lease_expires_at) AS at FROM jobs WHERE status = 'running'",
      )
      .one().at;
    if (next !== null) await this.ctx.storage.setAlarm(next);
    else await this.ctx.storage.deleteAlarm();
  }

  /** Adds a job; a second registration of the same id (duplicate delivery) changes nothing. */
  register(job: {
    id: string;
    tenantId: string;
    batchId: string | null;
    spec: FineTuneSpec;
    createdAt: number;
  }): { created: boolean } {
    const now = Date.now();
    const before = this.sql.exec('SELECT 1 FROM jobs WHERE id = ?', job.id).toArray().length;
    this.sql.exec(
      `INSERT OR IGNORE INTO jobs (id, tenant_id, dataset_id, batch_id, spec_json, status, max_attempts, created_at, updated_at, queued_at)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
      job.id,
      job.tenantId,
      job.spec.datasetId,
      job.batchId,
      JSON.stringify(job.spec),
      job.spec.maxAttempts,
      job.createdAt,
      now,
      now,
    );
    if (before === 0) this.wake();
    return { created: before === 0 };
  }

  /** Records a job that could not be scheduled at all (its queue message dead-lettered). */
  markUnschedulable(
    job: {
      id: string;
      tenantId: string;
      batchId: string | null;
      spec: FineTuneSpec;
      createdAt: number;
    },
    reason: string,
  ): void {
    this.register(job);
    const now = Date.now();
    this.sql.exec(
      "UPDATE jobs SET status = 'failed', last_error = ?, updated_at = ?, finished_at = ? WHERE id = ? AND status = 'queued'",
      reason,
      now,
      now,
      job.id,
    );
    this.announce();
    this.notify(job.id);
  }

  private tryLease(workerId: string, leaseSeconds: number): LeaseGrant | null {
    const row = this.sql
      .exec<JobRow>(
        "SELECT * FROM jobs WHERE status = 'queued' ORDER BY queued_at, created_at LIMIT 1",
      )
      .toArray()[0];
    if (!row) return null;
    const now = Date.now();
    const token = crypto.randomUUID();
    const expires = now + leaseSeconds * 1000;
    const attempt = row.attempts + 1;
    this.sql.exec(
      `UPDATE jobs SET status = 'running', attempts = ?, lease_token = ?, lease_expires_at = ?, lease_seconds = ?,
       worker_id = ?, updated_at = ?, started_at = COALESCE(started_at, ?) WHERE id = ?`,
      attempt,
      token,
      expires,
      leaseSeconds,
      workerId,
      now,
      now,
      row.id,
    );
    this.notify(row.id);
    return {
      jobId: row.id,
      leaseToken: token,
      expiresAt: new Date(expires).toISOString(),
      leaseSeconds,
      attempt,
      maxAttempts: row.max_attempts,
      spec: FineTuneSpecSchema.parse(JSON.parse(row.spec_json)),
    };
  }

  /** Leases the oldest queued job, waiting up to `waitSeconds` for one to arrive. */
  async lease(
    workerId: string,
    opts: { waitSeconds: number; leaseSeconds?: number },
  ): Promise<LeaseGrant | null> {
    const leaseSeconds = Math.min(
      Math.max(Math.round(opts.leaseSeconds ?? LEASE_SECONDS), 1),
      MAX_LEASE_SECONDS,
    );
    const deadline =
      Date.now() + Math.min(Math.max(opts.waitSeconds, 0), MAX_LEASE_WAIT_SECONDS) * 1000;
    for (;;) {
      const grant = this.tryLease(workerId, leaseSeconds);
      // Taking the last job empties the shard; finding none means the directory was behind.
      this.announce(grant === null);
      if (grant) {
        await this.scheduleAlarm();
        return grant;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return null;
      await wakeOrTimeout(this.waiters, remaining);
    }
  }

  private held(jobId: string, token: string): CoordinatorResult<JobRow> {
    const row = this.row(jobId);
    if (!row) return fail('not_found', `no job ${jobId}`);
    if (row.status !== 'running' || row.lease_token !== token) {
      return fail(
        'lease_conflict',
        `the lease token for ${jobId} is not current (job is ${row.status})`,
      );
    }
    return { ok: true, value: row };
  }

  /** What a current lease holder may read: the job's tenant and dataset. */
  checkLease(
    jobId: string,
    token: string,
  ): CoordinatorResult<{ tenantId: string; datasetId: string }> {
    const held = this.held(jobId, token);
    if (!held.ok) return held;
    return {
      ok: true,
      value: { tenantId: held.value.tenant_id, datasetId: held.value.dataset_id },
    };
  }

  /** Whether a succeeded job refers to this head (so its files must stay). */
  headInUse(headId: string): boolean {
    return (
      this.sql
        .exec("SELECT 1 FROM jobs WHERE head_id = ? AND status = 'succeeded' LIMIT 1", headId)
        .toArray().length > 0
    );
  }

  /**
   * What still uses a tenant's backbone (full reference): its live heads (an alias always points
   * at one) and its jobs that have not finished. Deleting the backbone waits for both to go.
   */
  backboneUsers(
    tenantId: string,
    ref: string,
    /** Jobs on this backbone the queue may not have delivered yet (from D1). */
    submitted: string[],
  ): { heads: string[]; jobs: string[] } {
    const heads = this.sql
      .exec<{ id: string }>(
        'SELECT id FROM heads WHERE tenant_id = ? AND backbone_id = ? AND deleted_at IS NULL LIMIT 5',
        tenantId,
        ref,
      )
      .toArray()
      .map((r) => r.id);
    const unfinished = this.sql
      .exec<{ id: string; spec_json: string }>(
        "SELECT id, spec_json FROM jobs WHERE tenant_id = ? AND status IN ('queued', 'running')",
        tenantId,
      )
      .toArray()
      .filter((r) => (JSON.parse(r.spec_json) as { backbone?: string }).backbone === ref)
      .map((r) => r.id);
    // A submitted job the coordinator has not registered yet is still to run.
    const undelivered = submitted.filter((id) => !this.row(id));
    return { heads, jobs: [...new Set([...unfinished, ...undelivered])].slice(0, 5) };
  }

  /** Extends the lease; tells the worker whether the job was canceled meanwhile. */
  async heartbeat(
    jobId: string,
    token: string,
  ): Promise<CoordinatorResult<{ expiresAt: string; cancelRequested: boolean }>> {
    const held = this.held(jobId, token);
    if (!held.ok) return held;
    const now = Date.now();
    const expires = now + held.value.lease_seconds * 1000;
    this.sql.exec(
      'UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ?',
      expires,
      now,
      jobId,
    );
    await this.scheduleAlarm();
    return {
      ok: true,
      value: {
        expiresAt: new Date(expires).toISOString(),
        cancelRequested: held.value.cancel_requested === 1,
      },
    };
  }

  /** Appends one epoch's metrics (also extends the lease: progress is a heartbeat). */
  async progress(
    jobId: string,
    token: string,
    metrics: EpochMetrics,
  ): Promise<CoordinatorResult<{ cancelRequested: boolean }>> {
    const held = this.held(jobId, token);
    if (!held.ok) return held;
    const history = EpochMetricsSchema.array()
      .parse(JSON.parse(held.value.history_json))
      .filter((m) => m.epoch < metrics.epoch);
    history.push(metrics);
    const now = Date.now();
    this.sql.exec(
      'UPDATE jobs SET history_json = ?, lease_expires_at = ?, updated_at = ? WHERE id = ?',
      JSON.stringify(history),
      now + held.value.lease_seconds * 1000,
      now,
      jobId,
    );
    // A repeated report of an epoch (a retried request) is logged once.
    this.sql.exec(
      `INSERT OR IGNORE INTO job_epochs (job_id, seq, attempt, epoch, metrics_json)
       SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM job_epochs WHERE job_id = ?`,
      jobId,
      held.value.attempts,
      metrics.epoch,
      JSON.stringify(metrics),
      jobId,
    );
    this.notify(jobId);
    await this.scheduleAlarm();
    return { ok: true, value: { cancelRequested: held.value.cancel_requested === 1 } };
  }

  /** Marks the job succeeded and registers its head; only the current lease holder may. */
  async complete(
    jobId: string,
    token: string,
    result: {
      headId: string;
      metrics: Record<string, JsonValue>;
      head: { backboneId: string; labels: string[]; bytes: number };
    },
  ): Promise<CoordinatorResult<JobView>> {
    const held = this.held(jobId, token);
    if (!held.ok) return held;
    const now = Date.now();
    const m = result.metrics;
    const num = (v: JsonValue | undefined) => (typeof v === 'number' ? v : null);
    const summary = {
      valAccuracy: num(m.valAccuracy),
      valLoss: num(m.valLoss),
      bestEpoch: num(m.bestEpoch),
      epochsRun: num(m.epochsRun),
      inputMode: typeof m.inputMode === 'string' ? m.inputMode : null,
    };
    this.sql.exec(
      `INSERT OR IGNORE INTO heads (id, tenant_id, job_id, dataset_id, backbone_id, labels_json, summary_json, bytes, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      result.headId,
      held.value.tenant_id,
      jobId,
      held.value.dataset_id,
      result.head.backboneId,
      JSON.stringify(result.head.labels),
      JSON.stringify(summary),
      result.head.bytes,
      now,
    );
    this.sql.exec(
      `UPDATE jobs SET status = 'succeeded', head_id = ?, metrics_json = ?, lease_token = NULL, lease_expires_at = NULL,
       updated_at = ?, finished_at = ? WHERE id = ?`,
      result.headId,
      JSON.stringify(result.metrics),
      now,
      now,
      jobId,
    );
    this.notify(jobId);
    await this.scheduleAlarm();
    return { ok: true, value: toView(this.row(jobId)!) };
  }

  /**
   * Ends an attempt. A retryable failure requeues the job until its attempts are used up; a
   * permanent one (bad dataset) fails it at once. A canceled job acknowledges here too.
   */
  async failAttempt(
    jobId: string,
    token: string,
    error: { message: string; retryable: boolean },
  ): Promise<CoordinatorResult<JobView>> {
    const held = this.held(jobId, token);
    if (!held.ok) return held;
    const row = held.value;
    const now = Date.now();
    const next: JobStatus =
      row.cancel_requested === 1
        ? 'canceled'
        : error.retryable && row.attempts < row.max_attempts
          ? 'queued'
          : 'failed';
    this.sql.exec(
      `UPDATE jobs SET status = ?, last_error = ?, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL,
       updated_at = ?, queued_at = ?, finished_at = ? WHERE id = ?`,
      next,
      error.message.slice(0, 2000),
      now,
      now,
      next === 'queued' ? null : now,
      jobId,
    );
    if (next === 'queued') this.wake();
    this.notify(jobId);
    await this.scheduleAlarm();
    return { ok: true, value: toView(this.row(jobId)!) };
  }

  /** Cancels a queued job at once; a running one is told at its next heartbeat. */
  cancel(jobId: string, tenantId: string): CoordinatorResult<JobView> {
    const row = this.row(jobId);
    if (!row || row.tenant_id !== tenantId) return fail('not_found', `no job ${jobId}`);
    const now = Date.now();
    if (row.status === 'queued') {
      this.sql.exec(
        "UPDATE jobs SET status = 'canceled', updated_at = ?, finished_at = ? WHERE id = ?",
        now,
        now,
        jobId,
      );
    } else if (row.status === 'running') {
      this.sql.exec(
        'UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?',
        now,
        jobId,
      );
    } else {
      return fail('conflict', `job ${jobId} has already ${row.status}`);
    }
    if (row.status === 'queued') this.announce();
    this.notify(jobId);
    return { ok: true, value: toView(this.row(jobId)!) };
  }

  /** One job, or undefined when it does not exist or belongs to another tenant. */
  get(jobId: string, tenantId: string): JobView | undefined {
    const row = this.row(jobId);
    return row && row.tenant_id === tenantId ? toView(row) : undefined;
  }

  /**
   * Long poll for an event stream: answers at once when epochs were logged after `afterSeq` or
   * the job's watch state differs from `state`, else when either happens, or after `waitMs`
   * (at most MAX_WATCH_MS) with the job unchanged. Undefined when the job is not registered
   * (still in the queue) or belongs to another tenant.
   */
  async watch(
    jobId: string,
    tenantId: string,
    opts: { afterSeq: number; state: string | null; waitMs: number },
  ): Promise<JobWatch | undefined> {
    const deadline = Date.now() + Math.min(Math.max(opts.waitMs, 0), MAX_WATCH_MS);
    for (;;) {
      const row = this.row(jobId);
      if (!row || row.tenant_id !== tenantId) return undefined;
      const logged = this.sql
        .exec<{ seq: number; attempt: number; metrics_json: string }>(
          'SELECT seq, attempt, metrics_json FROM job_epochs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?',
          jobId,
          opts.afterSeq,
          WATCH_EPOCHS_PER_CALL + 1,
        )
        .toArray();
      const job = toView(row);
      const remaining = deadline - Date.now();
      if (logged.length > 0 || watchState(job) !== opts.state || remaining <= 0) {
        const epochs = logged.slice(0, WATCH_EPOCHS_PER_CALL).map((e) => ({
          seq: e.seq,
          attempt: e.attempt,
          ...EpochMetricsSchema.parse(JSON.parse(e.metrics_json)),
        }));
        return { job, epochs, more: logged.length > WATCH_EPOCHS_PER_CALL };
      }
      const set = this.watchers.get(jobId) ?? new Set();
      this.watchers.set(jobId, set);
      await wakeOrTimeout(set, remaining);
      if (set.size === 0 && this.watchers.get(jobId) === set) this.watchers.delete(jobId);
    }
  }

  /** Jobs of one tenant, newest first (ties by id), filtered and paginated by a keyset cursor. */
  list(
    tenantId: string,
    opts: { status?: JobStatus; batchId?: string; before?: Cursor; limit: number },
  ): JobView[] {
    const clauses = ['tenant_id = ?'];
    const args: SqlStorageValue[] = [tenantId];
    const filters: [string, SqlStorageValue | undefined][] = [
      ['status = ?', opts.status],
      ['batch_id = ?', opts.batchId],
    ];
    for (const [clause, value] of filters) {
      if (value === undefined) continue;
      clauses.push(clause);
      args.push(value);
    }
    // Keyset pagination: jobs of one batch share a creation time, so the id breaks ties.
    if (opts.before) {
      clauses.push('(created_at < ? OR (created_at = ? AND id < ?))');
      args.push(opts.before.at, opts.before.at, opts.before.id);
    }
    return this.sql
      .exec<JobRow>(
        `SELECT * FROM jobs WHERE ${clauses.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`,
        ...args,
        opts.limit,
      )
      .toArray()
      .map(toView);
  }

  private headSummaries(rows: HeadRow[]): HeadSummary[] {
    if (rows.length === 0) return [];
    const aliases = new Map<string, string[]>();
    for (const a of this.sql.exec<{ name: string; head_id: string }>(
      `SELECT name, head_id FROM aliases WHERE tenant_id = ? AND head_id IN (${rows.map(() => '?').join(',')}) ORDER BY name`,
      rows[0]!.tenant_id,
      ...rows.map((r) => r.id),
    )) {
      aliases.set(a.head_id, [...(aliases.get(a.head_id) ?? []), a.name]);
    }
    return rows.map((r) => ({
      id: r.id,
      jobId: r.job_id,
      datasetId: r.dataset_id,
      backbone: r.backbone_id,
      labels: z.array(z.string()).parse(JSON.parse(r.labels_json)),
      metrics: HeadSummarySchema.shape.metrics.parse(JSON.parse(r.summary_json)),
      bytes: r.bytes,
      aliases: aliases.get(r.id) ?? [],
      createdAt: iso(r.created_at)!,
    }));
  }

  private liveHead(tenantId: string, headId: string): HeadRow | undefined {
    return this.sql
      .exec<HeadRow>(
        'SELECT * FROM heads WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL',
        headId,
        tenantId,
      )
      .toArray()[0];
  }

  /** The tenant's heads, newest first. */
  listHeads(tenantId: string, opts: { before?: Cursor; limit: number }): HeadSummary[] {
    const at = opts.before?.at ?? Number.MAX_SAFE_INTEGER;
    const rows = this.sql
      .exec<HeadRow>(
        `SELECT * FROM heads WHERE tenant_id = ? AND deleted_at IS NULL
           AND (created_at < ? OR (created_at = ? AND id < ?))
         ORDER BY created_at DESC, id DESC LIMIT ?`,
        tenantId,
        at,
        at,
        opts.before?.id ?? '',
        opts.limit,
      )
      .toArray();
    return this.headSummaries(rows);
  }

  /** One live head of the tenant, or undefined. */
  getHead(tenantId: string, headId: string): HeadSummary | undefined {
    const row = this.liveHead(tenantId, headId);
    return row ? this.headSummaries([row])[0] : undefined;
  }

  /**
   * Resolves head ids and alias names to live heads of the tenant, all in one consistent read
   * (so a request never mixes an alias's old and new target).
   */
  resolveHeads(tenantId: string, refs: string[]): ({ headId: string } | { missing: string })[] {
    return refs.map((ref) => {
      let headId = ref;
      if (!ref.startsWith('head_')) {
        const alias = this.sql
          .exec<{ head_id: string }>(
            'SELECT head_id FROM aliases WHERE tenant_id = ? AND name = ?',
            tenantId,
            ref,
          )
          .toArray()[0];
        if (!alias) return { missing: `no head or alias named "${ref}"` };
        headId = alias.head_id;
      }
      return this.liveHead(tenantId, headId)
        ? { headId }
        : { missing: `no head ${headId}${headId === ref ? '' : ` (alias "${ref}")`}` };
    });
  }

  /** Points alias `name` at one of the tenant's live heads (creating or moving it). */
  setAlias(tenantId: string, name: string, headId: string): CoordinatorResult<AliasView> {
    if (!this.liveHead(tenantId, headId)) return fail('not_found', `no head ${headId}`);
    const now = Date.now();
    this.sql.exec(
      `INSERT INTO aliases (tenant_id, name, head_id, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id, name) DO UPDATE SET head_id = excluded.head_id, updated_at = excluded.updated_at`,
      tenantId,
      name,
      headId,
      now,
    );
    return { ok: true, value: { name, headId, updatedAt: iso(now)! } };
  }

  listAliases(tenantId: string): AliasView[] {
    return this.sql
      .exec<{ name: string; head_id: string; updated_at: number }>(
        'SELECT name, head_id, updated_at FROM aliases WHERE tenant_id = ? ORDER BY name',
        tenantId,
      )
      .toArray()
      .map((a) => ({ name: a.name, headId: a.head_id, updatedAt: iso(a.updated_at)! }));
  }

  deleteAlias(tenantId: string, name: string): CoordinatorResult<{ deleted: true }> {
    const gone = this.sql.exec(
      'DELETE FROM aliases WHERE tenant_id = ? AND name = ?',
      tenantId,
      name,
    ).rowsWritten;
    return gone > 0
      ? { ok: true, value: { deleted: true } }
      : fail('not_found', `no alias ${name}`);
  }

  /**
   * Marks a head deleted (the caller then removes its files). Refused while an alias points at
   * it, so a pinned name never silently stops working. A head the tenant already deleted answers
   * `alreadyDeleted`, so a retried delete can still clean up files.
   */
  deleteHead(tenantId: string, headId: string): CoordinatorResult<{ alreadyDeleted: boolean }> {
    const row = this.sql
      .exec<HeadRow>('SELECT * FROM heads WHERE id = ? AND tenant_id = ?', headId, tenantId)
      .toArray()[0];
    if (!row) return fail('not_found', `no head ${headId}`);
    if (row.deleted_at !== null) return { ok: true, value: { alreadyDeleted: true } };
    const pinned = this.sql
      .exec<{ name: string }>(
        'SELECT name FROM aliases WHERE tenant_id = ? AND head_id = ? ORDER BY name',
        tenantId,
        headId,
      )
      .toArray()
      .map((a) => a.name);
    if (pinned.length > 0)
      return fail(
        'conflict',
        `alias${pinned.length > 1 ? 'es' : ''} ${pinned.map((n) => `"${n}"`).join(', ')} point${pinned.length > 1 ? '' : 's'} at ${headId}; move or delete ${pinned.length > 1 ? 'them' : 'it'} first`,
      );
    this.sql.exec('UPDATE heads SET deleted_at = ? WHERE id = ?', Date.now(), headId);
    return { ok: true, value: { alreadyDeleted: false } };
  }

  /** Expired leases: back to the queue, or failed once the attempts are used up. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const expired = this.sql
      .exec<JobRow>("SELECT * FROM jobs WHERE status = 'running' AND lease_expires_at <= ?", now)
      .toArray();
    for (const row of expired) {
      const exhausted = row.attempts >= row.max_attempts;
      this.sql.exec(
        `UPDATE jobs SET status = ?, last_error = ?, lease_token = NULL, lease_expires_at = NULL, worker_id = NULL,
         updated_at = ?, queued_at = ?, finished_at = ? WHERE id = ?`,
        row.cancel_requested === 1 ? 'canceled' : exhausted ? 'failed' : 'queued',
        `the worker stopped sending heartbeats (attempt ${row.attempts} of ${row.max_attempts})`,
        now,
        now,
        exhausted || row.cancel_requested === 1 ? now : null,
        row.id,
      );
      this.notify(row.id);
    }
    if (expired.length > 0) this.wake();
    await this.scheduleAlarm();
  }

  /** One tenant's jobs by status and its live heads (the admin API's usage report). */
  tenantUsage(tenantId: string): { jobs: Record<JobStatus, number>; heads: number } {
    const jobs: Record<string, number> = {
      queued: 0,
      running: 0,
      succeeded: 0,
      failed: 0,
      canceled: 0,
    };
    for (const r of this.sql.exec<{ status: string; n: number }>(
      'SELECT status, COUNT(*) AS n FROM jobs WHERE tenant_id = ? GROUP BY status',
      tenantId,
    ))
      jobs[r.status] = r.n;
    const heads = this.sql
      .exec<{ n: number }>(
        'SELECT COUNT(*) AS n FROM heads WHERE tenant_id = ? AND deleted_at IS NULL',
        tenantId,
      )
      .one().n;
    return { jobs, heads };
  }

  /** Counts by status (for operators and tests). */
  stats(): Record<JobStatus, number> {
    const counts: Record<string, number> = {
      queued: 0,
      running: 0,
      succeeded: 0,
      failed: 0,
      canceled: 0,
    };
    for (const r of this.sql.exec<{ status: string; n: number }>(
      'SELECT status, COUNT(*) AS n FROM jobs GROUP BY status',
    )) {
      counts[r.status] = r.n;
    }
    return counts;
  }
}

/** An object's methods as an RPC stub offers them: the same, each answering a promise. */
export type Asynced<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

/** The coordinator as callers see it over RPC: the same methods, all asynchronous. */
export type CoordinatorClient = Asynced<
  Pick<
    JobCoordinator,
    | 'register'
    | 'markUnschedulable'
    | 'lease'
    | 'checkLease'
    | 'headInUse'
    | 'heartbeat'
    | 'progress'
    | 'complete'
    | 'failAttempt'
    | 'cancel'
    | 'get'
    | 'watch'
    | 'list'
    | 'stats'
    | 'tenantUsage'
    | 'listHeads'
    | 'getHead'
    | 'resolveHeads'
    | 'backboneUsers'
    | 'setAlias'
    | 'listAliases'
    | 'deleteAlias'
    | 'deleteHead'
  >
>;
