// The streaming PNG decoder, checked bit for bit against the pixel contract and against photon.
import { deflateSync } from 'node:zlib';
import path from 'node:path';
import { PhotonImage } from '@cf-wasm/photon/node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodePngScaled, pngDecodeBytes, readPngInfo } from '../../src/shared/codecs/png.js';
import type { DecodeScale } from '../../src/shared/codecs/scale.js';
import { DecodeError } from '../../src/shared/decode.js';
import { DATASETS_DIR } from '../support/paths.js';

const BEE = path.join(DATASETS_DIR, 'hymenoptera_data/val/bees/10870992_eebeeb3a12.jpg');
const SCALES: readonly DecodeScale[] = [1, 2, 4, 8];
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes from the PNG spec, as [x0, y0, dx, dy]. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

// ---------- a tiny PNG encoder ----------

/** A test image as the encoder sees it: every sample at full bit depth, channels interleaved. */
interface Source {
  width: number;
  height: number;
  colorType: number;
  bitDepth: number;
  samples: Uint16Array;
  palette?: Uint8Array;
  /** The raw tRNS chunk data. */
  trns?: Uint8Array;
}

interface EncodeOptions {
  interlaced?: boolean;
  /** Filter type of the n-th row written; a value over 4 makes a corrupt file. */
  filter?: (n: number) => number;
  /** Largest IDAT payload: the zlib stream is split across this many bytes per chunk. */
  idatSize?: number;
  /** Bytes appended to the uncompressed stream (more data than the image needs). */
  extra?: Uint8Array;
  /** Bytes dropped from the end of the uncompressed stream (too little data). */
  cut?: number;
  level?: number;
  /** Extra chunks written just before the IDATs. */
  before?: Uint8Array[];
  /** IHDR width written instead of the real one. */
  ihdrWidth?: number;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 255]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(Buffer.from(type, 'latin1'), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function ihdr(width: number, height: number, depth: number, type: number, interlace: number) {
  const data = new Uint8Array(13);
  const view = new DataView(data.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  data.set([depth, type, 0, 0, interlace], 8);
  return chunk('IHDR', data);
}

const SIGNATURE = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);

/** Signature, IHDR, PLTE/tRNS, the zlib stream in IDATs of `idatSize` bytes, IEND. */
function assemble(src: Source, zlib: Uint8Array, o: EncodeOptions): Uint8Array {
  const idatSize = o.idatSize ?? 8192;
  const idats: Uint8Array[] = [];
  for (let at = 0; at < zlib.length; at += idatSize) {
    idats.push(chunk('IDAT', zlib.subarray(at, at + idatSize)));
  }
  return Buffer.concat([
    SIGNATURE,
    ihdr(o.ihdrWidth ?? src.width, src.height, src.bitDepth, src.colorType, o.interlaced ? 1 : 0),
    ...(src.palette ? [chunk('PLTE', src.palette)] : []),
    ...(src.trns ? [chunk('tRNS', src.trns)] : []),
    ...(o.before ?? []),
    ...idats,
    chunk('IEND', new Uint8Array(0)),
  ]);
}

function rowBytes(src: Source, width: number): number {
  return Math.ceil((width * CHANNELS[src.colorType]! * src.bitDepth) / 8);
}

/** Packs the pixels x0, x0 + dx, … of row y, MSB first for depths under 8. */
function packRow(src: Source, y: number, x0: number, dx: number, count: number): Uint8Array {
  const ch = CHANNELS[src.colorType]!;
  const d = src.bitDepth;
  const out = new Uint8Array(rowBytes(src, count));
  let bit = 0;
  for (let i = 0; i < count; i++) {
    const p = (y * src.width + x0 + i * dx) * ch;
    for (let c = 0; c < ch; c++, bit += d) {
      const v = src.samples[p + c]!;
      if (d === 16) out.set([v >> 8, v & 255], bit >> 3);
      else out[bit >> 3] = out[bit >> 3]! | (v << (8 - d - (bit & 7)));
    }
  }
  return out;
}

/** The Paeth predictor written as the PNG spec states it. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  if (pb <= pc) return b;
  return c;
}

function predict(type: number, a: number, b: number, c: number): number {
  switch (type) {
    case 1:
      return a;
    case 2:
      return b;
    case 3:
      return (a + b) >> 1;
    case 4:
      return paeth(a, b, c);
    default:
      return 0;
  }
}

/** Filter byte plus the filtered row; `prev` is the raw row above (zeros for the first). */
function filterRow(type: number, raw: Uint8Array, prev: Uint8Array, bpp: number): Uint8Array {
  const out = new Uint8Array(raw.length + 1);
  out[0] = type;
  for (let i = 0; i < raw.length; i++) {
    const a = i >= bpp ? raw[i - bpp]! : 0;
    const b = prev[i]!;
    const c = i >= bpp ? prev[i - bpp]! : 0;
    out[i + 1] = (raw[i]! - predict(type, a, b, c)) & 255;
  }
  return out;
}

/** Encodes a source image, each row with the filter type `filter` picks. */
function encodePng(src: Source, o: EncodeOptions = {}): Uint8Array {
  const bpp = Math.max(1, (CHANNELS[src.colorType]! * src.bitDepth) >> 3);
  const filter = o.filter ?? ((n: number) => n % 5);
  const rows: Uint8Array[] = [];
  for (const [x0, y0, dx, dy] of o.interlaced ? ADAM7 : [[0, 0, 1, 1] as const]) {
    const w = Math.ceil((src.width - x0) / dx);
    const h = Math.ceil((src.height - y0) / dy);
    if (w <= 0 || h <= 0) continue;
    let prev: Uint8Array = new Uint8Array(rowBytes(src, w));
    for (let r = 0; r < h; r++) {
      const raw = packRow(src, y0 + r * dy, x0, dx, w);
      rows.push(filterRow(filter(rows.length), raw, prev, bpp));
      prev = raw;
    }
  }
  let stream: Uint8Array = Buffer.concat([...rows, o.extra ?? new Uint8Array(0)]);
  if (o.cut) stream = stream.subarray(0, stream.length - o.cut);
  return assemble(src, deflateSync(stream, { level: o.level ?? 6 }), o);
}

// ---------- the contract, written out plainly ----------

/** Step 1: every source pixel as 8-bit RGBA. */
function sourceToRgba(src: Source): Uint8Array {
  const { colorType: type, bitDepth: d } = src;
  const ch = CHANNELS[type]!;
  const max = 2 ** d - 1;
  const to8 = (v: number) => (d === 16 ? v >> 8 : Math.floor((v * 255 * 2 + max) / (2 * max)));
  const key =
    src.trns && (type === 0 || type === 2)
      ? Array.from(
          { length: src.trns.length / 2 },
          (_, i) => (src.trns![2 * i]! << 8) | src.trns![2 * i + 1]!,
        )
      : null;
  const n = src.width * src.height;
  const out = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    const s = Array.from(src.samples.subarray(p * ch, p * ch + ch));
    let rgba: number[];
    if (type === 0) rgba = [to8(s[0]!), to8(s[0]!), to8(s[0]!), key && s[0] === key[0] ? 0 : 255];
    else if (type === 2) {
      const clear = key !== null && s.every((v, i) => v === key[i]);
      rgba = [to8(s[0]!), to8(s[1]!), to8(s[2]!), clear ? 0 : 255];
    } else if (type === 3) {
      const i = s[0]!;
      rgba = [...src.palette!.subarray(i * 3, i * 3 + 3), src.trns?.[i] ?? 255];
    } else if (type === 4) rgba = [to8(s[0]!), to8(s[0]!), to8(s[0]!), to8(s[1]!)];
    else rgba = s.map(to8);
    out.set(rgba, p * 4);
  }
  return out;
}

