// Streaming PNG decoder that box-shrinks while it inflates, so a 40 MP PNG never exists at full size.
import { DecodeError } from '../decode.js';
import type { RgbImage } from '../image.js';
import type { DecodeScale } from './scale.js';

/** IHDR facts, read without decoding. */
export interface PngInfo {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10] as const;
const MAX_SIDE = 2 ** 24;
/** Bit depths each colour type allows (PNG spec table 11.1). */
const DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const SAMPLES: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes as [x0, y0, dx, dy]. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;
/** Compressed input is handed to the inflater in slices this big, so it never copies more. */
const INPUT_SLICE = 64 * 1024;
/** The inflater's own memory (32 KiB window, its output chunks, one input slice), plus tables. */
const FIXED_BYTES = 192 * 1024;

/**
 * Reads and checks the PNG signature and IHDR chunk, without touching the image data.
 *
 * @example
 * const { width, height, interlaced } = readPngInfo(bytes);
 */
export function readPngInfo(bytes: Uint8Array): PngInfo {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new DecodeError('not a PNG file (bad signature)');
  }
  if (bytes.length < 33 || readU32(bytes, 8) !== 13 || chunkType(bytes, 12) !== 'IHDR') {
    throw new DecodeError('PNG does not start with a 13-byte IHDR chunk');
  }
  checkCrc(bytes, 8, 13, 'IHDR');
  const width = readU32(bytes, 16);
  const height = readU32(bytes, 20);
  const bitDepth = bytes[24]!;
  const colorType = bytes[25]!;
  if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
    throw new DecodeError(`PNG size ${width}×${height} is outside 1…${MAX_SIDE} pixels a side`);
  }
  if (!DEPTHS[colorType]?.includes(bitDepth)) {
    throw new DecodeError(`PNG colour type ${colorType} with bit depth ${bitDepth} is invalid`);
  }
  if (bytes[26] !== 0 || bytes[27] !== 0) {
    throw new DecodeError(`PNG compression method ${bytes[26]} or filter method ${bytes[27]} ≠ 0`);
  }
  const interlace = bytes[28]!;
  if (interlace > 1) throw new DecodeError(`PNG interlace method ${interlace} is unknown`);
  return { width, height, bitDepth, colorType, interlaced: interlace === 1 };
}

/**
 * Upper bound of the bytes decodePngScaled allocates for this image at this scale (row buffers,
 * box sums, the output image, the inflater), not counting the input, so callers can refuse first.
 *
 * @example
 * if (pngDecodeBytes(readPngInfo(bytes), 8) > 16 * 2 ** 20) throw new Error('too big');
 */
export function pngDecodeBytes(info: PngInfo, scale: DecodeScale): number {
  const outW = Math.ceil(info.width / scale);
  const outH = Math.ceil(info.height / scale);
  const rowBytes = rowBytesOf(info, info.width);
  const sumCells = scale === 1 ? 0 : info.interlaced ? outW * outH * 3 : outW * 3;
  return 2 * rowBytes + info.width * 3 + sumCells * 4 + outW * outH * 3 + FIXED_BYTES;
}

/**
 * Decodes a PNG (every colour type, bit depth and Adam7) straight into an RGB image shrunk by
 * `scale`: alpha is composited over white per source pixel, then each scale×scale box (partial
 * at the right and bottom edges) is averaged with rounding.
 *
 * @example
 * const small = await decodePngScaled(bytes, 8); // 4000×3000 → 500×375, channels 3
 */
export async function decodePngScaled(bytes: Uint8Array, scale: DecodeScale): Promise<RgbImage> {
  if (![1, 2, 4, 8].includes(scale)) throw new RangeError(`scale must be 1, 2, 4 or 8`);
  const layout = scanChunks(bytes);
  const rows = new RowDecoder(layout, scale);
  await inflateInto(bytes, layout, rows);
  return rows.finish();
}

/** Where the parts of a checked PNG lie. */
interface ChunkLayout {
  info: PngInfo;
  /** Palette (or grey levels) as composited RGB, and how many entries are valid. */
  palette: Uint8Array | null;
  paletteSize: number;
  /** tRNS sample values for colour types 0 (one) and 2 (three), in the original bit depth. */
  transparent: readonly number[] | null;
  /** Offset of the first IDAT chunk and of the chunk after the last one. */
  idatStart: number;
  idatEnd: number;
}

