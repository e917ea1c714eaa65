// The classification half of `npm run bench:load`: autocannon holds a fixed number of
// connections busy on POST /v1/classify with real photos for a fixed time. Each connection is
// its own caller with its own API key, as production traffic is, so the per-key rate limit is
// exercised the way it is meant to be rather than switched off.
import autocannon from 'autocannon';

export interface ClassifyLoadResult {
  /** Completed requests per second over the run. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses (any status) received. */
  readonly requests: number;
  readonly non2xx: number;
  /** Socket errors, timeouts included. */
  readonly socketErrors: number;
  readonly timeouts: number;
  /** Responses by status code. */
  readonly statusCodes: Record<string, number>;
  /** The first few non-2xx responses, status and body, for the report. */
  readonly errorSamples: readonly string[];
  /**
   * When wrangler's dev server restarted the Worker under in-flight requests (each such request
   * answered 503 by the dev server itself, not by the edge code), as ISO times.
   */
  readonly devRestarts: readonly string[];
}

/** The body wrangler's dev proxy answers a non-GET request with when the Worker restarted under it. */
const DEV_RESTART = 'Your worker restarted mid-request';

/** Non-2xx responses kept for the report. */
const ERROR_SAMPLES = 5;

/** Photos each connection cycles through (a window of the pool, so all of it is used). */
const PHOTOS_PER_CONNECTION = 8;

/**
 * Runs the load; connection `i` sends with `keys[i]` and cycles through its own window of
 * `photos`. One request per key beforehand warms the model and each key's tenant lookup.
 *
 * @example
 * const r = await runClassifyLoad({ url, keys, photos, connections: 32, durationSeconds: 60, model: 'mobilenet-v1-0.25' });
 * console.log(r.rps, r.p99Ms);
 */
export async function runClassifyLoad(opts: {
  readonly url: string;
  readonly keys: readonly string[];
  readonly photos: readonly Uint8Array[];
  readonly connections: number;
  readonly durationSeconds: number;
  readonly model: string;
}): Promise<ClassifyLoadResult> {
  if (opts.keys.length < opts.connections)
    throw new Error(`${opts.connections} connections need as many keys (${opts.keys.length})`);
  const path = `/v1/classify?model=${encodeURIComponent(opts.model)}`;
  const errorSamples: string[] = [];
  const devRestarts: string[] = [];
  const onResponse = (status: number, body: string) => {
    if (status >= 200 && status <= 299) return;
    if (status === 503 && body.startsWith(DEV_RESTART)) devRestarts.push(new Date().toISOString());
    if (errorSamples.length < ERROR_SAMPLES) errorSamples.push(`${status} ${body.slice(0, 300)}`);
  };
  const requestsOf = (i: number) =>
    Array.from({ length: Math.min(PHOTOS_PER_CONNECTION, opts.photos.length) }, (_, j) => ({
      method: 'POST',
      path,
      headers: {
        authorization: `Bearer ${opts.keys[i]!}`,
        'content-type': 'image/jpeg',
      },
      body: Buffer.from(opts.photos[(i + j) % opts.photos.length]!),
      onResponse,
    }));

  for (const [i, key] of opts.keys.slice(0, opts.connections).entries()) {
    const res = await fetch(`${opts.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
      body: opts.photos[i % opts.photos.length]!.slice(),
    });
    if (!res.ok) throw new Error(`warm-up classify answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  }

  let next = 0;
  const result = await autocannon({
    url: `${opts.url}${path}`,
    connections: opts.connections,
    duration: opts.durationSeconds,
    timeout: 10,
    setupClient: (client) => client.setRequests(requestsOf(next++)),
  });
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]),
  );
  const responses = Object.values(statusCodes).reduce((n, c) => n + c, 0);
  return {
    rps: responses / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: responses,
    non2xx: result.non2xx,
    socketErrors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    errorSamples,
    devRestarts,
  };
}
