// What a tenant's key use leaves behind: the tenant's request count for the day and the key's
// last-used hour. Counts gather in the isolate and are written together after USAGE_FLUSH_SECONDS
// (default 5) in one D1 batch, so no request pays a D1 write: at 100 requests a second an
// isolate writes once in 500 requests. An isolate evicted before its flush loses those counts
// (the admin usage report is a count, not a bill).
import type { Context } from 'hono';
import { secondsVar, type AppEnv } from '../env.js';

export const DEFAULT_USAGE_FLUSH_SECONDS = 5;

/** Requests per `tenantId \n day` not yet written. */
const pending = new Map<string, number>();
/** Keys whose last-used hour changed, to write: keyId → hour. */
const lastUsed = new Map<string, string>();
/** The hour already written (or read) per key, so an hour is written once per key and isolate. */
const writtenHour = new Map<string, string>();
/**
 * When the scheduled flush should have run, with a second's grace (0: none scheduled). A flush
 * whose request context was cancelled never runs; past this time the next request schedules
 * another rather than waiting on it forever.
 */
let scheduledUntil = 0;

async function flush(db: D1Database): Promise<void> {
  scheduledUntil = 0;
  const statements: D1PreparedStatement[] = [];
  for (const [key, requests] of pending) {
    const [tenantId, day] = key.split('\n') as [string, string];
    statements.push(
      db
        .prepare(
          `INSERT INTO tenant_requests (tenant_id, day, requests) VALUES (?, ?, ?)
           ON CONFLICT (tenant_id, day) DO UPDATE SET requests = requests + excluded.requests`,
        )
        .bind(tenantId, day, requests),
    );
  }
  for (const [keyId, hour] of lastUsed)
    statements.push(
      db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').bind(hour, keyId),
    );
  pending.clear();
  lastUsed.clear();
  if (statements.length === 0) return;
  try {
    await db.batch(statements);
  } catch (err) {
    console.error(`recording key use failed: ${String(err)}`);
  }
}

/**
 * Counts the request for the key's tenant and notes the key's last-used hour; the first request
 * after a flush schedules the next one (kept alive by waitUntil, after the answer).
 *
 * @example
 * recordKeyUse(c, { tenantId, keyId, lastUsedAt });
 */
export function recordKeyUse(
  c: Context<AppEnv>,
  holder: { tenantId: string; keyId: string; lastUsedAt: string | null },
): void {
  const at = new Date().toISOString();
  const hour = `${at.slice(0, 13)}:00:00.000Z`;
  const key = `${holder.tenantId}\n${at.slice(0, 10)}`;
  pending.set(key, (pending.get(key) ?? 0) + 1);
  if (writtenHour.size > 10_000) writtenHour.clear();
  if (holder.lastUsedAt !== null && !writtenHour.has(holder.keyId))
    writtenHour.set(holder.keyId, holder.lastUsedAt);
  if (writtenHour.get(holder.keyId) !== hour) {
    writtenHour.set(holder.keyId, hour);
    lastUsed.set(holder.keyId, hour);
  }
  const now = Date.now();
  const delayMs = secondsVar(c.env.USAGE_FLUSH_SECONDS, DEFAULT_USAGE_FLUSH_SECONDS);
  if (delayMs > 0 && now < scheduledUntil) return;
  scheduledUntil = now + delayMs + 1000;
  const db = c.env.DB;
  const writing =
    delayMs === 0
      ? flush(db)
      : new Promise((resolve) => setTimeout(resolve, delayMs)).then(() => flush(db));
  try {
    c.executionCtx.waitUntil(writing);
  } catch {
    // No execution context (a direct app.fetch in a test): the write simply runs on.
  }
}
