// `npm run test:chaos`: the system under faults. A local edge and two GPU worker processes sharing
// one embedding cache run a seeded mix of cheap fine-tune jobs from several tenants (so from several
// coordinator shards) while the harness SIGKILLs workers at
// random moments (one of them mid-upload of a head) and pauses one past its lease so it wakes up as
// a zombie. Then it checks that every job ended (succeeded, or failed with a reason after its last
// attempt), none was lost or stuck, no job has two heads, every head in R2 belongs to a succeeded
// job and dead letters are accounted for. Progress goes to stderr; one summary JSON line to stdout;
// the exit code is 1 when an invariant broke.
//
// Flags (or environment): --jobs (HEADSTART_CHAOS_JOBS, 54), --kills (HEADSTART_CHAOS_KILLS, 12),
// --seed (HEADSTART_CHAOS_SEED, random; printed), --lease-seconds (HEADSTART_CHAOS_LEASE_SECONDS,
// 8), --time-limit seconds (HEADSTART_CHAOS_TIME_LIMIT, 420), --tenants (HEADSTART_CHAOS_TENANTS,
// 4), --keep (keep state and worker logs).
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
process.env.WRANGLER_LOG ??= 'warn';
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { shardCount, shardName } from '../src/edge/jobs/placement.js';
import { FINAL_STATUSES } from '../src/shared/jobs.js';
import { createRng, deriveSeed } from '../src/shared/random.js';
import { runFaults, type FaultReport } from './lib/chaos/faults.js';
import {
  CHAOS_DATASETS,
  TenantApi,
  Tenants,
  jobRequest,
  submitBatch,
  submitJob,
  uploadDataset,
  type Job,
} from './lib/chaos/jobs.js';
import { startEdgeSnapshot } from './lib/chaos/edge-snapshot.js';
import { headObjects, judge } from './lib/chaos/verify.js';
import { WorkerPool } from './lib/chaos/workers.js';
import type { LocalEdge } from './lib/local-edge.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: process.env.HEADSTART_CHAOS_JOBS ?? '54' },
    kills: { type: 'string', default: process.env.HEADSTART_CHAOS_KILLS ?? '12' },
    seed: { type: 'string', default: process.env.HEADSTART_CHAOS_SEED },
    'lease-seconds': { type: 'string', default: process.env.HEADSTART_CHAOS_LEASE_SECONDS ?? '8' },
    'time-limit': { type: 'string', default: process.env.HEADSTART_CHAOS_TIME_LIMIT ?? '420' },
    tenants: { type: 'string', default: process.env.HEADSTART_CHAOS_TENANTS ?? '4' },
    keep: { type: 'boolean', default: false },
  },
});
const JOBS = Number(values.jobs);
const KILLS = Number(values.kills);
const SEED = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const LEASE_SECONDS = Number(values['lease-seconds']);
const TIME_LIMIT_SECONDS = Number(values['time-limit']);
const TENANTS = Number(values.tenants);
const DATASETS_DIR = process.env.HEADSTART_DATASETS_DIR ?? path.resolve('..', 'shared', 'datasets');
/** Jobs submitted only once the faults are over, so every planned fault finds work to hit. */
const HELD_BACK = 4;

const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const progress = (message: string) =>
  console.error(`[chaos ${elapsed().toFixed(0).padStart(3)} s] ${message}`);

let pool: WorkerPool | undefined;
let edge: LocalEdge | undefined;
let snapshotDir: string | undefined;
let workDir: string | undefined;
let aborted = false;

/** Ctrl-C and SIGTERM: kill the workers, stop the edge, exit. Replaces wrangler's own hooks. */
function handleSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    // `on`, not `once`: Ctrl-C reaches this process both from the terminal and through tsx.
    process.on(signal, () => {
      if (aborted) return;
      aborted = true;
      progress(`${signal}: stopping the workers and the edge`);
      pool?.killAll();
      void Promise.race([edge?.stop(), sleep(10_000)]).finally(() => {
        for (const dir of [snapshotDir, values.keep ? undefined : workDir])
          if (dir) rmSync(dir, { recursive: true, force: true });
        process.exit(130);
      });
    });
  }
}
process.on('exit', () => pool?.killAll());

