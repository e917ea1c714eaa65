// `npm run bench:scale`: what the classification path asks of shared state, counted rather than
// timed on one machine. 32 tenants' keys classify N photos with a head id, N with an alias and N
// with a catalogue backbone (default N = 2,000) through `wrangler dev` with diagnostics on, twice
// in one run: with the isolate's memories off (every request asks D1 for its key and R2 or the
// coordinator what its head id or alias means) and with the defaults (key verdicts 60 s,
// resolutions 30 s, usage writes every 5 s). Prints Durable Object requests and D1 queries per
// classification, p50/p99 latency and requests per second for both.
//
// Then the jobs half, once with COORDINATOR_SHARDS = 1 and once with 4: --job-tenants (128)
// tenants each upload a tiny dataset, --jobs (2,000) one-epoch jobs on the smallest backbone are
// submitted over them as batches, and --workers (2) worker processes on CPU train them all. The
// edge's counters give, for the jobs' own requests (submission and the workers' routes, not the
// bench's polling), the calls each shard and the job directory served, Durable Object calls and
// D1 queries per job, and jobs/s; the target is that no shard serves more than 40 % with 4.
// --only jobs|classify runs one half. Ends with one JSON line.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { storedZip } from '../src/shared/zip-store.js';
import { DEFAULT_OUT, DEFAULT_SOURCE } from '../scripts/models/import.js';
import { startLocalEdge, type LocalEdge } from '../scripts/lib/local-edge.js';
import { photosOf } from '../test/support/photos.js';
import { edgeCall, makeBenchHead } from './lib/heads.js';
import { round2 } from './lib/inference.js';
import { recordFigures } from './lib/results.js';
import { describeShardRun, runShardJobs, type ShardRun } from './lib/shard-jobs.js';

const { values } = parseArgs({
  options: {
    classifications: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    keys: { type: 'string', default: '32' },
    jobs: { type: 'string', default: '2000' },
    'job-tenants': { type: 'string', default: '128' },
    workers: { type: 'string', default: '2' },
    /** Seconds to wait for one run's jobs to end. */
    'jobs-timeout': { type: 'string', default: '1800' },
    only: { type: 'string' },
  },
});
if (values.only !== undefined && values.only !== 'jobs' && values.only !== 'classify')
  throw new Error(`--only takes jobs or classify, not "${values.only}"`);
for (const flag of [
  'classifications',
  'concurrency',
  'keys',
  'jobs',
  'job-tenants',
  'workers',
  'jobs-timeout',
] as const)
  if (!(Number.isInteger(Number(values[flag])) && Number(values[flag]) > 0))
    throw new Error(`--${flag} takes a whole number above 0, not "${values[flag]}"`);
const JOBS = Number(values.jobs);
const JOB_TENANTS = Number(values['job-tenants']);
const WORKERS = Number(values.workers);
const PER_KIND = Number(values.classifications);
const CONCURRENCY = Number(values.concurrency);
const KEYS = Number(values.keys);
/** The heads' backbone, and the catalogue classifier the backbone requests name. */
const BACKBONE = 'mobilenet-v2-0.35';
const CLASSIFIER = 'mobilenet-v1-0.25';

interface Counts {
  requests: number;
  durableObject: number;
  d1: number;
}

/** A two-class dataset of eight distinct photos: enough for a job record to exist. */
async function tinyDataset(): Promise<Blob> {
  const files: { name: string; data: Uint8Array }[] = [];
  for (const [label, dir] of [
    ['a', 'hymenoptera_data/val/bees'],
    ['b', 'hymenoptera_data/val/ants'],
  ] as const) {
    const photos = await photosOf(dir, 4);
    for (const [i, file] of photos.entries())
      files.push({
        name: `${i < 2 ? 'train' : 'val'}/${label}/${i}.jpg`,
        data: new Uint8Array(await readFile(file)),
      });
  }
  return new Blob([storedZip(files).slice()]);
}

/** One head for `key`'s tenant, made the way a worker makes one, and an alias on it. */
async function headFor(edge: LocalEdge, key: string, zip: Blob, seed: number) {
  const dataset = (await (
    await edgeCall(edge, '/v1/datasets', key, {
      method: 'POST',
      headers: { 'content-type': 'application/zip' },
      body: zip,
    })
  ).json()) as { id: string };
  const headId = await makeBenchHead(edge, {
    apiKey: key,
    datasetId: dataset.id,
    backbone: BACKBONE,
    seed,
    labels: ['a', 'b'],
  });
  await edgeCall(edge, '/v1/aliases/production', key, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ headId }),
  });
  return headId;
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface Run {
  label: string;
  doPerClassify: number;
  d1PerClassify: number;
  rps: number;
  p50: number;
  p99: number;
}

