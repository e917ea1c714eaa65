// Turns an uploaded archive in ImageFolder layout into a dataset: validated, deduplicated images
// under datasets/<id>/images/ and a manifest, one entry at a time, or nothing at all.
import {
  countImages,
  DATASET_FORMAT_VERSION,
  DatasetManifestSchema,
  datasetKeys,
  DEFAULT_DATASET_LIMITS,
  SplitSpecSchema,
  stratifiedSplit,
  type DatasetImage,
  type DatasetLimits,
  type DatasetManifest,
  type DatasetSplit,
  type RejectedEntry,
  type SplitSpec,
} from '../../shared/datasets.js';
import { sha256Hex } from '../../shared/fingerprint.js';
import { ApiError } from '../errors.js';
import {
  checkImage,
  findLayoutRoot,
  hasArchiveExtension,
  IMAGE_CONTENT_TYPES,
  isJunk,
  placeInLayout,
  segmentsOf,
  unsafePathReason,
  type Rejection,
} from './entries.js';
import { PutPipeline, r2Source } from './r2-io.js';
import { deleteObjectsUnder, parseDatasetId } from './store.js';
import {
  declaresExcessiveRatio,
  openZip,
  readZipEntry,
  ZipArchiveError,
  ZipEntryError,
  type RandomAccessSource,
  type ZipEntry,
} from './zip.js';

export interface IngestOptions {
  readonly tenant: string;
  readonly datasetId: string;
  /** Where the uploaded archive already is in the bucket. */
  readonly archiveKey: string;
  readonly limits?: DatasetLimits;
  /** Used only when the archive has no val/ images; defaults to seed 0, valFraction 0.2. */
  readonly split?: Partial<SplitSpec>;
}

/** Central-directory bytes allowed per permitted entry (a generous 1 KiB average). */
const DIRECTORY_BYTES_PER_ENTRY = 1024;
const MAX_PATH_IN_MANIFEST = 512;

const tooLarge = (detail: string) => new ApiError('archive_too_large', detail, 'archive');
const invalidDataset = (detail: string) => new ApiError('invalid_dataset', detail, 'archive');
const byPath = (a: { path: string }, b: { path: string }) =>
  a.path < b.path ? -1 : a.path > b.path ? 1 : 0;

interface Candidate {
  readonly entry: ZipEntry;
  readonly split: DatasetSplit;
  readonly label: string;
}

/** Sorts entries into candidates (to read), rejections (never read) and ignored clutter. */
function planEntries(entries: readonly ZipEntry[]) {
  const rejected: RejectedEntry[] = [];
  const reject = (entry: ZipEntry, r: Rejection) =>
    rejected.push({ path: entry.name.slice(0, MAX_PATH_IN_MANIFEST), ...r });
  let ignored = 0;
  const files: { entry: ZipEntry; segments: string[] }[] = [];
  for (const entry of entries) {
    const unsafe = entry.nameError ?? unsafePathReason(entry.name);
    if (unsafe) reject(entry, { reason: 'unsafe_path', detail: `the path has ${unsafe}` });
    else if (entry.kind === 'directory') continue;
    else if (isJunk(segmentsOf(entry.name))) ignored++;
    else files.push({ entry, segments: segmentsOf(entry.name) });
  }
  const root = findLayoutRoot(files.map((f) => f.segments));
  if (!root) throw invalidDataset('the archive has no train/<class>/ folders');
  const candidates: Candidate[] = [];
  for (const { entry, segments } of files) {
    const place = placeInLayout(segments, root);
    if (entry.kind === 'symlink') reject(entry, { reason: 'symlink', detail: 'a symbolic link' });
    else if (entry.kind === 'special')
      reject(entry, { reason: 'special_file', detail: `unix mode ${entry.unixMode?.toString(8)}` });
    else if (entry.encrypted) reject(entry, { reason: 'encrypted', detail: 'encrypted entry' });
    else if (hasArchiveExtension(entry.name))
      reject(entry, {
        reason: 'nested_archive',
        detail: 'archives inside the archive are not read',
      });
    else if ('reason' in place) reject(entry, place);
    else if (entry.method !== 0 && entry.method !== 8)
      reject(entry, { reason: 'unsupported_compression', detail: `method ${entry.method}` });
    else candidates.push({ entry, ...place });
  }
  return { candidates, rejected, ignored };
}

