// The admin API (`/admin/v1`, admin tokens only): tenants, their API keys, worker tokens, usage
// and the workers that have reported in. Secrets are shown once, in the answer that creates them.
import { forgetKeyVerdicts, forgetWorkerVerdicts } from '../auth/verdicts.js';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireAdmin } from '../auth/middleware.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { readJson } from '../http/json.js';
import { parseInput } from '../http/validate.js';
import { coordinatorOf } from '../jobs/shards.js';
import {
  createApiKey,
  createTenant,
  issueWorkerToken,
  listApiKeys,
  revokeApiKey,
} from '../../shared/tenants.js';

/** A human name for a tenant, key or token: printable, at most 100 characters. */
export const CredentialNameSchema = z
  .string()
  .trim()
  .min(1, 'a name is required')
  .max(100)
  .regex(/^[^\p{Cc}]+$/u, 'printable characters only');

const TenantBody = z
  .object({ name: CredentialNameSchema, keyName: CredentialNameSchema.optional() })
  .strict();
const NameBody = z.object({ name: CredentialNameSchema }).strict();
const TenantId = z.string().regex(/^ten_[A-Za-z0-9_-]{8,64}$/, 'a tenant id such as ten_…');
const KeyId = z.string().regex(/^key_[A-Za-z0-9_-]{8,64}$/, 'a key id such as key_…');
const TokenId = z.string().regex(/^wtk_[A-Za-z0-9_-]{8,64}$/, 'a worker token id such as wtk_…');

interface TenantRow {
  id: string;
  name: string;
  createdAt: string;
  disabledAt: string | null;
  activeKeys: number;
}

async function tenantRow(db: D1Database, id: string): Promise<TenantRow> {
  const row = await db
    .prepare(
      `SELECT t.id, t.name, t.created_at AS createdAt, t.disabled_at AS disabledAt,
        (SELECT COUNT(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL) AS activeKeys
       FROM tenants t WHERE t.id = ?`,
    )
    .bind(id)
    .first<TenantRow>();
  if (!row) throw new ApiError('not_found', `no tenant ${id}`, 'path.id');
  return row;
}