/** Starts an edge with `vars`, makes the heads, classifies, and counts. */
async function run(label: string, vars: Record<string, string>, photo: Blob): Promise<Run> {
  const state = await mkdtemp(path.join(tmpdir(), 'headstart-bench-scale-'));
  const edge = await startLocalEdge(state, {
    modelsSource: DEFAULT_SOURCE,
    modelsOut: DEFAULT_OUT,
    extraTenants: KEYS - 1,
    frozen: true,
    vars: { DIAGNOSTICS: 'true', ...vars },
  });
  try {
    const keys = [edge.apiKey, ...edge.extraApiKeys];
    const zip = await tinyDataset();
    const heads: string[] = [];
    for (const [i, key] of keys.entries()) heads.push(await headFor(edge, key, zip, i + 1));
    const requests: { key: string; model: string }[] = [];
    for (let i = 0; i < PER_KIND; i++) {
      const k = i % keys.length;
      requests.push({ key: keys[k]!, model: heads[k]! });
      requests.push({ key: keys[k]!, model: 'production' });
      requests.push({ key: keys[k]!, model: CLASSIFIER });
    }
    const classify = async (r: { key: string; model: string }) => {
      const res = await fetch(`${edge.url}/v1/classify?model=${r.model}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${r.key}`, 'content-type': 'image/jpeg' },
        body: photo,
      });
      if (res.status !== 200)
        throw new Error(`classify ${r.model}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    };
    // Warm: every key and model once, so the counts below are the steady state.
    for (const [k, key] of keys.entries())
      for (const model of [heads[k]!, 'production', CLASSIFIER]) await classify({ key, model });
    // The warm-up's usage write lands first (it would be counted nowhere after the reset).
    await new Promise((r) => setTimeout(r, 6500));
    await fetch(`${edge.url}/internal/diagnostics/counters`, { method: 'DELETE' });
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < requests.length) {
          const r = requests[next++]!;
          const t0 = performance.now();
          await classify(r);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    // The usage writes gathered during the run land up to USAGE_FLUSH_SECONDS later.
    await new Promise((r) => setTimeout(r, 6500));
    const counters = (await (await fetch(`${edge.url}/internal/diagnostics/counters`)).json()) as {
      routes: Record<string, Counts>;
    };
    const counts = counters.routes['POST /v1/classify'] ?? { requests: 0, durableObject: 0, d1: 0 };
    latencies.sort((a, b) => a - b);
    const result: Run = {
      label,
      doPerClassify: counts.durableObject / requests.length,
      d1PerClassify: counts.d1 / requests.length,
      rps: round2(requests.length / seconds),
      p50: round2(percentile(latencies, 50)),
      p99: round2(percentile(latencies, 99)),
    };
    console.log(
      `${label}: ${counts.requests} classifications (${PER_KIND} each by head id, alias and backbone, ${keys.length} keys, ${CONCURRENCY} at once): ` +
        `${counts.durableObject} Durable Object requests (${result.doPerClassify.toFixed(4)} each), ` +
        `${counts.d1} D1 queries (${result.d1PerClassify.toFixed(4)} each); ` +
        `p50 ${result.p50} ms, p99 ${result.p99} ms, ${result.rps} req/s`,
    );
    return result;
  } finally {
    await edge.stop();
    await rm(state, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let before: Run | undefined;
  let after: Run | undefined;
  if (values.only !== 'jobs') {
    const [photoFile] = await photosOf('hymenoptera_data/val/ants', 1);
    const photo = new Blob([await readFile(photoFile!)]);
    before = await run(
      'memories off (every request asks D1 for its key, R2 for a head id, the coordinator for an alias)',
      {
        KEY_VERDICT_SECONDS: '0',
        RESOLVE_SECONDS: '0',
        USAGE_FLUSH_SECONDS: '0',
      },
      photo,
    );
    after = await run('defaults (verdicts 60 s, resolutions 30 s, usage every 5 s)', {}, photo);
  }
  let jobs: { shards1: ShardRun; shards4: ShardRun } | undefined;
  if (values.only !== 'classify') {
    const cache = await mkdtemp(path.join(tmpdir(), 'headstart-bench-scale-cache-'));
    try {
      const runs: ShardRun[] = [];
      for (const shards of [1, 4]) {
        const r = await runShardJobs({
          shards,
          jobs: JOBS,
          tenants: JOB_TENANTS,
          workers: WORKERS,
          cacheDir: cache,
          timeoutSeconds: Number(values['jobs-timeout']),
        });
        for (const line of describeShardRun(r)) console.log(line);
        runs.push(r);
      }
      jobs = { shards1: runs[0]!, shards4: runs[1]! };
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  }
  if (after && before && PER_KIND >= 2000)
    await recordFigures('npm run bench:scale', {
      'scale.do_per_classify': {
        value: round2(after.doPerClassify * 10_000) / 10_000,
        display: after.doPerClassify.toFixed(4),
        label: 'Durable Object requests per classification, steady state',
      },
      'scale.d1_per_classify': {
        value: round2(after.d1PerClassify * 10_000) / 10_000,
        display: after.d1PerClassify.toFixed(4),
        label: 'D1 queries per classification, steady state',
      },
      'scale.before.d1_per_classify': {
        value: round2(before.d1PerClassify * 100) / 100,
        display: before.d1PerClassify.toFixed(2),
        label: 'D1 queries per classification with the isolate’s memories off',
      },
      'scale.rps': {
        value: after.rps,
        display: `${after.rps} req/s`,
        label: 'classifications per second, 8 at once',
      },
      'scale.p99_ms': { value: after.p99, display: `${after.p99} ms`, label: 'classification p99' },
    });
  if (jobs && JOBS >= 2000) {
    const { shards1, shards4 } = jobs;
    await recordFigures('npm run bench:scale -- --only jobs', {
      'scale.jobs.max_shard_share': {
        value: shards4.maxShardShare,
        display: `${(shards4.maxShardShare * 100).toFixed(1)} %`,
        label: 'the busiest of 4 coordinator shards’ share of the jobs’ coordinator calls',
      },
      'scale.jobs.do_per_job': {
        value: shards4.doPerJob,
        display: shards4.doPerJob.toFixed(2),
        label: 'Durable Object calls per job with 4 shards (submission and worker routes)',
      },
      'scale.jobs.d1_per_job': {
        value: shards4.d1PerJob,
        display: shards4.d1PerJob.toFixed(2),
        label: 'D1 queries per job with 4 shards (submission and worker routes)',
      },
      'scale.jobs.directory_per_job': {
        value: round2(shards4.directoryCalls / shards4.jobs),
        display: (shards4.directoryCalls / shards4.jobs).toFixed(2),
        label: 'job directory calls per job with 4 shards',
      },
      'scale.jobs.shards1.do_per_job': {
        value: shards1.doPerJob,
        display: shards1.doPerJob.toFixed(2),
        label: 'Durable Object calls per job with 1 shard',
      },
      'scale.jobs.jobs_per_s': {
        value: shards4.jobsPerSecond,
        display: `${shards4.jobsPerSecond} jobs/s`,
        label: 'jobs ended per second, two CPU workers, 4 shards',
      },
      'scale.jobs.shards1.jobs_per_s': {
        value: shards1.jobsPerSecond,
        display: `${shards1.jobsPerSecond} jobs/s`,
        label: 'jobs ended per second, two CPU workers, 1 shard',
      },
    });
  }
  const summary = (r: ShardRun) => ({
    jobs: r.jobs,
    tenants: r.tenants,
    succeeded: r.statuses.succeeded,
    failed: r.statuses.failed,
    max_shard_share: r.maxShardShare,
    per_shard: r.perShard,
    tenants_per_shard: r.tenantsPerShard,
    directory: r.directoryCalls,
    do_per_job: r.doPerJob,
    d1_per_job: r.d1PerJob,
    jobs_per_s: r.jobsPerSecond,
    seconds: r.seconds,
  });
  const classify = (r: Run | undefined) =>
    r
      ? {
          do_per_classify: r.doPerClassify,
          d1_per_classify: r.d1PerClassify,
          rps: r.rps,
          p50_ms: r.p50,
          p99_ms: r.p99,
        }
      : { do_per_classify: null, d1_per_classify: null, rps: null, p50_ms: null, p99_ms: null };
  console.log(
    JSON.stringify({
      ...classify(after),
      before: classify(before),
      jobs: jobs ? { shards1: summary(jobs.shards1), shards4: summary(jobs.shards4) } : null,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(`bench:scale failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
