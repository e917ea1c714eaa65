// The trainer's calls to the API: upload a dataset, submit a fine-tune, follow its events until
// it ends (reconnecting when the stream closes early), read the trained head, cancel.
import { ResponseShapeError } from './check.js';
import { ApiProblem, isAbort, pause, readEvents, request, requestJson } from './client.js';
import {
  type DatasetReport,
  type HeadDetails,
  type Job,
  type JobStatus,
  parseDatasetReport,
  parseHead,
  parseJob,
} from './training-responses.js';

/** Where to call and with which key; every training call needs one. */
export interface Account {
  readonly base: string;
  readonly apiKey: string;
}

const FINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'canceled']);
/** Connections in a row that may fail before following gives up. */
const MAX_STREAM_FAILURES = 5;

/**
 * POST /v1/datasets with the zip; resolves with the validation report.
 *
 * @example
 * const report = await uploadDataset(account, await imageFolderZip(classes));
 */
export async function uploadDataset(
  account: Account,
  zip: Uint8Array,
  signal?: AbortSignal,
): Promise<DatasetReport> {
  const body = await requestJson(account.base, '/v1/datasets', {
    method: 'POST',
    apiKey: account.apiKey,
    contentType: 'application/zip',
    // A copy with its own ArrayBuffer, which is what BodyInit accepts.
    body: new Uint8Array(zip),
    ...(signal ? { signal } : {}),
  });
  return parseDatasetReport(body);
}

/**
 * POST /v1/fine-tunes; resolves with the queued job.
 *
 * @example
 * const job = await startFineTune(account, { datasetId: report.id, epochs: 15 });
 */
export async function startFineTune(
  account: Account,
  spec: {
    readonly datasetId: string;
    readonly epochs: number;
    readonly backbone?: string;
    readonly strategy?: 'feature_extraction' | 'fine_tune' | 'full';
  },
  signal?: AbortSignal,
): Promise<Job> {
  const body = await requestJson(account.base, '/v1/fine-tunes', {
    method: 'POST',
    apiKey: account.apiKey,
    contentType: 'application/json',
    body: JSON.stringify(spec),
    ...(signal ? { signal } : {}),
  });
  return parseJob(body);
}

/** POST /v1/fine-tunes/{id}/cancel. */
export async function cancelFineTune(account: Account, jobId: string): Promise<void> {
  await request(account.base, `/v1/fine-tunes/${encodeURIComponent(jobId)}/cancel`, {
    method: 'POST',
    apiKey: account.apiKey,
  });
}

/** GET /v1/heads/{id}: labels, confusion matrix, validation accuracy. */
export async function fetchHead(
  account: Account,
  headId: string,
  signal?: AbortSignal,
): Promise<HeadDetails> {
  const body = await requestJson(account.base, `/v1/heads/${encodeURIComponent(headId)}`, {
    apiKey: account.apiKey,
    ...(signal ? { signal } : {}),
  });
  return parseHead(body);
}

function jobOf(data: string): Job {
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    throw new ResponseShapeError('a job event is not JSON');
  }
  return parseJob(body);
}

/**
 * Follows GET /v1/fine-tunes/{id}/events (fetch streaming: EventSource cannot send the key)
 * and calls `onJob` for every `event: job`, until the job is final. The edge ends a stream after
 * ten minutes with `event: end` and a job still running: then it reconnects at once. A dropped
 * connection is retried with backoff; client errors (401, 404) are not.
 *
 * @example
 * const final = await followJob(account, job.id, (j) => charts.update(j.history), controller.signal);
 */
export async function followJob(
  account: Account,
  jobId: string,
  onJob: (job: Job) => void,
  signal: AbortSignal,
): Promise<Job> {
  let last: Job | null = null;
  let failures = 0;
  for (;;) {
    let heard = false;
    try {
      const response = await request(
        account.base,
        `/v1/fine-tunes/${encodeURIComponent(jobId)}/events`,
        { apiKey: account.apiKey, accept: 'text/event-stream', signal },
      );
      if (!response.body) throw new ResponseShapeError('the event stream has no body');
      for await (const event of readEvents(response.body)) {
        if (event.event === 'job') {
          last = jobOf(event.data);
          heard = true;
          onJob(last);
        } else if (event.event === 'end') {
          break;
        }
      }
      if (last && FINAL.has(last.status)) return last;
    } catch (err) {
      if (heard) failures = 0;
      const permanent =
        isAbort(err) ||
        err instanceof ResponseShapeError ||
        (err instanceof ApiProblem && err.status >= 400 && err.status < 500 && err.status !== 429);
      if (permanent || ++failures > MAX_STREAM_FAILURES) throw err;
      await pause(1000 * 2 ** (failures - 1), signal, 'stopped following the job');
      continue;
    }
    // The stream ended with the job still going (the edge's ten-minute limit): pick it up again.
    // A stream that closes without saying anything counts as a failure, so this cannot spin.
    failures = heard ? 0 : failures + 1;
    if (failures > MAX_STREAM_FAILURES)
      throw new ApiProblem(
        0,
        null,
        'The job’s event stream keeps closing; reload to try again.',
        null,
      );
    await pause(heard ? 250 : 1000 * 2 ** (failures - 1), signal, 'stopped following the job');
  }
}
