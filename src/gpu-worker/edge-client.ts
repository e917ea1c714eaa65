// The worker's only way to the edge: the internal API over HTTP with a worker token, retries
// with backoff for transient failures, and typed, validated answers.
import { z } from 'zod';
import { MISSING_IMAGE } from '../shared/datasets.js';
import { BackboneManifestSchema, type BackboneManifest } from '../shared/manifest.js';
import {
  EpochMetricsSchema,
  LeaseGrantSchema,
  type EpochMetrics,
  type LeaseGrant,
} from '../shared/jobs.js';

/** The edge refused a request for good (4xx other than 429); `code` is the problem's code. */
export class EdgeRequestError extends Error {
  override name = 'EdgeRequestError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Our lease is gone (expired and re-leased, or the job was canceled and released). */
export class LeaseLostError extends EdgeRequestError {
  override name = 'LeaseLostError';
}

const ProblemSchema = z.looseObject({ code: z.string().optional(), detail: z.string().optional() });
const HeartbeatSchema = z.object({ expiresAt: z.string(), cancelRequested: z.boolean() });
const ProgressAnswerSchema = z.object({ cancelRequested: z.boolean() });
const JobAnswerSchema = z.looseObject({ id: z.string(), status: z.string() });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface EdgeClientOptions {
  readonly baseUrl: string;
  readonly token: string;
  /** Tries per request for network errors, 429 and 5xx (default 4). */
  readonly attempts?: number;
  readonly fetch?: typeof fetch;
}

/**
 * @example
 * const edge = new EdgeClient({ baseUrl: 'http://127.0.0.1:8787', token });
 * const grant = await edge.lease({ workerId: 'w1', waitSeconds: 20, leaseSeconds: 60 });
 */
export class EdgeClient {
  private readonly base: string;
  private readonly attempts: number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: EdgeClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.attempts = options.attempts ?? 4;
    this.fetchImpl = options.fetch ?? fetch;
  }

  private async request(
    path: string,
    init: RequestInit & { leaseToken?: string } = {},
  ): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.options.token}`);
    if (init.leaseToken) headers.set('x-lease-token', init.leaseToken);
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        const res = await this.fetchImpl(`${this.base}/internal/v1${path}`, { ...init, headers });
        if (res.ok || res.status === 204) return res;
        const retryable = res.status === 429 || res.status >= 500;
        const problem = ProblemSchema.safeParse(await res.json().catch(() => ({})));
        const code = problem.success ? problem.data.code : undefined;
        const detail =
          problem.success && problem.data.detail ? problem.data.detail : res.statusText;
        const message = `${init.method ?? 'GET'} ${path} answered ${res.status}: ${detail}`;
        if (!retryable || attempt === this.attempts) {
          if (code === 'lease_conflict') throw new LeaseLostError(message, res.status, code);
          throw new EdgeRequestError(message, res.status, code);
        }
        lastError = new EdgeRequestError(message, res.status, code);
        const retryAfter = Number(res.headers.get('retry-after'));
        await sleep(
          Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 250 * 2 ** attempt,
        );
      } catch (err) {
        if (err instanceof EdgeRequestError || init.signal?.aborted) throw err;
        lastError = err;
        if (attempt === this.attempts) break;
        await sleep(250 * 2 ** attempt);
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  private async json<T>(schema: z.ZodType<T>, path: string, body: unknown): Promise<T> {
    const res = await this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return schema.parse(await res.json());
  }

  /** The next job, or null when none arrived within `waitSeconds`. */
  /** Asks for a job, waiting up to `waitSeconds`; `signal` abandons the wait (on shutdown). */
  async lease(
    opts: {
      workerId: string;
      waitSeconds: number;
      leaseSeconds: number;
      provider?: string;
      jobsHeld?: number;
    },
    signal?: AbortSignal,
  ): Promise<LeaseGrant | null> {
    const res = await this.request('/leases', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(opts),
      ...(signal ? { signal } : {}),
    });
    if (res.status === 204) return null;
    return LeaseGrantSchema.parse(await res.json());
  }

  heartbeat(jobId: string, leaseToken: string) {
    return this.json(HeartbeatSchema, `/jobs/${jobId}/heartbeat`, { leaseToken });
  }

  progress(jobId: string, leaseToken: string, metrics: EpochMetrics) {
    return this.json(ProgressAnswerSchema, `/jobs/${jobId}/progress`, {
      leaseToken,
      metrics: EpochMetricsSchema.parse(metrics),
    });
  }

  fail(jobId: string, leaseToken: string, message: string, retryable: boolean) {
    return this.json(JobAnswerSchema, `/jobs/${jobId}/fail`, { leaseToken, message, retryable });
  }

  /** The held job's dataset manifest (validated by the caller). */
  async datasetManifest(jobId: string, leaseToken: string): Promise<unknown> {
    return (await this.request(`/jobs/${jobId}/dataset`, { leaseToken })).json();
  }

  /**
   * Several images of the held job's dataset in one request, in the order asked; null for one
   * the dataset no longer has. At most 64 per call.
   */
  async datasetImages(
    jobId: string,
    leaseToken: string,
    sha256: readonly string[],
  ): Promise<(Uint8Array | null)[]> {
    const res = await this.request(`/jobs/${jobId}/dataset/images`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sha256 }),
      leaseToken,
    });
    const body = new Uint8Array(await res.arrayBuffer());
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const images: (Uint8Array | null)[] = [];
    let at = 0;
    for (const sha of sha256) {
      if (at + 4 > body.byteLength)
        throw new Error(`the image batch ended before image ${sha.slice(0, 12)}…`);
      const length = view.getUint32(at);
      at += 4;
      if (length === MISSING_IMAGE) {
        images.push(null);
        continue;
      }
      if (at + length > body.byteLength)
        throw new Error(`the image batch ended inside image ${sha.slice(0, 12)}…`);
      // A copy that owns its buffer, so it can move to a preprocessing thread without another.
      images.push(body.slice(at, at + length));
      at += length;
    }
    if (at !== body.byteLength) throw new Error('the image batch has bytes after its last image');
    return images;
  }

  async backboneManifest(id: string): Promise<BackboneManifest> {
    return BackboneManifestSchema.parse(
      await (await this.request(`/backbones/${id}/manifest.json`)).json(),
    );
  }

  async backboneModel(id: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request(`/backbones/${id}/model.onnx`)).arrayBuffer());
  }

  /** Uploads the head and completes the job in one call (the edge checks the lease first). */
  async complete(
    jobId: string,
    leaseToken: string,
    manifest: unknown,
    onnx: Uint8Array,
    evaluation?: unknown,
  ) {
    const form = new FormData();
    form.set('leaseToken', leaseToken);
    form.set('manifest', JSON.stringify(manifest));
    if (evaluation !== undefined) form.set('evaluation', JSON.stringify(evaluation));
    form.set('head', new Blob([onnx.slice()], { type: 'application/octet-stream' }), 'head.onnx');
    const res = await this.request(`/jobs/${jobId}/complete`, { method: 'POST', body: form });
    return JobAnswerSchema.parse(await res.json());
  }
}
