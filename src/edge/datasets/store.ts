// Stored datasets in R2: read a manifest, add one labelled image, delete a dataset.
import {
  ClassNameSchema,
  countImages,
  DATASET_SPLITS,
  DatasetIdSchema,
  DatasetManifestSchema,
  datasetKeys,
  DEFAULT_DATASET_LIMITS,
  type DatasetLimits,
  type DatasetManifest,
  type DatasetSplit,
} from '../../shared/datasets.js';
import { sha256Hex } from '../../shared/fingerprint.js';
import { ApiError } from '../errors.js';
import { checkImage, IMAGE_CONTENT_TYPES } from './entries.js';

/** Concurrent writers of one manifest retry this often before giving up with 409. */
const MANIFEST_WRITE_ATTEMPTS = 5;

/**
 * The dataset id, or a 400 naming `field`; only a valid id is ever joined into an R2 key.
 *
 * @example
 * parseDatasetId(c.req.param('id'), 'path.id');
 */
export function parseDatasetId(datasetId: string, field = 'datasetId'): string {
  const parsed = DatasetIdSchema.safeParse(datasetId);
  if (!parsed.success)
    throw new ApiError('invalid_request', `"${datasetId}" is not a dataset id`, field);
  return parsed.data;
}

async function parseManifest(object: R2ObjectBody, datasetId: string): Promise<DatasetManifest> {
  const parsed = DatasetManifestSchema.safeParse(await object.json());
  if (!parsed.success) {
    console.error(`dataset manifest ${datasetId} is invalid`, parsed.error.issues);
    throw new ApiError('internal', `the manifest stored for dataset ${datasetId} is invalid`);
  }
  return parsed.data;
}

async function readManifest(
  bucket: R2Bucket,
  datasetId: string,
  field: string,
): Promise<{ manifest: DatasetManifest; etag: string }> {
  const object = await bucket.get(datasetKeys(parseDatasetId(datasetId, field)).manifest);
  if (!object) throw new ApiError('not_found', `no dataset ${datasetId}`, field);
  return { manifest: await parseManifest(object, datasetId), etag: object.etag };
}

/**
 * Parsed manifests this isolate has read, by dataset id, least recently used first. A manifest
 * can change after ingestion (addImage rewrites it), so each entry is only trusted while R2 says
 * its etag is still current. Bounded by count and by images held (a manifest of the maximum
 * 10,000 images is megabytes of objects).
 */
const manifestCache = new Map<
  string,
  { etag: string; manifest: DatasetManifest; images: number }
>();
const MANIFEST_CACHE_ENTRIES = 16;
const MANIFEST_CACHE_IMAGES = 20_000;
let manifestCacheImages = 0;

function forgetManifest(datasetId: string): void {
  const entry = manifestCache.get(datasetId);
  if (!entry) return;
  manifestCache.delete(datasetId);
  manifestCacheImages -= entry.images;
}

function rememberManifest(datasetId: string, etag: string, manifest: DatasetManifest): void {
  forgetManifest(datasetId);
  const images = manifest.images.train.length + manifest.images.val.length;
  if (images > MANIFEST_CACHE_IMAGES) return;
  manifestCache.set(datasetId, { etag, manifest, images });
  manifestCacheImages += images;
  for (const oldest of manifestCache.keys()) {
    if (
      manifestCache.size <= MANIFEST_CACHE_ENTRIES &&
      manifestCacheImages <= MANIFEST_CACHE_IMAGES
    )
      break;
    forgetManifest(oldest);
  }
}

/** Whether R2 sent the object's body (a conditional read whose precondition failed sends none). */
const hasBody = (object: R2Object): object is R2ObjectBody => 'body' in object;

/**
 * The manifest of a dataset, like getDatasetManifest, for reads that repeat (a dataset's page
 * lists its photos once per class): the parsed manifest is kept per isolate and revalidated
 * with a conditional read, so an unchanged manifest costs one R2 request that sends no body
 * and no parsing; a changed one is read and parsed again. The result is shared: do not modify it.
 *
 * @example
 * const manifest = await cachedDatasetManifest(env.DATASETS, id, 'path.id');
 */
export async function cachedDatasetManifest(
  bucket: R2Bucket,
  datasetId: string,
  field = 'datasetId',
): Promise<DatasetManifest> {
  const key = datasetKeys(parseDatasetId(datasetId, field)).manifest;
  const known = manifestCache.get(datasetId);
  const object = known
    ? await bucket.get(key, { onlyIf: { etagDoesNotMatch: known.etag } })
    : await bucket.get(key);
  if (!object) {
    forgetManifest(datasetId);
    throw new ApiError('not_found', `no dataset ${datasetId}`, field);
  }
  if (!hasBody(object)) {
    // The precondition failed (the etag still matches): R2 sent the metadata only.
    if (!known) return getDatasetManifest(bucket, datasetId, field);
    manifestCache.delete(datasetId);
    manifestCache.set(datasetId, known);
    return known.manifest;
  }
  const manifest = await parseManifest(object, datasetId);
  rememberManifest(datasetId, object.etag, manifest);
  return manifest;
}

/**
 * The manifest of a dataset, or a 404 ApiError naming `field` when there is none.
 *
 * @example
 * const manifest = await getDatasetManifest(env.DATASETS, 'ds_Q2xhc3NpZnkgYWxs');
 * manifest.counts.train; // { ants: 123, bees: 121 }
 */