function validateOptions(): void {
  const bad = [
    // The job listing pages by creation time, which the jobs of one batch share: one page only.
    (JOBS < 50 || JOBS > 100) && '--jobs must be from 50 to 100',
    KILLS < 10 && '--kills must be at least 10',
    !(LEASE_SECONDS >= 5) && '--lease-seconds must be at least 5 (the worker minimum)',
    !(TIME_LIMIT_SECONDS > 0) && '--time-limit must be a number of seconds',
    !Number.isInteger(SEED) && '--seed must be an integer',
    !(Number.isInteger(TENANTS) && TENANTS >= 1 && TENANTS <= 8) &&
      '--tenants must be a whole number from 1 to 8',
  ].filter(Boolean);
  if (bad.length > 0) throw new Error(bad.join('; '));
}

/** How many of the run's tenants each coordinator shard holds (wrangler.toml's shard count). */
async function tenantShards(local: LocalEdge): Promise<Record<string, number>> {
  const declared = /^COORDINATOR_SHARDS\s*=\s*"(\d+)"/m.exec(readFileSync('wrangler.toml', 'utf8'));
  const shards = shardCount({ COORDINATOR_SHARDS: declared?.[1] });
  const res = await fetch(`${local.url}/admin/v1/tenants`, {
    headers: { authorization: `Bearer ${local.adminToken}` },
  });
  if (!res.ok) throw new Error(`GET /admin/v1/tenants answered ${res.status}`);
  const { tenants } = (await res.json()) as { tenants: { id: string }[] };
  const out: Record<string, number> = {};
  for (const { id } of tenants) {
    const name = shardName(id, shards);
    out[name] = (out[name] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).sort());
}

/** With nothing running and nothing finishing for this long, the remaining jobs are stuck. */
const QUIET_LIMIT_MS = 120_000;

/**
 * Polls the coordinator until every submitted job is final and the faults are over; false when
 * the time limit passes or the remaining jobs are stuck.
 */
async function follow(
  api: Tenants,
  workers: WorkerPool,
  submitted: string[],
  isDone: () => boolean,
  deadline: number,
  onAllFinal: () => void,
): Promise<boolean> {
  let lastLine = 0;
  let lastChange = Date.now();
  let lastFinal = -1;
  for (;;) {
    await sleep(1000);
    if (aborted) return false;
    const listed = await api.jobs().catch((err: unknown): Job[] => {
      progress(`listing jobs failed: ${(err as Error).message}`);
      return [];
    });
    const status = new Map(listed.map((j) => [j.id, j.status]));
    const final = submitted.filter((id) => FINAL_STATUSES.has(status.get(id) ?? 'queued'));
    if (final.length === submitted.length) onAllFinal();
    if (elapsed() - lastLine >= 5) {
      lastLine = elapsed();
      const count = (s: string) => listed.filter((j) => j.status === s).length;
      progress(
        `${final.length}/${submitted.length} jobs final (succeeded ${count('succeeded')}, failed ${count('failed')}), running ${count('running')}, queued ${count('queued')}; kills ${workers.kills}/${KILLS}, restarts ${workers.restarts}`,
      );
    }
    if (isDone() && final.length === submitted.length) return true;
    if (final.length !== lastFinal || listed.some((j) => j.status === 'running')) {
      lastFinal = final.length;
      lastChange = Date.now();
    }
    if (Date.now() > deadline) return false;
    if (Date.now() - lastChange > QUIET_LIMIT_MS) {
      progress(`nothing ran or finished for ${QUIET_LIMIT_MS / 1000} s`);
      return false;
    }
  }
}

