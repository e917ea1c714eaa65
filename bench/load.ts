// `npm run bench:load`: the local system under load — a private edge (wrangler's dev server with
// its local D1, R2, Queue and Durable Object) and, unless --no-train, two worker processes on CPU.
// The edge serves a bundle built once at start, so edits made to the checkout during the run
// cannot restart it mid-request.
//
// 1. Classification: autocannon keeps --connections (32) connections busy on POST /v1/classify
//    with real photos for --duration (60) s. Each connection is its own tenant with its own API
//    key, so the production rate limits (600/min per key) stay as they are.
// 2. A burst of --jobs (1000) fine-tune submissions, --burst-concurrency (64) in flight, from
//    teams of 100 (each team stays under the 120/min submission limit with its dataset upload
//    and its replays), every submission with its own Idempotency-Key. Then --replays (50) of
//    them are sent again with the same key and body: each must return the original job id
//    without creating a job.
// 3. Drain, timed from the first submission:
//    - queue_drain_s: until every accepted job has been delivered from the Queue to the
//      coordinator — the moment GET /v1/fine-tunes (which lists only the coordinator's jobs)
//      shows all of them; before that a job exists only in D1 and in the queue.
//    - drain_s: until every job has reached a final state (succeeded, failed or canceled), run
//      by --workers (2) worker processes sharing one cache, on a tiny real dataset (2 classes ×
//      6 training + 2 validation photos, one epoch, no augmented views). With --no-train,
//      drain_s is queue_drain_s (drain_kind says which); after --drain-timeout it is null.
//
// "Accepted exactly once": every submission answered 201 with a job id, the ids are distinct,
// and the final listing of every team holds exactly those jobs. Errors are classify responses
// other than 2xx, socket errors and timeouts (10 s), plus failed submissions and replays; a
// 429 counts. Figures go to stderr; the last stdout line is the JSON summary.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CLASSIFY_LIMITS } from '../src/shared/api.js';
import { DEFAULT_CLASSIFIER } from '../src/shared/backbones.js';
import { DEFAULT_OUT, DEFAULT_SOURCE } from '../scripts/models/import.js';
import { startLocalEdge } from '../scripts/lib/local-edge.js';
import { photosOf } from '../test/support/photos.js';
import { runClassifyLoad } from './lib/classify-load.js';
import { runOversizeSenders } from './lib/oversize-senders.js';
import {
  countByStatus,
  listJobs,
  awaitDelivery,
  poll,
  pool,
  submit,
  tinyDatasetZip,
  unfinishedJobs,
  uploadDataset,
  type Submission,
} from './lib/job-burst.js';
import { startWorkers, type WorkerProcesses } from './lib/worker-processes.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    connections: { type: 'string', default: '32' },
    jobs: { type: 'string', default: '1000' },
    'no-train': { type: 'boolean', default: false },
    'burst-concurrency': { type: 'string', default: '64' },
    replays: { type: 'string', default: '50' },
    workers: { type: 'string', default: '2' },
    'oversize-duration': { type: 'string', default: '20' },
    'oversize-senders': { type: 'string', default: '8' },
    /** Seconds to wait for the jobs to drain before giving up (drain_s is then null). */
    'drain-timeout': { type: 'string', default: '1200' },
  },
});
const DURATION_S = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const JOBS = Number(values.jobs);
const TRAIN = !values['no-train'];
const BURST_CONCURRENCY = Number(values['burst-concurrency']);
const REPLAYS = Math.min(Number(values.replays), JOBS);
const WORKERS = Number(values.workers);
const DRAIN_TIMEOUT_S = Number(values['drain-timeout']);
const OVERSIZE_DURATION_S = Number(values['oversize-duration']);
const OVERSIZE_SENDERS = Number(values['oversize-senders']);

/** SUBMIT_LIMITER in wrangler.toml: submissions and uploads per key and minute. */
const SUBMIT_LIMIT = 120;
/** Jobs per team: with the team's upload and replays, under SUBMIT_LIMIT. */
const JOBS_PER_TEAM = 100;

const log = (line: string) => console.error(line);
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const percentile = (xs: readonly number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0
    ? 0
    : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
};

