// Trained heads from R2: integrity-checked, validated against their backbone, and kept per
// isolate in an LRU cache bounded in bytes. Head ids are content addresses, so a cached head can
// never be stale; which heads exist (and what an alias points at) is asked of the coordinator on
// every request, which is how deletions and moved aliases take effect everywhere at once.
import { concatBytes } from '../../shared/bytes.js';
import { sha256Hex } from '../../shared/fingerprint.js';
import {
  HeadManifestSchema,
  headIncompatibility,
  headKeys,
  type HeadManifest,
} from '../../shared/heads.js';
import { SizedLru } from '../../shared/lru.js';
import { ApiError } from '../errors.js';
import { getBackboneManifest } from './model-store.js';
import { createEdgeSession, type EdgeSession } from './onnx-backend.js';

export interface LoadedHead {
  readonly id: string;
  readonly manifest: HeadManifest;
  readonly labels: readonly string[];
  readonly session: EdgeSession;
  readonly bytes: number;
}

/**
 * Head bytes an isolate keeps loaded (sessions hold about their model's size): its share of the
 * isolate's 128 MB (the README's memory budget).
 */
export const HEAD_CACHE_BYTES = 32 * 1024 * 1024;

const cache = new SizedLru<Promise<LoadedHead>>(HEAD_CACHE_BYTES);

async function loadHead(bucket: R2Bucket, headId: string): Promise<LoadedHead> {
  const keys = headKeys(headId);
  const [manifestObject, modelObject] = await Promise.all([
    bucket.get(keys.manifest),
    bucket.get(keys.model),
  ]);
  if (!manifestObject || !modelObject)
    throw new ApiError('model_unavailable', `the files of ${headId} are missing from storage`);
  const manifestBytes = new Uint8Array(await manifestObject.arrayBuffer());
  const onnx = new Uint8Array(await modelObject.arrayBuffer());
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
 * The loaded head `headId` (which the caller has already resolved for its tenant). Concurrent
 * first requests share one load; a failed load is forgotten so the next request retries.
 *
 * @example
 * const head = await loadHeadSession(env.MODELS, 'head_0123…', (p) => ctx.waitUntil(p));
 * const out = await head.session.run({ embedding: { data, dims: [1, head.manifest.input.dim] } });
 */
export function loadHeadSession(
  bucket: R2Bucket,
  headId: string,
  keepAlive?: (promise: Promise<unknown>) => void,
): Promise<LoadedHead> {
  const hit = cache.get(headId);
  if (hit) return hit;
  const load = loadHead(bucket, headId);
  cache.set(headId, load);
  load.then(
    (head) => cache.resize(headId, head.bytes),
    () => {
      if (cache.get(headId) === load) cache.delete(headId);
    },
  );
  keepAlive?.(load.catch(() => undefined));
  return load;
}

/** Drops a head from this isolate's cache (after it is deleted). */
export function evictHead(headId: string): void {
  cache.delete(headId);
}

/** What the cache holds now, least recently used first (for diagnostics and tests). */
export function headCacheStats(): { heads: string[]; bytes: number; limitBytes: number } {
  return { heads: cache.keys(), bytes: cache.size, limitBytes: HEAD_CACHE_BYTES };
}