/** Walks every chunk once, checking structure and the CRCs of the chunks decoding relies on. */
function scanChunks(bytes: Uint8Array): ChunkLayout {
  const info = readPngInfo(bytes);
  let plte: Uint8Array | null = null;
  let trns: Uint8Array | null = null;
  let idatStart = -1;
  let idatEnd = -1;
  let idatOver = false;
  let offset = 33;
  for (;;) {
    if (offset + 12 > bytes.length) throw new DecodeError('PNG is truncated (no IEND chunk)');
    const length = readU32(bytes, offset);
    const type = chunkType(bytes, offset + 4);
    if (length > 0x7fffffff || offset + 12 + length > bytes.length) {
      throw new DecodeError(`PNG is truncated inside its ${type} chunk`);
    }
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    const next = offset + 12 + length;
    if (type === 'IEND') break;
    if (idatStart >= 0 && type !== 'IDAT') idatOver = true;
    switch (type) {
      case 'IDAT':
        // Consecutive IDATs let the inflater be fed by walking one run of chunks.
        if (idatOver) throw new DecodeError('PNG IDAT chunks are not consecutive');
        checkCrc(bytes, offset, length, type);
        if (idatStart < 0) idatStart = offset;
        idatEnd = next;
        break;
      case 'PLTE':
        if (plte || idatStart >= 0) throw new DecodeError('PNG has a second or late PLTE chunk');
        if (length === 0 || length % 3 !== 0 || length > 768) {
          throw new DecodeError(`PNG PLTE chunk has an invalid length ${length}`);
        }
        checkCrc(bytes, offset, length, type);
        plte = data;
        break;
      case 'tRNS':
        if (trns || idatStart >= 0) throw new DecodeError('PNG has a second or late tRNS chunk');
        checkCrc(bytes, offset, length, type);
        trns = data;
        break;
      case 'IHDR':
        throw new DecodeError('PNG has a second IHDR chunk');
      default:
        if (!/^[A-Za-z]{4}$/.test(type))
          throw new DecodeError(`PNG chunk type "${type}" is invalid`);
        // Bit 5 of the first letter clear (upper case) marks a chunk a decoder must understand.
        if (type.charCodeAt(0) < 97)
          throw new DecodeError(`PNG has unknown critical chunk ${type}`);
    }
    offset = next;
  }
  if (idatStart < 0) throw new DecodeError('PNG has no IDAT chunk');
  return {
    info,
    ...paletteOf(info, plte, trns),
    transparent: transparentOf(info, trns),
    idatStart,
    idatEnd,
  };
}

/** The composited palette (colour type 3) or grey ramp (colour type 0 up to 8 bits). */
function paletteOf(
  info: PngInfo,
  plte: Uint8Array | null,
  trns: Uint8Array | null,
): { palette: Uint8Array | null; paletteSize: number } {
  const { colorType, bitDepth } = info;
  if (colorType === 3) {
    if (!plte) throw new DecodeError('palette PNG has no PLTE chunk');
    const size = plte.length / 3;
    if (trns && trns.length > size) {
      throw new DecodeError(`PNG tRNS has ${trns.length} entries for a ${size}-colour palette`);
    }
    const palette = new Uint8Array(768);
    for (let i = 0; i < size * 3; i++) palette[i] = over(plte[i]!, trns?.[(i / 3) | 0] ?? 255);
    return { palette, paletteSize: size };
  }
  if (plte && (colorType === 0 || colorType === 4)) {
    throw new DecodeError(`PNG colour type ${colorType} must not have a PLTE chunk`);
  }
  if (colorType !== 0 || bitDepth === 16) return { palette: null, paletteSize: 0 };
  // Grey up to 8 bits is a palette of 2^depth levels: one lookup per pixel, tRNS included.
  const max = (1 << bitDepth) - 1;
  const key = trns ? readU16(trns, 0) : -1;
  const palette = new Uint8Array(768);
  for (let v = 0; v <= max; v++) {
    const grey = v === key ? 255 : Math.floor((v * 255 * 2 + max) / (2 * max));
    palette.fill(grey, v * 3, v * 3 + 3);
  }
  return { palette, paletteSize: max + 1 };
}

