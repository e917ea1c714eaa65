// Tenants and credentials in D1 (schema: migrations/0001_init.sql, 0003_operations.sql): API keys
// for tenants, worker tokens for GPU workers, admin tokens for operators. Every secret is shown
// once and stored only as its sha256; each has a public id to list and revoke it by. Written
// against a minimal D1 shape so the edge, `npm start` and provisioning share one implementation.
import { generateSecret, hashSecret, newId } from './secrets.js';

interface Statement {
  bind(...values: unknown[]): Statement;
  run(): Promise<unknown>;
  first<T = Record<string, unknown>>(): Promise<T | null>;
  all<T = Record<string, unknown>>(): Promise<{ results: T[] }>;
}
/** The part of a D1 binding used here (the real binding and the local proxy both fit). */
export interface D1Like {
  prepare(sql: string): Statement;
  batch(statements: Statement[]): Promise<unknown>;
}

const now = () => new Date().toISOString();

/** An API key as its tenant and operators see it: never the secret. */
export interface ApiKeyView {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  /** To the hour: it is recorded at most once an hour per key. */
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

/**
 * Creates a tenant and its first API key; returns the key (shown once, never stored).
 *
 * @example
 * const { tenantId, apiKey } = await createTenant(env.DB, { name: 'acme', keyName: 'ci' });
 */
export async function createTenant(
  db: D1Like,
  opts: { name: string; keyName: string },
): Promise<{ tenantId: string; apiKey: string; keyId: string }> {
  const tenantId = newId('ten');
  const keyId = newId('key');
  const apiKey = generateSecret('hs_key');
  const at = now();
  await db.batch([
    db
      .prepare('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)')
      .bind(tenantId, opts.name, at),
    db
      .prepare(
        'INSERT INTO api_keys (id, key_hash, tenant_id, name, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .bind(keyId, await hashSecret(apiKey), tenantId, opts.keyName, at),
  ]);
  return { tenantId, apiKey, keyId };
}

/** A new API key for an existing tenant; returns it once. */
export async function createApiKey(
  db: D1Like,
  tenantId: string,
  name: string,
): Promise<{ keyId: string; apiKey: string }> {
  const keyId = newId('key');
  const apiKey = generateSecret('hs_key');
  await db
    .prepare(
      'INSERT INTO api_keys (id, key_hash, tenant_id, name, created_at) VALUES (?, ?, ?, ?, ?)',
    )
    .bind(keyId, await hashSecret(apiKey), tenantId, name, now())
    .run();
  return { keyId, apiKey };
}

/** A tenant's keys, newest first, revoked ones included. */
export async function listApiKeys(db: D1Like, tenantId: string): Promise<ApiKeyView[]> {
  const { results } = await db
    .prepare(
      'SELECT id, name, created_at AS createdAt, last_used_at AS lastUsedAt, revoked_at AS revokedAt FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, id',
    )
    .bind(tenantId)
    .all<ApiKeyView>();
  return results;
}

/** Revokes one of a tenant's keys; false when the tenant has no such active key. */
export async function revokeApiKey(db: D1Like, tenantId: string, keyId: string): Promise<boolean> {
  const row = await db
    .prepare('SELECT id FROM api_keys WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL')
    .bind(keyId, tenantId)
    .first<{ id: string }>();
  if (!row) return false;
  await db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').bind(now(), keyId).run();
  return true;
}

/** Creates a worker token (internal endpoints only); returns it once, with its public id. */
export async function issueWorkerToken(
  db: D1Like,
  name: string,
): Promise<{ tokenId: string; token: string }> {
  const tokenId = newId('wtk');
  const token = generateSecret('hs_worker');
  await db
    .prepare('INSERT INTO worker_tokens (id, token_hash, name, created_at) VALUES (?, ?, ?, ?)')
    .bind(tokenId, await hashSecret(token), name, now())
    .run();
  return { tokenId, token };
}

/** Creates a worker token; returns only the secret (local tooling). */
export async function createWorkerToken(db: D1Like, name: string): Promise<string> {
  return (await issueWorkerToken(db, name)).token;
}

/** Creates an admin token (the admin API only); returns it once. */
export async function createAdminToken(
  db: D1Like,
  name: string,
): Promise<{ tokenId: string; token: string }> {
  const tokenId = newId('adm');
  const token = generateSecret('hs_admin');
  await db
    .prepare('INSERT INTO admin_tokens (id, token_hash, name, created_at) VALUES (?, ?, ?, ?)')
    .bind(tokenId, await hashSecret(token), name, now())
    .run();
  return { tokenId, token };
}

/** The tenant an API key belongs to, or undefined for an unknown or revoked key or a disabled tenant. */
export async function tenantForKey(db: D1Like, apiKey: string): Promise<string | undefined> {
  return (await keyHolder(db, apiKey))?.tenantId;
}

/** The key's id and tenant (see tenantForKey), for recording its use. */
export async function keyHolder(
  db: D1Like,
  apiKey: string,
): Promise<{ tenantId: string; keyId: string; lastUsedAt: string | null } | undefined> {
  if (!apiKey.startsWith('hs_key_')) return undefined;
  const row = await db
    .prepare(
      `SELECT k.tenant_id AS tenantId, k.id AS keyId, k.last_used_at AS lastUsedAt FROM api_keys k
       JOIN tenants t ON t.id = k.tenant_id
       WHERE k.key_hash = ? AND k.revoked_at IS NULL AND t.disabled_at IS NULL`,
    )
    .bind(await hashSecret(apiKey))
    .first<{ tenantId: string; keyId: string; lastUsedAt: string | null }>();
  return row ?? undefined;
}

/** The worker's name for a worker token, or undefined. */
export async function workerForToken(db: D1Like, token: string): Promise<string | undefined> {
  if (!token.startsWith('hs_worker_')) return undefined;
  const row = await db
    .prepare('SELECT name FROM worker_tokens WHERE token_hash = ? AND revoked_at IS NULL')
    .bind(await hashSecret(token))
    .first<{ name: string }>();
  return row?.name;
}

/** The admin token's name, or undefined for an unknown or revoked one. */
export async function adminForToken(db: D1Like, token: string): Promise<string | undefined> {
  if (!token.startsWith('hs_admin_')) return undefined;
  const row = await db
    .prepare('SELECT name FROM admin_tokens WHERE token_hash = ? AND revoked_at IS NULL')
    .bind(await hashSecret(token))
    .first<{ name: string }>();
  return row?.name;
}
