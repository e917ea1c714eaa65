// The jobs half of `npm run bench:scale`: fine-tune jobs across COORDINATOR_SHARDS coordinator
// shards. One local edge per shard count, with diagnostics on: a tiny dataset per tenant, every
// tenant's jobs submitted as batches, two real worker processes (on CPU) train them all, and the
// edge's counters say which Durable Object served how many of the requests the jobs made.
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JOB_STATUSES, type JobStatus } from '../../src/shared/jobs.js';
import { DEFAULT_OUT, DEFAULT_SOURCE } from '../../scripts/models/import.js';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { listJobs, pool, tinyDatasetZip, uploadDataset, type ListedJob } from './job-burst.js';
import { startWorkers } from './worker-processes.js';

/** One route's counts, as GET /internal/diagnostics/counters returns them. */
interface RouteCounts {
  requests: number;
  durableObject: number;
  d1: number;
  objects: Record<string, number>;
}
interface CountersSnapshot {
  routes: Record<string, RouteCounts>;
  total: RouteCounts;
}

/** Most jobs in one POST /v1/fine-tunes/batch (MAX_BATCH_JOBS in src/edge/jobs/service.ts). */
const MAX_BATCH_JOBS = 100;
/** SUBMIT_LIMITER in wrangler.toml: submissions and uploads per key and minute. */
const SUBMIT_LIMIT = 120;
/** The route the bench itself polls to follow the jobs: counted apart from the jobs' own. */
const POLL_ROUTE = 'GET /v1/fine-tunes';
/** The job directory's object name (DIRECTORY_NAME in src/edge/jobs/shards.ts). */
const DIRECTORY = 'directory';

export interface ShardRun {
  shards: number;
  tenants: number;
  jobs: number;
  /** Seconds from the first submission until every job was final. */
  seconds: number;
  jobsPerSecond: number;
  statuses: Record<JobStatus, number>;
  /** Up to five failed jobs' ids and reasons. */
  failures: { id: string; attempts: number; lastError: string | null }[];
  /** Tenants whose jobs each shard holds (found by asking the counters, not by hashing). */
  tenantsPerShard: Record<string, number>;
  /** The jobs' own requests (submission and the workers' internal routes, not the polling). */
  requests: number;
  durableObject: number;
  d1: number;
  /** Durable Object calls by object name, the jobs' own requests only. */
  objects: Record<string, number>;
  /** Coordinator calls (every object but the directory) and each shard's share of them. */
  shardCalls: number;
  perShard: Record<string, { calls: number; share: number }>;
  maxShardShare: number;
  directoryCalls: number;
  doPerJob: number;
  d1PerJob: number;
  /** Per route: requests, DO calls and D1 queries per job. */
  perRoute: Record<string, { requests: number; durableObject: number; d1: number }>;
  /** What the bench's own polling cost (not in the figures above). */
  polling: RouteCounts;
  /** The workers' own seconds per succeeded job (median). */
  workerJobSecondsMedian: number | null;
}

const log = (line: string) => console.error(line);

/**
 * Runs `send` again (up to 3 tries, 1 s apart) while the dev server answers that the Worker
 * restarted mid-request: seen once at the start of an edge although the bundle is frozen.
 */
