// HTTP for the CLI: one request with retries (exponential backoff with full jitter, Retry-After
// honoured) for what is safe to repeat, problem+json turned into one clear error, --verbose.
import { ProblemSchema } from '../shared/api.js';
import { ApiProblemError, CliError, UnreachableError } from './errors.js';

/** How many times to try and how long to wait between tries. */
export interface RetryPolicy {
  /** Tries in all, the first included. */
  readonly attempts: number;
  readonly baseMs: number;
  readonly capMs: number;
  /** Longest Retry-After the CLI waits for; a longer one ends the retries. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 4,
  baseMs: 300,
  capMs: 5_000,
  maxRetryAfterMs: 120_000,
};

/**
 * `safe`: repeating it changes nothing (GET, PUT, DELETE, classification, or a POST carrying an
 * Idempotency-Key), so 5xx answers and network errors are retried. `unsafe`: retried only when
 * the edge surely did nothing — 429, or a connection that was never opened.
 */
export type Repeatable = 'safe' | 'unsafe';

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path with its parameters filled in, e.g. `/v1/heads/head_…`. */
  readonly path: string;
  readonly query?: Record<string, string | number | boolean | undefined> | undefined;
  readonly headers?: Record<string, string> | undefined;
  /** Makes the body afresh for each try (a stream cannot be sent twice). */
  readonly body?: (() => BodyInit) | undefined;
  readonly repeatable: Repeatable;
}

export interface HttpOptions {
  readonly baseUrl: string;
  readonly apiKey?: string | undefined;
  readonly retry?: RetryPolicy | undefined;
  /** Receives one line per request, answer and retry (--verbose). */
  readonly log?: ((line: string) => void) | undefined;
  /** Told about long waits even without --verbose (a rate limit of a minute). */
  readonly notice?: ((line: string) => void) | undefined;
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
  readonly random?: (() => number) | undefined;
  readonly fetch?: typeof fetch | undefined;
}

/**
 * Milliseconds the Retry-After header asks for (delta-seconds or an HTTP date), if any.
 *
 * @example
 * retryAfterMs('2'); // 2000
 */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The wait before retry number `retry` (1-based): full jitter over min(cap, base·2^(retry−1)).
 *
 * @example
 * backoffMs(3, DEFAULT_RETRY, () => 0.5); // 600
 */
export function backoffMs(retry: number, policy: RetryPolicy, random = Math.random): number {
  return Math.round(random() * Math.min(policy.capMs, policy.baseMs * 2 ** (retry - 1)));
}

/** Connection errors that happen before any byte of the request is sent. */
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

function networkCause(err: unknown): { code: string | undefined; reason: string } {
  let cause: unknown = err instanceof Error && err.cause !== undefined ? err.cause : err;
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0];
  const code =
    typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string'
      ? cause.code
      : undefined;
  const message = cause instanceof Error ? cause.message : String(cause);
  return { code, reason: message || code || 'network error' };
}

/** An error for an answer that is not 2xx: the problem it carries, or its status line. */
async function answerError(res: Response, label: string): Promise<CliError> {
  const text = await res.text().catch(() => '');
  try {
    const problem = ProblemSchema.safeParse(JSON.parse(text));
    if (problem.success) return new ApiProblemError(problem.data);
  } catch {
    // not JSON: fall through to the status line
  }
  return new CliError(`${label} answered HTTP ${res.status} ${res.statusText}`.trim());
}

/** Sends requests to one edge with one key. */
export class Http {
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(readonly options: HttpOptions) {
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The full URL of a request. */
  url(path: string, query: HttpRequest['query'] = {}): string {
    const url = new URL(path, `${this.options.baseUrl}/`);
    for (const [k, v] of Object.entries(query))
      if (v !== undefined) url.searchParams.set(k, String(v));
    return url.href;
  }

  /**
   * Sends `req`, retrying as its `repeatable` allows; resolves with a 2xx answer (its body
   * unread) or throws ApiProblemError, UnreachableError or CliError.
   *
   * @example
   * const res = await http.send({ method: 'GET', path: '/v1/heads', repeatable: 'safe' });
   */
  async send(req: HttpRequest): Promise<Response> {
    const url = this.url(req.path, req.query);
    const label = `${req.method} ${req.path}`;
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const doFetch = this.options.fetch ?? fetch;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      this.options.log?.(`> ${req.method} ${url}${attempt > 1 ? ` (try ${attempt})` : ''}`);
      let res: Response;
      try {
        // Streamed bodies need duplex 'half' in Node's fetch (not in the DOM's RequestInit).
        const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers };
        const body = req.body?.();
        if (body !== undefined) Object.assign(init, { body, duplex: 'half' });
        res = await doFetch(url, init);
      } catch (err) {
        // The body's own failure (a file changed while it was streamed) is not the network's.
        if (err instanceof CliError) throw err;
        if (err instanceof Error && err.cause instanceof CliError) throw err.cause;
        const { code, reason } = networkCause(err);
        this.options.log?.(`< ${reason}`);
        const retryable = req.repeatable === 'safe' || (code !== undefined && NEVER_SENT.has(code));
        if (!retryable || attempt >= this.retry.attempts)
          throw new UnreachableError(this.options.baseUrl, reason);
        await this.wait(attempt, undefined, reason);
        continue;
      }
      const ms = Math.round(performance.now() - started);
      this.options.log?.(`< ${res.status} ${res.statusText} (${ms} ms)`);
      if (res.ok) return res;
      const after = retryAfterMs(res.headers.get('retry-after'));
      // A 409 with Retry-After: the first request with this Idempotency-Key is still running.
      const retryable =
        res.status === 429 ||
        (req.repeatable === 'safe' &&
          (res.status >= 500 || (res.status === 409 && after !== undefined)));
      if (
        !retryable ||
        attempt >= this.retry.attempts ||
        (after !== undefined && after > this.retry.maxRetryAfterMs)
      )
        throw await answerError(res, label);
      await res.body?.cancel().catch(() => undefined);
      await this.wait(attempt, after, `HTTP ${res.status}`);
    }
  }

  private async wait(attempt: number, retryAfter: number | undefined, why: string): Promise<void> {
    const ms = retryAfter ?? backoffMs(attempt, this.retry, this.options.random);
    const line = `${why}; retrying in ${(ms / 1000).toFixed(1)} s`;
    if (ms >= 5_000 && this.options.notice) this.options.notice(line);
    else this.options.log?.(line);
    await this.sleep(ms);
  }
}