/** The tRNS key colour for colour types 0 and 2; tRNS on types with alpha is ignored. */
function transparentOf(info: PngInfo, trns: Uint8Array | null): readonly number[] | null {
  const need = info.colorType === 0 ? 2 : info.colorType === 2 ? 6 : 0;
  if (!trns || need === 0) return null;
  if (trns.length !== need) {
    throw new DecodeError(
      `PNG tRNS chunk is ${trns.length} bytes, colour type ${info.colorType} needs ${need}`,
    );
  }
  return Array.from({ length: need / 2 }, (_, i) => readU16(trns, i * 2));
}

/** Feeds the IDAT payloads through DecompressionStream and hands each inflated chunk to `rows`. */
async function inflateInto(
  bytes: Uint8Array,
  layout: ChunkLayout,
  rows: RowDecoder,
): Promise<void> {
  const stream = new DecompressionStream('deflate');
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const fed = feed(writer, bytes, layout.idatStart, layout.idatEnd);
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (err) {
        throw new DecodeError(`PNG image data is corrupt (${String(err)})`, err);
      }
      if (result.done) break;
      rows.push(result.value);
    }
    if (!rows.complete) throw new DecodeError('PNG image data ends before the last row');
    await fed;
  } catch (err) {
    // Stop the inflater at once: the writer side sees the cancel and `feed` swallows it.
    reader.cancel().catch(() => undefined);
    throw err;
  }
}

/** Writes the IDAT payloads in slices and closes; never rejects (a cancelled read ends it). */
async function feed(
  writer: WritableStreamDefaultWriter<BufferSource>,
  bytes: Uint8Array,
  start: number,
  end: number,
): Promise<void> {
  try {
    for (let offset = start; offset < end;) {
      const length = readU32(bytes, offset);
      const dataEnd = offset + 8 + length;
      for (let at = offset + 8; at < dataEnd; at += INPUT_SLICE) {
        await writer.write(bufferSource(bytes, at, Math.min(at + INPUT_SLICE, dataEnd)));
      }
      offset = dataEnd + 4;
    }
    await writer.close();
  } catch {
    writer.abort().catch(() => undefined);
  }
}

/** bytes[start, end) as the streams API takes it: a view, or a copy when memory is shared. */
function bufferSource(bytes: Uint8Array, start: number, end: number): Uint8Array<ArrayBuffer> {
  const { buffer } = bytes;
  return buffer instanceof ArrayBuffer
    ? new Uint8Array(buffer, bytes.byteOffset + start, end - start)
    : bytes.slice(start, end);
}

/**
 * Undoes the row filters as inflated bytes arrive and box-sums each row into the output, keeping
 * only the previous and current filtered rows.
 */
class RowDecoder {
  private readonly width: number;
  private readonly height: number;
  private readonly shift: number;
  private readonly outW: number;
  private readonly outH: number;
  private readonly bpp: number;
  private readonly passes: readonly (readonly [number, number, number, number])[];
  private readonly toRgb: (raw: Uint8Array, width: number) => Uint8Array;
  private readonly out: Uint8Array;
  /** Box sums: one output row (sequential) or the whole output (interlaced); null at scale 1. */
  private readonly sums: Uint32Array | null;
  private cur: Uint8Array;
  private prev: Uint8Array;
  private pass = -1;
  private passWidth = 0;
  private passHeight = 0;
  private passRowBytes = 0;
  private passRow = 0;
  /** Bytes of the current row received; -1 while its filter-type byte is awaited. */
  private pos = -1;
  private filter = 0;
  complete = false;

  constructor(
    private readonly layout: ChunkLayout,
    private readonly scale: DecodeScale,
  ) {
    const { info } = layout;
    this.width = info.width;
    this.height = info.height;
    this.shift = Math.log2(scale);
    this.outW = Math.ceil(info.width / scale);
    this.outH = Math.ceil(info.height / scale);
    this.bpp = Math.max(1, (SAMPLES[info.colorType]! * info.bitDepth) >> 3);
    this.passes = info.interlaced ? ADAM7 : [[0, 0, 1, 1]];
    const rowBytes = rowBytesOf(info, info.width);
    this.cur = new Uint8Array(rowBytes);
    this.prev = new Uint8Array(rowBytes);
    this.toRgb = rowConverter(layout, new Uint8Array(info.width * 3));
    this.out = new Uint8Array(this.outW * this.outH * 3);
    this.sums =
      scale === 1 ? null : new Uint32Array(this.outW * 3 * (info.interlaced ? this.outH : 1));
    this.nextPass();
  }

