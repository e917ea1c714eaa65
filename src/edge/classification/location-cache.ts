// The Cache API of the location an isolate runs in, in front of R2, for files that never change
// under their key (a head's files: its id is the hash of their content). An isolate that starts
// cold where another isolate already loaded a head reads the files from its own location instead
// of from R2. Only files are kept here: whether a head still exists is asked of R2 at least every
// RESOLVE_SECONDS (resolve.ts), so a deleted head is never served from this cache; DELETE also
// drops the deleting location's copies, and other locations' copies expire after
// LOCATION_CACHE_SECONDS unread.

/** How long a location keeps a file after storing it. */
export const LOCATION_CACHE_SECONDS = 24 * 60 * 60;

/** Cache keys are URLs; this host is never fetched (`.invalid` cannot resolve). */
const ORIGIN = 'https://location-cache.headstart.invalid/';

const urlOf = (key: string) => `${ORIGIN}${key.split('/').map(encodeURIComponent).join('/')}`;

/** The location's cache, or undefined where the runtime has none. */
function locationCache(): Cache | undefined {
  return (globalThis as { caches?: { default?: Cache } }).caches?.default;
}

export interface ImmutableFile {
  readonly bytes: Uint8Array;
  /** Where the bytes came from. */
  readonly from: 'location' | 'r2';
}

/**
 * R2 object `key` through the location's cache: a hit never touches R2; a miss reads R2 and
 * stores the bytes for the next isolate here (`keepAlive` lets the store finish after the
 * answer). A cache that fails is skipped, never an error. Null when R2 has no such object.
 *
 * @example
 * const file = await readImmutable(env.MODELS, headKeys(id).model, (p) => ctx.waitUntil(p));
 */
export async function readImmutable(
  bucket: R2Bucket,
  key: string,
  keepAlive?: (promise: Promise<unknown>) => void,
): Promise<ImmutableFile | null> {
  const cache = locationCache();
  const url = urlOf(key);
  const hit = await cache?.match(url).catch(() => undefined);
  if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), from: 'location' };
  const object = await bucket.get(key);
  if (!object) return null;
  const bytes = new Uint8Array(await object.arrayBuffer());
  if (cache) {
    const stored = cache
      .put(
        url,
        new Response(bytes.slice(), {
          headers: {
            'content-type': 'application/octet-stream',
            'cache-control': `public, max-age=${LOCATION_CACHE_SECONDS}, immutable`,
          },
        }),
      )
      .catch((err: unknown) => console.warn(`location cache: storing ${key} failed`, err));
    if (keepAlive) keepAlive(stored);
    else await stored;
  }
  return { bytes, from: 'r2' };
}

/**
 * Drops this location's copies of `keys` (after the files are deleted from R2).
 *
 * @example
 * await forgetImmutable([keys.model, keys.manifest]);
 */
export async function forgetImmutable(keys: readonly string[]): Promise<void> {
  const cache = locationCache();
  if (!cache) return;
  await Promise.all(keys.map((key) => cache.delete(urlOf(key)).catch(() => false)));
}

/**
 * Whether this location holds a copy of `key` (tests and diagnostics).
 *
 * @example
 * await heldHere(headKeys(id).model); // true once an isolate here has loaded the head
 */
export async function heldHere(key: string): Promise<boolean> {
  const hit = await locationCache()
    ?.match(urlOf(key))
    .catch(() => undefined);
  return hit !== undefined;
}
