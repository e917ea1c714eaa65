// API key verdicts, remembered per isolate for a bounded time so that a request costs no D1
// query to authenticate. The rule callers can rely on: a key revoked (or a tenant disabled or
// enabled) through the API takes effect at once in the isolate that handled the change and within
// KEY_VERDICT_SECONDS (default 60) in every other isolate, everywhere.
import { keyHolder, type D1Like } from '../../shared/tenants.js';
import { secondsVar } from '../env.js';

export type KeyHolder = NonNullable<Awaited<ReturnType<typeof keyHolder>>>;

interface Verdict {
  readonly holder: KeyHolder | undefined;
  readonly expires: number;
}

/** Verdicts one isolate keeps (the oldest go first): about 200 bytes each. */
const MAX_VERDICTS = 10_000;
export const DEFAULT_KEY_VERDICT_SECONDS = 60;

const verdicts = new Map<string, Verdict>();
const inFlight = new Map<string, Promise<KeyHolder | undefined>>();
/**
 * Bumped by every change this isolate makes: a lookup that started before a change may have read
 * D1 before it, so its answer is used once but not remembered.
 */
let generation = 0;

/** KEY_VERDICT_SECONDS as milliseconds (0 turns the memory off). */
export const verdictTtlMs = (value: string | undefined): number =>
  secondsVar(value, DEFAULT_KEY_VERDICT_SECONDS);

/**
 * Who holds `apiKey` (undefined: unknown, revoked, or its tenant disabled), from this isolate's
 * memory when it asked D1 less than `ttlMs` ago.
 *
 * @example
 * const holder = await cachedKeyHolder(env.DB, key, verdictTtlMs(env.KEY_VERDICT_SECONDS));
 */
export async function cachedKeyHolder(
  db: D1Like,
  apiKey: string,
  ttlMs: number,
): Promise<KeyHolder | undefined> {
  const now = Date.now();
  const known = ttlMs > 0 ? verdicts.get(apiKey) : undefined;
  if (known && known.expires > now) return known.holder;
  if (ttlMs === 0) return keyHolder(db, apiKey);
  // Requests with the same key arriving together share one query.
  let asking = inFlight.get(apiKey);
  if (!asking) {
    const started = generation;
    const query = keyHolder(db, apiKey).finally(() => {
      if (inFlight.get(apiKey) === query) inFlight.delete(apiKey);
    });
    asking = query;
    inFlight.set(apiKey, query);
    const holder = await query;
    if (started !== generation) return holder;
    verdicts.delete(apiKey);
    verdicts.set(apiKey, { holder, expires: now + ttlMs });
    if (verdicts.size > MAX_VERDICTS) verdicts.delete(verdicts.keys().next().value!);
    return holder;
  }
  return asking;
}

/**
 * Forgets this isolate's verdicts touched by a change: a revoked key's, a disabled tenant's, and
 * (for an enabled tenant) every refusal too, since a refusal does not say whose key it was.
 */
export function forgetKeyVerdicts(
  change: { keyId: string } | { tenantId: string; enabled?: boolean },
): void {
  // Lookups already under way may have read D1 before the change: none of them is remembered,
  // and no request from now on joins one.
  generation++;
  inFlight.clear();
  for (const [key, verdict] of verdicts) {
    const holder = verdict.holder;
    const touched =
      'keyId' in change
        ? holder?.keyId === change.keyId
        : holder?.tenantId === change.tenantId || (change.enabled === true && !holder);
    if (touched) verdicts.delete(key);
  }
}
