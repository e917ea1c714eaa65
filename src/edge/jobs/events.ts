// A job's server-sent event stream: one `epoch` event per epoch from the job's epoch log (its id
// is the log's seq, so a client resumes with Last-Event-ID), a `job` snapshot whenever the job
// changes, a comment line as a heartbeat while nothing happens, and `end` when the job is final.
import type { SSEStreamingApi } from 'hono/streaming';
import { FINAL_STATUSES, type JobView } from '../../shared/jobs.js';
import type { Env } from '../env.js';
import { ApiError } from '../errors.js';
import { watchState, type JobWatch } from './coordinator.js';

/** Heartbeat interval when EVENTS_HEARTBEAT_SECONDS is not set. */
export const DEFAULT_HEARTBEAT_SECONDS = 15;
/** A stream ends after this long (with `end` and the job still going); clients reconnect. */
export const STREAM_MAX_MS = 10 * 60_000;
/** What a client's EventSource waits before reconnecting after a dropped stream. */
export const RECONNECT_MS = 1000;
/** How often a job that is still in the queue (not yet registered) is looked at. */
const QUEUED_POLL_MS = 1000;

/** The heartbeat interval in ms, from EVENTS_HEARTBEAT_SECONDS (0.05–60 s). */
export function heartbeatMsOf(env: Pick<Env, 'EVENTS_HEARTBEAT_SECONDS'>): number {
  const seconds = Number(env.EVENTS_HEARTBEAT_SECONDS ?? DEFAULT_HEARTBEAT_SECONDS);
  if (!Number.isFinite(seconds) || seconds < 0.05 || seconds > 60)
    return DEFAULT_HEARTBEAT_SECONDS * 1000;
  return Math.round(seconds * 1000);
}

/**
 * The seq to resume after: the Last-Event-ID header (sent by EventSource on reconnect) or the
 * `lastEventId` query parameter (for clients that cannot set headers); 0 for a fresh stream.
 *
 * @example
 * lastEventId('7', undefined); // 7 — epochs with seq 8 on are sent
 */
export function lastEventId(header: string | undefined, query: string | undefined): number {
  const [value, field] =
    header !== undefined ? [header, 'header.last-event-id'] : [query, 'query.lastEventId'];
  if (value === undefined || value.trim() === '') return 0;
  if (!/^\d{1,9}$/.test(value.trim()))
    throw new ApiError('invalid_request', 'an event id is a whole number (an epoch seq)', field);
  return Number(value.trim());
}

export interface FollowOptions {
  /** The job as it was when the request came in. */
  readonly first: JobView;
  /** Epochs up to this seq were seen already (Last-Event-ID). */
  readonly afterSeq: number;
  readonly heartbeatMs: number;
  /** The coordinator's long poll for this job (undefined while it is still in the queue). */
  readonly watch: (opts: {
    afterSeq: number;
    state: string | null;
    waitMs: number;
  }) => Promise<JobWatch | undefined>;
  /** Reads the job (for one still in the queue, which the coordinator does not know yet). */
  readonly read: () => Promise<JobView>;
}

/**
 * Writes the event stream of one job until it is final, the client leaves, or STREAM_MAX_MS.
 *
 * @example
 * return streamSSE(c, (stream) => followJob(stream, { first, afterSeq: 0, heartbeatMs: 15000, watch, read }));
 */
export async function followJob(stream: SSEStreamingApi, opts: FollowOptions): Promise<void> {
  const deadline = Date.now() + STREAM_MAX_MS;
  let job = opts.first;
  let seq = opts.afterSeq;
  let sentState: string | null = null;
  let lastWrite = Date.now();
  await stream.write(`retry: ${RECONNECT_MS}\n\n`);
  for (;;) {
    const waitMs = Math.max(
      0,
      Math.min(opts.heartbeatMs - (Date.now() - lastWrite), deadline - Date.now()),
    );
    const watched = await opts.watch({ afterSeq: seq, state: sentState, waitMs });
    if (watched) {
      job = watched.job;
      for (const epoch of watched.epochs) {
        await stream.writeSSE({
          event: 'epoch',
          id: String(epoch.seq),
          data: JSON.stringify(epoch),
        });
        seq = epoch.seq;
        lastWrite = Date.now();
      }
      if (watched.more) continue;
    } else {
      // Not registered yet: look again shortly (the queue consumer registers it).
      await stream.sleep(Math.min(QUEUED_POLL_MS, waitMs));
      job = await opts.read();
    }
    const state = watchState(job);
    if (state !== sentState || (watched?.epochs.length ?? 0) > 0) {
      await stream.writeSSE({ event: 'job', data: JSON.stringify(job) });
      sentState = state;
      lastWrite = Date.now();
    } else if (Date.now() - lastWrite >= opts.heartbeatMs) {
      // A comment line: ignored by EventSource, but it keeps proxies from closing an idle stream.
      await stream.write(': heartbeat\n\n');
      lastWrite = Date.now();
    }
    if (FINAL_STATUSES.has(job.status) || stream.aborted || Date.now() >= deadline) break;
  }
  await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: job.status }) });
}