/** Refusals decided from the directory alone, before anything is read or written. */
function checkDeclared(entries: readonly ZipEntry[], limits: DatasetLimits): void {
  let declared = 0;
  for (const entry of entries) {
    declared += entry.uncompressedSize;
    if (declaresExcessiveRatio(entry, limits.maxCompressionRatio))
      throw tooLarge(
        `entry "${entry.name}" declares ${entry.uncompressedSize} bytes from ${entry.compressedSize} (over ${limits.maxCompressionRatio}×): a zip bomb`,
      );
  }
  if (declared > limits.maxTotalUncompressedBytes)
    throw tooLarge(
      `the archive inflates to ${declared} bytes (limit ${limits.maxTotalUncompressedBytes})`,
    );
}

async function readEntries(
  source: RandomAccessSource,
  writes: PutPipeline,
  opts: { datasetId: string; limits: DatasetLimits; classes: ReadonlySet<string> },
  candidates: readonly Candidate[],
  rejected: RejectedEntry[],
): Promise<Record<DatasetSplit, DatasetImage[]>> {
  const { limits } = opts;
  const keys = datasetKeys(opts.datasetId);
  const accepted: Record<DatasetSplit, DatasetImage[]> = { train: [], val: [] };
  const seen = new Map<string, string>();
  let inflated = 0;
  // Archive order: consecutive entries share read windows. The first copy of an image is kept.
  const ordered = [...candidates].sort(
    (a, b) => a.entry.localHeaderOffset - b.entry.localHeaderOffset,
  );
  for (const { entry, split, label } of ordered) {
    const path = entry.name;
    if (!opts.classes.has(label)) {
      rejected.push({
        path,
        reason: 'outside_layout',
        detail: `class "${label}" has no train/ folder`,
      });
      continue;
    }
    let bytes: Uint8Array;
    try {
      bytes = await readZipEntry(source, entry, {
        maxBytes: limits.maxImageBytes,
        maxRatio: limits.maxCompressionRatio,
      });
    } catch (error) {
      if (!(error instanceof ZipEntryError)) throw error;
      if (error.kind === 'ratio') throw tooLarge(`entry "${path}" ${error.message}: a zip bomb`);
      rejected.push({ path, reason: error.kind, detail: error.message });
      continue;
    }
    inflated += bytes.byteLength;
    if (inflated > limits.maxTotalUncompressedBytes)
      throw tooLarge(`the archive inflates to more than ${limits.maxTotalUncompressedBytes} bytes`);
    const header = checkImage(bytes, limits);
    if ('reason' in header) {
      rejected.push({ path, ...header });
      continue;
    }
    const sha256 = await sha256Hex(bytes);
    const original = seen.get(sha256);
    if (original !== undefined) {
      rejected.push({ path, reason: 'duplicate', detail: `the same bytes as ${original}` });
      continue;
    }
    if (seen.size >= limits.maxImages) throw tooLarge(`more than ${limits.maxImages} images`);
    seen.set(sha256, path);
    await writes.put(keys.image(sha256), bytes, {
      httpMetadata: { contentType: IMAGE_CONTENT_TYPES[header.format] },
    });
    const { width, height, format, orientation } = header;
    accepted[split].push({
      sha256,
      label,
      path,
      bytes: bytes.byteLength,
      width,
      height,
      format,
      orientation,
    });
  }
  await writes.flush();
  return accepted;
}

