// Credential verdicts — who holds an API key, which worker a worker token names — remembered per
// isolate for a bounded time, so that a request costs no D1 query to authenticate. The rule
// callers can rely on: a key or worker token revoked (or a tenant disabled or enabled) through the
// API takes effect at once in the isolate that handled the change and within KEY_VERDICT_SECONDS
// (default 60) in every other isolate, everywhere.
import { keyHolder, workerForToken, type D1Like } from '../../shared/tenants.js';
import { secondsVar } from '../env.js';

export type KeyHolder = NonNullable<Awaited<ReturnType<typeof keyHolder>>>;

export const DEFAULT_KEY_VERDICT_SECONDS = 60;

/** KEY_VERDICT_SECONDS as milliseconds (0 turns the memory off). */
export const verdictTtlMs = (value: string | undefined): number =>
  secondsVar(value, DEFAULT_KEY_VERDICT_SECONDS);

/**
 * One isolate's memory of lookups by secret: each answer (a refusal too) is kept for `ttlMs`, the
 * oldest go first beyond `capacity`, and lookups of one secret that arrive together share one
 * query.
 */
class VerdictMemory<T> {
  private readonly verdicts = new Map<string, { readonly value: T | undefined; expires: number }>();
  private readonly inFlight = new Map<string, Promise<T | undefined>>();
  /**
   * Bumped by every change this isolate makes: a lookup that started before a change may have
   * read D1 before it, so its answer is used once but not remembered.
   */
  private generation = 0;

  constructor(private readonly capacity: number) {}

  async get(
    secret: string,
    ttlMs: number,
    lookup: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const now = Date.now();
    const known = ttlMs > 0 ? this.verdicts.get(secret) : undefined;
    if (known && known.expires > now) return known.value;
    if (ttlMs === 0) return lookup();
    const asking = this.inFlight.get(secret);
    if (asking) return asking;
    const started = this.generation;
    const query = lookup().finally(() => {
      if (this.inFlight.get(secret) === query) this.inFlight.delete(secret);
    });
    this.inFlight.set(secret, query);
    const value = await query;
    if (started !== this.generation) return value;
    this.verdicts.delete(secret);
    this.verdicts.set(secret, { value, expires: now + ttlMs });
    if (this.verdicts.size > this.capacity)
      this.verdicts.delete(this.verdicts.keys().next().value!);
    return value;
  }

  /** Forgets the verdicts `touched` picks; lookups under way are used once, not remembered. */
  forget(touched: (value: T | undefined) => boolean): void {
    this.generation++;
    this.inFlight.clear();
    for (const [secret, verdict] of this.verdicts)
      if (touched(verdict.value)) this.verdicts.delete(secret);
  }
}

/** API key verdicts: about 200 bytes each. */
const keyVerdicts = new VerdictMemory<KeyHolder>(10_000);
/** Worker token verdicts: a deployment has a few tokens, and a refusal is remembered too. */
const workerVerdicts = new VerdictMemory<string>(1_000);

/**
 * Who holds `apiKey` (undefined: unknown, revoked, or its tenant disabled), from this isolate's
 * memory when it asked D1 less than `ttlMs` ago.
 *
 * @example
 * const holder = await cachedKeyHolder(env.DB, key, verdictTtlMs(env.KEY_VERDICT_SECONDS));
 */
export const cachedKeyHolder = (
  db: D1Like,
  apiKey: string,
  ttlMs: number,
): Promise<KeyHolder | undefined> => keyVerdicts.get(apiKey, ttlMs, () => keyHolder(db, apiKey));

/**
 * The name of the worker token `token` (undefined: unknown or revoked), remembered like an API
 * key's holder: a worker's heartbeats, progress and leases then cost no D1 query to authenticate.
 */
export const cachedWorkerName = (
  db: D1Like,
  token: string,
  ttlMs: number,
): Promise<string | undefined> => workerVerdicts.get(token, ttlMs, () => workerForToken(db, token));

/**
 * Forgets this isolate's verdicts touched by a change: a revoked key's, a disabled tenant's, and
 * (for an enabled tenant) every refusal too, since a refusal does not say whose key it was.
 */
export function forgetKeyVerdicts(
  change: { keyId: string } | { tenantId: string; enabled?: boolean },
): void {
  keyVerdicts.forget((holder) =>
    'keyId' in change
      ? holder?.keyId === change.keyId
      : holder?.tenantId === change.tenantId || (change.enabled === true && !holder),
  );
}

/** Forgets every worker token verdict of this isolate (a token was revoked: they are few). */
export function forgetWorkerVerdicts(): void {
  workerVerdicts.forget(() => true);
}
