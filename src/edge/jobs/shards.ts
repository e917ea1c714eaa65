// Which coordinator shard holds what. Jobs, heads and aliases are spread over
// COORDINATOR_SHARDS Durable Objects by tenant: everything of one tenant lives in one shard, so
// every per-tenant rule (one head per job, an alias pins its head, idempotent replays) stays a
// single-object transaction. Routes that carry only a job id (the worker's) find the tenant in
// D1 once per isolate. Workers find queued work through the job directory (directory.ts).
import type { LeaseGrant } from '../../shared/jobs.js';
import type { Env } from '../env.js';
import { ApiError } from '../errors.js';
import { MAX_LEASE_WAIT_SECONDS, type Asynced, type CoordinatorClient } from './coordinator.js';
import type { JobDirectory } from './directory.js';
import { SINGLE_SHARD, shardCount, shardName, shardNames } from './placement.js';

export { MAX_SHARDS, SINGLE_SHARD, shardCount, shardName, shardNames } from './placement.js';

/** A shard by name. */
export function shardStub(env: Env, name: string): CoordinatorClient {
  // The generated RPC stub type cannot follow the recursive JSON type of job metrics, so the
  // stub is typed by CoordinatorClient: the same methods, results structured-cloned.
  const stub: unknown = env.COORDINATOR.get(env.COORDINATOR.idFromName(name));
  return stub as CoordinatorClient;
}

/** The coordinator shard of a tenant. */
export function coordinatorOf(env: Env, tenantId: string): CoordinatorClient {
  return shardStub(env, shardName(tenantId, shardCount(env)));
}

/** The Durable Object id of a tenant's shard (for alarms and inspection in tests). */
export function shardIdOf(
  env: Pick<Env, 'COORDINATOR' | 'COORDINATOR_SHARDS'>,
  tenantId: string,
): DurableObjectId {
  return env.COORDINATOR.idFromName(shardName(tenantId, shardCount(env)));
}

/** Job id → tenant id, as D1 recorded it at submission (never changes), per isolate. */
const jobTenants = new Map<string, string>();
const MAX_REMEMBERED_JOBS = 10_000;

/**
 * The coordinator shard of a job known only by its id (the worker's routes): its tenant is
 * read from D1 once per isolate. An id D1 does not know is a 404 naming `path.id`.
 */
export async function coordinatorOfJob(env: Env, jobId: string): Promise<CoordinatorClient> {
  if (shardCount(env) === 1) return shardStub(env, SINGLE_SHARD);
  let tenantId = jobTenants.get(jobId);
  if (tenantId === undefined) {
    const row = await env.DB.prepare('SELECT tenant_id FROM jobs WHERE id = ?')
      .bind(jobId)
      .first<{ tenant_id: string }>();
    if (!row) throw new ApiError('not_found', `no job ${jobId}`, 'path.id');
    tenantId = row.tenant_id;
    if (jobTenants.size >= MAX_REMEMBERED_JOBS) {
      const oldest = jobTenants.keys().next();
      if (!oldest.done) jobTenants.delete(oldest.value);
    }
    jobTenants.set(jobId, tenantId);
  }
  return coordinatorOf(env, tenantId);
}

/** The job directory: which shards have queued work. */
export function directoryOf(env: Env): DirectoryClient {
  const stub: unknown = env.JOB_DIRECTORY.get(env.JOB_DIRECTORY.idFromName(DIRECTORY_NAME));
  return stub as DirectoryClient;
}

export const DIRECTORY_NAME = 'directory';

/** The directory as callers see it over RPC. */
export type DirectoryClient = Asynced<Pick<JobDirectory, 'report' | 'waitForWork' | 'stats'>>;

/**
 * How often an isolate that serves leases asks every shard directly, whatever the directory
 * says: the bound on how long work stays unseen if a shard's report to the directory was lost.
 */
export const SWEEP_MS = 30_000;
let lastSweep = 0;

/** Pause after a round in which every shard named by the directory had nothing after all. */
const RACE_PAUSE_MS = 200;

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Leases the oldest queued job of some shard, waiting up to `waitSeconds` for work. With one
 * shard the shard itself waits (a long poll, as before). With several, the directory waits and
 * names the shards that have work; they are asked in random order, so workers spread over them.
 * Every SWEEP_MS an isolate also asks every shard once, in case a report went missing.
 */
export async function leaseAcrossShards(
  env: Env,
  workerId: string,
  opts: { waitSeconds: number; leaseSeconds?: number },
): Promise<LeaseGrant | null> {
  const names = shardNames(env);
  if (names.length === 1) return shardStub(env, names[0]!).lease(workerId, opts);
  const leaseOpts = {
    waitSeconds: 0,
    ...(opts.leaseSeconds === undefined ? {} : { leaseSeconds: opts.leaseSeconds }),
  };
  const take = async (candidates: readonly string[]) => {
    for (const name of shuffled(candidates)) {
      const grant = await shardStub(env, name).lease(workerId, leaseOpts);
      if (grant) return grant;
    }
    return null;
  };
  const deadline =
    Date.now() + Math.min(Math.max(opts.waitSeconds, 0), MAX_LEASE_WAIT_SECONDS) * 1000;
  if (Date.now() - lastSweep >= SWEEP_MS) {
    lastSweep = Date.now();
    const grant = await take(names);
    if (grant) return grant;
  }
  for (;;) {
    let pending: string[];
    try {
      pending = await directoryOf(env).waitForWork(Math.max(0, deadline - Date.now()));
    } catch (err) {
      return sweepWithoutDirectory(take, names, deadline, err);
    }
    if (pending.length === 0) return null;
    const grant = await take(pending);
    if (grant) return grant;
    // Another worker was quicker: each shard asked has told the directory it is empty now.
    if (deadline - Date.now() <= RACE_PAUSE_MS) return null;
    await new Promise((resolve) => setTimeout(resolve, RACE_PAUSE_MS));
  }
}

/**
 * The directory failed (overloaded, or its location unreachable): the lease asks every shard
 * itself, every FALLBACK_SWEEP_MS until its wait is over, so work is still found and an idle
 * worker's poll still takes its usual time instead of coming straight back.
 */
async function sweepWithoutDirectory(
  take: (candidates: readonly string[]) => Promise<LeaseGrant | null>,
  names: readonly string[],
  deadline: number,
  err: unknown,
): Promise<LeaseGrant | null> {
  console.warn(
    JSON.stringify({
      event: 'directory_unavailable',
      fallback: 'sweep',
      shards: names.length,
      error: String(err),
    }),
  );
  for (;;) {
    const grant = await take(names);
    if (grant) return grant;
    const left = deadline - Date.now();
    if (left <= 0) return null;
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, FALLBACK_SWEEP_MS)));
  }
}

/** How often a lease asks every shard while the directory is failing. */
export const FALLBACK_SWEEP_MS = 2_000;

/** Sets when this isolate last swept (tests: 0 makes the next lease sweep). */
export function setLastSweep(at: number): void {
  lastSweep = at;
}
