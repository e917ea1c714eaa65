// What the CLI reads from a job: its headline metrics, its progress, and how the jobs of a
// batch differ (the compare table).
import { z } from 'zod';
import { FINAL_STATUSES } from '../shared/jobs.js';
import type { JobView } from './client.js';
import { SPEC_FIELDS, specValue } from './spec.js';

/** The headline figures of a finished job (job.metrics is the head manifest's free-form metrics). */
const JobMetricsSchema = z.object({
  valAccuracy: z.number().nullish(),
  bestEpoch: z.number().nullish(),
  epochsRun: z.number().nullish(),
  inputMode: z.string().nullish(),
});

/** A job's headline figures, from its metrics or, while it runs, its history. */
export function jobFigures(job: JobView) {
  const m = JobMetricsSchema.safeParse(job.metrics ?? {});
  const metrics = m.success ? m.data : {};
  const best = job.history.reduce<number | null>((b, h) => Math.max(b ?? 0, h.valAccuracy), null);
  const seconds =
    job.startedAt && job.finishedAt
      ? (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000
      : null;
  return {
    valAccuracy: metrics.valAccuracy ?? best,
    bestEpoch: metrics.bestEpoch ?? null,
    epochsRun: metrics.epochsRun ?? job.history.length,
    epochs: job.progress?.epochs ?? job.spec.epochs,
    inputMode: metrics.inputMode ?? null,
    seconds,
  };
}

/** Whether the job has reached succeeded, failed or canceled. */
export const isFinal = (job: JobView): boolean => FINAL_STATUSES.has(job.status);

/** The flag names of the spec fields that differ across `jobs` (`dataset` included). */
export function differingFields(jobs: readonly JobView[]): string[] {
  const keys = [];
  if (new Set(jobs.map((j) => j.datasetId)).size > 1) keys.push('dataset');
  for (const field of SPEC_FIELDS) {
    const values = new Set(jobs.map((j) => JSON.stringify(specValue(j.spec, field) ?? null)));
    if (values.size > 1) keys.push(field.key);
  }
  return keys;
}

/** One row of `jobs compare`. */
export interface CompareRow {
  readonly jobId: string;
  readonly status: JobView['status'];
  readonly headId: string | null;
  /** The hyperparameters that differ across the batch, by flag name. */
  readonly hyperparameters: Record<string, unknown>;
  readonly valAccuracy: number | null;
  readonly bestEpoch: number | null;
  readonly epochsRun: number;
  readonly seconds: number | null;
  readonly lastError: string | null;
}

/**
 * The batch's jobs side by side, best validation accuracy first (jobs without one last, in
 * submission order).
 *
 * @example
 * compareRows(batch.jobs)[0]; // { jobId, hyperparameters: { lr: 0.003, dropout: 0.2 }, valAccuracy: 0.87, … }
 */
export function compareRows(jobs: readonly JobView[]): CompareRow[] {
  const keys = differingFields(jobs);
  const rows = jobs.map((job) => {
    const figures = jobFigures(job);
    const hyperparameters = Object.fromEntries(
      keys.map((k) => {
        const field = SPEC_FIELDS.find((f) => f.key === k);
        return [k, field ? (specValue(job.spec, field) ?? null) : job.datasetId];
      }),
    );
    return {
      jobId: job.id,
      status: job.status,
      headId: job.headId,
      hyperparameters,
      valAccuracy: job.status === 'succeeded' ? figures.valAccuracy : null,
      bestEpoch: figures.bestEpoch,
      epochsRun: figures.epochsRun,
      seconds: figures.seconds,
      lastError: job.lastError,
    };
  });
  const acc = (r: CompareRow) => r.valAccuracy ?? -1;
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => acc(b.r) - acc(a.r) || a.i - b.i)
    .map(({ r }) => r);
}