async function main(): Promise<number> {
  validateOptions();
  const deadline = Date.now() + TIME_LIMIT_SECONDS * 1000;
  const work = await mkdtemp(path.join(tmpdir(), 'headstart-chaos-'));
  workDir = work;
  const stateDir = path.join(work, 'state');
  const logsDir = path.join(work, 'logs');
  await mkdir(logsDir);
  progress(
    `seed ${SEED}, ${JOBS} jobs, ${KILLS} kills, lease ${LEASE_SECONDS} s; files in ${work}`,
  );

  const script = path.resolve('.cache', 'chaos', 'worker.mjs');
  snapshotDir = path.resolve('.cache', 'chaos', `edge-${process.pid}`);
  const quiet: ExecFileSyncOptions = { stdio: ['ignore', 'ignore', 'inherit'] };
  // The worker bundle and its preprocessing-thread bundle, side by side.
  execFileSync(
    'npm',
    ['run', '--silent', 'build:worker', '--', `--outdir=${path.dirname(script)}`],
    quiet,
  );
  // The edge serves the widgets bundle; build it when missing (as `npm start` does before starting).
  if (!existsSync(path.join('src', 'edge', 'generated', 'widgets.ts')))
    execFileSync('npm', ['run', '--silent', 'build:widgets'], quiet);
  edge = await startEdgeSnapshot(stateDir, snapshotDir, { extraTenants: TENANTS - 1 });
  handleSignals();
  const apis = [edge.apiKey, ...edge.extraApiKeys].map((key) => new TenantApi(edge!.url, key));
  const api = new Tenants(apis);
  // Each tenant uploads the same photo sets (the workers' embedding cache is shared).
  const datasetIds: string[][] = [];
  for (const tenant of apis) {
    const ids: string[] = [];
    for (const plan of CHAOS_DATASETS) ids.push(await uploadDataset(tenant, DATASETS_DIR, plan));
    datasetIds.push(ids);
  }
  const shards = await tenantShards(edge);
  progress(
    `edge at ${edge.url}; ${apis.length} tenants in coordinator shards ${JSON.stringify(shards)}; ${datasetIds.flat().length} datasets`,
  );

  const rng = createRng(SEED);
  pool = new WorkerPool({
    script,
    edgeUrl: edge.url,
    workerToken: edge.workerToken,
    cacheDir: path.join(work, 'worker-cache'),
    leaseSeconds: LEASE_SECONDS,
    logsDir,
    size: 2,
    restartDelaySeconds: (r) => 0.3 + 1.2 * r,
    random: createRng(deriveSeed(SEED, 'restarts')),
    log: progress,
  });
  pool.start();

  // The workload: most jobs in one batch per tenant, the rest one by one while the faults happen.
  // Job i belongs to tenant i mod TENANTS.
  const tenantOf = (i: number) => i % apis.length;
  const requests = Array.from({ length: JOBS }, (_, i) =>
    jobRequest(rng, datasetIds[tenantOf(i)]!),
  );
  const batchSize = Math.ceil(JOBS * 0.6);
  const submitted: string[] = [];
  for (const [t, tenant] of apis.entries()) {
    const mine = requests.slice(0, batchSize).filter((_, i) => tenantOf(i) === t);
    if (mine.length === 0) continue;
    const ids = await submitBatch(tenant, mine);
    api.own(tenant, ids);
    submitted.push(...ids);
  }
  progress(`submitted ${apis.length} batches, ${submitted.length} jobs`);
  let faultsOver = false;
  let faultReport: FaultReport = { stalls: [] };
  const faults = runFaults({
    pool,
    rng: createRng(deriveSeed(SEED, 'faults')),
    kills: KILLS,
    leaseSeconds: LEASE_SECONDS,
    gapSeconds: (r) => 1.5 + 2.5 * r,
    job: (id) => api.job(id),
    log: progress,
    stopped: () => aborted || Date.now() > deadline,
  }).then((report) => {
    faultReport = report;
    faultsOver = true;
  });
  let replayed = 0;
  const submitOne = async (i: number) => {
    const key = `chaos-${SEED}-${i}`;
    const tenant = apis[tenantOf(i)]!;
    const first = await submitJob(tenant, requests[i]!, key);
    api.own(tenant, [first.id]);
    submitted.push(first.id);
    // A client retrying the same request must get the same job back, not a second one.
    if (i === batchSize) {
      const again = await submitJob(tenant, requests[i]!, key);
      if (again.replayed && again.id === first.id) replayed++;
    }
  };
  let trickled = false;
  const trickle = (async () => {
    for (let i = batchSize; i < JOBS - HELD_BACK && !aborted; i++) {
      await sleep((1 + 2 * rng()) * 1000);
      await submitOne(i);
    }
    trickled = true;
  })();
  let heldSubmitted = false;
  const submitHeld = () => {
    if (heldSubmitted || !trickled) return;
    heldSubmitted = true;
    void (async () => {
      for (let i = JOBS - HELD_BACK; i < JOBS; i++) await submitOne(i);
      progress(`submitted the last ${HELD_BACK} jobs`);
    })();
  };
  void faults.then(submitHeld);
  const settled = await follow(
    api,
    pool,
    submitted,
    () => faultsOver && heldSubmitted && submitted.length === JOBS,
    deadline,
    submitHeld,
  );
  await Promise.all([faults, trickle]);

  progress(settled ? 'every job is final; stopping the workers' : 'time is up; stopping');
  await pool.close(10);
  const jobs = new Map<string, Job | null>();
  for (const id of submitted) jobs.set(id, await api.job(id));
  const listed = await api.jobs();
  const heads = await api.heads();
  await edge.stop();
  edge = undefined;
  const objects = await headObjects(stateDir);
  const { counts, problems } = judge({ submitted, jobs, listed, heads, objects });

  const killsByPhase: Record<string, number> = {};
  for (const k of pool.killLog) killsByPhase[k.phase] = (killsByPhase[k.phase] ?? 0) + 1;
  // A kill during an upload either cut it (the job ran again) or came after the edge had the whole
  // head (the completion landed although the worker was gone).
  const uploadKills = pool.killLog.filter((k) => k.phase === 'uploading');
  const landed = uploadKills.filter((k) => {
    const job = k.jobId ? jobs.get(k.jobId) : undefined;
    return job?.status === 'succeeded' && job.attempts === k.attempt;
  }).length;
  const stallsBeyondLease = faultReport.stalls.filter((s) => s.reclaimed).length;
  const zombieCompletions = faultReport.stalls.filter((s) => s.zombie === 'succeeded').length;
  if (pool.kills < KILLS) problems.push(`only ${pool.kills} of ${KILLS} kills happened`);
  if (uploadKills.length === 0) problems.push('no worker was killed while uploading a head');
  if (faultReport.stalls.length === 0) problems.push('no worker was paused past its lease');
  else if (stallsBeyondLease < faultReport.stalls.length)
    problems.push('a paused worker kept its lease past its expiry');
  if (zombieCompletions > 0) problems.push('a zombie worker completed a job with a stale lease');
  if (faultReport.stalls.some((s) => s.zombie === 'silent'))
    problems.push('a zombie worker did not give up its job after its lease was taken back');
  if (pool.crashes > 0) problems.push(`${pool.crashes} worker(s) exited on their own`);
  if (replayed !== 1) problems.push('a replayed submission did not return the original job');
  const summary = {
    jobs: counts.jobs,
    kills: pool.kills,
    ...counts,
    kills_during_upload: uploadKills.length,
    upload_kills_landed: landed,
    stalls_beyond_lease: stallsBeyondLease,
    zombie_outcomes: faultReport.stalls.map((s) => s.zombie),
    kills_by_phase: killsByPhase,
    restarts: pool.restarts,
    crashes: pool.crashes,
    seed: SEED,
    tenants: apis.length,
    tenant_shards: shards,
    lease_seconds: LEASE_SECONDS,
    seconds: Math.round(elapsed()),
    ok: problems.length === 0,
  };
  for (const problem of problems) progress(`FAILED: ${problem}`);
  console.log(JSON.stringify(summary));
  if (problems.length === 0 && !values.keep) await rm(work, { recursive: true, force: true });
  else progress(`state and worker logs kept in ${work}`);
  return problems.length === 0 ? 0 : 1;
}

main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err: unknown) => {
    progress(
      `the chaos run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    process.exitCode = 1;
  })
  .finally(async () => {
    pool?.killAll();
    await edge?.stop();
    if (snapshotDir) await rm(snapshotDir, { recursive: true, force: true });
  });