async function build(
  bucket: R2Bucket,
  source: RandomAccessSource,
  writes: PutPipeline,
  opts: IngestOptions & { limits: DatasetLimits; split: SplitSpec },
): Promise<DatasetManifest> {
  const { limits } = opts;
  const entries = await openZip(source, {
    maxEntries: limits.maxEntries,
    maxDirectoryBytes: limits.maxEntries * DIRECTORY_BYTES_PER_ENTRY,
  }).catch((error: unknown) => {
    if (!(error instanceof ZipArchiveError)) throw error;
    throw error.kind === 'malformed'
      ? new ApiError('invalid_archive', `the archive cannot be read: ${error.message}`, 'archive')
      : tooLarge(`the archive has ${error.message}`);
  });
  checkDeclared(entries, limits);
  const { candidates, rejected, ignored } = planEntries(entries);
  const classes = [
    ...new Set(candidates.filter((c) => c.split === 'train').map((c) => c.label)),
  ].sort();
  if (classes.length < limits.minClasses)
    throw invalidDataset(
      `${classes.length} class(es) in train/ (at least ${limits.minClasses} needed)`,
    );
  if (classes.length > limits.maxClasses)
    throw invalidDataset(`${classes.length} classes in train/ (limit ${limits.maxClasses})`);
  const accepted = await readEntries(
    source,
    writes,
    { ...opts, classes: new Set(classes) },
    candidates,
    rejected,
  );
  const perClass = countImages(classes, accepted).train;
  for (const label of classes) {
    const n = perClass[label] ?? 0;
    if (n < limits.minImagesPerClass)
      throw invalidDataset(
        `class "${label}" has ${n} usable training image(s) (at least ${limits.minImagesPerClass} needed)`,
      );
  }
  const fromArchive = accepted.val.length > 0;
  const images = fromArchive
    ? { train: accepted.train.sort(byPath), val: accepted.val.sort(byPath) }
    : stratifiedSplit(accepted.train, opts.split);
  const manifest = DatasetManifestSchema.parse({
    formatVersion: DATASET_FORMAT_VERSION,
    id: opts.datasetId,
    tenant: opts.tenant,
    createdAt: new Date().toISOString(),
    classes,
    split: fromArchive ? { source: 'archive' } : { source: 'stratified', ...opts.split },
    images,
    counts: countImages(classes, images),
    rejected: rejected.sort(byPath),
    ignored,
  });
  await bucket.put(datasetKeys(opts.datasetId).manifest, JSON.stringify(manifest), {
    httpMetadata: { contentType: 'application/json' },
  });
  return manifest;
}

/**
 * Ingests the archive stored at `archiveKey`: reads it by ranges, one entry at a time; keeps
 * each valid, new image once at datasets/<id>/images/<sha256>; records every other file with a
 * reason; writes datasets/<id>/manifest.json. Refusing the whole archive (not a ZIP, zip bomb,
 * too many entries or images, too few classes or images per class) throws an ApiError and
 * leaves nothing under datasets/<id>/ — the archive included, when it is stored there.
 * Nothing is ever written outside datasets/<id>/.
 *
 * @example
 * const manifest = await ingestArchive(env.DATASETS, {
 *   tenant: tenantId, datasetId, archiveKey: `datasets/${datasetId}/archive.zip`,
 * });
 * manifest.counts; // { train: { ants: 123, bees: 121 }, val: { ants: 70, bees: 83 } }
 */
export async function ingestArchive(
  bucket: R2Bucket,
  opts: IngestOptions,
): Promise<DatasetManifest> {
  const datasetId = parseDatasetId(opts.datasetId);
  const limits = opts.limits ?? DEFAULT_DATASET_LIMITS;
  if (opts.tenant.length === 0) throw new ApiError('invalid_request', 'tenant is empty', 'tenant');
  const parsedSplit = SplitSpecSchema.safeParse(opts.split ?? {});
  if (!parsedSplit.success) {
    const issue = parsedSplit.error.issues[0];
    const field = ['split', ...(issue?.path ?? []).map(String)].join('.');
    throw new ApiError('invalid_request', issue?.message ?? 'invalid split', field);
  }
  const split = parsedSplit.data;
  const prefix = datasetKeys(datasetId).prefix;
  const archive = await bucket.head(opts.archiveKey);
  if (!archive) throw new ApiError('not_found', `no archive at ${opts.archiveKey}`, 'archiveKey');
  // Whatever an earlier attempt left is replaced, so the result reflects this archive only.
  await deleteObjectsUnder(bucket, prefix, opts.archiveKey);
  const writes = new PutPipeline(bucket);
  try {
    if (archive.size > limits.maxArchiveBytes)
      throw tooLarge(`the archive is ${archive.size} bytes (limit ${limits.maxArchiveBytes})`);
    const source = r2Source(bucket, opts.archiveKey, archive);
    return await build(bucket, source, writes, { ...opts, datasetId, limits, split });
  } catch (error) {
    // Writes still in flight land first, so the cleanup below sees them.
    await writes.settle();
    // A refused archive goes entirely; after an unexpected failure the upload stays for a retry.
    const keep = error instanceof ApiError ? undefined : opts.archiveKey;
    await deleteObjectsUnder(bucket, prefix, keep);
    throw error;
  }
}
