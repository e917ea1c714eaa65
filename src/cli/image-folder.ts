// A local ImageFolder directory (train/<class>/<image>, optional val/<class>/<image>): checked
// before anything is sent, then zipped on the fly as stored entries, one image in memory at a time.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ClassNameSchema, DEFAULT_DATASET_LIMITS } from '../shared/datasets.js';
import { crc32, endOfCentralDirectory, storedEntryHeaders } from '../shared/zip-store.js';
import { UsageError } from './errors.js';

/** Extensions of the images the edge accepts (JPEG, PNG, WebP). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;
export const isImageFile = (name: string): boolean =>
  (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(name).toLowerCase());

/** One image of the archive: its name in the zip and its file. */
export interface FolderImage {
  readonly name: string;
  readonly file: string;
  readonly bytes: number;
}

/** What scanImageFolder found. */
export interface ImageFolder {
  readonly root: string;
  readonly images: readonly FolderImage[];
  readonly classes: readonly string[];
  readonly hasVal: boolean;
  /** Files left out: not images, or outside train/ and val/. */
  readonly skipped: number;
}

const LAYOUT = 'expected train/<class>/<image> and optionally val/<class>/<image>';
const visible = (name: string) => !name.startsWith('.') && name !== '__MACOSX';

async function entries(dir: string) {
  return (await readdir(dir, { withFileTypes: true }))
    .filter((e) => visible(e.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}

/** The folder holding train/: `dir` itself, or its only sub-folder (a wrapping folder). */
async function layoutRoot(dir: string): Promise<string> {
  if (await isDir(path.join(dir, 'train'))) return dir;
  const subdirs = (await entries(dir)).filter((e) => e.isDirectory());
  const only = subdirs.length === 1 ? path.join(dir, subdirs[0]!.name) : undefined;
  if (only && (await isDir(path.join(only, 'train')))) return only;
  throw new UsageError(`${dir} has no train/ folder (${LAYOUT})`);
}

async function scanSplit(root: string, split: 'train' | 'val', images: FolderImage[]) {
  const counts = new Map<string, number>();
  let skipped = 0;
  for (const entry of await entries(path.join(root, split))) {
    const where = `${split}/${entry.name}`;
    if (!entry.isDirectory())
      throw new UsageError(`${where} is not inside a class folder (${LAYOUT})`);
    const name = ClassNameSchema.safeParse(entry.name);
    if (!name.success) throw new UsageError(`${where}: the class name is not allowed`);
    let n = 0;
    for (const file of await entries(path.join(root, split, entry.name))) {
      const full = path.join(root, split, entry.name, file.name);
      if (file.isDirectory())
        throw new UsageError(
          `${where}/${file.name}/ is a folder inside a class folder (${LAYOUT})`,
        );
      if (!file.isFile() || !isImageFile(file.name)) {
        skipped++;
        continue;
      }
      const { size } = await stat(full);
      images.push({ name: `${where}/${file.name}`, file: full, bytes: size });
      n++;
    }
    counts.set(entry.name, n);
  }
  return { counts, skipped };
}

/**
 * Checks `dir` against the ImageFolder layout and the edge's limits (DEFAULT_DATASET_LIMITS);
 * any problem is a UsageError naming it.
 *
 * @example
 * const folder = await scanImageFolder('../shared/datasets/flower_photos_subset');
 */
export async function scanImageFolder(dir: string): Promise<ImageFolder> {
  if (!(await isDir(dir))) throw new UsageError(`${dir} is not a folder`);
  const root = await layoutRoot(dir);
  const limits = DEFAULT_DATASET_LIMITS;
  const images: FolderImage[] = [];
  const train = await scanSplit(root, 'train', images);
  const classes = [...train.counts.keys()];
  if (classes.length < limits.minClasses || classes.length > limits.maxClasses)
    throw new UsageError(
      `train/ has ${classes.length} class folder(s); ${limits.minClasses}–${limits.maxClasses} needed`,
    );
  for (const [label, n] of train.counts)
    if (n < limits.minImagesPerClass)
      throw new UsageError(
        `train/${label} has ${n} image(s); at least ${limits.minImagesPerClass} needed`,
      );
  const hasVal = await isDir(path.join(root, 'val'));
  const val = hasVal ? await scanSplit(root, 'val', images) : undefined;
  for (const label of val?.counts.keys() ?? [])
    if (!train.counts.has(label)) throw new UsageError(`val/${label} is not a class of train/`);
  if (images.length > limits.maxImages)
    throw new UsageError(`${images.length} images; at most ${limits.maxImages} per dataset`);
  const outside = (await entries(root)).filter((e) => e.name !== 'train' && e.name !== 'val');
  return {
    root,
    images,
    classes,
    hasVal,
    skipped: train.skipped + (val?.skipped ?? 0) + outside.length,
  };
}

/** Progress of a streamed archive. */
export interface ZipProgress {
  readonly bytes: number;
  readonly images: number;
}

/**
 * The stored zip of `images`, made as it is read: `bytes` is its exact size (for
 * Content-Length), and each `stream()` call starts a fresh pass over the files.
 *
 * @example
 * const zip = imageFolderZip(folder.images, (p) => bar.update(p.bytes / zip.bytes));
 * await fetch(url, { method: 'POST', body: zip.stream(), duplex: 'half' });
 */
export function imageFolderZip(
  images: readonly FolderImage[],
  onProgress: (p: ZipProgress) => void = () => undefined,
): { bytes: number; stream: () => ReadableStream<Uint8Array> } {
  const enc = new TextEncoder();
  const names = images.map((i) => enc.encode(i.name).length);
  const local = images.reduce((n, img, i) => n + 30 + names[i]! + img.bytes, 0);
  const central = names.reduce((n, len) => n + 46 + len, 0);
  if (local + central + 22 > DEFAULT_DATASET_LIMITS.maxArchiveBytes)
    throw new UsageError(
      `the archive would be ${local + central + 22} bytes; the limit is ${DEFAULT_DATASET_LIMITS.maxArchiveBytes}`,
    );
  // One timestamp for every try: a retried upload must send the very same bytes, or the edge
  // takes it for another archive under the same Idempotency-Key (DOS times tick every 2 s).
  const modified = new Date();
  const stream = () => {
    const centrals: Uint8Array[] = [];
    let next = 0;
    let offset = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const image = images[next];
        if (!image) {
          const size = centrals.reduce((n, c) => n + c.length, 0);
          for (const c of centrals) controller.enqueue(c);
          controller.enqueue(endOfCentralDirectory(centrals.length, size, offset));
          controller.close();
          onProgress({ bytes: offset + size + 22, images: next });
          return;
        }
        const data = await readFile(image.file);
        if (data.length !== image.bytes)
          throw new UsageError(`${image.file} changed while it was being uploaded`);
        const headers = storedEntryHeaders(image.name, crc32(data), data.length, offset, modified);
        controller.enqueue(headers.local);
        // Slices keep the progress smooth for large photos.
        for (let at = 0; at < data.length; at += 256 * 1024)
          controller.enqueue(data.subarray(at, at + 256 * 1024));
        centrals.push(headers.central);
        offset += headers.local.length + data.length;
        next++;
        onProgress({ bytes: offset, images: next });
      },
    });
  };
  return { bytes: local + central + 22, stream };
}
