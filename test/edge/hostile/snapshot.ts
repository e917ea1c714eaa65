// Everything the edge stores, read back for comparison: every D1 row, every object (key, size,
// etag) in both R2 buckets, and every coordinator shard's jobs, heads, aliases and alarm.
import { listDurableObjectIds, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';

export interface StoredState {
  readonly d1: Record<string, unknown[]>;
  readonly r2: Record<'MODELS' | 'DATASETS', string[]>;
  readonly coordinator: {
    readonly instances: number;
    /** By Durable Object id: one entry per shard that exists. */
    readonly shards: Record<
      string,
      { readonly tables: Record<string, unknown[]>; readonly alarm: number | null }
    >;
  };
}

/** Every coordinator shard that exists (reading one does not create another). */
async function shards() {
  const ids = await listDurableObjectIds(env.COORDINATOR);
  return ids.map((id) => ({ id: id.toString(), stub: env.COORDINATOR.get(id) }));
}

/**
 * What every request may touch, refused or not: the per-tenant request counts, the workers'
 * last report and a key's last-used hour. Bookkeeping, not state a request can change.
 */
const BOOKKEEPING_TABLES = new Set(['tenant_requests', 'workers']);
const BOOKKEEPING_COLUMNS = new Set(['last_used_at']);

async function d1Rows(): Promise<Record<string, unknown[]>> {
  const { results } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name",
  ).all<{ name: string }>();
  const tables = results.filter((t) => !BOOKKEEPING_TABLES.has(t.name));
  const rows = await env.DB.batch(
    tables.map((t) => env.DB.prepare(`SELECT * FROM "${t.name}" ORDER BY rowid`)),
  );
  const withoutBookkeeping = (row: unknown) =>
    Object.fromEntries(
      Object.entries(row as Record<string, unknown>).filter(([k]) => !BOOKKEEPING_COLUMNS.has(k)),
    );
  return Object.fromEntries(
    tables.map((t, i) => [t.name, rows[i]!.results.map(withoutBookkeeping)]),
  );
}

async function objects(bucket: R2Bucket): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list(cursor === undefined ? {} : { cursor });
    out.push(...page.objects.map((o) => `${o.key} ${o.size} ${o.etag}`));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  return out.sort();
}

/** Reads the whole stored state. */
export async function snapshot(): Promise<StoredState> {
  const instances = await shards();
  const [d1, models, datasets, inside] = await Promise.all([
    d1Rows(),
    objects(env.MODELS),
    objects(env.DATASETS),
    Promise.all(
      instances.map(({ stub }) =>
        runInDurableObject(stub, async (_, state) => ({
          tables: Object.fromEntries(
            ['jobs', 'heads', 'aliases'].map((t) => [
              t,
              state.storage.sql.exec(`SELECT * FROM ${t} ORDER BY rowid`).toArray(),
            ]),
          ),
          alarm: await state.storage.getAlarm(),
        })),
      ),
    ),
  ]);
  return {
    d1,
    r2: { MODELS: models, DATASETS: datasets },
    coordinator: {
      instances: instances.length,
      shards: Object.fromEntries(instances.map(({ id }, i) => [id, inside[i]!])),
    },
  };
}

/** How many jobs the coordinator shards have registered, all together. */
export async function jobCount(): Promise<number> {
  const counts = await Promise.all(
    (await shards()).map(({ stub }) =>
      runInDurableObject(
        stub,
        (_, state) =>
          state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM jobs').one().n,
      ),
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}
