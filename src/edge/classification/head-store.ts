// Trained heads from R2: integrity-checked, validated against their backbone, and kept per
// isolate in an LRU cache bounded in bytes, whose evicted sessions are freed once no request
// holds them. Head ids are content addresses, so a cached head can never be stale; whether a head
// still exists (and what an alias points at) is resolve.ts's question, answered within
// RESOLVE_SECONDS everywhere.
import { concatBytes } from '../../shared/bytes.js';
import { sha256Hex } from '../../shared/fingerprint.js';
import {
  HeadManifestSchema,
  headIncompatibility,
  headKeys,
  type HeadManifest,
} from '../../shared/heads.js';
import { ApiError } from '../errors.js';
import { readImmutable } from './location-cache.js';
import { getBackboneManifest } from './model-store.js';
import { createEdgeSession, type EdgeSession } from './onnx-backend.js';
import { LeasedCache, type Lease } from './session-cache.js';

export interface LoadedHead {
  readonly id: string;
  readonly manifest: HeadManifest;
  readonly labels: readonly string[];
  readonly session: EdgeSession;
  readonly bytes: number;
}

/**
 * Head bytes an isolate keeps loaded: its share of the isolate's 128 MB (the memory budget in
 * docs/preprocessing.md). A head counts its ONNX bytes plus HEAD_SESSION_OVERHEAD_BYTES, what a session costs
 * in wasm memory beyond its weights (about 28 KiB measured: 120 unfreed 3-class heads on a
 * 256-d backbone grew it by 3.3 MiB), so the bound holds for thousands of tiny heads too.
 */
export const HEAD_CACHE_BYTES = 32 * 1024 * 1024;
export const HEAD_SESSION_OVERHEAD_BYTES = 32 * 1024;
/** How long a request waits for a head to load before answering 503. */
const HEAD_LOAD_TIMEOUT_MS = 20_000;

const cache = new LeasedCache<LoadedHead>(HEAD_CACHE_BYTES, {
  sizeOf: (head) => head.bytes + HEAD_SESSION_OVERHEAD_BYTES,
  free: (head) => head.session.release(),
  timeoutMs: HEAD_LOAD_TIMEOUT_MS,
  timeoutMessage: (id) =>
    `loading ${id} took longer than ${HEAD_LOAD_TIMEOUT_MS / 1000} s; try again`,
});

async function loadHead(
  bucket: R2Bucket,
  headId: string,
  keepAlive?: (promise: Promise<unknown>) => void,
): Promise<LoadedHead> {
  const keys = headKeys(headId);
  // Through the location's cache: the files never change under a head id.
  const [manifestObject, modelObject] = await Promise.all([
    readImmutable(bucket, keys.manifest, keepAlive),
    readImmutable(bucket, keys.model, keepAlive),
  ]);
  // Both gone: the head was deleted (an isolate that still remembered it asked within the
  // resolve bound). One gone: storage lost a file.
  if (!manifestObject && !modelObject)
    throw new ApiError('not_found', `no head ${headId}; GET /v1/heads lists yours`, 'query.model');
  if (!manifestObject || !modelObject)
    throw new ApiError('model_unavailable', `the files of ${headId} are missing from storage`);
  const manifestBytes = manifestObject.bytes;
  const onnx = modelObject.bytes;
  const digest = await sha256Hex(concatBytes([onnx, manifestBytes]));
  if (`head_${digest.slice(0, 32)}` !== headId) {
    console.error(`head ${headId}: stored files hash to head_${digest.slice(0, 32)}`);
    throw new ApiError(
      'model_unavailable',
      `the stored files of ${headId} fail their integrity check`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(manifestBytes));
  } catch {
    json = undefined;
  }
  const parsed = HeadManifestSchema.safeParse(json);
  if (!parsed.success)
    throw new ApiError('model_unavailable', `the manifest stored for ${headId} is invalid`);
  const manifest = parsed.data;
  const backbone = await getBackboneManifest(bucket, manifest.backbone.id);
  const incompatible = headIncompatibility(manifest, backbone);
  if (incompatible) throw new ApiError('unprocessable', `${headId} cannot run: ${incompatible}`);
  const session = await createEdgeSession(onnx);
  if (
    !session.inputNames.includes(manifest.input.name) ||
    !session.outputNames.includes('probabilities')
  )
    throw new ApiError(
      'model_unavailable',
      `${headId} does not take "${manifest.input.name}" or give "probabilities"`,
    );
  const labels = Object.entries(manifest.id2label)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, label]) => label);
  return { id: headId, manifest, labels, session, bytes: onnx.byteLength };
}

/**
 * Holds head `headId` (which the caller has already resolved for its tenant) for a request:
 * loaded once per isolate and kept in an LRU bounded by bytes; concurrent first requests share
 * one load; a failed load is forgotten so the next request retries; an evicted head's session is
 * freed once the last request holding it calls `release`.
 *
 * @example
 * const { value: head, release } = await acquireHead(env.MODELS, 'head_0123…', (p) => ctx.waitUntil(p));
 * try { await head.session.run({ embedding: … }); } finally { release(); }
 */
export function acquireHead(
  bucket: R2Bucket,
  headId: string,
  keepAlive?: (promise: Promise<unknown>) => void,
): Promise<Lease<LoadedHead>> {
  return cache.acquire(headId, () => loadHead(bucket, headId, keepAlive), keepAlive);
}

/** Drops a head from this isolate's cache (after it is deleted). */
export function evictHead(headId: string): void {
  cache.evict(headId);
}

/** What the cache holds now, least recently used first (for diagnostics and tests). */
export function headCacheStats(): { heads: string[]; bytes: number; limitBytes: number } {
  const { keys, ...rest } = cache.stats();
  return { heads: keys, ...rest };
}

/** Sets this isolate's bound (tests; HEAD_CACHE_BYTES otherwise), evicting what no longer fits. */
export function setHeadCacheLimit(bytes: number): void {
  cache.setLimit(bytes);
}
