// What a tenant's key use leaves behind: the key's last-used hour and the tenant's request count
// for the day, written after the answer (waitUntil) so no request waits for them.
import type { Context } from 'hono';
import type { AppEnv } from '../env.js';

/**
 * Counts the request for the key's tenant and, once an hour per key, records when it was last
 * used. Runs after the response where the runtime allows it.
 *
 * @example
 * recordKeyUse(c, { tenantId, keyId, lastUsedAt });
 */
export function recordKeyUse(
  c: Context<AppEnv>,
  holder: { tenantId: string; keyId: string; lastUsedAt: string | null },
): void {
  const db = c.env.DB;
  const at = new Date().toISOString();
  const hour = `${at.slice(0, 13)}:00:00.000Z`;
  const statements = [
    db
      .prepare(
        `INSERT INTO tenant_requests (tenant_id, day, requests) VALUES (?, ?, 1)
         ON CONFLICT (tenant_id, day) DO UPDATE SET requests = requests + 1`,
      )
      .bind(holder.tenantId, at.slice(0, 10)),
  ];
  if (holder.lastUsedAt !== hour)
    statements.push(
      db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').bind(hour, holder.keyId),
    );
  const writing = db.batch(statements).catch((err: unknown) => {
    console.error(`recording key use failed: ${String(err)}`);
  });
  try {
    c.executionCtx.waitUntil(writing);
  } catch {
    // No execution context (a direct app.fetch in a test): the write simply runs on.
  }
}
