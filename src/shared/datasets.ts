// The dataset contract: ingestion limits, the train/val split, and the manifest the edge writes
// and the GPU worker reads (datasets/<id>/manifest.json).
import { z } from 'zod';
import { createRng, deriveSeed } from './random.js';

export const DATASET_FORMAT_VERSION = 1;

const MiB = 1024 * 1024;

/** Dataset ids as `newId('ds')` makes them; the only form ever joined into an R2 key. */
export const DatasetIdSchema = z
  .string()
  .regex(/^ds_[A-Za-z0-9_-]{8,64}$/, 'a dataset id such as ds_…');

export const DATASET_SPLITS = ['train', 'val'] as const;
export type DatasetSplit = (typeof DATASET_SPLITS)[number];

const isForbiddenChar = (ch: string) => {
  const code = ch.charCodeAt(0);
  return code < 0x20 || code === 0x7f || ch === '/' || ch === '\\';
};

/**
 * A class name (a folder name in the archive, or the label of an uploaded image): printable,
 * one path segment, not hidden, so it can never change the meaning of a path or an R2 key.
 */
export const ClassNameSchema = z
  .string()
  .min(1)
  .max(128)
  .refine((name) => ![...name].some(isForbiddenChar), 'no control characters or slashes')
  .refine((name) => !name.startsWith('.'), 'must not start with a dot');

/** What an archive may cost us. Every figure is checked against what is read, not declared. */
export const DatasetLimitsSchema = z
  .object({
    /** Size of the uploaded archive. */
    maxArchiveBytes: z.number().int().positive(),
    /** Central-directory entries, files and folders together. */
    maxEntries: z.number().int().positive(),
    /** Accepted images in the whole dataset. */
    maxImages: z.number().int().positive(),
    /** Bytes of one image once inflated. */
    maxImageBytes: z.number().int().positive(),
    /** Width × height an image header may declare (decoding a larger one would not fit). */
    maxImagePixels: z.number().int().positive(),
    /** Bytes inflated from the whole archive. */
    maxTotalUncompressedBytes: z.number().int().positive(),
    /** Inflated bytes per compressed byte of one entry, past its first MiB (zip bombs). */
    maxCompressionRatio: z.number().positive(),
    minClasses: z.number().int().min(1),
    maxClasses: z.number().int().min(1),
    /** Accepted images a class needs in train/ (before a stratified split takes its share). */
    minImagesPerClass: z.number().int().min(1),
  })
  .strict();
export type DatasetLimits = z.infer<typeof DatasetLimitsSchema>;

/**
 * The limits used when a caller sets none: 10,000 photos of up to 10 MiB / 40 megapixels each,
 * 2–1000 classes, in an archive of up to 100 MiB that inflates to at most 1 GiB.
 */
export const DEFAULT_DATASET_LIMITS: DatasetLimits = {
  maxArchiveBytes: 100 * MiB,
  maxEntries: 20_000,
  maxImages: 10_000,
  maxImageBytes: 10 * MiB,
  maxImagePixels: 40_000_000,
  maxTotalUncompressedBytes: 1024 * MiB,
  maxCompressionRatio: 50,
  minClasses: 2,
  maxClasses: 1000,
  minImagesPerClass: 2,
};

/** How to carve a validation split out of train/ when the archive has no val/ folder. */
export const SplitSpecSchema = z
  .object({
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    valFraction: z.number().gt(0).lt(1).default(0.2),
  })
  .strict();
export type SplitSpec = z.infer<typeof SplitSpecSchema>;

/** Where the manifest's val split came from: the archive's own val/ folder, or a seeded split. */
export const SplitInfoSchema = z.discriminatedUnion('source', [
  z.object({ source: z.literal('archive') }).strict(),
  z
    .object({
      source: z.literal('stratified'),
      seed: SplitSpecSchema.shape.seed.unwrap(),
      valFraction: SplitSpecSchema.shape.valFraction.unwrap(),
    })
    .strict(),
]);
export type SplitInfo = z.infer<typeof SplitInfoSchema>;

/** Why one archive entry did not become an image of the dataset. */
export const REJECTION_REASONS = [
  'not_an_image',
  'unsupported_format',
  'corrupt',
  'too_large',
  'duplicate',
  'unsafe_path',
  'symlink',
  'special_file',
  'nested_archive',
  'encrypted',
  'unsupported_compression',
  'outside_layout',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);