/** Steps 2 and 3: composite over white, then the rounded mean of each (partial) box. */
function expectedFromRgba(rgba: Uint8Array, w: number, h: number, scale: number): Uint8Array {
  const outW = Math.ceil(w / scale);
  const outH = Math.ceil(h / scale);
  const out = new Uint8Array(outW * outH * 3);
  const sums = new Uint32Array(outW * outH * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 4;
      const a = rgba[p + 3]!;
      const o = (Math.floor(y / scale) * outW + Math.floor(x / scale)) * 3;
      for (let c = 0; c < 3; c++) {
        sums[o + c] = sums[o + c]! + Math.floor((rgba[p + c]! * a + 255 * (255 - a) + 127) / 255);
      }
    }
  }
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const n =
        (Math.min(w, (ox + 1) * scale) - ox * scale) * (Math.min(h, (oy + 1) * scale) - oy * scale);
      for (let c = 0; c < 3; c++) {
        const i = (oy * outW + ox) * 3 + c;
        out[i] = Math.floor((sums[i]! + Math.floor(n / 2)) / n);
      }
    }
  }
  return out;
}

function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

// ---------- source images ----------

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

interface Kind {
  name: string;
  colorType: number;
  bitDepth: number;
  trns?: boolean;
}

const KINDS: Kind[] = [
  ...[1, 2, 4, 8, 16].map((d) => ({ name: `grey ${d}`, colorType: 0, bitDepth: d })),
  ...[2, 8, 16].map((d) => ({ name: `grey ${d} + tRNS`, colorType: 0, bitDepth: d, trns: true })),
  ...[8, 16].map((d) => ({ name: `RGB ${d}`, colorType: 2, bitDepth: d })),
  ...[8, 16].map((d) => ({ name: `RGB ${d} + tRNS`, colorType: 2, bitDepth: d, trns: true })),
  ...[1, 2, 4, 8].flatMap((d) => [
    { name: `palette ${d}`, colorType: 3, bitDepth: d },
    { name: `palette ${d} + tRNS`, colorType: 3, bitDepth: d, trns: true },
  ]),
  ...[8, 16].map((d) => ({ name: `grey+alpha ${d}`, colorType: 4, bitDepth: d })),
  ...[8, 16].map((d) => ({ name: `RGBA ${d}`, colorType: 6, bitDepth: d })),
];