  /** Consumes one chunk of inflated bytes; throws on a bad filter byte or surplus data. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.complete) throw new DecodeError('PNG image data is longer than the image');
      if (this.pos < 0) {
        this.filter = chunk[i++]!;
        if (this.filter > 4) throw new DecodeError(`PNG row filter type ${this.filter} is unknown`);
        this.pos = 0;
        continue;
      }
      const n = Math.min(this.passRowBytes - this.pos, chunk.length - i);
      this.cur.set(chunk.subarray(i, i + n), this.pos);
      this.pos += n;
      i += n;
      if (this.pos === this.passRowBytes) this.endRow();
    }
  }

  /** The finished image; only valid once `complete`. */
  finish(): RgbImage {
    if (this.sums && this.passes.length > 1) {
      for (let oy = 0; oy < this.outH; oy++) this.emitRow(oy, this.boxSide(oy, this.height));
    }
    return { width: this.outW, height: this.outH, channels: 3, data: this.out };
  }

  private nextPass(): void {
    for (this.pass++; this.pass < this.passes.length; this.pass++) {
      const [x0, y0, dx, dy] = this.passes[this.pass]!;
      this.passWidth = Math.ceil((this.width - x0) / dx);
      this.passHeight = Math.ceil((this.height - y0) / dy);
      // An empty pass has no rows and no filter bytes at all.
      if (this.passWidth <= 0 || this.passHeight <= 0) continue;
      this.passRowBytes = rowBytesOf(this.layout.info, this.passWidth);
      this.passRow = 0;
      this.prev.fill(0);
      return;
    }
    this.complete = true;
  }

  private endRow(): void {
    unfilter(this.filter, this.cur, this.prev, this.passRowBytes, this.bpp);
    const [x0, y0, dx, dy] = this.passes[this.pass]!;
    const y = y0 + this.passRow * dy;
    const rgb = this.toRgb(this.cur, this.passWidth);
    if (!this.sums) {
      placeRow(rgb, this.passWidth, this.out, y * this.width * 3, x0, dx);
    } else if (this.passes.length === 1) {
      sumRow(rgb, this.width, this.sums, this.shift);
      if ((y + 1) % this.scale === 0 || y === this.height - 1) {
        this.emitRow(y >> this.shift, (y & (this.scale - 1)) + 1);
        this.sums.fill(0);
      }
    } else {
      const base = (y >> this.shift) * this.outW * 3;
      scatterSums(rgb, this.passWidth, this.sums, base, x0, dx, this.shift);
    }
    [this.cur, this.prev] = [this.prev, this.cur];
    this.pos = -1;
    if (++this.passRow === this.passHeight) this.nextPass();
  }

  /** Pixels a box spans along an axis of `size` pixels: `scale`, less at the far edge. */
  private boxSide(o: number, size: number): number {
    return Math.min(this.scale, size - o * this.scale);
  }

  /** Divides output row `oy` of the sums by each box's pixel count, rounding half up. */
  private emitRow(oy: number, boxH: number): void {
    const sums = this.sums!;
    const base = this.passes.length === 1 ? 0 : oy * this.outW * 3;
    const at = oy * this.outW * 3;
    for (let ox = 0; ox < this.outW; ox++) {
      const n = this.boxSide(ox, this.width) * boxH;
      const half = n >> 1;
      // Storing into a Uint8Array truncates, which is the floor of these non-negative means.
      for (let c = ox * 3; c < ox * 3 + 3; c++) this.out[at + c] = (sums[base + c]! + half) / n;
    }
  }
}

