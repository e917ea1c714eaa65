// The job directory: a small Durable Object that knows which coordinator shards have queued
// work, so a worker asking for a lease waits in one place and is sent only to shards with
// something to give. Shards report when they go from empty to not (and back); each report
// carries the shard's own sequence number, so reports that arrive out of order cannot undo
// newer ones. It holds one row per shard: its load is the workers' polls, not the jobs.
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env.js';
import { wakeOrTimeout } from './wait.js';

export class JobDirectory extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Lease requests waiting for some shard to have work. */
  private readonly waiters = new Set<() => void>();
  private served = { reports: 0, polls: 0 };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS shards (
      name TEXT PRIMARY KEY, has_work INTEGER NOT NULL, seq INTEGER NOT NULL, reported_at INTEGER NOT NULL)`);
  }

  /**
   * A shard's news: whether it has queued jobs, as of its report number `seq`. A report older
   * than the last one taken from that shard changes nothing.
   */
  report(shard: string, hasWork: boolean, seq: number): { applied: boolean } {
    this.served.reports++;
    const before = this.sql
      .exec<{ seq: number }>('SELECT seq FROM shards WHERE name = ?', shard)
      .toArray()[0];
    if (before && before.seq >= seq) return { applied: false };
    this.sql.exec(
      `INSERT INTO shards (name, has_work, seq, reported_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET has_work = excluded.has_work, seq = excluded.seq, reported_at = excluded.reported_at`,
      shard,
      hasWork ? 1 : 0,
      seq,
      Date.now(),
    );
    if (hasWork) for (const wake of [...this.waiters]) wake();
    return { applied: true };
  }

  private pending(): string[] {
    return this.sql
      .exec<{ name: string }>('SELECT name FROM shards WHERE has_work = 1 ORDER BY name')
      .toArray()
      .map((r) => r.name);
  }

  /** The shards with queued work, waiting up to `waitMs` for one when there is none. */
  async waitForWork(waitMs: number): Promise<string[]> {
    this.served.polls++;
    const deadline = Date.now() + Math.min(Math.max(waitMs, 0), 30_000);
    for (;;) {
      const pending = this.pending();
      const remaining = deadline - Date.now();
      if (pending.length > 0 || remaining <= 0) return pending;
      await wakeOrTimeout(this.waiters, remaining);
    }
  }

  /** What the directory believes and how many calls it served since it started (benchmarks). */
  stats(): {
    shards: { name: string; hasWork: boolean; seq: number }[];
    reports: number;
    polls: number;
  } {
    const shards = this.sql
      .exec<{ name: string; has_work: number; seq: number }>(
        'SELECT name, has_work, seq FROM shards ORDER BY name',
      )
      .toArray()
      .map((r) => ({ name: r.name, hasWork: r.has_work === 1, seq: r.seq }));
    return { shards, ...this.served };
  }
}