/** Photo-like samples (gradients, noise, flat runs, hard edges) so every predictor gets chosen. */
function makeSource(kind: Kind, width: number, height: number, seed: number): Source {
  const next = rng(seed);
  const { colorType, bitDepth } = kind;
  const ch = CHANNELS[colorType]!;
  const levels = colorType === 3 ? Math.min(2 ** bitDepth, 200) : 2 ** bitDepth;
  const samples = new Uint16Array(width * height * ch);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < ch; c++) {
        const smooth = ((x * 7 + y * 3 + c * 50) % 256) / 256;
        const noise = (next() % 17) / 256;
        const v = y % 4 === 3 ? next() / 2 ** 32 : x % 11 < 3 ? 0.5 : smooth + noise;
        samples[(y * width + x) * ch + c] = Math.min(levels - 1, Math.floor(v * levels));
      }
    }
  }
  const src: Source = { width, height, colorType, bitDepth, samples };
  if (colorType === 3) {
    src.palette = Uint8Array.from({ length: levels * 3 }, () => next() & 255);
    // Fewer alphas than colours: the indexes past tRNS must come out opaque.
    const alphas = Math.max(1, levels - 1 - (levels >> 2));
    if (kind.trns)
      src.trns = Uint8Array.from({ length: alphas }, (_, i) => [0, 255][i] ?? next() & 255);
  } else if (kind.trns) {
    const key = Array.from({ length: ch }, () => next() % levels);
    src.trns = new Uint8Array(ch * 2);
    key.forEach((v, i) => src.trns!.set([v >> 8, v & 255], i * 2));
    for (let p = 0; p < width * height; p++) {
      const r = next() % 10;
      // Some pixels are the key exactly; at 16 bits some share only its high byte.
      if (r < 2) samples.set(key, p * ch);
      else if (r === 2 && bitDepth === 16)
        samples.set(
          key.map((v) => v ^ 1),
          p * ch,
        );
    }
  }
  return src;
}

const SIZES = [
  [37, 23],
  [1, 1],
  [9, 1],
  [1, 9],
  [16, 16],
] as const;

// ---------- tests ----------