export const adminRoutes = new Hono<AppEnv>()
  .use('*', requireAdmin)
  .post('/tenants', async (c) => {
    const body = parseInput(TenantBody, await readJson(c.req.raw), 'body');
    const created = await createTenant(c.env.DB, {
      name: body.name,
      keyName: body.keyName ?? 'first key',
    });
    return c.json(
      {
        tenant: await tenantRow(c.env.DB, created.tenantId),
        key: { id: created.keyId, apiKey: created.apiKey },
      },
      201,
    );
  })
  .get('/tenants', async (c) => {
    const { results } = await c.env.DB.prepare(
      `SELECT t.id, t.name, t.created_at AS createdAt, t.disabled_at AS disabledAt,
        (SELECT COUNT(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL) AS activeKeys
       FROM tenants t ORDER BY t.created_at DESC, t.id LIMIT 1000`,
    ).all<TenantRow>();
    return c.json({ tenants: results });
  })
  .get('/tenants/:id', async (c) =>
    c.json(await tenantRow(c.env.DB, parseInput(TenantId, c.req.param('id'), 'path.id'))),
  )
  .post('/tenants/:id/disable', async (c) => {
    const id = parseInput(TenantId, c.req.param('id'), 'path.id');
    await tenantRow(c.env.DB, id);
    await c.env.DB.prepare('UPDATE tenants SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?')
      .bind(new Date().toISOString(), id)
      .run();
    forgetKeyVerdicts({ tenantId: id });
    return c.json(await tenantRow(c.env.DB, id));
  })
  .post('/tenants/:id/enable', async (c) => {
    const id = parseInput(TenantId, c.req.param('id'), 'path.id');
    await tenantRow(c.env.DB, id);
    await c.env.DB.prepare('UPDATE tenants SET disabled_at = NULL WHERE id = ?').bind(id).run();
    forgetKeyVerdicts({ tenantId: id, enabled: true });
    return c.json(await tenantRow(c.env.DB, id));
  })
  .get('/tenants/:id/usage', async (c) => {
    const id = parseInput(TenantId, c.req.param('id'), 'path.id');
    await tenantRow(c.env.DB, id);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const [datasets, requests, coordinator] = await Promise.all([
      c.env.DB.prepare(
        "SELECT COUNT(*) AS n FROM datasets WHERE tenant_id = ? AND status = 'ready'",
      )
        .bind(id)
        .first<{ n: number }>(),
      c.env.DB.prepare(
        'SELECT COALESCE(SUM(requests), 0) AS n FROM tenant_requests WHERE tenant_id = ? AND day >= ?',
      )
        .bind(id, yesterday)
        .first<{ n: number }>(),
      coordinatorOf(c.env, id).tenantUsage(id),
    ]);
    return c.json({
      tenantId: id,
      datasets: datasets?.n ?? 0,
      jobs: coordinator.jobs,
      heads: coordinator.heads,
      // Counted per UTC day: today and yesterday, so at least the last 24 hours.
      requestsLastDay: requests?.n ?? 0,
    });
  })
  .get('/tenants/:id/keys', async (c) => {
    const id = parseInput(TenantId, c.req.param('id'), 'path.id');
    await tenantRow(c.env.DB, id);
    return c.json({ keys: await listApiKeys(c.env.DB, id) });
  })
  .post('/tenants/:id/keys', async (c) => {
    const id = parseInput(TenantId, c.req.param('id'), 'path.id');
    const { name } = parseInput(NameBody, await readJson(c.req.raw), 'body');
    await tenantRow(c.env.DB, id);
    const { keyId, apiKey } = await createApiKey(c.env.DB, id, name);
    return c.json({ id: keyId, name, apiKey }, 201);
  })
  .delete('/tenants/:id/keys/:keyId', async (c) => {
    const id = parseInput(TenantId, c.req.param('id'), 'path.id');
    const keyId = parseInput(KeyId, c.req.param('keyId'), 'path.keyId');
    if (!(await revokeApiKey(c.env.DB, id, keyId)))
      throw new ApiError('not_found', `tenant ${id} has no active key ${keyId}`, 'path.keyId');
    forgetKeyVerdicts({ keyId });
    return c.body(null, 204);
  })
  .get('/worker-tokens', async (c) => {
    const { results } = await c.env.DB.prepare(
      'SELECT id, name, created_at AS createdAt, revoked_at AS revokedAt FROM worker_tokens ORDER BY created_at DESC, id LIMIT 1000',
    ).all();
    return c.json({ workerTokens: results });
  })
  .post('/worker-tokens', async (c) => {
    const { name } = parseInput(NameBody, await readJson(c.req.raw), 'body');
    const { tokenId, token } = await issueWorkerToken(c.env.DB, name);
    return c.json({ id: tokenId, name, token }, 201);
  })
  .delete('/worker-tokens/:id', async (c) => {
    const id = parseInput(TokenId, c.req.param('id'), 'path.id');
    const revoked = await c.env.DB.prepare(
      'UPDATE worker_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
    )
      .bind(new Date().toISOString(), id)
      .run();
    if (revoked.meta.changes === 0)
      throw new ApiError('not_found', `no active worker token ${id}`, 'path.id');
    forgetWorkerVerdicts();
    return c.body(null, 204);
  })
  .get('/workers', async (c) => {
    const { results } = await c.env.DB.prepare(
      `SELECT worker_id AS workerId, token_name AS tokenName, provider, jobs_held AS jobsHeld,
        last_seen_at AS lastSeenAt FROM workers ORDER BY last_seen_at DESC LIMIT 1000`,
    ).all();
    return c.json({ workers: results });
  });