/** What to undo, last first: the workers, the edge, the state folder. */
const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
/** Runs the cleanups once, however many signals and errors ask for it. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (let undo = cleanups.pop(); undo; undo = cleanups.pop())
      await undo().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  })();
  return cleaning;
}
let interrupted: NodeJS.Signals | undefined;
/**
 * Ctrl-C and SIGTERM stop the workers and the edge before exiting. Wrangler registers exit
 * hooks (on import and when the edge starts) that would end the process before the workers
 * are stopped: they are removed, so this runs again once the edge is up. (`process.listeners`
 * does not show tsx's own signal relay, so that one stays.)
 */
function handleSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const listener of process.listeners(signal)) process.removeListener(signal, listener);
    process.on(signal, () => {
      if (!interrupted) log(`bench:load: ${signal}; stopping the workers and the edge`);
      interrupted = signal;
      void cleanUp().finally(() => process.exit(130));
    });
  }
}

async function main(): Promise<void> {
  handleSignals();
  for (const [flag, value] of Object.entries(values)) {
    if (typeof value === 'string' && !(Number.isInteger(Number(value)) && Number(value) >= 0))
      throw new Error(`--${flag} takes a whole number, not "${value}"`);
  }
  const teams = Math.ceil(JOBS / JOBS_PER_TEAM);
  const replaysPerTeam = Math.ceil(REPLAYS / teams);
  if (1 + Math.ceil(JOBS / teams) + replaysPerTeam > SUBMIT_LIMIT)
    throw new Error(`--replays ${REPLAYS} would put a team over ${SUBMIT_LIMIT} submissions/min`);
  const work = await mkdtemp(path.join(tmpdir(), 'headstart-bench-load-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));

  const photos = await Promise.all(
    [
      ...(await photosOf('hymenoptera_data/val/ants', 16)),
      ...(await photosOf('hymenoptera_data/val/bees', 16)),
    ].map(async (f) => new Uint8Array(await readFile(f))),
  );
  const edge = await startLocalEdge(path.join(work, 'state'), {
    modelsSource: DEFAULT_SOURCE,
    modelsOut: DEFAULT_OUT,
    extraTenants: CONNECTIONS + teams,
    frozen: true,
  });
  cleanups.push(() => edge.stop());
  handleSignals();
  const classifyKeys = edge.extraApiKeys.slice(0, CONNECTIONS);
  const teamKeys = edge.extraApiKeys.slice(CONNECTIONS);
  const zip = await tinyDatasetZip();
  const datasets = await Promise.all(teamKeys.map((key) => uploadDataset(edge.url, key, zip)));

  log(
    `classify: ${CONNECTIONS} connections (one API key each) for ${DURATION_S} s, ${photos.length} photos, model ${DEFAULT_CLASSIFIER}`,
  );
  const load = await runClassifyLoad({
    url: edge.url,
    keys: classifyKeys,
    photos,
    connections: CONNECTIONS,
    durationSeconds: DURATION_S,
    model: DEFAULT_CLASSIFIER,
  });
  const classifyErrors = load.non2xx + load.socketErrors;
  log(
    `classify: ${load.requests} responses, ${round(load.rps, 1)} req/s, p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms; ` +
      `${load.non2xx} non-2xx, ${load.socketErrors} socket errors (${load.timeouts} timeouts); statuses ${JSON.stringify(load.statusCodes)}`,
  );
  for (const sample of load.errorSamples) log(`  error: ${sample}`);
  if (load.devRestarts.length > 0)
    log(
      `  ${load.devRestarts.length} of the errors are wrangler's dev server restarting the Worker under ` +
        `in-flight requests (first at ${load.devRestarts[0]}), not answers of the edge code`,
    );

  log(
    `oversize: ${CONNECTIONS} normal connections for ${OVERSIZE_DURATION_S} s beside ${OVERSIZE_SENDERS} senders of chunked ${(CLASSIFY_LIMITS.maxBodyBytes + 2 ** 20) / 2 ** 20} MiB bodies`,
  );
  const stopSenders = new AbortController();
  const hostile = runOversizeSenders({
    url: `${edge.url}/v1/classify`,
    senders: OVERSIZE_SENDERS,
    bytes: CLASSIFY_LIMITS.maxBodyBytes + 2 ** 20,
    signal: stopSenders.signal,
  });
  const beside = await runClassifyLoad({
    url: edge.url,
    keys: classifyKeys,
    photos,
    connections: CONNECTIONS,
    durationSeconds: OVERSIZE_DURATION_S,
    model: DEFAULT_CLASSIFIER,
  });
  stopSenders.abort();
  const oversize = await hostile;
  const oversizeNormalErrors = beside.non2xx + beside.socketErrors;
  log(
    `oversize: normal ${beside.requests} responses, ${round(beside.rps, 1)} req/s, p50 ${beside.p50Ms} ms, p99 ${beside.p99Ms} ms, ${oversizeNormalErrors} errors; ` +
      `oversize ${oversize.sent} sent, ${oversize.refused} answered 413 problem+json, ${oversize.other} otherwise`,
  );
  for (const sample of [...beside.errorSamples, ...oversize.samples]) log(`  error: ${sample}`);

  let workers: WorkerProcesses | undefined;
  if (TRAIN) {
    const cacheDir = path.join(work, 'worker-cache');
    await mkdir(cacheDir, { recursive: true });
    const started = startWorkers({
      edgeUrl: edge.url,
      workerToken: edge.workerToken,
      count: WORKERS,
      cacheDir,
      logFile: path.join(work, 'workers.log'),
      threads: 1,
    });
    workers = started;
    cleanups.push(() => started.stop());
    await started.ready(120_000);
    log(`workers: ${WORKERS} started (one job at a time each, one onnxruntime thread)`);
  }

  // One run id keeps the idempotency keys of separate runs apart.
  const run = randomUUID().slice(0, 8);
  const submissions: Submission[] = Array.from({ length: JOBS }, (_, i) => ({
    key: teamKeys[i % teams]!,
    idempotencyKey: `bench-load-${run}-${i}`,
    body: JSON.stringify({
      datasetId: datasets[i % teams],
      preset: 'lesson',
      epochs: 1,
      inputMode: 'crop',
      augmentation: { preset: 'none', views: 0 },
      seed: i,
    }),
  }));
  log(`burst: ${JOBS} submissions from ${teams} teams, ${BURST_CONCURRENCY} in flight`);
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const outcomes = await pool(submissions, BURST_CONCURRENCY, (s) => submit(edge.url, s));
  const burstSeconds = elapsed();
  const accepted = outcomes.filter((o) => o.status === 201 && o.jobId !== null);
  const acceptedIds = new Set(accepted.map((o) => o.jobId!));
  const submitErrors = outcomes.filter((o) => o.status !== 201 || o.jobId === null);
  const submitMs = outcomes.map((o) => o.ms);
  log(
    `burst: ${accepted.length} accepted (${acceptedIds.size} distinct ids) in ${round(burstSeconds)} s, ` +
      `${round(JOBS / burstSeconds, 1)} submissions/s, p50 ${round(percentile(submitMs, 0.5))} ms, p99 ${round(percentile(submitMs, 0.99))} ms, ${submitErrors.length} errors`,
  );
  for (const o of submitErrors.slice(0, 5)) log(`  error: ${o.status} ${o.error ?? ''}`);

  const expected = new Map(teamKeys.map((key) => [key, 0]));
  outcomes.forEach((o, i) => {
    const key = submissions[i]!.key;
    if (o.status === 201 && o.jobId !== null) expected.set(key, expected.get(key)! + 1);
  });
  let listed = 0;
  const queueDrainSeconds = (await awaitDelivery(edge.url, expected, {
    timeoutMs: 300_000,
    progress: (n) => (listed = n),
  }))
    ? elapsed()
    : undefined;
  log(
    queueDrainSeconds === undefined
      ? `queue: only ${listed} of ${acceptedIds.size} jobs reached the coordinator in 300 s`
      : `queue: all ${listed} jobs delivered to the coordinator ${round(queueDrainSeconds)} s after the first submission`,
  );

  // The first submissions again, same key and body; submissions alternate between the teams,
  // so the replays are spread over them too.
  const replays = await pool(submissions.slice(0, REPLAYS), 16, (s) => submit(edge.url, s));
  const deduplicated = replays.filter(
    (r, i) => r.status === 200 && r.replayed && r.jobId !== null && r.jobId === outcomes[i]!.jobId,
  ).length;
  log(`replays: ${deduplicated} of ${REPLAYS} answered with the original job and no new one`);

  let drainSeconds = queueDrainSeconds;
  if (workers && queueDrainSeconds !== undefined) {
    const running = workers;
    let unfinished = acceptedIds.size;
    let lastReport = 0;
    drainSeconds = await poll(
      async () => {
        const exited = running.exited();
        if (exited) throw new Error(exited);
        unfinished = await unfinishedJobs(edge.url, teamKeys);
        if (elapsed() - lastReport >= 30) {
          lastReport = elapsed();
          log(`drain: ${unfinished} jobs not final after ${round(elapsed(), 0)} s`);
        }
        return unfinished === 0 ? elapsed() : undefined;
      },
      { intervalMs: 1000, timeoutMs: DRAIN_TIMEOUT_S * 1000 },
    );
    const perJob = running.jobSeconds;
    log(
      drainSeconds === undefined
        ? `drain: ${unfinished} jobs still not final after ${DRAIN_TIMEOUT_S} s`
        : `drain: every job final ${round(drainSeconds)} s after the first submission`,
    );
    log(
      `workers: ${perJob.length} jobs logged as succeeded, median ${round(percentile(perJob, 0.5), 3)} s per job (the worker's own time)`,
    );
  }

  const final = (await Promise.all(teamKeys.map((key) => listJobs(edge.url, key)))).flat();
  const finalIds = new Set(final.map((j) => j.id));
  const counts = countByStatus(final);
  const exactlyOnce =
    accepted.length === JOBS &&
    acceptedIds.size === JOBS &&
    final.length === JOBS &&
    finalIds.size === JOBS &&
    [...acceptedIds].every((id) => finalIds.has(id));
  log(
    `jobs: ${final.length} listed (${finalIds.size} distinct) — ${JSON.stringify(counts)}; accepted exactly once: ${exactlyOnce ? 'yes' : 'NO'}`,
  );
  const replayErrors = REPLAYS - deduplicated;
  const summary = {
    rps: round(load.rps, 1),
    p50_ms: load.p50Ms,
    p99_ms: load.p99Ms,
    errors: classifyErrors + oversizeNormalErrors + submitErrors.length + replayErrors,
    jobs_accepted: acceptedIds.size,
    drain_s: drainSeconds === undefined ? null : round(drainSeconds),
    drain_kind: TRAIN ? 'trained' : 'queue',
    queue_drain_s: queueDrainSeconds === undefined ? null : round(queueDrainSeconds),
    classify_requests: load.requests,
    non_2xx: load.non2xx,
    timeouts: load.timeouts,
    socket_errors: load.socketErrors,
    dev_restart_503s: load.devRestarts.length,
    oversize_normal_errors: oversizeNormalErrors,
    oversize_normal_rps: round(beside.rps, 1),
    oversize_sent: oversize.sent,
    oversize_413: oversize.refused,
    oversize_other: oversize.other,
    submit_errors: submitErrors.length,
    submit_p50_ms: round(percentile(submitMs, 0.5)),
    submit_p99_ms: round(percentile(submitMs, 0.99)),
    burst_s: round(burstSeconds),
    replays_deduplicated: deduplicated,
    jobs_listed: final.length,
    jobs_succeeded: counts.succeeded,
    jobs_failed: counts.failed,
    exactly_once: exactlyOnce,
    ...(workers ? { job_s_median: round(percentile(workers.jobSeconds, 0.5), 3) } : {}),
  };
  await cleanUp();
  console.log(JSON.stringify(summary));
}

main().catch(async (err: unknown) => {
  // After Ctrl-C the run fails as the edge goes away; that is not worth a message.
  if (!interrupted)
    console.error(`bench:load failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
  await cleanUp();
});
