// The jobs half of `npm run bench:load`: a tiny real dataset per team, a burst of fine-tune
// submissions with idempotency keys, replays of some of them, and the coordinator's view of
// every job (through the public listing) to tell when the queue and the work have drained.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { FINAL_STATUSES, JOB_STATUSES, type JobStatus } from '../../src/shared/jobs.js';
import { storedZip } from '../../src/shared/zip-store.js';
import { photosOf } from '../../test/support/photos.js';

/** One submission: which team (API key) sends which body under which idempotency key. */
export interface Submission {
  readonly key: string;
  readonly idempotencyKey: string;
  readonly body: string;
}

export interface SubmitOutcome {
  /** HTTP status; 0 when the request itself failed. */
  readonly status: number;
  readonly jobId: string | null;
  readonly replayed: boolean;
  readonly ms: number;
  readonly error?: string;
}

const JobIdBody = z.object({ id: z.string().regex(/^job_/) });
const JobPage = z.object({
  jobs: z.array(
    z.object({
      id: z.string(),
      status: z.enum(JOB_STATUSES),
      attempts: z.number(),
      lastError: z.string().nullable(),
    }),
  ),
  nextCursor: z.string().nullable(),
});
/** A job as the listing shows it, with what the benchmarks report. */
export type ListedJob = z.infer<typeof JobPage>['jobs'][number];
const DatasetBody = z.object({ id: z.string() });

/**
 * A two-class ImageFolder zip of real photos: 6 training and 2 validation images per class
 * from hymenoptera, small enough that a job costs milliseconds of training.
 */
export async function tinyDatasetZip(): Promise<Uint8Array> {
  const files: { name: string; data: Uint8Array }[] = [];
  for (const label of ['ants', 'bees']) {
    for (const [split, n] of [
      ['train', 6],
      ['val', 2],
    ] as const) {
      for (const file of await photosOf(`hymenoptera_data/${split}/${label}`, n))
        files.push({
          name: `${split}/${label}/${path.basename(file)}`,
          data: new Uint8Array(await readFile(file)),
        });
    }
  }
  return storedZip(files);
}

/** Uploads the dataset for one team; returns its id. */
export async function uploadDataset(url: string, key: string, zip: Uint8Array): Promise<string> {
  const res = await fetch(`${url}/v1/datasets?name=bench-load`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/zip' },
    body: zip.slice(),
  });
  if (res.status !== 201)
    throw new Error(`dataset upload answered ${res.status}: ${await res.text()}`);
  return DatasetBody.parse(await res.json()).id;
}

/** Runs `task` over `items` with at most `concurrency` in flight; results keep input order. */
export async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}

/** POST /v1/fine-tunes once; never throws (a failed request is status 0). */
export async function submit(url: string, s: Submission): Promise<SubmitOutcome> {
  const started = performance.now();
  try {
    const res = await fetch(`${url}/v1/fine-tunes`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.key}`,
        'content-type': 'application/json',
        'idempotency-key': s.idempotencyKey,
      },
      body: s.body,
    });
    const text = await res.text();
    const ms = performance.now() - started;
    const replayed = res.headers.get('idempotent-replayed') === 'true';
    if (!res.ok)
      return { status: res.status, jobId: null, replayed, ms, error: text.slice(0, 300) };
    const parsed = JobIdBody.safeParse(JSON.parse(text));
    return {
      status: res.status,
      jobId: parsed.success ? parsed.data.id : null,
      replayed,
      ms,
      ...(parsed.success ? {} : { error: `no job id in ${text.slice(0, 200)}` }),
    };
  } catch (err) {
    return {
      status: 0,
      jobId: null,
      replayed: false,
      ms: performance.now() - started,
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

/**
 * Every job of one team as the coordinator holds it (GET /v1/fine-tunes lists only jobs the
 * queue has delivered to the coordinator), optionally only those in `status`.
 */
export async function listJobs(url: string, key: string, status?: JobStatus): Promise<ListedJob[]> {
  const jobs: ListedJob[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: '100' });
    if (status) query.set('status', status);
    if (cursor) query.set('cursor', cursor);
    const res = await fetch(`${url}/v1/fine-tunes?${query}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    if (!res.ok) throw new Error(`listing jobs answered ${res.status}: ${await res.text()}`);
    const page = JobPage.parse(await res.json());
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return jobs;
}

/** Calls `check` every `intervalMs` until it returns a value (then that) or `timeoutMs` passes. */
export async function poll<T>(
  check: () => Promise<T | undefined>,
  opts: { intervalMs: number; timeoutMs: number },
): Promise<T | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}

/** Jobs not yet in a final state, over all teams (queued and running listings only). */
export async function unfinishedJobs(url: string, keys: readonly string[]): Promise<number> {
  const counts = await Promise.all(
    keys.flatMap((key) =>
      (['queued', 'running'] as const).map(async (s) => (await listJobs(url, key, s)).length),
    ),
  );
  return counts.reduce((n, c) => n + c, 0);
}

/**
 * Polls every 200 ms until the coordinator lists `expected` jobs for every team key (a team
 * drops out of the polling once complete). Resolves true then, false after `timeoutMs`;
 * `progress` hears the number delivered so far.
 */
export async function awaitDelivery(
  url: string,
  expected: ReadonlyMap<string, number>,
  opts: { timeoutMs: number; progress?: (delivered: number) => void },
): Promise<boolean> {
  const delivered = new Map([...expected.keys()].map((key) => [key, 0]));
  const pending = new Set(expected.keys());
  const done = await poll(
    async () => {
      await Promise.all(
        [...pending].map(async (key) => {
          delivered.set(key, (await listJobs(url, key)).length);
          if (delivered.get(key)! >= expected.get(key)!) pending.delete(key);
        }),
      );
      opts.progress?.([...delivered.values()].reduce((n, c) => n + c, 0));
      return pending.size === 0 ? true : undefined;
    },
    { intervalMs: 200, timeoutMs: opts.timeoutMs },
  );
  return done ?? false;
}

/** Counts by status of the listed jobs. */
export function countByStatus(jobs: readonly { status: JobStatus }[]): Record<JobStatus, number> {
  const counts: Record<JobStatus, number> = {
    queued: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    canceled: 0,
  };
  for (const j of jobs) counts[j.status]++;
  return counts;
}

export const isFinal = (status: JobStatus) => FINAL_STATUSES.has(status);
