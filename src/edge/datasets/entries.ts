// Rules for one archive entry or uploaded file: safe paths, OS clutter, the ImageFolder layout,
// nested archives and image checks. Pure functions; ingest.ts and store.ts apply them.
import {
  ClassNameSchema,
  DATASET_SPLITS,
  type DatasetLimits,
  type DatasetSplit,
  type RejectionReason,
} from '../../shared/datasets.js';
import { sniffImage, type ImageHeader } from '../../shared/image-header.js';

/** Longest entry name accepted, in characters. */
const MAX_NAME_CHARS = 1024;
const JUNK_NAMES = new Set(['.ds_store', 'thumbs.db', 'desktop.ini']);
const ARCHIVE_EXTENSION = /\.(zip|jar|war|apk|tar|tgz|gz|bz2|xz|zst|7z|rar|lz|lzma|cab|iso)$/i;

export interface Rejection {
  readonly reason: RejectionReason;
  readonly detail: string;
}

/**
 * Why a name must not be used as a path, or undefined when it is safe: NUL and other control
 * characters, backslashes, absolute paths, drive letters, `..`, `.` and empty segments.
 *
 * @example
 * unsafePathReason('train/../../evil.jpg'); // 'a ".." segment'
 */
export function unsafePathReason(name: string): string | undefined {
  if (name.length > MAX_NAME_CHARS) return `a name longer than ${MAX_NAME_CHARS} characters`;
  if (name.includes('\u0000')) return 'a NUL character';
  if ([...name].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
    return 'a control character';
  if (name.includes('\\')) return 'a backslash';
  if (name.startsWith('/')) return 'an absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'a drive letter';
  const segments = name.replace(/\/$/, '').split('/');
  if (segments.includes('..')) return 'a ".." segment';
  if (segments.some((s) => s === '' || s === '.')) return 'an empty or "." segment';
  return undefined;
}

/**
 * Path segments of a safe name, without a trailing slash.
 *
 * @example
 * segmentsOf('train/ants/'); // ['train', 'ants']
 */
export function segmentsOf(name: string): string[] {
  return name.replace(/\/$/, '').split('/');
}

/**
 * OS clutter skipped without comment: __MACOSX/, .DS_Store, Thumbs.db, desktop.ini, dot-files.
 *
 * @example
 * isJunk(['__MACOSX', 'train', 'ants', '._a.jpg']); // true
 */
export function isJunk(segments: readonly string[]): boolean {
  const last = segments[segments.length - 1] ?? '';
  return (
    JUNK_NAMES.has(last.toLowerCase()) ||
    segments.some((s) => s === '__MACOSX' || s.startsWith('.'))
  );
}

/**
 * True for names that say "archive" (.zip, .tar.gz, .7z…): such entries are never opened.
 *
 * @example
 * hasArchiveExtension('train/ants/more.zip'); // true
 */
export function hasArchiveExtension(name: string): boolean {
  return ARCHIVE_EXTENSION.test(name);
}

/**
 * The folder that holds `train/`: the archive root, or one top-level folder wrapping everything
 * (as in `hymenoptera_data/train/…`). Undefined when there is no train/ folder.
 *
 * @example
 * findLayoutRoot([['hymenoptera_data', 'train', 'ants', 'a.jpg']]); // ['hymenoptera_data']
 */
export function findLayoutRoot(files: readonly (readonly string[])[]): string[] | undefined {
  if (files.some((s) => s.length > 1 && s[0] === 'train')) return [];
  const tops = new Set(files.filter((s) => s.length > 1).map((s) => s[0]!));
  const [top] = tops;
  if (tops.size === 1 && files.some((s) => s[0] === top && s[1] === 'train')) return [top!];
  return undefined;
}

/**
 * Where a file sits in the layout below the root, or why it does not fit.
 *
 * @example
 * placeInLayout(['data', 'val', 'bees', 'b.jpg'], ['data']); // { split: 'val', label: 'bees' }
 */
export function placeInLayout(
  segments: readonly string[],
  root: readonly string[],
): { split: DatasetSplit; label: string } | Rejection {
  const rel = segments.slice(root.length);
  const [split, label] = rel;
  const isSplit = (s: string | undefined): s is DatasetSplit =>
    (DATASET_SPLITS as readonly (string | undefined)[]).includes(s);
  if (rel.length !== 3 || !isSplit(split))
    return {
      reason: 'outside_layout',
      detail: `expected ${[...root, '{train,val}', '<class>', '<file>'].join('/')}`,
    };
  const parsed = ClassNameSchema.safeParse(label);
  if (!parsed.success)
    return { reason: 'outside_layout', detail: `the class name "${label}" is not allowed` };
  return { split, label: parsed.data.normalize('NFC') };
}

/** The archive format a file's first bytes announce, if any. */
function archiveMagic(b: Uint8Array): string | undefined {
  const starts = (...sig: number[]) => sig.every((v, i) => b[i] === v);
  if (starts(0x50, 0x4b, 0x03, 0x04) || starts(0x50, 0x4b, 0x05, 0x06)) return 'ZIP';
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x52, 0x61, 0x72, 0x21, 0x1a, 0x07)) return 'RAR';
  if (starts(0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)) return '7z';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  const ustar = String.fromCharCode(...b.subarray(257, 262));
  if (ustar === 'ustar') return 'tar';
  return undefined;
}

const startsLikeSupportedImage = (b: Uint8Array) =>
  (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) ||
  (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) ||
  (String.fromCharCode(...b.subarray(0, 4)) === 'RIFF' &&
    String.fromCharCode(...b.subarray(8, 12)) === 'WEBP');

/**
 * Checks file bytes as a dataset image: a complete JPEG, PNG or WebP within the size and pixel
 * limits. Returns its header, or the rejection that applies.
 *
 * @example
 * const checked = checkImage(bytes, DEFAULT_DATASET_LIMITS);
 * if ('reason' in checked) rejected.push({ path, ...checked });
 */
export function checkImage(
  bytes: Uint8Array,
  limits: Pick<DatasetLimits, 'maxImageBytes' | 'maxImagePixels'>,
): ImageHeader | Rejection {
  if (bytes.byteLength > limits.maxImageBytes)
    return {
      reason: 'too_large',
      detail: `${bytes.byteLength} bytes (limit ${limits.maxImageBytes})`,
    };
  const sniffed = sniffImage(bytes);
  if (sniffed.kind === 'unsupported')
    return {
      reason: 'unsupported_format',
      detail: `${sniffed.format.toUpperCase()} is not supported (JPEG, PNG, WebP)`,
    };
  if (sniffed.kind === 'invalid') {
    const nested = archiveMagic(bytes);
    if (nested) return { reason: 'nested_archive', detail: `a ${nested} archive` };
    return startsLikeSupportedImage(bytes)
      ? { reason: 'corrupt', detail: sniffed.reason }
      : { reason: 'not_an_image', detail: sniffed.reason };
  }
  const { width, height } = sniffed.header;
  if (width === 0 || height === 0)
    return { reason: 'corrupt', detail: `declares ${width}×${height} pixels` };
  if (width * height > limits.maxImagePixels)
    return {
      reason: 'too_large',
      detail: `${width}×${height} pixels (limit ${limits.maxImagePixels})`,
    };
  return sniffed.header;
}

/** The media type stored with an image object. */
export const IMAGE_CONTENT_TYPES: Record<ImageHeader['format'], string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};
