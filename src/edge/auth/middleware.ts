// Request guards: API keys for tenants, worker tokens for the internal API, per-key rate limits.
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { adminForToken } from '../../shared/tenants.js';
import { recordKeyUse } from './usage.js';
import { cachedKeyHolder, cachedWorkerName, verdictTtlMs } from './verdicts.js';

function bearer(c: Context<AppEnv>): string | undefined {
  const header = c.req.header('authorization');
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

const unauthorized = (message: string) =>
  new ApiError('unauthorized', message, 'header.authorization', {
    'www-authenticate': 'Bearer realm="headstart"',
  });

/** Requires a valid API key and records its tenant. */
export const requireTenant: MiddlewareHandler<AppEnv> = async (c, next) => {
  const key = bearer(c);
  if (!key) throw unauthorized('send an API key as "Authorization: Bearer hs_key_…"');
  const holder = await cachedKeyHolder(c.env.DB, key, verdictTtlMs(c.env.KEY_VERDICT_SECONDS));
  if (!holder) throw unauthorized('the API key is unknown or revoked, or its tenant is disabled');
  c.set('tenantId', holder.tenantId);
  c.set('keyId', holder.keyId);
  recordKeyUse(c, holder);
  await next();
};

/** Requires an admin token: the only credential the admin API accepts, and accepted nowhere else. */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = bearer(c);
  if (!token) throw unauthorized('send an admin token as "Authorization: Bearer hs_admin_…"');
  const admin = await adminForToken(c.env.DB, token);
  if (!admin)
    throw unauthorized('the admin API takes an admin token (hs_admin_…), unknown or revoked');
  c.set('adminName', admin);
  await next();
};

/**
 * Requires a worker token: the only credential the internal API accepts. Its verdict is
 * remembered like an API key's (KEY_VERDICT_SECONDS), so a worker's calls cost no D1 query each.
 */
export const requireWorker: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = bearer(c);
  if (!token) throw unauthorized('send a worker token as "Authorization: Bearer hs_worker_…"');
  const worker = await cachedWorkerName(c.env.DB, token, verdictTtlMs(c.env.KEY_VERDICT_SECONDS));
  if (!worker) throw unauthorized('the worker token is unknown or revoked');
  c.set('workerName', worker);
  await next();
};

/**
 * Limits requests per API key (or per client address when there is none) with a Workers rate
 * limiter binding; over the limit → 429 with Retry-After. `by: 'address'` counts per client
 * address even when a credential is sent: for routes that check none, where an invented bearer
 * would otherwise buy a fresh allowance.
 */
export function rateLimit(
  pick: (env: AppEnv['Bindings']) => RateLimit,
  periodSeconds: number,
  by: 'key' | 'address' = 'key',
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const address = `ip:${c.req.header('cf-connecting-ip') ?? 'local'}`;
    const key = (by === 'key' ? bearer(c) : undefined) ?? address;
    const { success } = await pick(c.env).limit({ key: key.slice(0, 64) });
    if (!success) {
      throw new ApiError(
        'rate_limited',
        `too many requests; try again in ${periodSeconds} s`,
        undefined,
        {
          'retry-after': String(periodSeconds),
        },
      );
    }
    await next();
  };
}

/**
 * The tenant of the request's API key when it sends one (a bad key is still a 401), or
 * undefined for an anonymous request — for routes open to everyone that do more for tenants.
 */
export async function optionalTenant(c: Context<AppEnv>): Promise<string | undefined> {
  if (c.req.header('authorization') === undefined) return undefined;
  const key = bearer(c);
  if (!key) throw unauthorized('send an API key as "Authorization: Bearer hs_key_…"');
  const holder = await cachedKeyHolder(c.env.DB, key, verdictTtlMs(c.env.KEY_VERDICT_SECONDS));
  if (!holder) throw unauthorized('the API key is unknown or revoked, or its tenant is disabled');
  c.set('tenantId', holder.tenantId);
  c.set('keyId', holder.keyId);
  recordKeyUse(c, holder);
  return holder.tenantId;
}
