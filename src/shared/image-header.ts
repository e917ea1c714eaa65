// Reads what an image claims about itself — format, size, orientation — before any decoding,
// so oversized, truncated or unsupported files are refused cheaply.

export type ImageFormat = 'jpeg' | 'png' | 'webp';
/** Formats we recognise but do not decode, so the client gets a 415 instead of a 422. */
export type KnownUnsupported = 'gif' | 'bmp' | 'tiff' | 'heif' | 'avif' | 'svg';

export interface ImageHeader {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** EXIF orientation 1–8 (1 = as stored). */
  readonly orientation: number;
}

export type SniffResult =
  | { readonly kind: 'ok'; readonly header: ImageHeader }
  | { readonly kind: 'unsupported'; readonly format: KnownUnsupported }
  | { readonly kind: 'invalid'; readonly reason: string };

const ascii = (b: Uint8Array, at: number, n: number) =>
  String.fromCharCode(...b.subarray(at, at + n));
const u16be = (b: Uint8Array, at: number) => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u32be = (b: Uint8Array, at: number) =>
  (((b[at] ?? 0) << 24) >>> 0) +
  (((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0));
const u16le = (b: Uint8Array, at: number) => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
const u24le = (b: Uint8Array, at: number) => u16le(b, at) | ((b[at + 2] ?? 0) << 16);
const u32le = (b: Uint8Array, at: number) => (u24le(b, at) | ((b[at + 3] ?? 0) << 24)) >>> 0;

/** Orientation from a TIFF (EXIF) block: IFD0 tag 0x0112. Unknown or odd values read as 1. */
export function exifOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 1;
  const little = ascii(tiff, 0, 2) === 'II';
  if (!little && ascii(tiff, 0, 2) !== 'MM') return 1;
  const u16 = (at: number) => (little ? u16le(tiff, at) : u16be(tiff, at));
  const u32 = (at: number) => (little ? u32le(tiff, at) : u32be(tiff, at));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return 1;
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return 1;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

function sniffJpeg(b: Uint8Array): SniffResult {
  let at = 2;
  let orientation = 1;
  let size: { width: number; height: number } | undefined;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return { kind: 'invalid', reason: `bad JPEG marker at byte ${at}` };
    const marker = b[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd9) break;
    if (marker >= 0xd0 && marker <= 0xd7) {
      at += 2;
      continue;
    }
    const length = u16be(b, at + 2);
    if (length < 2 || at + 2 + length > b.length)
      return { kind: 'invalid', reason: 'truncated JPEG header' };
    const body = b.subarray(at + 4, at + 2 + length);
    if (marker === 0xe1 && ascii(body, 0, 6) === 'Exif\0\0')
      orientation = exifOrientation(body.subarray(6));
    const isSof =
      marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) size = { height: u16be(body, 1), width: u16be(body, 3) };
    if (marker === 0xda) {
      // Entropy-coded data follows; a complete file ends with an EOI marker.
      if (!size) return { kind: 'invalid', reason: 'JPEG has no frame header before its scan' };
      // (0xFF inside entropy-coded data is always stuffed, so FF D9 after the scan is the real EOI.)
      if (indexOfEoi(b, at + 2 + length) < 0) {
        return { kind: 'invalid', reason: 'truncated JPEG: no end-of-image marker' };
      }
      return { kind: 'ok', header: { format: 'jpeg', ...size, orientation } };
    }
    at += 2 + length;
  }
  return { kind: 'invalid', reason: 'truncated JPEG: no image data' };
}

function indexOfEoi(b: Uint8Array, from: number): number {
  for (let i = b.length - 2; i >= from; i--) if (b[i] === 0xff && b[i + 1] === 0xd9) return i;
  return -1;
}

function sniffPng(b: Uint8Array): SniffResult {
  if (b.length < 33 || ascii(b, 12, 4) !== 'IHDR')
    return { kind: 'invalid', reason: 'truncated PNG header' };
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  let orientation = 1;
  let at = 8;
  let sawEnd = false;
  while (at + 12 <= b.length) {
    const length = u32be(b, at);
    const type = ascii(b, at + 4, 4);
    if (at + 12 + length > b.length) break;
    if (type === 'eXIf') orientation = exifOrientation(b.subarray(at + 8, at + 8 + length));
    if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    at += 12 + length;
  }
  if (!sawEnd) return { kind: 'invalid', reason: 'truncated PNG: no IEND chunk' };
  return { kind: 'ok', header: { format: 'png', width, height, orientation } };
}

function sniffWebp(b: Uint8Array): SniffResult {
  const riffSize = u32le(b, 4);
  if (riffSize + 8 > b.length)
    return { kind: 'invalid', reason: 'truncated WebP: file shorter than its RIFF size' };
  let size: { width: number; height: number } | undefined;
  let orientation = 1;
  for (let at = 12; at + 8 <= Math.min(b.length, riffSize + 8);) {
    const type = ascii(b, at, 4);
    const length = u32le(b, at + 4);
    const body = b.subarray(at + 8, at + 8 + length);
    if (type === 'VP8X' && body.length >= 10)
      size = { width: u24le(body, 4) + 1, height: u24le(body, 7) + 1 };
    else if (type === 'VP8 ' && !size && body.length >= 10)
      size = { width: u16le(body, 6) & 0x3fff, height: u16le(body, 8) & 0x3fff };
    else if (type === 'VP8L' && !size && body.length >= 5 && body[0] === 0x2f) {
      const bits = u32le(body, 1);
      size = { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    } else if (type === 'EXIF')
      orientation = exifOrientation(ascii(body, 0, 6) === 'Exif\0\0' ? body.subarray(6) : body);
    at += 8 + length + (length % 2);
  }
  if (!size) return { kind: 'invalid', reason: 'WebP has no image chunk' };
  return { kind: 'ok', header: { format: 'webp', ...size, orientation } };
}

/**
 * Identifies the image format from its first bytes (never from the declared media type) and
 * reads its declared size and orientation.
 *
 * @example
 * const result = sniffImage(bytes);
 * if (result.kind === 'ok' && result.header.width * result.header.height > 40e6) throw tooLarge();
 */
export function sniffImage(b: Uint8Array): SniffResult {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return sniffJpeg(b);
  if (b.length >= 8 && u32be(b, 0) === 0x89504e47 && u32be(b, 4) === 0x0d0a1a0a) return sniffPng(b);
  if (b.length >= 16 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return sniffWebp(b);
  if (ascii(b, 0, 4) === 'GIF8') return { kind: 'unsupported', format: 'gif' };
  if (ascii(b, 0, 2) === 'BM') return { kind: 'unsupported', format: 'bmp' };
  if (ascii(b, 0, 4) === 'II*\0' || ascii(b, 0, 4) === 'MM\0*')
    return { kind: 'unsupported', format: 'tiff' };
  if (ascii(b, 4, 4) === 'ftyp') {
    const brand = ascii(b, 8, 4);
    return { kind: 'unsupported', format: brand.startsWith('avi') ? 'avif' : 'heif' };
  }
  if (/^\s*(<\?xml|<svg)/i.test(ascii(b, 0, 64))) return { kind: 'unsupported', format: 'svg' };
  return { kind: 'invalid', reason: 'not a JPEG, PNG or WebP image' };
}