describe('readPngInfo', () => {
  it('reads IHDR without decoding', () => {
    const src = makeSource({ name: 'RGBA 16', colorType: 6, bitDepth: 16 }, 5, 3, 1);
    expect(readPngInfo(encodePng(src, { interlaced: true }))).toEqual({
      width: 5,
      height: 3,
      bitDepth: 16,
      colorType: 6,
      interlaced: true,
    });
  });

  it('bounds working memory: 6000×4000 RGB at scale 8 needs under 2 MiB', () => {
    const info = { width: 6000, height: 4000, bitDepth: 8, colorType: 2, interlaced: false };
    expect(pngDecodeBytes(info, 8)).toBeLessThan(2 * 2 ** 20);
    // Interlaced images keep sums for the whole (small) output; scale 1 holds the full image.
    expect(pngDecodeBytes({ ...info, interlaced: true }, 8)).toBeGreaterThan(
      pngDecodeBytes(info, 8),
    );
    expect(pngDecodeBytes(info, 1)).toBeGreaterThan(6000 * 4000 * 3);
  });
});

describe('decodePngScaled follows the pixel contract bit for bit', () => {
  for (const kind of KINDS) {
    for (const interlaced of [false, true]) {
      it(`${kind.name}${interlaced ? ', Adam7' : ''}`, async () => {
        let seed = kind.colorType * 100 + kind.bitDepth + (interlaced ? 7 : 0);
        for (const [w, h] of SIZES) {
          const src = makeSource(kind, w, h, seed++);
          // Tiny IDAT chunks on one size: the stream must cross chunk boundaries mid-row.
          const png = encodePng(src, { interlaced, idatSize: w === 37 ? 5 : 8192 });
          expect(readPngInfo(png)).toMatchObject({ width: w, height: h, interlaced });
          const rgba = sourceToRgba(src);
          for (const scale of SCALES) {
            const image = await decodePngScaled(png, scale);
            expect(image).toMatchObject({
              width: Math.ceil(w / scale),
              height: Math.ceil(h / scale),
              channels: 3,
            });
            expect(image.data, `${w}×${h} at scale ${scale}`).toEqual(
              expectedFromRgba(rgba, w, h, scale),
            );
          }
        }
      });
    }
  }

  it('undoes each filter type on every row, including Paeth on photo-like data', async () => {
    const kind = { name: 'RGB 8', colorType: 2, bitDepth: 8 };
    const src = makeSource(kind, 61, 40, 99);
    for (const type of [0, 1, 2, 3, 4]) {
      const png = encodePng(src, { filter: () => type });
      const image = await decodePngScaled(png, 1);
      expect(image.data, `filter ${type}`).toEqual(expectedFromRgba(sourceToRgba(src), 61, 40, 1));
    }
  });
});

/** A real photo as PNG variants sharp writes (RGB, RGBA, grey, palette, interlaced). */
async function beeVariants(): Promise<Record<string, { png: Buffer; colorType: number }>> {
  const { data, info } = await sharp(BEE).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  // A varying alpha (0 … 255) so compositing over white is really exercised.
  for (let p = 0; p < info.width * info.height; p++) {
    data[p * 4 + 3] = ((p % info.width) * 5 + Math.floor(p / info.width) * 3) % 256;
  }
  const alpha = () => sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } });
  const variants = {
    rgb: [sharp(BEE).png(), 2],
    'rgba (opaque)': [sharp(BEE).ensureAlpha().png(), 6],
    'rgba (varying alpha)': [alpha().png(), 6],
    grey: [sharp(BEE).greyscale().toColourspace('b-w').png(), 0],
    palette: [sharp(BEE).png({ palette: true }), 3],
    'palette + tRNS': [alpha().png({ palette: true }), 3],
    'rgb, interlaced': [sharp(BEE).png({ progressive: true }), 2],
    'rgba, interlaced': [alpha().png({ progressive: true }), 6],
    'palette, interlaced': [sharp(BEE).png({ palette: true, progressive: true }), 3],
  } as const;
  const out: Record<string, { png: Buffer; colorType: number }> = {};
  for (const [name, [image, colorType]] of Object.entries(variants)) {
    out[name] = { png: await image.toBuffer(), colorType };
  }
  return out;
}

/** photon's RGBA (Rust's `image` crate), an independent decoder. */
function photonRgba(png: Uint8Array): { rgba: Uint8Array; width: number; height: number } {
  const image = PhotonImage.new_from_byteslice(png);
  try {
    return { rgba: image.get_raw_pixels(), width: image.get_width(), height: image.get_height() };
  } finally {
    image.free();
  }
}

