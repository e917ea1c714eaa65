// Tenants, API keys and worker tokens in D1 (schema: migrations/0001_init.sql). Written against a
// minimal D1 shape so the edge and the local tooling (npm start) share one implementation.
import { generateSecret, hashSecret, newId } from './secrets.js';

interface Statement {
  bind(...values: unknown[]): Statement;
  run(): Promise<unknown>;
  first<T = Record<string, unknown>>(): Promise<T | null>;
}
/** The part of a D1 binding used here (the real binding and the local proxy both fit). */
export interface D1Like {
  prepare(sql: string): Statement;
  batch(statements: Statement[]): Promise<unknown>;
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
): Promise<{ tenantId: string; apiKey: string }> {
  const tenantId = newId('ten');
  const apiKey = generateSecret('hs_key');
  const now = new Date().toISOString();
  await db.batch([
    db
      .prepare('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)')
      .bind(tenantId, opts.name, now),
    db
      .prepare('INSERT INTO api_keys (key_hash, tenant_id, name, created_at) VALUES (?, ?, ?, ?)')
      .bind(await hashSecret(apiKey), tenantId, opts.keyName, now),
  ]);
  return { tenantId, apiKey };
}

/** Creates a worker token (internal endpoints only); returns it once. */
export async function createWorkerToken(db: D1Like, name: string): Promise<string> {
  const token = generateSecret('hs_worker');
  await db
    .prepare('INSERT INTO worker_tokens (token_hash, name, created_at) VALUES (?, ?, ?)')
    .bind(await hashSecret(token), name, new Date().toISOString())
    .run();
  return token;
}

/** The tenant an API key belongs to, or undefined for an unknown or revoked key. */
export async function tenantForKey(db: D1Like, apiKey: string): Promise<string | undefined> {
  if (!apiKey.startsWith('hs_key_')) return undefined;
  const row = await db
    .prepare('SELECT tenant_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL')
    .bind(await hashSecret(apiKey))
    .first<{ tenant_id: string }>();
  return row?.tenant_id;
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
