// Hostile image bytes built in code: PNGs with any declared size (decompression bombs
// included), corrupt JPEG/PNG/WebP headers, unsupported formats and polyglot files.
import { concatBytes } from '../../../src/shared/bytes.js';
import { crc32 } from '../../../src/shared/zip-store.js';

const encoder = new TextEncoder();
export const text = (s: string) => encoder.encode(s);

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return concatBytes(chunks);
}

/** `data` compressed with `format` (zlib for PNG, raw deflate for ZIP entries). */
export async function compress(
  data: Uint8Array,
  format: 'deflate' | 'deflate-raw',
): Promise<Uint8Array> {
  const stream = new Blob([data]).stream().pipeThrough(new CompressionStream(format));
  return drain(stream);
}

/** `length` zero bytes compressed, fed in 1 MiB slices so no huge buffer is ever held. */
export async function compressedZeros(
  length: number,
  format: 'deflate' | 'deflate-raw',
): Promise<Uint8Array> {
  const slice = new Uint8Array(1024 * 1024);
  let left = length;
  const zeros = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left <= 0) return controller.close();
      const n = Math.min(left, slice.length);
      left -= n;
      controller.enqueue(slice.subarray(0, n));
    },
  });
  return drain(zeros.pipeThrough(new CompressionStream(format)));
}

function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