describe('decodePngScaled agrees with photon on real photos', () => {
  it('matches exactly for every sharp-written 8-bit variant at every scale', async () => {
    for (const [name, { png, colorType }] of Object.entries(await beeVariants())) {
      const info = readPngInfo(png);
      expect(info, name).toMatchObject({ colorType, bitDepth: 8 });
      expect(info.interlaced, name).toBe(name.includes('interlaced'));
      const { rgba, width, height } = photonRgba(png);
      expect([width, height]).toEqual([info.width, info.height]);
      for (const scale of SCALES) {
        const image = await decodePngScaled(png, scale);
        const expected = expectedFromRgba(rgba, width, height, scale);
        expect(mismatches(image.data, expected), `${name} at scale ${scale}`).toBe(0);
      }
    }
  });

  it('decodes a 12 MP photo PNG (adaptive filters) like photon', async () => {
    const png = await sharp(BEE)
      .resize(4000, 3000, { fit: 'fill' })
      .png({ adaptiveFiltering: true })
      .toBuffer();
    const { rgba } = photonRgba(png);
    for (const scale of [8, 1] as const) {
      const image = await decodePngScaled(png, scale);
      expect(mismatches(image.data, expectedFromRgba(rgba, 4000, 3000, scale))).toBe(0);
    }
  });
});

/** A big RGB image written row by row from a cheap pattern, without a samples array. */
function encodeRgbPattern(
  width: number,
  height: number,
  level: number,
  filter: (y: number) => number,
): { png: Uint8Array; pixel: (x: number, y: number, c: number) => number } {
  const pixel = (x: number, y: number, c: number) =>
    c === 0 ? (x + y) & 255 : c === 1 ? (x * 7) & 255 : ((x >> 3) * (y >> 3) + (x ^ y)) & 255;
  const stride = width * 3;
  const stream = Buffer.alloc(height * (stride + 1));
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const raw = new Uint8Array(stride);
    for (let x = 0, i = 0; x < width; x++, i += 3) {
      raw[i] = pixel(x, y, 0);
      raw[i + 1] = pixel(x, y, 1);
      raw[i + 2] = pixel(x, y, 2);
    }
    stream.set(filterRow(filter(y), raw, prev, 3), y * (stride + 1));
    prev = raw;
  }
  const src: Source = { width, height, colorType: 2, bitDepth: 8, samples: new Uint16Array(0) };
  return { png: assemble(src, deflateSync(stream, { level }), { idatSize: 65536 }), pixel };
}

/** The contract for an opaque RGB pattern, computed box by box. */
function expectedPattern(
  width: number,
  height: number,
  scale: number,
  pixel: (x: number, y: number, c: number) => number,
): Uint8Array {
  const outW = Math.ceil(width / scale);
  const outH = Math.ceil(height / scale);
  const out = new Uint8Array(outW * outH * 3);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        let n = 0;
        for (let y = oy * scale; y < Math.min(height, (oy + 1) * scale); y++) {
          for (let x = ox * scale; x < Math.min(width, (ox + 1) * scale); x++, n++) {
            sum += pixel(x, y, c);
          }
        }
        out[(oy * outW + ox) * 3 + c] = Math.floor((sum + Math.floor(n / 2)) / n);
      }
    }
  }
  return out;
}

describe('decodePngScaled on production-sized images', () => {
  it('decodes a generated 4000×3000 RGB PNG at scales 8 and 1', async () => {
    // Paeth on most rows: the costliest filter, as photo encoders tend to pick it.
    const { png, pixel } = encodeRgbPattern(4000, 3000, 6, (y) => (y % 8 === 0 ? y % 5 : 4));
    for (const scale of [8, 1] as const) {
      const image = await decodePngScaled(png, scale);
      expect(mismatches(image.data, expectedPattern(4000, 3000, scale, pixel))).toBe(0);
    }
  });

  it('shrinks a 6000×4000 PNG at scale 8 within a 2 MiB budget', async () => {
    const { png, pixel } = encodeRgbPattern(6000, 4000, 1, (y) => (y % 2 === 0 ? 0 : 2));
    const info = readPngInfo(png);
    expect(pngDecodeBytes(info, 8)).toBeLessThan(2 * 2 ** 20);
    const image = await decodePngScaled(png, 8);
    expect(image).toMatchObject({ width: 750, height: 500, channels: 3 });
    expect(mismatches(image.data, expectedPattern(6000, 4000, 8, pixel))).toBe(0);
  });
});

