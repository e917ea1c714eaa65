// Backbones from R2: manifests, integrity-checked model bytes, and one session per isolate.
import { BACKBONE_ID_PATTERN as BACKBONE_ID, backboneKeys } from '../../shared/backbones.js';
import { sha256Hex } from '../../shared/fingerprint.js';
import { BackboneManifestSchema, type BackboneManifest } from '../../shared/manifest.js';
import { withGraphOutputs } from '../../shared/onnx-outputs.js';
import { ApiError } from '../errors.js';
import { createEdgeSession, type EdgeSession } from './onnx-backend.js';

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
  const manifest = BACKBONE_ID.test(id)
    ? await readManifest(bucket, backboneKeys(id).manifest)
    : undefined;
  if (!manifest)
    throw new ApiError('not_found', `no model named "${id}"; GET /v1/models lists them`, field);
  return manifest;
}

/** Every backbone manifest in the bucket, sorted by id. */
export async function listBackboneManifests(bucket: R2Bucket): Promise<BackboneManifest[]> {
  const listed = await bucket.list({ prefix: 'backbones/', delimiter: '/' });
  const ids = listed.delimitedPrefixes
    .map((p) => p.slice('backbones/'.length, -1))
    .filter((id) => BACKBONE_ID.test(id));
  const manifests = await Promise.all(
    ids.map((id) => readManifest(bucket, backboneKeys(id).manifest)),
  );
  return manifests
    .filter((m): m is BackboneManifest => m !== undefined)
    .sort((a, b) => a.id.localeCompare(b.id));
}

const sessions = new Map<string, Promise<LoadedBackbone>>();

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

/** How long a request waits for a model load before answering 503 (the load is then forgotten). */
export const MODEL_LOAD_TIMEOUT_MS = 20_000;

/**
 * The backbone's session, created once per isolate; concurrent first requests share one load,
 * and a failed or stuck load is forgotten so the next request tries again.
 *
 * `keepAlive` (the request's `waitUntil`) keeps a new load running after the request that
 * started it has answered — otherwise workerd would cancel its I/O and every request sharing
 * the load would wait forever.
 *
 * @example
 * const { manifest, session } = await loadBackboneSession(env.MODELS, 'mobilenet-v2-0.35', ctx.waitUntil.bind(ctx));
 */
export async function loadBackboneSession(
  bucket: R2Bucket,
  id: string,
  keepAlive?: (promise: Promise<unknown>) => void,
): Promise<LoadedBackbone> {
  let pending = sessions.get(id);
  if (!pending) {
    const load = loadBackbone(bucket, id);
    pending = load;
    sessions.set(id, load);
    load.catch(() => {
      if (sessions.get(id) === load) sessions.delete(id);
    });
    keepAlive?.(load.catch(() => undefined));
  }
  const shared = pending;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      if (sessions.get(id) === shared) sessions.delete(id);
      reject(
        new ApiError(
          'model_unavailable',
          `loading "${id}" took longer than ${MODEL_LOAD_TIMEOUT_MS / 1000} s; try again`,
        ),
      );
    }, MODEL_LOAD_TIMEOUT_MS);
  });
  try {
    return await Promise.race([shared, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Forgets the cached session of `id`, so the next request loads it from R2 again. */
export function evictBackboneSession(id: string): void {
  sessions.delete(id);
}