/** Reverses one row's filter in place (PNG spec section 9), `prev` being the unfiltered row above. */
function unfilter(type: number, cur: Uint8Array, prev: Uint8Array, n: number, bpp: number): void {
  switch (type) {
    case 1:
      for (let i = bpp; i < n; i++) cur[i] = cur[i]! + cur[i - bpp]!;
      break;
    case 2:
      for (let i = 0; i < n; i++) cur[i] = cur[i]! + prev[i]!;
      break;
    case 3:
      for (let i = 0; i < bpp; i++) cur[i] = cur[i]! + (prev[i]! >> 1);
      for (let i = bpp; i < n; i++) cur[i] = cur[i]! + ((cur[i - bpp]! + prev[i]!) >> 1);
      break;
    case 4:
      // With no left neighbour the Paeth predictor is always the byte above.
      for (let i = 0; i < bpp; i++) cur[i] = cur[i]! + prev[i]!;
      // Branch-free: on photo data the predictor choice is random enough that branches
      // mispredict, and this form ran 3–4× faster than the if/else one on noise.
      for (let i = bpp; i < n; i++) {
        const a = cur[i - bpp]!;
        const b = prev[i]!;
        const c = prev[i - bpp]!;
        let pa = b - c;
        let pb = a - c;
        let pc = pa + pb;
        pa = (pa ^ (pa >> 31)) - (pa >> 31);
        pb = (pb ^ (pb >> 31)) - (pb >> 31);
        pc = (pc ^ (pc >> 31)) - (pc >> 31);
        // All ones when pa <= pb and pa <= pc (spec: take a), then when pb <= pc (take b).
        const takeA = ~((pb - pa) | (pc - pa)) >> 31;
        const takeB = ~(pc - pb) >> 31;
        cur[i] = cur[i]! + ((a & takeA) | (~takeA & ((b & takeB) | (c & ~takeB))));
      }
      break;
  }
}

/**
 * Picks, once per image, the loop that turns a raw row into composited 8-bit RGB. It returns
 * the raw row itself when that already is 8-bit RGB.
 */
function rowConverter(
  layout: ChunkLayout,
  rgb: Uint8Array,
): (raw: Uint8Array, width: number) => Uint8Array {
  const { colorType, bitDepth } = layout.info;
  const { palette, paletteSize, transparent } = layout;
  if (palette) {
    return (raw, width) => {
      const mask = (1 << bitDepth) - 1;
      for (let x = 0, bit = 0, o = 0; x < width; x++, bit += bitDepth, o += 3) {
        const v = (raw[bit >> 3]! >> (8 - bitDepth - (bit & 7))) & mask;
        if (v >= paletteSize) {
          throw new DecodeError(`PNG palette index ${v} is past the ${paletteSize}-colour palette`);
        }
        rgb[o] = palette[v * 3]!;
        rgb[o + 1] = palette[v * 3 + 1]!;
        rgb[o + 2] = palette[v * 3 + 2]!;
      }
      return rgb;
    };
  }
  const wide = bitDepth === 16 ? 2 : 1;
  const key = transparent ?? [-1, -1, -1];
  const [kr, kg, kb] = [key[0]!, key[1] ?? -1, key[2] ?? -1];
  if (colorType === 0) {
    // Only 16-bit grey is left: compare the full sample with the key, keep its high byte.
    return (raw, width) => {
      for (let x = 0, o = 0; x < width; x++, o += 3) {
        const v = (raw[x * 2]! << 8) | raw[x * 2 + 1]!;
        const g = v === kr ? 255 : v >> 8;
        rgb[o] = g;
        rgb[o + 1] = g;
        rgb[o + 2] = g;
      }
      return rgb;
    };
  }
  if (colorType === 2) {
    if (wide === 1 && !transparent) return (raw) => raw;
    return (raw, width) => {
      const step = 3 * wide;
      for (let x = 0, i = 0, o = 0; x < width; x++, i += step, o += 3) {
        const r = wide === 2 ? (raw[i]! << 8) | raw[i + 1]! : raw[i]!;
        const g = wide === 2 ? (raw[i + 2]! << 8) | raw[i + 3]! : raw[i + 1]!;
        const b = wide === 2 ? (raw[i + 4]! << 8) | raw[i + 5]! : raw[i + 2]!;
        const clear = r === kr && g === kg && b === kb;
        rgb[o] = clear ? 255 : raw[i]!;
        rgb[o + 1] = clear ? 255 : raw[i + wide]!;
        rgb[o + 2] = clear ? 255 : raw[i + 2 * wide]!;
      }
      return rgb;
    };
  }
  // Grey+alpha and RGBA: the high byte of each sample is its 8-bit value.
  const colours = colorType === 4 ? 1 : 3;
  const step = (colours + 1) * wide;
  return (raw, width) => {
    for (let x = 0, i = 0, o = 0; x < width; x++, i += step, o += 3) {
      const a = raw[i + colours * wide]!;
      const white = 255 * (255 - a) + 127;
      const r = raw[i]!;
      const g = colours === 1 ? r : raw[i + wide]!;
      const b = colours === 1 ? r : raw[i + 2 * wide]!;
      // Truncation on store is the floor the compositing rule asks for.
      rgb[o] = (r * a + white) / 255;
      rgb[o + 1] = (g * a + white) / 255;
      rgb[o + 2] = (b * a + white) / 255;
    }
    return rgb;
  };
}