describe('decodePngScaled refuses corrupt and unsupported PNGs', () => {
  const kind = { name: 'RGB 8', colorType: 2, bitDepth: 8 };
  const src = makeSource(kind, 40, 30, 5);
  const good = encodePng(src, { idatSize: 200 });
  const firstIdat = Buffer.from(good).indexOf('IDAT') - 4;

  const rejects = async (png: Uint8Array, message: RegExp) => {
    const failure = decodePngScaled(png, 2);
    await expect(failure).rejects.toThrow(DecodeError);
    await expect(failure).rejects.toThrow(message);
  };

  it('a bad signature', async () => {
    const png = Uint8Array.from(good);
    png[1] = 0x51;
    await rejects(png, /signature/);
    expect(() => readPngInfo(png)).toThrow(DecodeError);
  });

  it('a file cut in the middle of its IDAT data', async () => {
    await rejects(good.subarray(0, firstIdat + 8 + 100), /truncated/);
  });

  it('a bad CRC on IDAT or IHDR', async () => {
    const idat = Uint8Array.from(good);
    idat[firstIdat + 8 + 50] = idat[firstIdat + 8 + 50]! ^ 1;
    await rejects(idat, /IDAT chunk fails its CRC/);
    const header = Uint8Array.from(good);
    header[20] = header[20]! ^ 1;
    await rejects(header, /IHDR chunk fails its CRC/);
  });

  it('an unknown filter type byte', async () => {
    await rejects(encodePng(src, { filter: (n) => (n === 17 ? 5 : 1) }), /filter type 5/);
  });

  it('more image data than the image needs, and less', async () => {
    await rejects(encodePng(src, { extra: new Uint8Array(1) }), /longer than the image/);
    await rejects(encodePng(src, { extra: new Uint8Array(500_000) }), /longer than the image/);
    await rejects(encodePng(src, { cut: 1 }), /ends before the last row/);
  });

  it('a zlib stream that is not deflate data', async () => {
    const zlib = deflateSync(Buffer.alloc(31 * 30));
    zlib[5] = 0xff;
    zlib[6] = 0xff;
    await rejects(assemble(src, zlib, {}), /corrupt/);
  });

  it('a palette index past the palette', async () => {
    const paletted = makeSource({ name: 'p', colorType: 3, bitDepth: 8 }, 5, 4, 3);
    paletted.palette = paletted.palette!.subarray(0, 6);
    paletted.samples.fill(1);
    paletted.samples[13] = 2;
    await rejects(encodePng(paletted), /palette index 2 is past the 2-colour palette/);
    delete paletted.palette;
    await rejects(encodePng(paletted), /no PLTE/);
  });

  it('an IHDR with 0 width, an invalid depth, an unknown critical chunk', async () => {
    const zeroWidth = encodePng(src, { ihdrWidth: 0 });
    expect(() => readPngInfo(zeroWidth)).toThrow(DecodeError);
    await rejects(zeroWidth, /outside 1…16777216/);
    await rejects(encodePng({ ...src, bitDepth: 4 }), /colour type 2 with bit depth 4/);
    const critical = encodePng(src, { before: [chunk('ABCD', new Uint8Array(3))] });
    await rejects(critical, /unknown critical chunk ABCD/);
    // An unknown ancillary chunk is skipped.
    const ancillary = encodePng(src, { before: [chunk('abCD', new Uint8Array(3))] });
    expect((await decodePngScaled(ancillary, 1)).data).toEqual(
      expectedFromRgba(sourceToRgba(src), 40, 30, 1),
    );
  });

  it('leaves no unhandled rejection behind when it stops early', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const corrupt = [
        encodePng(src, { extra: new Uint8Array(100_000), idatSize: 64 }),
        encodePng(src, { filter: (n) => (n === 1 ? 9 : 0) }),
        encodePng(src, { cut: 5 }),
      ];
      for (const png of corrupt) await expect(decodePngScaled(png, 1)).rejects.toThrow(DecodeError);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      process.off('unhandledRejection', record);
    }
    expect(unhandled).toEqual([]);
  });
});
