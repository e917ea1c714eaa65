// Backbones from R2: manifests, integrity-checked model bytes, and one session per isolate.
import {
  BACKBONE_ID_PATTERN as BACKBONE_ID,
  findBackbone,
  BACKBONE_REF_PATTERN,
  backboneKeys,
  tenantBackboneOf,
  tenantBackbonesPrefix,
} from '../../shared/backbones.js';
import { sha256Hex } from '../../shared/fingerprint.js';
import { BackboneManifestSchema, type BackboneManifest } from '../../shared/manifest.js';
import { withGraphOutputs } from '../../shared/onnx-outputs.js';
import { ApiError } from '../errors.js';
import { createEdgeSession, type EdgeSession } from './onnx-backend.js';
import { LeasedCache } from './session-cache.js';

export interface LoadedBackbone {
  readonly manifest: BackboneManifest;
  readonly session: EdgeSession;
}

async function readManifest(bucket: R2Bucket, key: string): Promise<BackboneManifest | undefined> {
  const object = await bucket.get(key);
  if (!object) return undefined;
  const parsed = BackboneManifestSchema.safeParse(await object.json());
  if (!parsed.success) {
    console.error(`manifest ${key} is invalid`, parsed.error.issues);
    throw new ApiError('model_unavailable', `the manifest stored for this model is invalid`);
  }
  return parsed.data;
}

/**
 * The manifest of backbone `id`, or a 404 ApiError naming `field` when there is none.
 *
 * @example
 * const manifest = await getBackboneManifest(env.MODELS, 'mobilenet-v1-0.25');
 */
export async function getBackboneManifest(
  bucket: R2Bucket,
  id: string,
  field = 'model',
): Promise<BackboneManifest> {
  const manifest = BACKBONE_REF_PATTERN.test(id)
    ? await readManifest(bucket, backboneKeys(id).manifest)
    : undefined;
  if (!manifest)
    throw new ApiError('not_found', `no model named "${id}"; GET /v1/models lists them`, field);
  return manifest;
}

/** Remembered name resolutions (classification's hot path), by tenant and name. */
const refAnswers = new Map<string, { ref: string | undefined; expires: number }>();
const MAX_REF_ANSWERS = 10_000;

/** Forgets what this isolate remembers of a tenant's backbone names (after an import or delete here). */
export function forgetBackboneRefs(tenantId: string | undefined): void {
  for (const key of refAnswers.keys())
    if (key.startsWith(`${tenantId ?? ''}\n`)) refAnswers.delete(key);
}

async function lookUpBackboneRef(
  bucket: R2Bucket,
  tenantId: string | undefined,
  name: string,
): Promise<string | undefined> {
  const owned = tenantBackboneOf(name);
  if (owned) {
    if (owned.tenantId !== tenantId) return undefined;
    return (await bucket.head(backboneKeys(name).manifest)) ? name : undefined;
  }
  if (!BACKBONE_ID.test(name)) return undefined;
  // Tenant backbones cannot take a catalogue name, so those need no tenant lookup.
  if (tenantId && !findBackbone(name)) {
    const ref = `${tenantId}/${name}`;
    if (await bucket.head(backboneKeys(ref).manifest)) return ref;
  }
  return (await bucket.head(backboneKeys(name).manifest)) ? name : undefined;
}

/**
 * What a backbone name means to `tenantId`: the tenant's own backbone of that name (as its full
 * reference `{tenantId}/{name}`), else the catalogue's (or another backbone imported into the
 * models bucket). A full reference to another tenant's backbone is treated as unknown, so its
 * existence never shows. Returns undefined for a name nobody the tenant may use has.
 *
 * With `rememberSeconds` (classification), the answer is kept that long by this isolate; an
 * import or delete through this isolate forgets the tenant's answers at once.
 *
 * @example
 * const ref = await resolveBackboneRef(env.MODELS, tenantId, 'my-mnv2'); // 'ten_…/my-mnv2'
 */
export async function resolveBackboneRef(
  bucket: R2Bucket,
  tenantId: string | undefined,
  name: string,
  rememberSeconds = 0,
): Promise<string | undefined> {
  if (rememberSeconds <= 0) return lookUpBackboneRef(bucket, tenantId, name);
  const key = `${tenantId ?? ''}\n${name}`;
  const now = Date.now();
  const known = refAnswers.get(key);
  if (known && known.expires > now) return known.ref;
  const ref = await lookUpBackboneRef(bucket, tenantId, name);
  refAnswers.delete(key);
  refAnswers.set(key, { ref, expires: now + rememberSeconds * 1000 });
  if (refAnswers.size > MAX_REF_ANSWERS) refAnswers.delete(refAnswers.keys().next().value!);
  return ref;
}

