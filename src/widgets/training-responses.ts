// API answers of the training loop (dataset report, job, trained head), checked at the boundary;
// the types come from the checkers.
import { type Json, ResponseShapeError, list, nullable, num, record, str } from './check.js';

export interface RejectedFile {
  readonly path: string;
  readonly reason: string;
  readonly detail: string;
}
export interface DatasetReport {
  readonly id: string;
  readonly classes: readonly string[];
  /** Images per split and class. */
  readonly counts: { readonly train: Record<string, number>; readonly val: Record<string, number> };
  readonly rejected: readonly RejectedFile[];
}

function counts(value: unknown, where: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(record(value, where))) out[key] = num(n, `${where}.${key}`);
  return out;
}

/** POST /v1/datasets → the validation report. */
export function parseDatasetReport(body: unknown): DatasetReport {
  const report = record(body, 'dataset');
  const split = record(report.counts, 'counts');
  return {
    id: str(report.id, 'id'),
    classes: list(report.classes, 'classes', str),
    counts: { train: counts(split.train, 'counts.train'), val: counts(split.val, 'counts.val') },
    rejected: list(report.rejected, 'rejected', (r, at) => {
      const entry = record(r, at);
      return {
        path: str(entry.path, `${at}.path`),
        reason: str(entry.reason, `${at}.reason`),
        detail: typeof entry.detail === 'string' ? entry.detail : '',
      };
    }),
  };
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
const JOB_STATUSES: readonly string[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
const isJobStatus = (s: string): s is JobStatus => JOB_STATUSES.includes(s);

export interface EpochPoint {
  readonly epoch: number;
  readonly epochs: number;
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly valLoss: number;
  readonly valAccuracy: number;
}
export interface Job {
  /** The job as received (the `headstart:job` event's detail). */
  readonly raw: Json;
  readonly id: string;
  readonly status: JobStatus;
  readonly history: readonly EpochPoint[];
  readonly headId: string | null;
  readonly lastError: string | null;
}

/** A JobView: POST /v1/fine-tunes, or one `event: job` of its event stream. */
export function parseJob(body: unknown): Job {
  const job = record(body, 'job');
  const status = str(job.status, 'status');
  if (!isJobStatus(status)) throw new ResponseShapeError(`status "${status}" is unknown`);
  return {
    raw: job,
    id: str(job.id, 'id'),
    status,
    history: list(job.history ?? [], 'history', (e, at) => {
      const epoch = record(e, at);
      const field = (name: string) => num(epoch[name], `${at}.${name}`);
      return {
        epoch: field('epoch'),
        epochs: field('epochs'),
        trainLoss: field('trainLoss'),
        trainAccuracy: field('trainAccuracy'),
        valLoss: field('valLoss'),
        valAccuracy: field('valAccuracy'),
      };
    }),
    headId: nullable(job.headId, 'headId', str),
    lastError: nullable(job.lastError, 'lastError', str),
  };
}

export interface HeadDetails {
  readonly id: string;
  readonly labels: readonly string[];
  /** `matrix[true][predicted]`, or null when the head was stored without one. */
  readonly confusion: { readonly labels: readonly string[]; readonly matrix: number[][] } | null;
  readonly valAccuracy: number | null;
}

/** GET /v1/heads/{id} → labels, confusion matrix and the headline metric. */
export function parseHead(body: unknown): HeadDetails {
  const head = record(body, 'head');
  const confusion = nullable(head.confusion, 'confusion', record);
  const metrics = nullable(head.metrics, 'metrics', record);
  return {
    id: str(head.id, 'id'),
    labels: list(head.labels, 'labels', str),
    confusion: confusion && {
      labels: list(confusion.labels, 'confusion.labels', str),
      matrix: list(confusion.matrix, 'confusion.matrix', (row, at) => list(row, at, num)),
    },
    valAccuracy: metrics ? nullable(metrics.valAccuracy, 'metrics.valAccuracy', num) : null,
  };
}