export async function getDatasetManifest(
  bucket: R2Bucket,
  datasetId: string,
  field = 'datasetId',
): Promise<DatasetManifest> {
  return (await readManifest(bucket, datasetId, field)).manifest;
}

/**
 * Deletes every object whose key starts with `prefix` (listing page by page), except `keep`.
 * Returns how many were deleted.
 *
 * @example
 * await deleteObjectsUnder(env.DATASETS, 'datasets/ds_Q2xhc3NpZnkgYWxs/');
 */
export async function deleteObjectsUnder(
  bucket: R2Bucket,
  prefix: string,
  keep?: string,
): Promise<number> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, ...(cursor === undefined ? {} : { cursor }) });
    keys.push(...page.objects.map((o) => o.key).filter((key) => key !== keep));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  // R2 deletes at most 1000 keys per call.
  for (let i = 0; i < keys.length; i += 1000) await bucket.delete(keys.slice(i, i + 1000));
  return keys.length;
}

/**
 * Deletes a dataset: its archive, images and manifest. Returns how many objects were deleted.
 *
 * @example
 * await deleteDataset(env.DATASETS, 'ds_Q2xhc3NpZnkgYWxs'); // 398
 */
export async function deleteDataset(bucket: R2Bucket, datasetId: string): Promise<number> {
  return deleteObjectsUnder(bucket, datasetKeys(parseDatasetId(datasetId)).prefix);
}

export interface AddImageResult {
  readonly sha256: string;
  /** False when the same bytes were already in the dataset; nothing changed then. */
  readonly added: boolean;
  /** Where the existing copy is, when `added` is false. */
  readonly duplicateOf?: {
    readonly split: DatasetSplit;
    readonly label: string;
    readonly path: string;
  };
  readonly counts: DatasetManifest['counts'];
}

function checkUpload(bytes: Uint8Array, limits: DatasetLimits) {
  const checked = checkImage(bytes, limits);
  if (!('reason' in checked)) return checked;
  if (checked.reason === 'too_large') throw new ApiError('image_too_large', checked.detail, 'body');
  if (checked.reason === 'unsupported_format')
    throw new ApiError('unsupported_media_type', checked.detail, 'body');
  throw new ApiError('invalid_image', checked.detail, 'body');
}

/**
 * Adds one labelled image to a stored dataset: checked like an archive entry, stored by its
 * sha256, deduplicated, and the manifest updated (a conditional write, retried on a race).
 * A new safe label becomes a new class.
 *
 * @example
 * const { added, counts } = await addImage(env.DATASETS, datasetId, { split: 'train', label: 'bees', bytes });
 */
export async function addImage(
  bucket: R2Bucket,
  datasetId: string,
  image: { split: string; label: string; bytes: Uint8Array },
  limits: DatasetLimits = DEFAULT_DATASET_LIMITS,
): Promise<AddImageResult> {
  const id = parseDatasetId(datasetId);
  const split = DATASET_SPLITS.find((s) => s === image.split);
  if (!split) throw new ApiError('invalid_request', `split must be train or val`, 'split');
  const label = ClassNameSchema.safeParse(image.label);
  if (!label.success)
    throw new ApiError('invalid_request', `"${image.label}" is not a safe class name`, 'label');
  const className = label.data.normalize('NFC');
  const header = checkUpload(image.bytes, limits);
  const sha256 = await sha256Hex(image.bytes);
  const keys = datasetKeys(id);
  for (let attempt = 0; attempt < MANIFEST_WRITE_ATTEMPTS; attempt++) {
    const { manifest, etag } = await readManifest(bucket, id, 'datasetId');
    for (const s of DATASET_SPLITS) {
      const existing = manifest.images[s].find((i) => i.sha256 === sha256);
      if (existing) {
        const duplicateOf = { split: s, label: existing.label, path: existing.path };
        return { sha256, added: false, duplicateOf, counts: manifest.counts };
      }
    }
    const classes = manifest.classes.includes(className)
      ? manifest.classes
      : [...manifest.classes, className].sort();
    if (classes.length > limits.maxClasses)
      throw new ApiError(
        'invalid_dataset',
        `a dataset holds at most ${limits.maxClasses} classes`,
        'label',
      );
    if (manifest.images.train.length + manifest.images.val.length >= limits.maxImages)
      throw new ApiError('invalid_dataset', `a dataset holds at most ${limits.maxImages} images`);
    const entry = {
      sha256,
      label: className,
      path: 'upload',
      bytes: image.bytes.byteLength,
      width: header.width,
      height: header.height,
      format: header.format,
      orientation: header.orientation,
    };
    const images = { ...manifest.images, [split]: [...manifest.images[split], entry] };
    const next: DatasetManifest = {
      ...manifest,
      classes,
      images,
      counts: countImages(classes, images),
    };
    await bucket.put(keys.image(sha256), image.bytes, {
      httpMetadata: { contentType: IMAGE_CONTENT_TYPES[header.format] },
    });
    const written = await bucket.put(keys.manifest, JSON.stringify(next), {
      onlyIf: { etagMatches: etag },
      httpMetadata: { contentType: 'application/json' },
    });
    if (written) return { sha256, added: true, counts: next.counts };
  }
  throw new ApiError('conflict', `dataset ${id} is being changed by another request; try again`);
}
