// Uploading a dataset: the D1 record, the archive streamed into R2, ingestion, and
// Idempotency-Key replays (same key and bytes → the dataset the first upload made).
import {
  DEFAULT_DATASET_LIMITS,
  SplitSpecSchema,
  datasetKeys,
  type DatasetManifest,
} from '../../shared/datasets.js';
import { newId } from '../../shared/secrets.js';
import { ApiError } from '../errors.js';
import { hashBody, storeArchive } from './archive-upload.js';
import { ingestArchive } from './ingest.js';
import { deleteDataset, getDatasetManifest } from './store.js';

export interface UploadDeps {
  readonly db: D1Database;
  readonly bucket: R2Bucket;
}

export interface UploadOptions {
  readonly name?: string | undefined;
  readonly seed?: number | undefined;
  readonly valFraction?: number | undefined;
  readonly idempotencyKey?: string | undefined;
}

/** Seconds a client is told to wait before retrying while the first upload with its key runs. */
export const IN_PROGRESS_RETRY_SECONDS = 2;

interface KeyedRow {
  id: string;
  name: string;
  status: string;
  request_hash: string | null;
}

const inProgress = () =>
  new ApiError(
    'idempotency_in_progress',
    'an upload with this Idempotency-Key is still being stored and checked; retry shortly',
    'header.idempotency-key',
    { 'retry-after': String(IN_PROGRESS_RETRY_SECONDS) },
  );

/** A retried upload: the same bytes answer the first upload's dataset, other bytes a 409. */
async function replayUpload(
  deps: UploadDeps,
  request: Request,
  row: KeyedRow,
): Promise<{ manifest: DatasetManifest; name: string }> {
  if (row.status !== 'ready' || row.request_hash === null) throw inProgress();
  const { sha256 } = await hashBody(request, DEFAULT_DATASET_LIMITS.maxArchiveBytes);
  if (sha256 !== row.request_hash) {
    throw new ApiError(
      'idempotency_conflict',
      'this Idempotency-Key was used with a different archive',
      'header.idempotency-key',
    );
  }
  return { manifest: await getDatasetManifest(deps.bucket, row.id, 'path.id'), name: row.name };
}

/**
 * Stores and ingests an uploaded archive as a new dataset of `tenantId`. With an idempotency key,
 * a second upload of the same bytes answers the first one's dataset (`replayed: true`), other
 * bytes get 409 `idempotency_conflict`, and one that arrives while the first is still being
 * ingested gets 409 `idempotency_in_progress` with Retry-After. A refused upload leaves no record
 * and no objects, and frees its key.
 *
 * @example
 * const { manifest, replayed } = await uploadDataset(deps, tenantId, c.req.raw, { idempotencyKey: 'nightly-7' });
 */
export async function uploadDataset(
  deps: UploadDeps,
  tenantId: string,
  request: Request,
  opts: UploadOptions,
): Promise<{ manifest: DatasetManifest; name: string; replayed: boolean }> {
  const key = opts.idempotencyKey ?? null;
  if (key !== null) {
    const row = await deps.db
      .prepare(
        'SELECT id, name, status, request_hash FROM datasets WHERE tenant_id = ? AND idempotency_key = ?',
      )
      .bind(tenantId, key)
      .first<KeyedRow>();
    if (row) return { ...(await replayUpload(deps, request, row)), replayed: true };
  }
  const id = newId('ds');
  const name = opts.name ?? id;
  const keys = datasetKeys(id);
  try {
    await deps.db
      .prepare(
        "INSERT INTO datasets (id, tenant_id, name, status, created_at, idempotency_key) VALUES (?, ?, ?, 'ingesting', ?, ?)",
      )
      .bind(id, tenantId, name, new Date().toISOString(), key)
      .run();
  } catch (err) {
    // Two uploads with one key at once: the unique index lets one through.
    if (key !== null && /UNIQUE/i.test(String(err))) throw inProgress();
    throw err;
  }
  try {
    const archive = await storeArchive(
      deps.bucket,
      keys.archive,
      request,
      DEFAULT_DATASET_LIMITS.maxArchiveBytes,
    );
    const split = SplitSpecSchema.partial().parse({
      seed: opts.seed,
      valFraction: opts.valFraction,
    });
    const manifest = await ingestArchive(deps.bucket, {
      tenant: tenantId,
      datasetId: id,
      archiveKey: keys.archive,
      split,
    });
    const images = manifest.images.train.length + manifest.images.val.length;
    await deps.db
      .prepare(
        "UPDATE datasets SET status = 'ready', image_count = ?, class_count = ?, request_hash = ? WHERE id = ?",
      )
      .bind(images, manifest.classes.length, archive.sha256, id)
      .run();
    return { manifest, name, replayed: false };
  } catch (err) {
    await deleteDataset(deps.bucket, id).catch(() => undefined);
    await deps.db.prepare('DELETE FROM datasets WHERE id = ?').bind(id).run();
    throw err;
  }
}