/** One PNG chunk: length, type, data and the CRC of type + data. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const typed = concatBytes([text(type), data]);
  return concatBytes([u32be(data.length), typed, u32be(crc32(typed))]);
}

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function ihdr(width: number, height: number, bitDepth: number, colourType: number): Uint8Array {
  const data = new Uint8Array(13);
  const v = new DataView(data.buffer);
  v.setUint32(0, width >>> 0);
  v.setUint32(4, height >>> 0);
  data[8] = bitDepth;
  data[9] = colourType;
  return pngChunk('IHDR', data);
}

/** A valid RGB PNG filled with one colour (distinct colours give distinct files). */
export async function solidPng(width: number, height: number, rgb: [number, number, number]) {
  const row = new Uint8Array(1 + width * 3);
  for (let x = 0; x < width; x++) row.set(rgb, 1 + x * 3);
  const raw = concatBytes(Array.from({ length: height }, () => row));
  return concatBytes([
    PNG_SIGNATURE,
    ihdr(width, height, 8, 2),
    pngChunk('IDAT', await compress(raw, 'deflate')),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * A PNG whose header declares `width`×`height` (1-bit greyscale) with `idat` as its pixel data:
 * by default real zlib data for every declared row, so it is a genuine decompression bomb.
 */
export async function declaredPng(width: number, height: number, idat?: Uint8Array) {
  const data = idat ?? (await compressedZeros((1 + Math.ceil(width / 8)) * height, 'deflate'));
  return concatBytes([
    PNG_SIGNATURE,
    ihdr(width, height, 1, 0),
    pngChunk('IDAT', data),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** Offset of the first `FF <marker>` segment in a JPEG. */
function jpegSegment(bytes: Uint8Array, markers: readonly number[]): number {
  for (let i = 2; i < bytes.length - 9; i++)
    if (bytes[i] === 0xff && markers.includes(bytes[i + 1]!)) return i;
  throw new Error('marker not found');
}

const SOF = [0xc0, 0xc1, 0xc2];

/** A copy of a JPEG whose frame header declares another size. */
export function jpegWithSize(jpeg: Uint8Array, width: number, height: number): Uint8Array {
  const out = jpeg.slice();
  const at = jpegSegment(out, SOF);
  const v = new DataView(out.buffer);
  v.setUint16(at + 5, height);
  v.setUint16(at + 7, width);
  return out;
}

/** A JPEG with an extra frame header declaring `width`×`height` placed before the real one. */
export function jpegWithHiddenFrame(jpeg: Uint8Array, width: number, height: number) {
  const at = jpegSegment(jpeg, SOF);
  const length = new DataView(jpeg.buffer, jpeg.byteOffset).getUint16(at + 2);
  const fake = jpegWithSize(jpeg, width, height).slice(at, at + 2 + length);
  return concatBytes([jpeg.subarray(0, at), fake, jpeg.subarray(at)]);
}

/** A JPEG whose first segment claims to run 65 KB past the end of the file. */
export function jpegWithOverlongSegment(): Uint8Array {
  return concatBytes([Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff), text('JFIF\0')]);
}

/** A JPEG without its end-of-image marker (the scan simply stops). */
export const jpegWithoutEnd = (jpeg: Uint8Array) => jpeg.subarray(0, jpeg.length - 2);

/** A JPEG whose scan starts without any frame header. */
export function jpegWithoutFrame(): Uint8Array {
  return Uint8Array.of(
    0xff,
    0xd8,
    0xff,
    0xda,
    0x00,
    0x08,
    1,
    1,
    0,
    0,
    0x3f,
    0,
    1,
    2,
    3,
    0xff,
    0xd9,
  );
}

/** A PNG with its compressed pixel data scrambled (the header still reads fine). */
export function pngWithDamagedData(png: Uint8Array): Uint8Array {
  const out = png.slice();
  const idat = out.findIndex(
    (_, i) => out[i] === 0x49 && out[i + 1] === 0x44 && out[i + 2] === 0x41 && out[i + 3] === 0x54,
  );
  for (let i = idat + 40; i < idat + 240; i++) out[i] = out[i]! ^ 0x5a;
  return out;
}

/** A PNG whose IHDR declares `width`×`height` (the data is left as it was). */
export function pngWithSize(png: Uint8Array, width: number, height: number): Uint8Array {
  const out = png.slice();
  const v = new DataView(out.buffer);
  v.setUint32(16, width >>> 0);
  v.setUint32(20, height >>> 0);
  return out;
}

function riff(chunks: Uint8Array[], declared?: number): Uint8Array {
  const body = concatBytes([text('WEBP'), ...chunks]);
  const size = new Uint8Array(4);
  new DataView(size.buffer).setUint32(0, declared ?? body.length, true);
  return concatBytes([text('RIFF'), size, body]);
}

function webpChunk(type: string, data: Uint8Array): Uint8Array {
  const size = new Uint8Array(4);
  new DataView(size.buffer).setUint32(0, data.length, true);
  return concatBytes([text(type), size, data, new Uint8Array(data.length % 2)]);
}

/** A WebP whose VP8X header declares `width`×`height` (24-bit fields, up to 16 M each). */
export function webpWithCanvas(width: number, height: number): Uint8Array {
  const vp8x = new Uint8Array(10);
  const v = new DataView(vp8x.buffer);
  v.setUint16(4, (width - 1) & 0xffff, true);
  vp8x[6] = ((width - 1) >> 16) & 0xff;
  v.setUint16(7, (height - 1) & 0xffff, true);
  vp8x[9] = ((height - 1) >> 16) & 0xff;
  return riff([webpChunk('VP8X', vp8x)]);
}

/** A RIFF/WEBP container that holds only metadata, no image. */
export const webpWithoutImage = () => riff([webpChunk('ICCP', new Uint8Array(16))]);

/** A lossless WebP header declaring 64×64 followed by bytes no decoder can read. */
export function webpLosslessGarbage(): Uint8Array {
  const data = new Uint8Array(64).fill(0xa5);
  data[0] = 0x2f;
  new DataView(data.buffer).setUint32(1, 63 | (63 << 14), true);
  return riff([webpChunk('VP8L', data)]);
}

/** A WebP whose RIFF header claims far more bytes than the file has. */
export const webpWithLongRiff = (webp: Uint8Array) => {
  const out = webp.slice();
  new DataView(out.buffer).setUint32(4, 0x7ffffff0, true);
  return out;
};

/** The first bytes of formats the API recognises but does not decode. */
export const UNSUPPORTED = {
  bmp: concatBytes([text('BM'), new Uint8Array(60)]),
  avif: concatBytes([Uint8Array.of(0, 0, 0, 0x1c), text('ftypavif'), new Uint8Array(32)]),
  heic: concatBytes([Uint8Array.of(0, 0, 0, 0x18), text('ftypheic'), new Uint8Array(32)]),
  svg: text(
    '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>fetch("/v1/heads")</script></svg>',
  ),
};

/** Documents that are not images at all, whatever their name or declared type. */
export const NOT_IMAGES = {
  html: text('<!doctype html><html><body><script>alert(document.cookie)</script></body></html>'),
  pdf: text('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF'),
  /** A PNG signature followed by HTML: a sniffer looking at the first bytes sees a PNG. */
  pngThenHtml: concatBytes([PNG_SIGNATURE, text('<html><script>alert(1)</script></html>')]),
  /** A JPEG start-of-image followed by a script. */
  jpegThenScript: concatBytes([Uint8Array.of(0xff, 0xd8, 0xff), text('<script>alert(1)</script>')]),
  /** A JPEG start-of-image then 0xFF forever: every byte looks like a fill byte. */
  jpegFill: concatBytes([Uint8Array.of(0xff, 0xd8), new Uint8Array(64 * 1024).fill(0xff)]),
  noise: Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251),
};