/** Scale 1: stores a (pass) row's pixels at x0, x0 + dx, … of the output row starting at `at`. */
function placeRow(
  rgb: Uint8Array,
  width: number,
  out: Uint8Array,
  at: number,
  x0: number,
  dx: number,
): void {
  if (dx === 1) {
    out.set(rgb.subarray(0, width * 3), at);
    return;
  }
  for (let x = 0, i = 0, o = at + x0 * 3; x < width; x++, i += 3, o += dx * 3) {
    out[o] = rgb[i]!;
    out[o + 1] = rgb[i + 1]!;
    out[o + 2] = rgb[i + 2]!;
  }
}

/** Adds a full-width row into one output row of box sums, `1 << shift` source pixels per box. */
function sumRow(rgb: Uint8Array, width: number, sums: Uint32Array, shift: number): void {
  const end = width * 3;
  const span = 3 << shift;
  for (let i = 0, o = 0; i < end; o += 3) {
    const stop = Math.min(i + span, end);
    let r = 0;
    let g = 0;
    let b = 0;
    for (; i < stop; i += 3) {
      r += rgb[i]!;
      g += rgb[i + 1]!;
      b += rgb[i + 2]!;
    }
    sums[o] = sums[o]! + r;
    sums[o + 1] = sums[o + 1]! + g;
    sums[o + 2] = sums[o + 2]! + b;
  }
}

/** Adds an Adam7 pass row (pixels at x0, x0 + dx, …) into the output row of sums at `base`. */
function scatterSums(
  rgb: Uint8Array,
  width: number,
  sums: Uint32Array,
  base: number,
  x0: number,
  dx: number,
  shift: number,
): void {
  for (let x = 0, i = 0, sx = x0; x < width; x++, i += 3, sx += dx) {
    const o = base + (sx >> shift) * 3;
    sums[o] = sums[o]! + rgb[i]!;
    sums[o + 1] = sums[o + 1]! + rgb[i + 1]!;
    sums[o + 2] = sums[o + 2]! + rgb[i + 2]!;
  }
}

/** One colour sample composited over white (alpha 0 = white, 255 = unchanged). */
function over(c: number, a: number): number {
  return Math.floor((c * a + 255 * (255 - a) + 127) / 255);
}

/** Bytes of one filtered row of `width` pixels, not counting the filter-type byte. */
function rowBytesOf(info: PngInfo, width: number): number {
  return Math.ceil((width * SAMPLES[info.colorType]! * info.bitDepth) / 8);
}

function readU32(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
  );
}

function readU16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

function chunkType(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

/** Throws unless the CRC after the chunk at `offset` matches its type and data. */
function checkCrc(bytes: Uint8Array, offset: number, length: number, type: string): void {
  const stored = readU32(bytes, offset + 8 + length);
  if (crc32(bytes, offset + 4, offset + 8 + length) !== stored) {
    throw new DecodeError(`PNG ${type} chunk fails its CRC check (the file is corrupt)`);
  }
}

/** CRC-32 tables for slicing-by-8: table k advances a byte k positions further. */
const CRC_TABLES = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) {
      const p = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = t[p & 255]! ^ (p >>> 8);
    }
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, as PNG uses) of bytes[start, end), eight bytes per step. */
function crc32(bytes: Uint8Array, start: number, end: number): number {
  const t = CRC_TABLES;
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo =
      crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc =
      t[1792 + (lo & 255)]! ^
      t[1536 + ((lo >>> 8) & 255)]! ^
      t[1280 + ((lo >>> 16) & 255)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ bytes[i]!) & 255]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