/** The manifests of the backbone folders directly under `prefix`, sorted by id. */
async function manifestsUnder(
  bucket: R2Bucket,
  prefix: string,
  keep: (id: string) => boolean,
  /** Leave out a manifest that fails its schema instead of failing the listing. */
  skipInvalid: boolean,
): Promise<BackboneManifest[]> {
  const listed = await bucket.list({ prefix, delimiter: '/' });
  const manifests = await Promise.all(
    listed.delimitedPrefixes
      .filter((p) => keep(p.slice(prefix.length, -1)))
      .map((p) => {
        const read = readManifest(bucket, `${p}manifest.json`);
        return skipInvalid ? read.catch(() => undefined) : read;
      }),
  );
  return manifests
    .filter((m): m is BackboneManifest => m !== undefined)
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** A tenant's own backbone manifests, sorted by name. */
export function listTenantBackboneManifests(
  bucket: R2Bucket,
  tenantId: string,
): Promise<BackboneManifest[]> {
  return manifestsUnder(bucket, tenantBackbonesPrefix(tenantId), () => true, true);
}

/** Every backbone manifest in the bucket, sorted by id. */
export function listBackboneManifests(bucket: R2Bucket): Promise<BackboneManifest[]> {
  return manifestsUnder(bucket, 'backbones/', (id) => BACKBONE_ID.test(id), false);
}

/**
 * Model bytes of backbone sessions one isolate keeps loaded. A session takes about 2.3 times its
 * model in wasm memory: the catalogue's four backbones (27.8 MB of models) peak at 65.9 MiB
 * (`npm run bench:edge`). The bound holds all four, because wasm memory never shrinks and an
 * evicted backbone that comes back raises the high-water mark (a 20 MiB bound that made the
 * default backbone reload measured 82.3 MiB); beyond them (imported backbones), the least
 * recently used go. One backbone larger than the bound is still served, alone.
 */
export const BACKBONE_CACHE_BYTES = 32 * 1024 * 1024;

/** How long a request waits for a model load before answering 503 (the load is then forgotten). */
export const MODEL_LOAD_TIMEOUT_MS = 20_000;

/** A backbone held for one request: call `release` when the request is done with it. */
export interface BackboneLease {
  readonly backbone: LoadedBackbone;
  readonly release: () => void;
}

const sessions = new LeasedCache<LoadedBackbone>(BACKBONE_CACHE_BYTES, {
  sizeOf: (b) => b.manifest.onnx.bytes,
  free: (b) => b.session.release(),
  timeoutMs: MODEL_LOAD_TIMEOUT_MS,
  timeoutMessage: (id) =>
    `loading "${id}" took longer than ${MODEL_LOAD_TIMEOUT_MS / 1000} s; try again`,
});

async function loadBackbone(bucket: R2Bucket, id: string): Promise<LoadedBackbone> {
  const manifest = await getBackboneManifest(bucket, id);
  const object = await bucket.get(backboneKeys(id).model);
  if (!object)
    throw new ApiError('model_unavailable', `the weights of "${id}" are missing from storage`);
  const bytes = new Uint8Array(await object.arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (digest !== manifest.onnx.sha256) {
    console.error(
      `model ${id}: sha256 ${digest} does not match its manifest (${manifest.onnx.sha256})`,
    );
    throw new ApiError(
      'model_unavailable',
      `the stored weights of "${id}" fail their integrity check`,
    );
  }
  // Block inputs become outputs too: fine-tuned heads start there, and heads with the same cut
  // share this one pass.
  const known = new Set([
    manifest.onnx.input.name,
    ...Object.values(manifest.onnx.outputs).map((o) => o?.name),
  ]);
  const cuts = [
    ...new Set(
      (manifest.blocks ?? []).flatMap((b) => (b.input && !known.has(b.input) ? [b.input] : [])),
    ),
  ];
  return { manifest, session: await createEdgeSession(withGraphOutputs(bytes, cuts)) };
}

/**
 * Holds backbone `id`'s session for a request: created once per isolate and kept in an LRU
 * bounded by model bytes (BACKBONE_CACHE_BYTES); concurrent first requests share one load, and a
 * failed or stuck load is forgotten so the next request tries again. A session evicted while
 * requests hold it is released after the last of them calls `release`.
 *
 * `keepAlive` (the request's `waitUntil`) keeps a new load running after the request that
 * started it has answered — otherwise workerd would cancel its I/O and every request sharing
 * the load would wait forever.
 *
 * @example
 * const { backbone, release } = await acquireBackbone(env.MODELS, 'mobilenet-v2-1.0', ctx.waitUntil.bind(ctx));
 * try { await backbone.session.run(feeds); } finally { release(); }
 */
export async function acquireBackbone(
  bucket: R2Bucket,
  id: string,
  keepAlive?: (promise: Promise<unknown>) => void,
): Promise<BackboneLease> {
  const { value, release } = await sessions.acquire(id, () => loadBackbone(bucket, id), keepAlive);
  return { backbone: value, release };
}

/**
 * The backbone's session for a caller that holds it only briefly (tests, diagnostics): acquired
 * and released at once, so an eviction may release it later.
 */
export async function loadBackboneSession(
  bucket: R2Bucket,
  id: string,
  keepAlive?: (promise: Promise<unknown>) => void,
): Promise<LoadedBackbone> {
  const { backbone, release } = await acquireBackbone(bucket, id, keepAlive);
  release();
  return backbone;
}

/** Forgets the cached session of `id`, so the next request loads it from R2 again. */
export function evictBackboneSession(id: string): void {
  sessions.evict(id);
}

/** The backbones loaded now, least recently used first, and their model bytes (diagnostics, tests). */
export function backboneCacheStats(): { backbones: string[]; bytes: number; limitBytes: number } {
  const { keys, ...rest } = sessions.stats();
  return { backbones: keys, ...rest };
}

/** Sets this isolate's bound (tests; BACKBONE_CACHE_BYTES otherwise), evicting what no longer fits. */
export function setBackboneCacheLimit(bytes: number): void {
  sessions.setLimit(bytes);
}
