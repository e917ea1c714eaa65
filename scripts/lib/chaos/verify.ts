// The chaos harness's verdict: every submitted job ended, none lost or stuck, one head per job,
// every head object in R2 belonging to a succeeded job, dead letters accounted for.
import { openStorageProxy } from '../storage-proxy.js';
import type { HeadSummary } from '../../../src/shared/heads.js';
import { FINAL_STATUSES } from '../../../src/shared/jobs.js';
import type { Job } from './jobs.js';

/** One object under heads/ in the MODELS bucket. */
export interface HeadObject {
  readonly key: string;
  readonly headId: string;
  readonly jobId: string | undefined;
}

interface ListingBucket {
  list(options: { prefix: string; cursor?: string; include?: 'customMetadata'[] }): Promise<{
    objects: { key: string; customMetadata?: Record<string, string> }[];
    truncated: boolean;
    cursor?: string;
  }>;
}

/** Lists head objects straight from the local R2 (run it once the edge has stopped). */
export async function headObjects(stateDir: string): Promise<HeadObject[]> {
  const proxy = await openStorageProxy<{ MODELS: ListingBucket }>(`${stateDir}/v3`);
  try {
    const out: HeadObject[] = [];
    let cursor: string | undefined;
    do {
      const page = await proxy.env.MODELS.list({
        prefix: 'heads/',
        include: ['customMetadata'],
        ...(cursor ? { cursor } : {}),
      });
      for (const object of page.objects) {
        const headId = /^heads\/([^/]+)\//.exec(object.key)?.[1] ?? object.key;
        out.push({ key: object.key, headId, jobId: object.customMetadata?.jobId });
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return out;
  } finally {
    await proxy.dispose();
  }
}

/** How the dead-letter consumer words the jobs it fails (src/edge/jobs/queue-consumer.ts). */
const DEAD_LETTER_REASON = /could not be scheduled/;

export interface VerdictInput {
  readonly submitted: readonly string[];
  /** Each submitted job as GET /v1/fine-tunes/{id} shows it; null for a 404. */
  readonly jobs: ReadonlyMap<string, Job | null>;
  /** Every job the coordinator lists for the run's tenants. */
  readonly listed: readonly Job[];
  readonly heads: readonly HeadSummary[];
  readonly objects: readonly HeadObject[];
}

/** Counts for the summary line, and the broken invariants in words (none: the run passed). */
export function judge(input: VerdictInput): {
  counts: Record<string, unknown>;
  problems: string[];
} {
  const problems: string[] = [];
  const views = input.submitted.map((id) => ({ id, job: input.jobs.get(id) ?? null }));
  const lost = views.filter((v) => v.job === null).map((v) => v.id);
  const jobs = views.flatMap((v) => (v.job ? [v.job] : []));
  const byStatus = (status: Job['status']) => jobs.filter((j) => j.status === status);
  const succeeded = byStatus('succeeded');
  const failed = byStatus('failed');
  const stuck = jobs.filter((j) => !FINAL_STATUSES.has(j.status));
  const submitted = new Set(input.submitted);
  const unexpected = input.listed.filter((j) => !submitted.has(j.id));
  // A job still waiting in the queue or its dead-letter queue: the coordinator never registered it.
  const listed = new Set(input.listed.map((j) => j.id));
  const unregistered = stuck.filter(
    (j) => j.status === 'queued' && j.attempts === 0 && !listed.has(j.id),
  );
  const deadLetters = failed.filter((j) => DEAD_LETTER_REASON.test(j.lastError ?? ''));
  const withoutReason = failed.filter((j) => !j.lastError);
  const failedEarly = failed.filter(
    (j) => j.attempts < j.maxAttempts && !DEAD_LETTER_REASON.test(j.lastError ?? ''),
  );

  // Heads per job, from the API and from the bucket itself.
  const headsOfJob = new Map<string, Set<string>>();
  const note = (jobId: string | undefined, headId: string) => {
    const key = jobId ?? '(no job)';
    headsOfJob.set(key, (headsOfJob.get(key) ?? new Set()).add(headId));
  };
  for (const head of input.heads) note(head.jobId, head.id);
  for (const object of input.objects) note(object.jobId, object.headId);
  const duplicates = [...headsOfJob].filter(([, ids]) => ids.size > 1);
  const headsOfSucceeded = new Set(succeeded.map((j) => j.headId));
  const orphans = new Set(
    [...input.objects.map((o) => o.headId), ...input.heads.map((h) => h.id)].filter(
      (id) => !headsOfSucceeded.has(id),
    ),
  );
  const stored = new Set(input.objects.map((o) => o.key));
  const missing = succeeded.filter(
    (j) =>
      !j.headId ||
      !stored.has(`heads/${j.headId}/model.onnx`) ||
      !stored.has(`heads/${j.headId}/manifest.json`),
  );

  const check = (what: string, items: readonly unknown[]) => {
    if (items.length > 0)
      problems.push(`${items.length} ${what}: ${JSON.stringify(items.slice(0, 5))}`);
  };
  check('lost jobs (submitted, unknown to the edge)', lost);
  check(
    'stuck jobs (not final)',
    stuck.map((j) => `${j.id} ${j.status} attempt ${j.attempts}`),
  );
  check(
    'jobs nobody submitted',
    unexpected.map((j) => j.id),
  );
  check(
    'failed jobs without a reason',
    withoutReason.map((j) => j.id),
  );
  check(
    'jobs failed before their last attempt',
    failedEarly.map((j) => `${j.id} ${j.attempts}/${j.maxAttempts}: ${j.lastError}`),
  );
  check(
    'jobs with more than one head',
    duplicates.map(([job, ids]) => `${job}: ${[...ids].join(', ')}`),
  );
  check('heads not belonging to a succeeded job', [...orphans]);
  check(
    'succeeded jobs without their head files',
    missing.map((j) => `${j.id} ${j.headId}`),
  );

  const attempts: Record<string, number> = {};
  for (const j of jobs) attempts[j.attempts] = (attempts[j.attempts] ?? 0) + 1;
  return {
    counts: {
      jobs: input.submitted.length,
      succeeded: succeeded.length,
      failed: failed.length,
      canceled: byStatus('canceled').length,
      lost: lost.length,
      stuck: stuck.length,
      duplicate_heads: duplicates.length,
      orphan_heads: orphans.size,
      missing_heads: missing.length,
      unexpected_jobs: unexpected.length,
      dlq: deadLetters.length,
      dlq_unaccounted: unregistered.length,
      retried: jobs.filter((j) => j.attempts > 1).length,
      attempts,
      failure_reasons: [...new Set(failed.map((j) => j.lastError ?? ''))],
    },
    problems,
  };
}
