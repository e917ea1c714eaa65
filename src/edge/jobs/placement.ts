// Where a tenant's jobs, heads and aliases live: COORDINATOR_SHARDS coordinator shards, a tenant
// placed by a hash of its id. Plain functions, no bindings, so scripts can use them too.
/** The var that sets the shard count (a Worker binding; scripts read it from wrangler.toml). */
export interface ShardsVar {
  readonly COORDINATOR_SHARDS?: string | undefined;
}

/** Most shards a deployment may declare. */
export const MAX_SHARDS = 64;

/** The one instance's name when there is one shard (the name the coordinator always had). */
export const SINGLE_SHARD = 'global';

/**
 * The shard count COORDINATOR_SHARDS declares: a whole number from 1 to 64, else 1 (and a
 * logged complaint). It is part of the data layout: tenants are placed by it, so changing it
 * on a deployment with jobs moves tenants away from their data.
 */
export function shardCount(env: ShardsVar): number {
  const raw = env.COORDINATOR_SHARDS;
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= 1 && n <= MAX_SHARDS) return n;
  console.error(`COORDINATOR_SHARDS=${raw} is not a whole number from 1 to ${MAX_SHARDS}; using 1`);
  return 1;
}

/**
 * FNV-1a over the id, then murmur3's finalizer: every bit of the result depends on every bit of
 * every character (FNV-1a alone leaves the low bits a function of the characters' low bits, and
 * `% shards` reads the low bits).
 */
function placementHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * The shard that holds a tenant's jobs, heads and aliases.
 *
 * @example
 * shardName('ten_abc', 1); // 'global'
 * shardName('ten_abc', 4); // 'shard-2' (always the same one for this tenant)
 */
export function shardName(tenantId: string, shards: number): string {
  return shards === 1 ? SINGLE_SHARD : `shard-${placementHash(tenantId) % shards}`;
}

/** Every shard's name. */
export function shardNames(env: ShardsVar): string[] {
  const n = shardCount(env);
  return n === 1 ? [SINGLE_SHARD] : Array.from({ length: n }, (_, i) => `shard-${i}`);
}