async function retryRestarts<T>(what: string, send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (attempt >= 3 || !message.includes('restarted mid-request')) throw err;
      log(`${what}: the dev server restarted the Worker mid-request; trying again (${message})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

async function counters(edge: LocalEdge): Promise<CountersSnapshot> {
  const res = await fetch(`${edge.url}/internal/diagnostics/counters`);
  if (!res.ok) throw new Error(`counters answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as CountersSnapshot;
}

async function resetCounters(edge: LocalEdge): Promise<void> {
  const res = await fetch(`${edge.url}/internal/diagnostics/counters`, { method: 'DELETE' });
  if (res.status !== 204) throw new Error(`counters reset answered ${res.status}`);
}

/**
 * The shard of each tenant, as the edge itself places it: one listing per key with the counters
 * reset before, and the object the listing called read after.
 */
async function shardOfEachKey(edge: LocalEdge, keys: readonly string[]): Promise<string[]> {
  const names: string[] = [];
  for (const key of keys) {
    await resetCounters(edge);
    await listJobs(edge.url, key);
    const objects = Object.keys((await counters(edge)).routes[POLL_ROUTE]?.objects ?? {});
    if (objects.length !== 1)
      throw new Error(`a listing called ${objects.length} objects (${objects.join(', ')}), not 1`);
    names.push(objects[0]!);
  }
  return names;
}

/** The job spec that costs least: the smallest catalogue backbone, one epoch, no views. */
const jobSpec = (datasetId: string, seed: number) => ({
  datasetId,
  backbone: 'mobilenet-v2-0.35',
  preset: 'lesson',
  epochs: 1,
  inputMode: 'crop',
  augmentation: { preset: 'none', views: 0 },
  seed,
});

/**
 * Starts an edge with `shards` coordinator shards and `tenants` tenants, submits `jobs` jobs
 * spread evenly over the tenants, has `workers` worker processes train them, and counts.
 */
export async function runShardJobs(opts: {
  shards: number;
  jobs: number;
  tenants: number;
  workers: number;
  /** Shared by the runs, so only the first downloads the backbone. */
  cacheDir: string;
  timeoutSeconds: number;
}): Promise<ShardRun> {
  const { shards, jobs, tenants } = opts;
  const perTenant = Math.ceil(jobs / tenants);
  if (Math.ceil(perTenant / MAX_BATCH_JOBS) + 1 > SUBMIT_LIMIT)
    throw new Error(`${perTenant} jobs per tenant would pass ${SUBMIT_LIMIT} submissions/min`);
  const state = await mkdtemp(path.join(tmpdir(), `headstart-bench-scale-jobs-${shards}-`));
  const undo: (() => Promise<unknown>)[] = [() => rm(state, { recursive: true, force: true })];
  try {
    const edge = await startLocalEdge(path.join(state, 'edge'), {
      modelsSource: DEFAULT_SOURCE,
      modelsOut: DEFAULT_OUT,
      extraTenants: tenants - 1,
      frozen: true,
      vars: { DIAGNOSTICS: 'true', COORDINATOR_SHARDS: String(shards) },
    });
    undo.push(() => edge.stop());
    const keys = [edge.apiKey, ...edge.extraApiKeys];
    const zip = await tinyDatasetZip();
    const datasets = await pool(keys, 8, (key) =>
      retryRestarts('dataset upload', () => uploadDataset(edge.url, key, zip)),
    );
    const shardOf = await shardOfEachKey(edge, keys);
    const tenantsPerShard: Record<string, number> = {};
    for (const name of shardOf) tenantsPerShard[name] = (tenantsPerShard[name] ?? 0) + 1;
    log(
      `jobs, ${shards} shard(s): ${tenants} tenants placed ${JSON.stringify(sortedByName(tenantsPerShard))}`,
    );

    await mkdir(opts.cacheDir, { recursive: true });
    const workers = startWorkers({
      edgeUrl: edge.url,
      workerToken: edge.workerToken,
      count: opts.workers,
      cacheDir: opts.cacheDir,
      logFile: path.join(state, 'workers.log'),
      threads: 1,
    });
    undo.push(() => workers.stop());
    await workers.ready(120_000);

    // Tenant k gets jobs k, k + tenants, …: as even as the count allows.
    // Each batch has its own idempotency key, so sending it again never makes a second batch.
    const run = randomUUID().slice(0, 8);
    const batches: { key: string; body: string; idempotencyKey: string }[] = [];
    for (const [k, key] of keys.entries()) {
      const specs: ReturnType<typeof jobSpec>[] = [];
      for (let i = k; i < jobs; i += tenants) specs.push(jobSpec(datasets[k]!, i));
      for (let i = 0; i < specs.length; i += MAX_BATCH_JOBS)
        batches.push({
          key,
          body: JSON.stringify({ jobs: specs.slice(i, i + MAX_BATCH_JOBS) }),
          idempotencyKey: `bench-scale-${run}-${k}-${i}`,
        });
    }
    await resetCounters(edge);
    const t0 = performance.now();
    const elapsed = () => (performance.now() - t0) / 1000;
    await pool(batches, 8, ({ key, body, idempotencyKey }) =>
      retryRestarts('batch submission', async () => {
        const res = await fetch(`${edge.url}/v1/fine-tunes/batch`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'application/json',
            'idempotency-key': idempotencyKey,
          },
          body,
        });
        // 200: a retried batch the first try had made after all.
        if (res.status !== 201 && res.status !== 200)
          throw new Error(`batch submission answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }),
    );
    log(
      `jobs, ${shards} shard(s): ${jobs} jobs submitted in ${batches.length} batches in ${round(elapsed())} s; ${opts.workers} workers training`,
    );

    let listed: ListedJob[] = [];
    let lastReport = 0;
    let finalAt: number | undefined;
    const isFinal = (s: JobStatus) => s === 'succeeded' || s === 'failed' || s === 'canceled';
    for (;;) {
      const exited = workers.exited();
      if (exited) throw new Error(exited);
      listed = (await Promise.all(keys.map((key) => listJobs(edge.url, key)))).flat();
      const final = listed.filter((j) => isFinal(j.status)).length;
      if (final === jobs) {
        finalAt = elapsed();
        break;
      }
      if (elapsed() - lastReport >= 10) {
        lastReport = elapsed();
        const counts = countByStatus(listed);
        log(
          `jobs, ${shards} shard(s): ${round(elapsed(), 0)} s: ${final} of ${jobs} final (${listed.length} reached the coordinator; ` +
            `queued ${counts.queued}, running ${counts.running}, succeeded ${counts.succeeded}, failed ${counts.failed})`,
        );
      }
      if (elapsed() > opts.timeoutSeconds) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    // Read at once, before idle lease polls add to the counts.
    const snapshot = await counters(edge);
    const statuses = countByStatus(listed);
    if (finalAt === undefined)
      throw new Error(
        `only ${jobs - statuses.queued - statuses.running} of ${jobs} jobs final after ${opts.timeoutSeconds} s ` +
          `(${JSON.stringify(statuses)}, ${listed.length} reached the coordinator)`,
      );

    const perRoute: ShardRun['perRoute'] = {};
    let requests = 0;
    let durableObject = 0;
    let d1 = 0;
    const objects: Record<string, number> = {};
    for (const [route, c] of Object.entries(snapshot.routes)) {
      if (route === POLL_ROUTE) continue;
      perRoute[route] = {
        requests: round(c.requests / jobs, 3),
        durableObject: round(c.durableObject / jobs, 3),
        d1: round(c.d1 / jobs, 3),
      };
      requests += c.requests;
      durableObject += c.durableObject;
      d1 += c.d1;
      for (const [name, n] of Object.entries(c.objects)) objects[name] = (objects[name] ?? 0) + n;
    }
    const shardNames = Object.keys(objects).filter((name) => name !== DIRECTORY);
    const shardCalls = shardNames.reduce((n, name) => n + objects[name]!, 0);
    const perShard: ShardRun['perShard'] = {};
    for (const name of shardNames.sort())
      perShard[name] = { calls: objects[name]!, share: round(objects[name]! / shardCalls, 4) };
    const failures = listed
      .filter((j) => j.status === 'failed')
      .slice(0, 5)
      .map((j) => ({ id: j.id, attempts: j.attempts, lastError: j.lastError }));
    const seconds = finalAt;
    const jobSeconds = [...workers.jobSeconds].sort((a, b) => a - b);
    return {
      shards,
      tenants,
      jobs,
      seconds: round(seconds),
      jobsPerSecond: round(jobs / seconds),
      statuses,
      failures,
      tenantsPerShard: sortedByName(tenantsPerShard),
      requests,
      durableObject,
      d1,
      objects: sortedByName(objects),
      shardCalls,
      perShard,
      maxShardShare: Math.max(...Object.values(perShard).map((s) => s.share)),
      directoryCalls: objects[DIRECTORY] ?? 0,
      doPerJob: round(durableObject / jobs, 3),
      d1PerJob: round(d1 / jobs, 3),
      perRoute,
      polling: snapshot.routes[POLL_ROUTE] ?? { requests: 0, durableObject: 0, d1: 0, objects: {} },
      workerJobSecondsMedian:
        jobSeconds.length === 0 ? null : round(jobSeconds[Math.floor(jobSeconds.length / 2)]!, 3),
    };
  } finally {
    for (let step = undo.pop(); step; step = undo.pop())
      await step().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  }
}

function sortedByName<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function countByStatus(jobs: readonly { status: JobStatus }[]): Record<JobStatus, number> {
  const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
  for (const j of jobs) counts[j.status]++;
  return counts;
}

/** What one run printed: the lines `bench:scale` writes for it. */
export function describeShardRun(r: ShardRun): string[] {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const lines = [
    `jobs, ${r.shards} shard(s): ${r.jobs} jobs (${r.tenants} tenants, ${r.statuses.succeeded} succeeded, ${r.statuses.failed} failed, ${r.statuses.canceled} canceled) ` +
      `final ${r.seconds} s after the first submission: ${r.jobsPerSecond} jobs/s` +
      (r.workerJobSecondsMedian === null
        ? ''
        : `, median ${r.workerJobSecondsMedian} s per job in a worker`),
    `  the jobs' requests (submission + workers): ${r.requests} (${round(r.requests / r.jobs, 3)} per job), ` +
      `${r.durableObject} Durable Object calls (${r.doPerJob} per job), ${r.d1} D1 queries (${r.d1PerJob} per job)`,
    ...Object.entries(r.perShard).map(
      ([name, s]) =>
        `  ${name}: ${s.calls} calls, ${pct(s.share)} of the coordinator's ${r.shardCalls} (tenants: ${r.tenantsPerShard[name] ?? 0})`,
    ),
    `  directory: ${r.directoryCalls} calls (${round(r.directoryCalls / r.jobs, 3)} per job)`,
    `  per job by route: ${Object.entries(r.perRoute)
      .map(([route, c]) => `${route} ${c.requests} req, ${c.durableObject} DO, ${c.d1} D1`)
      .join('; ')}`,
    `  (the bench's own polling, not counted above: ${r.polling.requests} listings, ${r.polling.durableObject} DO calls)`,
  ];
  if (r.shards > 1)
    lines.push(
      `  busiest shard: ${pct(r.maxShardShare)} of the coordinator calls — ${r.maxShardShare <= 0.4 ? 'within' : 'NOT within'} the 40 % target`,
    );
  if (r.statuses.failed > 0)
    lines.push(
      `  ${r.statuses.failed} jobs FAILED; first ones: ${r.failures.map((f) => `${f.id} after ${f.attempts} attempt(s): ${f.lastError ?? 'no reason recorded'}`).join(' | ')}`,
    );
  return lines;
}