export const DatasetImageSchema = z
  .object({
    /** Content address: the image is stored at datasets/<id>/images/<sha256>. */
    sha256: Sha256Schema,
    /** Class name (one of the manifest's classes). */
    label: ClassNameSchema,
    /** The entry's path in the archive, or 'upload' for an image added on its own. */
    path: z.string().min(1),
    bytes: z.number().int().positive(),
    /** As stored (before the EXIF orientation turns the photo upright). */
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    format: z.enum(['jpeg', 'png', 'webp']),
    /** EXIF orientation 1–8 (absent in manifests written before it was recorded: 1). */
    orientation: z.number().int().min(1).max(8).optional(),
  })
  .strict();
export type DatasetImage = z.infer<typeof DatasetImageSchema>;

export const RejectedEntrySchema = z
  .object({ path: z.string(), reason: z.enum(REJECTION_REASONS), detail: z.string() })
  .strict();
export type RejectedEntry = z.infer<typeof RejectedEntrySchema>;

const CountsSchema = z.record(z.string(), z.number().int().min(0));

export const DatasetManifestSchema = z
  .object({
    formatVersion: z.literal(DATASET_FORMAT_VERSION),
    id: DatasetIdSchema,
    tenant: z.string().min(1),
    createdAt: z.iso.datetime(),
    /** Class names, sorted by code unit; a class's index is its position here. */
    classes: z.array(ClassNameSchema),
    split: SplitInfoSchema,
    images: z.object({ train: z.array(DatasetImageSchema), val: z.array(DatasetImageSchema) }),
    /** Images per split and class; every class appears in both splits, possibly with 0. */
    counts: z.object({ train: CountsSchema, val: CountsSchema }),
    rejected: z.array(RejectedEntrySchema),
    /** OS clutter skipped without comment: __MACOSX/, .DS_Store, Thumbs.db, hidden files. */
    ignored: z.number().int().min(0),
  })
  .strict();
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;

/**
 * Images per split and class, every class present in both splits.
 *
 * @example
 * countImages(['ants', 'bees'], images); // { train: { ants: 123, bees: 121 }, val: { ants: 70, bees: 83 } }
 */
export function countImages(
  classes: readonly string[],
  images: DatasetManifest['images'],
): DatasetManifest['counts'] {
  const count = (list: readonly DatasetImage[]) => {
    const counts: Record<string, number> = Object.fromEntries(classes.map((c) => [c, 0]));
    for (const image of list) counts[image.label] = (counts[image.label] ?? 0) + 1;
    return counts;
  };
  return { train: count(images.train), val: count(images.val) };
}

/**
 * R2 keys of a dataset; everything a dataset owns lives under `prefix`.
 *
 * @example
 * datasetKeys('ds_Q2xhc3NpZnkgYWxs').image(sha256); // 'datasets/ds_Q2xhc3NpZnkgYWxs/images/<sha256>'
 */
export const datasetKeys = (datasetId: string) => ({
  prefix: `datasets/${datasetId}/`,
  archive: `datasets/${datasetId}/archive.zip`,
  manifest: `datasets/${datasetId}/manifest.json`,
  image: (sha256: string) => `datasets/${datasetId}/images/${sha256}`,
});

const byPath = (a: DatasetImage, b: DatasetImage) =>
  a.path < b.path ? -1 : a.path > b.path ? 1 : 0;

/**
 * Seeded stratified split: each class's images sorted by sha256, shuffled with a stream derived
 * from (seed, class), and the first round(n × valFraction) — at least one, never all — moved to
 * val. The same images and seed give the same split in any order and any runtime.
 *
 * @example
 * const { train, val } = stratifiedSplit(images, { seed: 0, valFraction: 0.2 });
 */
export function stratifiedSplit(
  images: readonly DatasetImage[],
  spec: SplitSpec,
): { train: DatasetImage[]; val: DatasetImage[] } {
  const byClass = new Map<string, DatasetImage[]>();
  for (const image of images) {
    const list = byClass.get(image.label);
    if (list) list.push(image);
    else byClass.set(image.label, [image]);
  }
  const train: DatasetImage[] = [];
  const val: DatasetImage[] = [];
  for (const [label, list] of byClass) {
    const order = list.sort((a, b) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0));
    const rng = createRng(deriveSeed(spec.seed, label));
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const n = order.length;
    const valCount = n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * spec.valFraction)));
    val.push(...order.slice(0, valCount));
    train.push(...order.slice(valCount));
  }
  return { train: train.sort(byPath), val: val.sort(byPath) };
}

/**
 * The worker's bulk image read (POST /internal/v1/jobs/{id}/dataset/images): at most this many
 * images per request, answered as [4-byte big-endian length][bytes] records in the order asked.
 */
export const MAX_IMAGES_PER_REQUEST = 64;
/** The record length of an image the dataset does not have (no bytes follow it). */
export const MISSING_IMAGE = 0xffffffff;
