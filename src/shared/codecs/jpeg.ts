// A JPEG decoder that shrinks while it decodes: each 8 × 8 block becomes 8/scale × 8/scale pixels
// through a reduced inverse DCT of its low-frequency coefficients (scale 8 keeps only the DC
// term: the block's mean), as libjpeg's scale_denom does. Baseline and progressive, 4:4:4 to
// 4:1:1 subsampling, restart intervals, greyscale, YCbCr, RGB, CMYK and YCCK. Memory is the
// scaled image plus, for progressive files, the kept coefficients; never the full-size image.
import { DecodeError } from '../decode.js';
import type { RgbImage } from '../image.js';
import { scaledSize, type DecodeScale } from './scale.js';

/** Zigzag position → natural (row-major) position in the 8 × 8 block. */
const ZIGZAG = Uint8Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
  13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52,
  45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

/** Coefficients kept per block (in zigzag order) for an n × n reduced IDCT: all with row, col < n. */
function keptCoefficients(n: number): number {
  let k = 0;
  for (let z = 0; z < 64; z++) if (ZIGZAG[z]! % 8 < n && ZIGZAG[z]! >> 3 < n) k = z + 1;
  return k;
}

/**
 * cos table of the n-point reduced IDCT: t[x·n + u] = C(u)/2 · cos((2x + 1)uπ / 2n), C(0) = 1/√2.
 * With the 8-point coefficients this keeps DC as the block mean at every n.
 */
function idctTable(n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let x = 0; x < n; x++)
    for (let u = 0; u < n; u++)
      t[x * n + u] =
        ((u === 0 ? Math.SQRT1_2 : 1) / 2) * Math.cos(((2 * x + 1) * u * Math.PI) / (2 * n));
  return t;
}

const MAX_SCANS = 256;
/** No decode allocates more than this, whatever its caller's budget. */
const MAX_DECODE_BYTES = 1024 * 1024 * 1024;
/** A Huffman table: a 9-bit lookahead for short codes, canonical limits for the rest. */
const LOOKAHEAD = 9;

interface HuffmanTable {
  /** (length << 8) | symbol for every 9-bit prefix of a code of ≤ 9 bits; 0 when longer. */
  readonly fast: Uint16Array;
  /** Largest code of each length (−1: none), for lengths 1–16. */
  readonly maxCode: Int32Array;
  /** Index into `symbols` of each length's first code, minus that code. */
  readonly offset: Int32Array;
  readonly symbols: Uint8Array;
  /**
   * For AC tables: a 9-bit prefix holding a whole coefficient — its code and its magnitude bits —
   * decoded at once: bits 0–3 the bits used, 4–7 the zero run, 8–11 the size, bit 12 set, and the
   * signed value in bits 16–31. 0 where the coefficient needs more than 9 bits.
   */
  readonly fastAc: Int32Array;
}

/** Fills HuffmanTable.fastAc from the 9-bit symbol table. */
function buildFastAc(fast: Uint16Array): Int32Array {
  const fastAc = new Int32Array(1 << LOOKAHEAD);
  for (let prefix = 0; prefix < 1 << LOOKAHEAD; prefix++) {
    const hit = fast[prefix]!;
    if (hit === 0) continue;
    const length = hit >> 8;
    const rs = hit & 0xff;
    const size = rs & 15;
    if (length + size > LOOKAHEAD) continue;
    let value = 0;
    if (size > 0) {
      const v = (prefix >> (LOOKAHEAD - length - size)) & ((1 << size) - 1);
      value = v < 1 << (size - 1) ? v - (1 << size) + 1 : v;
    }
    fastAc[prefix] = (value << 16) | 0x1000 | (size << 8) | ((rs >> 4) << 4) | (length + size);
  }
  return fastAc;
}

function buildHuffman(counts: Uint8Array, symbols: Uint8Array): HuffmanTable {
  const fast = new Uint16Array(1 << LOOKAHEAD);
  const maxCode = new Int32Array(18).fill(-1);
  const offset = new Int32Array(18);
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    const n = counts[length - 1]!;
    offset[length] = k - code;
    for (let i = 0; i < n; i++, k++, code++) {
      if (code >= 1 << length)
        throw new DecodeError('the JPEG data is corrupt (bad Huffman table)');
      if (length <= LOOKAHEAD) {
        const shift = LOOKAHEAD - length;
        for (let fill = 0; fill < 1 << shift; fill++)
          fast[(code << shift) | fill] = (length << 8) | symbols[k]!;
      }
    }
    if (n > 0) maxCode[length] = code - 1;
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff;
  return { fast, maxCode, offset, symbols, fastAc: buildFastAc(fast) };
}

interface Component {
  readonly id: number;
  readonly h: number;
  readonly v: number;
  readonly tq: number;
  /** Blocks per line and per column that hold image data (non-interleaved scans use these). */
  readonly blocksWide: number;
  readonly blocksHigh: number;
  /** Blocks per line and column of the MCU-padded grid (interleaved scans, storage). */
  readonly paddedWide: number;
  readonly paddedHigh: number;
  /** Decoded samples at scale: paddedWide·n × paddedHigh·n. */
  readonly plane: Uint8Array;
  /** Progressive only: kept coefficients per block, and which of the rest are non-zero. */
  coefficients: Int16Array | null;
  nonzero: Uint32Array | null;
  dcTable: HuffmanTable | null;
  acTable: HuffmanTable | null;
  pred: number;
}

/** IHDR-like facts of a JPEG, read from its markers without decoding. */
export interface JpegInfo {
  readonly width: number;
  readonly height: number;
  readonly components: number;
  readonly progressive: boolean;
  /** Sampling factors of each component, and the MCU's maximum. */
  readonly sampling: readonly { readonly h: number; readonly v: number }[];
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;

/**
 * Reads the frame header (size, components, sampling, progressive) without decoding.
 *
 * @example
 * const info = readJpegInfo(bytes); // { width: 4000, height: 3000, components: 3, progressive: false, … }
 */
export function readJpegInfo(bytes: Uint8Array): JpegInfo {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new DecodeError('not a JPEG (no SOI marker)');
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff)
      throw new DecodeError(`the JPEG data is corrupt (no marker at byte ${at})`);
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2;
      continue;
    }
    const length = u16(bytes, at + 2);
    if (at + 2 + length > bytes.length) break;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return frameInfo(marker, bytes.subarray(at + 4, at + 2 + length));
    if (marker === 0xda || marker === 0xd9) break;
    at += 2 + length;
  }
  throw new DecodeError('the JPEG has no frame header');
}

function frameInfo(marker: number, body: Uint8Array): JpegInfo {
  if (marker === 0xc3 || marker >= 0xc5)
    throw new DecodeError(
      marker >= 0xc9
        ? 'arithmetic-coded JPEGs are not supported'
        : 'lossless and hierarchical JPEGs are not supported',
    );
  if (body[0] !== 8) throw new DecodeError(`${body[0]}-bit JPEGs are not supported (8-bit only)`);
  const height = u16(body, 1);
  const width = u16(body, 3);
  const n = body[5]!;
  if (width === 0 || height === 0) throw new DecodeError('the JPEG declares an empty image');
  if (n !== 1 && n !== 3 && n !== 4)
    throw new DecodeError(`a JPEG with ${n} components is not supported`);
  if (body.length < 6 + 3 * n) throw new DecodeError('the JPEG frame header is truncated');
  const sampling = [];
  for (let i = 0; i < n; i++) {
    const hv = body[7 + 3 * i]!;
    const h = hv >> 4;
    const v = hv & 15;
    if (h < 1 || h > 4 || v < 1 || v > 4)
      throw new DecodeError('the JPEG has bad sampling factors');
    sampling.push({ h, v });
  }
  return { width, height, components: n, progressive: marker === 0xc2, sampling };
}

/**
 * Bytes of working memory decodeJpegScaled allocates for this image at this scale: the scaled
 * component planes, the output, and for progressive files the kept coefficients. Callers refuse
 * an image over their budget before decoding it.
 */
export function jpegDecodeBytes(info: JpegInfo, scale: DecodeScale): number {
  const n = 8 / scale;
  const maxH = Math.max(...info.sampling.map((s) => s.h));
  const maxV = Math.max(...info.sampling.map((s) => s.v));
  const mcusX = Math.ceil(info.width / (8 * maxH));
  const mcusY = Math.ceil(info.height / (8 * maxV));
  const kept = keptCoefficients(n);
  let bytes = 0;
  for (const s of info.sampling) {
    const blocks = mcusX * s.h * mcusY * s.v;
    bytes += blocks * n * n;
    if (info.progressive) bytes += blocks * (kept * 2 + 8);
  }
  const out = scaledSize(info.width, info.height, scale);
  return bytes + out.width * out.height * 3 + 64 * 1024;
}

/** Zero bytes after the unstuffed data, so a reader may look ahead without bounds checks. */
const PAD = 8;

/**
 * A scan's entropy-coded data with the stuffed zero bytes removed and the restart markers cut
 * out: segment i (after the i-th restart) starts at `segments[i]`. `end` is the offset in the
 * file of the marker that ends the scan.
 */
interface EntropyData {
  readonly clean: Uint8Array;
  readonly segments: Int32Array;
  readonly end: number;
}

function unstuff(data: Uint8Array, start: number): EntropyData {
  // At most the rest of the file; runs between 0xFF bytes are copied natively.
  const clean = new Uint8Array(data.length - start + PAD);
  const segments: number[] = [0];
  let n = 0;
  let at = start;
  for (;;) {
    let ff = data.indexOf(0xff, at);
    if (ff < 0) ff = data.length;
    clean.set(data.subarray(at, ff), n);
    n += ff - at;
    if (ff + 1 >= data.length)
      return {
        clean: clean.subarray(0, n + PAD),
        segments: Int32Array.from(segments),
        end: data.length,
      };
    const next = data[ff + 1]!;
    if (next === 0) {
      clean[n++] = 0xff;
      at = ff + 2;
    } else if (next === 0xff) at = ff + 1;
    else if (next >= 0xd0 && next <= 0xd7) {
      // A restart marker: the next segment starts byte-aligned after it.
      segments.push(n);
      at = ff + 2;
    } else
      return { clean: clean.subarray(0, n + PAD), segments: Int32Array.from(segments), end: ff };
  }
}

/** Reads bits MSB-first from unstuffed entropy data (zeros past its end, as libjpeg feeds). */
class BitReader {
  /** Byte offset in `clean`, the bit buffer, and how many of its low bits are unread. */
  pos = 0;
  bits = 0;
  count = 0;
  private segment = 0;

  constructor(readonly data: EntropyData) {}

  fill(): void {
    const clean = this.data.clean;
    const last = clean.length - PAD;
    while (this.count <= 24) {
      this.bits = (this.bits << 8) | (this.pos < last ? clean[this.pos]! : 0);
      this.pos++;
      this.count += 8;
    }
  }

  read(n: number): number {
    if (n === 0) return 0;
    if (this.count < n) this.fill();
    this.count -= n;
    return (this.bits >>> this.count) & ((1 << n) - 1);
  }

  bit(): number {
    if (this.count < 1) this.fill();
    this.count--;
    return (this.bits >>> this.count) & 1;
  }

  /** Value of an s-bit magnitude category (JPEG's EXTEND). */
  receive(s: number): number {
    const v = this.read(s);
    return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
  }

  decode(table: HuffmanTable): number {
    if (this.count < 16) this.fill();
    const hit = table.fast[(this.bits >>> (this.count - LOOKAHEAD)) & ((1 << LOOKAHEAD) - 1)]!;
    if (hit !== 0) {
      this.count -= hit >> 8;
      return hit & 0xff;
    }
    const slow = slowDecode(table, this.bits, this.count);
    this.count -= slow >> 8;
    return slow & 0xff;
  }

  /** Moves to the start of the next restart segment. */
  restart(): void {
    this.segment++;
    const start = this.data.segments[this.segment];
    if (start === undefined)
      throw new DecodeError('the JPEG data is corrupt (a restart marker is missing)');
    this.pos = start;
    this.bits = 0;
    this.count = 0;
  }
}

/** A code longer than the lookahead: (length << 8) | symbol, by the canonical code limits. */
function slowDecode(table: HuffmanTable, bits: number, count: number): number {
  for (let length = LOOKAHEAD + 1; length <= 16; length++) {
    const code = (bits >>> (count - length)) & ((1 << length) - 1);
    if (code <= table.maxCode[length]!) {
      const index = table.offset[length]! + code;
      if (index < 0 || index >= table.symbols.length) break;
      return (length << 8) | table.symbols[index]!;
    }
  }
  throw new DecodeError('the JPEG data is corrupt (bad Huffman code)');
}

/** Decoding state for one file at one scale. */
class JpegDecoder {
  private readonly quant: (Int32Array | null)[] = [null, null, null, null];
  private readonly dcTables: (HuffmanTable | null)[] = [null, null, null, null];
  private readonly acTables: (HuffmanTable | null)[] = [null, null, null, null];
  private restartInterval = 0;
  private adobeTransform = -1;
  private jfif = false;
  private frame: {
    width: number;
    height: number;
    progressive: boolean;
    maxH: number;
    maxV: number;
    mcusX: number;
    mcusY: number;
    components: Component[];
  } | null = null;
  private scans = 0;
  private eobrun = 0;
  /** Block side at this scale, coefficients kept per block, and the reduced IDCT. */
  private readonly n: number;
  private readonly kept: number;
  private readonly table: Float64Array;
  private readonly block = new Int32Array(64);
  /** The dequantised n × n corner, and the row pass's result. */
  private readonly corner = new Float64Array(64);
  private readonly rowPass = new Float64Array(64);

  constructor(
    private readonly bytes: Uint8Array,
    private readonly scale: DecodeScale,
  ) {
    this.n = 8 / scale;
    this.kept = keptCoefficients(this.n);
    this.table = idctTable(this.n);
  }

  decode(): RgbImage {
    const b = this.bytes;
    if (b[0] !== 0xff || b[1] !== 0xd8) throw new DecodeError('not a JPEG (no SOI marker)');
    let at = 2;
    for (;;) {
      if (at + 2 > b.length) throw new DecodeError('the JPEG data is truncated');
      if (b[at] !== 0xff)
        throw new DecodeError(`the JPEG data is corrupt (no marker at byte ${at})`);
      const marker = b[at + 1]!;
      if (marker === 0xff) {
        at++;
        continue;
      }
      if (marker === 0xd9) break;
      if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
        at += 2;
        continue;
      }
      if (at + 4 > b.length) throw new DecodeError('the JPEG data is truncated');
      const length = u16(b, at + 2);
      if (length < 2 || at + 2 + length > b.length)
        throw new DecodeError('the JPEG data is truncated');
      const body = b.subarray(at + 4, at + 2 + length);
      at += 2 + length;
      if (marker === 0xdb) this.readQuant(body);
      else if (marker === 0xc4) this.readHuffman(body);
      else if (marker === 0xdd) this.restartInterval = u16(body, 0);
      else if (marker === 0xe0 && body[0] === 0x4a && body[1] === 0x46) this.jfif = true;
      else if (marker === 0xee && String.fromCharCode(...body.subarray(0, 5)) === 'Adobe')
        this.adobeTransform = body[11] ?? -1;
      else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc8 && marker !== 0xcc)
        this.readFrame(frameInfo(marker, body), body);
      else if (marker === 0xda) at = this.readScan(body, at);
    }
    if (!this.frame || this.scans === 0) throw new DecodeError('the JPEG has no image data');
    if (this.frame.progressive) this.finishProgressive();
    return this.toRgb();
  }

  private readQuant(body: Uint8Array): void {
    for (let at = 0; at < body.length;) {
      const pq = body[at]! >> 4;
      const tq = body[at]! & 15;
      if (tq > 3) throw new DecodeError('the JPEG has a bad quantisation table');
      const table = new Int32Array(64);
      for (let k = 0; k < 64; k++)
        table[k] = pq === 0 ? body[at + 1 + k]! : u16(body, at + 1 + 2 * k);
      if (at + 1 + (pq === 0 ? 64 : 128) > body.length)
        throw new DecodeError('the JPEG quantisation table is truncated');
      this.quant[tq] = table;
      at += 1 + (pq === 0 ? 64 : 128);
    }
  }

  private readHuffman(body: Uint8Array): void {
    for (let at = 0; at < body.length;) {
      const tc = body[at]! >> 4;
      const th = body[at]! & 15;
      if (tc > 1 || th > 3) throw new DecodeError('the JPEG has a bad Huffman table');
      const counts = body.subarray(at + 1, at + 17);
      const total = counts.reduce((a, c) => a + c, 0);
      if (counts.length < 16 || at + 17 + total > body.length || total > 256)
        throw new DecodeError('the JPEG Huffman table is truncated');
      const table = buildHuffman(counts, body.slice(at + 17, at + 17 + total));
      (tc === 0 ? this.dcTables : this.acTables)[th] = table;
      at += 17 + total;
    }
  }

  private readFrame(info: JpegInfo, body: Uint8Array): void {
    if (this.frame) throw new DecodeError('the JPEG has two frame headers');
    const maxH = Math.max(...info.sampling.map((s) => s.h));
    const maxV = Math.max(...info.sampling.map((s) => s.v));
    const mcusX = Math.ceil(info.width / (8 * maxH));
    const mcusY = Math.ceil(info.height / (8 * maxV));
    const n = this.n;
    // Callers budget a decode before it runs (jpegDecodeBytes); this only stops a runaway.
    if (jpegDecodeBytes(info, this.scale) > MAX_DECODE_BYTES)
      throw new DecodeError('the JPEG is too large to decode at this scale');
    const components = info.sampling.map(({ h, v }, i): Component => {
      const paddedWide = mcusX * h;
      const paddedHigh = mcusY * v;
      const blocks = paddedWide * paddedHigh;
      return {
        id: body[6 + 3 * i]!,
        h,
        v,
        tq: body[8 + 3 * i]! & 3,
        blocksWide: Math.ceil(Math.ceil((info.width * h) / maxH) / 8),
        blocksHigh: Math.ceil(Math.ceil((info.height * v) / maxV) / 8),
        paddedWide,
        paddedHigh,
        plane: new Uint8Array(paddedWide * n * paddedHigh * n),
        coefficients: info.progressive ? new Int16Array(blocks * this.kept) : null,
        nonzero: info.progressive ? new Uint32Array(blocks * 2) : null,
        dcTable: null,
        acTable: null,
        pred: 0,
      };
    });
    this.frame = { ...info, maxH, maxV, mcusX, mcusY, components };
  }

  /** Decodes one scan; returns the offset of the marker after its entropy-coded data. */
  private readScan(body: Uint8Array, dataStart: number): number {
    const frame = this.frame;
    if (!frame) throw new DecodeError('the JPEG has a scan before its frame header');
    if (++this.scans > MAX_SCANS)
      throw new DecodeError(`the JPEG has more than ${MAX_SCANS} scans`);
    const count = body[0]!;
    const scan: Component[] = [];
    for (let i = 0; i < count; i++) {
      const c = frame.components.find((x) => x.id === body[1 + 2 * i]);
      if (!c) throw new DecodeError('the JPEG scan names an unknown component');
      const tables = body[2 + 2 * i]!;
      c.dcTable = this.dcTables[tables >> 4] ?? null;
      c.acTable = this.acTables[tables & 15] ?? null;
      c.pred = 0;
      scan.push(c);
    }
    const at = 1 + 2 * count;
    const ss = body[at]!;
    const se = body[at + 1]!;
    const ah = body[at + 2]! >> 4;
    const al = body[at + 2]! & 15;
    if (
      scan.length === 0 ||
      (frame.progressive ? se > 63 || ss > se || (ss === 0 && se !== 0) : ss !== 0 || se !== 63)
    )
      throw new DecodeError('the JPEG scan header is invalid');
    if (ss > 0 && scan.length !== 1) throw new DecodeError('the JPEG scan header is invalid');
    const entropy = unstuff(this.bytes, dataStart);
    const reader = new BitReader(entropy);
    this.eobrun = 0;
    const decodeBlock = frame.progressive
      ? ss === 0
        ? ah === 0
          ? (c: Component, b: number) => this.dcFirst(reader, c, b, al)
          : (c: Component, b: number) => this.dcRefine(reader, c, b, al)
        : ah === 0
          ? (c: Component, b: number) => this.acFirst(reader, c, b, ss, se, al)
          : (c: Component, b: number) => this.acRefine(reader, c, b, ss, se, al)
      : (c: Component, b: number) => this.sequential(reader, c, b);
    const needsDc = !frame.progressive || (ss === 0 && ah === 0);
    const needsAc = !frame.progressive || ss > 0;
    for (const c of scan) {
      if ((needsDc && !c.dcTable) || (needsAc && !c.acTable))
        throw new DecodeError('the JPEG scan uses a missing Huffman table');
      if (!this.quant[c.tq]) throw new DecodeError('the JPEG uses a missing quantisation table');
    }
    const interleaved = scan.length > 1;
    const single = scan[0]!;
    const units = interleaved ? frame.mcusX * frame.mcusY : single.blocksWide * single.blocksHigh;
    if (!frame.progressive) {
      this.sequentialScan(scan, reader, interleaved, units);
      return entropy.end;
    }
    for (let unit = 0; unit < units; unit++) {
      if (this.restartInterval > 0 && unit > 0 && unit % this.restartInterval === 0) {
        reader.restart();
        this.eobrun = 0;
        for (const c of scan) c.pred = 0;
      }
      if (interleaved) {
        const mx = unit % frame.mcusX;
        const my = (unit / frame.mcusX) | 0;
        for (const c of scan)
          for (let by = 0; by < c.v; by++)
            for (let bx = 0; bx < c.h; bx++)
              decodeBlock(c, (my * c.v + by) * c.paddedWide + mx * c.h + bx);
      } else {
        const bx = unit % single.blocksWide;
        const by = (unit / single.blocksWide) | 0;
        decodeBlock(single, by * single.paddedWide + bx);
      }
    }
    return entropy.end;
  }

  /**
   * A whole sequential scan in one loop, the bit reader's state in locals (the hot path of a
   * phone photo): per block the DC difference and every AC symbol are decoded, only the kept
   * coefficients are stored, and at scale 8 the block's mean is written without an IDCT call.
   */
  private sequentialScan(
    scan: readonly Component[],
    reader: BitReader,
    interleaved: boolean,
    units: number,
  ): void {
    const frame = this.frame!;
    // The blocks of one unit (an MCU, or one block of a non-interleaved scan), in order.
    const slotComp: Component[] = [];
    const slotOffset: number[] = [];
    for (const c of scan)
      for (let by = 0; by < (interleaved ? c.v : 1); by++)
        for (let bx = 0; bx < (interleaved ? c.h : 1); bx++) {
          slotComp.push(c);
          slotOffset.push(by * c.paddedWide + bx);
        }
    const slots = slotComp.length;
    const clean = reader.data.clean;
    const kept = this.kept;
    const block = this.block;
    const dcOnly = this.n === 1;
    const full = this.n === 8;
    const work = this.rowPass;
    let pos = reader.pos;
    let bits = reader.bits;
    let count = reader.count;
    for (let unit = 0; unit < units; unit++) {
      if (this.restartInterval > 0 && unit > 0 && unit % this.restartInterval === 0) {
        reader.pos = pos;
        reader.restart();
        pos = reader.pos;
        bits = 0;
        count = 0;
        for (const c of scan) c.pred = 0;
      }
      const mx = interleaved ? unit % frame.mcusX : unit % scan[0]!.blocksWide;
      const my = interleaved ? (unit / frame.mcusX) | 0 : (unit / scan[0]!.blocksWide) | 0;
      for (let slot = 0; slot < slots; slot++) {
        const c = slotComp[slot]!;
        const blockIndex = interleaved
          ? my * c.v * c.paddedWide + mx * c.h + slotOffset[slot]!
          : my * c.paddedWide + mx;
        // DC: a category, then that many bits.
        while (count <= 24) {
          bits = (bits << 8) | clean[pos++]!;
          count += 8;
        }
        const dc = c.dcTable!;
        let hit = dc.fast[(bits >>> (count - LOOKAHEAD)) & 511]!;
        if (hit === 0) hit = slowDecode(dc, bits, count);
        count -= hit >> 8;
        let s = hit & 0xff;
        if (s !== 0) {
          if (s > 16) throw new DecodeError('the JPEG data is corrupt (bad DC difference)');
          while (count < s) {
            bits = (bits << 8) | clean[pos++]!;
            count += 8;
          }
          count -= s;
          const v = (bits >>> count) & ((1 << s) - 1);
          c.pred += v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
        }
        block[0] = c.pred;
        // At full size the coefficients go dequantised, in natural order, straight to the IDCT.
        const aq = full ? this.aanQuant(c.tq) : null;
        if (aq) {
          work.fill(0);
          work[0] = c.pred * aq[0]!;
        } else if (!dcOnly) block.fill(0, 1, kept);
        const ac = c.acTable!;
        const fast = ac.fast;
        const fastAc = ac.fastAc;
        for (let k = 1; k < 64; k++) {
          while (count <= 24) {
            bits = (bits << 8) | clean[pos++]!;
            count += 8;
          }
          const whole = fastAc[(bits >>> (count - LOOKAHEAD)) & 511]!;
          if (whole !== 0) {
            // Code and magnitude in one lookup (most coefficients).
            count -= whole & 15;
            const size = (whole >> 8) & 15;
            const run = (whole >> 4) & 15;
            if (size === 0) {
              if (run !== 15) break;
              k += 15;
              continue;
            }
            k += run;
            if (k > 63)
              throw new DecodeError('the JPEG data is corrupt (coefficient out of range)');
            if (aq) {
              const at = ZIGZAG[k]!;
              work[at] = (whole >> 16) * aq[at]!;
            } else if (k < kept) block[k] = whole >> 16;
            continue;
          }
          hit = fast[(bits >>> (count - LOOKAHEAD)) & 511]!;
          if (hit === 0) hit = slowDecode(ac, bits, count);
          count -= hit >> 8;
          s = hit & 15;
          const run = (hit >> 4) & 15;
          if (s === 0) {
            if (run !== 15) break;
            k += 15;
            continue;
          }
          k += run;
          if (k > 63) throw new DecodeError('the JPEG data is corrupt (coefficient out of range)');
          while (count < s) {
            bits = (bits << 8) | clean[pos++]!;
            count += 8;
          }
          count -= s;
          if (k < kept) {
            const v = (bits >>> count) & ((1 << s) - 1);
            const value = v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
            if (aq) {
              const at = ZIGZAG[k]!;
              work[at] = value * aq[at]!;
            } else block[k] = value;
          }
        }
        if (dcOnly) {
          const q = this.quant[c.tq]![0]!;
          const v = Math.round((block[0] * q) / 8 + 128);
          const planeWidth = c.paddedWide;
          c.plane[((blockIndex / planeWidth) | 0) * planeWidth + (blockIndex % planeWidth)] =
            v < 0 ? 0 : v > 255 ? 255 : v;
        } else if (aq) {
          const planeWidth = c.paddedWide * 8;
          const at =
            ((blockIndex / c.paddedWide) | 0) * 8 * planeWidth + (blockIndex % c.paddedWide) * 8;
          idct8(work, c.plane, at, planeWidth);
        } else this.idct(c, blockIndex, block);
      }
    }
    reader.pos = pos;
    reader.bits = bits;
    reader.count = count;
  }

  /** Baseline: one block's coefficients (only the kept ones stored), then its reduced IDCT. */
  private sequential(r: BitReader, c: Component, blockIndex: number): void {
    const block = this.block;
    const kept = this.kept;
    block.fill(0, 0, kept);
    const s = r.decode(c.dcTable!);
    c.pred += s === 0 ? 0 : r.receive(s);
    block[0] = c.pred;
    const ac = c.acTable!;
    for (let k = 1; k < 64; k++) {
      const rs = r.decode(ac);
      const size = rs & 15;
      const run = rs >> 4;
      if (size === 0) {
        if (run !== 15) break;
        k += 15;
        continue;
      }
      k += run;
      if (k > 63) throw new DecodeError('the JPEG data is corrupt (coefficient out of range)');
      if (k < kept) block[k] = r.receive(size);
      else r.read(size);
    }
    this.idct(c, blockIndex, block);
  }

  private dcFirst(r: BitReader, c: Component, blockIndex: number, al: number): void {
    const s = r.decode(c.dcTable!);
    c.pred += s === 0 ? 0 : r.receive(s);
    c.coefficients![blockIndex * this.kept] = c.pred * (1 << al);
  }

  private dcRefine(r: BitReader, c: Component, blockIndex: number, al: number): void {
    const at = blockIndex * this.kept;
    if (r.bit()) c.coefficients![at] = c.coefficients![at]! | (1 << al);
  }

  private isNonzero(c: Component, blockIndex: number, k: number): boolean {
    if (k < this.kept) return c.coefficients![blockIndex * this.kept + k] !== 0;
    return (c.nonzero![blockIndex * 2 + (k >> 5)]! & (1 << (k & 31))) !== 0;
  }

  private setCoefficient(c: Component, blockIndex: number, k: number, value: number): void {
    if (k < this.kept) c.coefficients![blockIndex * this.kept + k] = value;
    else {
      const at = blockIndex * 2 + (k >> 5);
      c.nonzero![at] = c.nonzero![at]! | (1 << (k & 31));
    }
  }

  private acFirst(r: BitReader, c: Component, b: number, ss: number, se: number, al: number): void {
    if (this.eobrun > 0) {
      this.eobrun--;
      return;
    }
    const ac = c.acTable!;
    for (let k = ss; k <= se; k++) {
      const rs = r.decode(ac);
      const size = rs & 15;
      const run = rs >> 4;
      if (size === 0) {
        if (run < 15) {
          this.eobrun = (1 << run) - 1 + r.read(run);
          return;
        }
        k += 15;
        continue;
      }
      k += run;
      if (k > 63) throw new DecodeError('the JPEG data is corrupt (coefficient out of range)');
      this.setCoefficient(c, b, k, r.receive(size) * (1 << al));
    }
  }

  /** A correction bit for an already non-zero coefficient k (kept ones change; others only read). */
  private refine(r: BitReader, c: Component, b: number, k: number, p1: number): void {
    if (!r.bit() || k >= this.kept) return;
    const at = b * this.kept + k;
    const v = c.coefficients![at]!;
    if ((v & p1) === 0) c.coefficients![at] = v >= 0 ? v + p1 : v - p1;
  }

  private acRefine(
    r: BitReader,
    c: Component,
    b: number,
    ss: number,
    se: number,
    al: number,
  ): void {
    const p1 = 1 << al;
    let k = ss;
    if (this.eobrun === 0) {
      const ac = c.acTable!;
      for (; k <= se; k++) {
        const rs = r.decode(ac);
        const size = rs & 15;
        let run = rs >> 4;
        let value = 0;
        if (size !== 0) {
          if (size !== 1) throw new DecodeError('the JPEG data is corrupt (bad refinement)');
          value = r.bit() ? p1 : -p1;
        } else if (run !== 15) {
          this.eobrun = (1 << run) + r.read(run);
          break;
        }
        while (k <= se) {
          if (this.isNonzero(c, b, k)) this.refine(r, c, b, k, p1);
          else if (--run < 0) break;
          k++;
        }
        if (value !== 0) {
          if (k > 63) throw new DecodeError('the JPEG data is corrupt (coefficient out of range)');
          this.setCoefficient(c, b, k, value);
        }
      }
    }
    if (this.eobrun > 0) {
      for (; k <= se; k++) if (this.isNonzero(c, b, k)) this.refine(r, c, b, k, p1);
      this.eobrun--;
    }
  }

  private finishProgressive(): void {
    const kept = this.kept;
    const block = this.block;
    for (const c of this.frame!.components) {
      const coefficients = c.coefficients!;
      const blocks = c.paddedWide * c.paddedHigh;
      for (let b = 0; b < blocks; b++) {
        for (let k = 0; k < kept; k++) block[k] = coefficients[b * kept + k]!;
        this.idct(c, b, block);
      }
      c.coefficients = null;
      c.nonzero = null;
    }
  }

  /** Dequantises the kept coefficients (zigzag order) and writes the n × n reduced IDCT. */
  private idct(c: Component, blockIndex: number, zz: Int32Array): void {
    const n = this.n;
    const q = this.quant[c.tq]!;
    const planeWidth = c.paddedWide * n;
    const x0 = (blockIndex % c.paddedWide) * n;
    const y0 = ((blockIndex / c.paddedWide) | 0) * n;
    const plane = c.plane;
    if (n === 1) {
      const v = Math.round((zz[0]! * q[0]!) / 8 + 128);
      plane[y0 * planeWidth + x0] = v < 0 ? 0 : v > 255 ? 255 : v;
      return;
    }
    if (n === 2) {
      // The 2-point reduced IDCT is exact in closed form: every basis weight is ±1/8.
      const f00 = zz[0]! * q[0]!;
      const f01 = zz[1]! * q[1]!;
      const f10 = zz[2]! * q[2]!;
      const f11 = zz[4]! * q[4]!;
      const at = y0 * planeWidth + x0;
      const a = Math.round((f00 + f01 + f10 + f11) / 8 + 128);
      const b = Math.round((f00 - f01 + f10 - f11) / 8 + 128);
      const c2 = Math.round((f00 + f01 - f10 - f11) / 8 + 128);
      const d = Math.round((f00 - f01 - f10 + f11) / 8 + 128);
      plane[at] = a < 0 ? 0 : a > 255 ? 255 : a;
      plane[at + 1] = b < 0 ? 0 : b > 255 ? 255 : b;
      plane[at + planeWidth] = c2 < 0 ? 0 : c2 > 255 ? 255 : c2;
      plane[at + planeWidth + 1] = d < 0 ? 0 : d > 255 ? 255 : d;
      return;
    }
    if (n === 8) {
      const aq = this.aanQuant(c.tq);
      const work = this.rowPass;
      for (let k = 0; k < 64; k++) {
        const pos = ZIGZAG[k]!;
        work[pos] = zz[k]! * aq[pos]!;
      }
      idct8(work, plane, y0 * planeWidth + x0, planeWidth);
      return;
    }
    // Natural-order coefficients of the n × n corner.
    const f = this.corner;
    f.fill(0, 0, n * n);
    for (let k = 0; k < this.kept; k++) {
      const pos = ZIGZAG[k]!;
      const row = pos >> 3;
      const col = pos & 7;
      if (row < n && col < n) f[row * n + col] = zz[k]! * q[k]!;
    }
    const t = this.table;
    // Rows of coefficients → rows of pixels (x), then columns (y).
    const tmp = this.rowPass;
    for (let v = 0; v < n; v++)
      for (let x = 0; x < n; x++) {
        let sum = 0;
        for (let u = 0; u < n; u++) sum += t[x * n + u]! * f[v * n + u]!;
        tmp[v * n + x] = sum;
      }
    for (let y = 0; y < n; y++) {
      const row = (y0 + y) * planeWidth + x0;
      for (let x = 0; x < n; x++) {
        let sum = 0;
        for (let v = 0; v < n; v++) sum += t[y * n + v]! * tmp[v * n + x]!;
        const p = Math.round(sum + 128);
        plane[row + x] = p < 0 ? 0 : p > 255 ? 255 : p;
      }
    }
  }

  private readonly aanTables: (Float64Array | null)[] = [null, null, null, null];

  /** Quantisation table `tq` in natural order, prescaled for the AAN IDCT (built once). */
  private aanQuant(tq: number): Float64Array {
    let table = this.aanTables[tq];
    if (!table) {
      const q = this.quant[tq]!;
      table = new Float64Array(64);
      for (let k = 0; k < 64; k++) {
        const pos = ZIGZAG[k]!;
        table[pos] = q[k]! * AAN_SCALE[pos >> 3]! * AAN_SCALE[pos & 7]!;
      }
      this.aanTables[tq] = table;
    }
    return table;
  }

  /** Upsamples chroma (triangle filter for 2×, nearest otherwise) and converts to RGB. */
  private toRgb(): RgbImage {
    const frame = this.frame!;
    const { width, height } = scaledSize(frame.width, frame.height, this.scale);
    const out = new Uint8Array(width * height * 3);
    const n = this.n;
    const comps = frame.components;
    const colour = colourModel(
      comps.length,
      this.adobeTransform,
      this.jfif,
      comps.map((c) => c.id),
    );
    // Per component: its scaled plane, and a row of it upsampled to the output width.
    const rows = comps.map(() => new Int32Array(width));
    const samplers = comps.map((c) => {
      const rx = frame.maxH / c.h;
      const ry = frame.maxV / c.v;
      if (!Number.isInteger(rx) || !Number.isInteger(ry))
        throw new DecodeError('the JPEG has sampling factors that do not divide the largest');
      const planeWidth = c.paddedWide * n;
      const usedWide = Math.ceil(Math.ceil((frame.width * c.h) / frame.maxH) / this.scale);
      const usedHigh = Math.ceil(Math.ceil((frame.height * c.v) / frame.maxV) / this.scale);
      return { c, rx, ry, planeWidth, usedWide, usedHigh };
    });
    for (let y = 0; y < height; y++) {
      for (let i = 0; i < comps.length; i++) upsampleRow(samplers[i]!, y, rows[i]!, width);
      const o = y * width * 3;
      colour(rows, out, o, width);
    }
    return { width, height, channels: 3, data: out };
  }
}

/** AAN's per-frequency scale factors: 1, then cos(kπ/16)·√2. */
const AAN_SCALE = Float64Array.from({ length: 8 }, (_, k) =>
  k === 0 ? 1 : Math.cos((k * Math.PI) / 16) * Math.SQRT2,
);

/**
 * The full 8 × 8 inverse DCT by Arai, Agui and Nakajima's factorisation (5 multiplications per
 * 8-point pass, the rest folded into the prescaled quantisation table), columns then rows, in
 * doubles: `work` holds the dequantised coefficients in natural order (and is overwritten), the
 * 64 pixels go to `plane` at `at` with row stride `stride`.
 */
function idct8(work: Float64Array, plane: Uint8Array, at: number, stride: number): void {
  for (let col = 0; col < 8; col++) {
    const c0 = work[col]!;
    const c1 = work[8 + col]!;
    const c2 = work[16 + col]!;
    const c3 = work[24 + col]!;
    const c4 = work[32 + col]!;
    const c5 = work[40 + col]!;
    const c6 = work[48 + col]!;
    const c7 = work[56 + col]!;
    if (c1 === 0 && c2 === 0 && c3 === 0 && c4 === 0 && c5 === 0 && c6 === 0 && c7 === 0) {
      for (let r = 1; r < 8; r++) work[r * 8 + col] = c0;
      continue;
    }
    let t10 = c0 + c4;
    let t11 = c0 - c4;
    const t13 = c2 + c6;
    let t12 = (c2 - c6) * 1.414213562 - t13;
    const e0 = t10 + t13;
    const e3 = t10 - t13;
    const e1 = t11 + t12;
    const e2 = t11 - t12;
    const z13 = c5 + c3;
    const z10 = c5 - c3;
    const z11 = c1 + c7;
    const z12 = c1 - c7;
    const o7 = z11 + z13;
    t11 = (z11 - z13) * 1.414213562;
    const z5 = (z10 + z12) * 1.847759065;
    t10 = 1.0823922 * z12 - z5;
    t12 = -2.61312593 * z10 + z5;
    const o6 = t12 - o7;
    const o5 = t11 - o6;
    const o4 = t10 + o5;
    work[col] = e0 + o7;
    work[56 + col] = e0 - o7;
    work[8 + col] = e1 + o6;
    work[48 + col] = e1 - o6;
    work[16 + col] = e2 + o5;
    work[40 + col] = e2 - o5;
    work[32 + col] = e3 + o4;
    work[24 + col] = e3 - o4;
  }
  for (let row = 0; row < 8; row++) {
    const b = row * 8;
    const c0 = work[b]!;
    const c1 = work[b + 1]!;
    const c2 = work[b + 2]!;
    const c3 = work[b + 3]!;
    const c4 = work[b + 4]!;
    const c5 = work[b + 5]!;
    const c6 = work[b + 6]!;
    const c7 = work[b + 7]!;
    let t10 = c0 + c4;
    let t11 = c0 - c4;
    const t13 = c2 + c6;
    let t12 = (c2 - c6) * 1.414213562 - t13;
    const e0 = t10 + t13;
    const e3 = t10 - t13;
    const e1 = t11 + t12;
    const e2 = t11 - t12;
    const z13 = c5 + c3;
    const z10 = c5 - c3;
    const z11 = c1 + c7;
    const z12 = c1 - c7;
    const o7 = z11 + z13;
    t11 = (z11 - z13) * 1.414213562;
    const z5 = (z10 + z12) * 1.847759065;
    t10 = 1.0823922 * z12 - z5;
    t12 = -2.61312593 * z10 + z5;
    const o6 = t12 - o7;
    const o5 = t11 - o6;
    const o4 = t10 + o5;
    const out = at + row * stride;
    // The two passes leave the pixels scaled by 8; +0.5 then truncation rounds (values ≥ 0).
    const p0 = (e0 + o7) * 0.125 + 128.5;
    const p7 = (e0 - o7) * 0.125 + 128.5;
    const p1 = (e1 + o6) * 0.125 + 128.5;
    const p6 = (e1 - o6) * 0.125 + 128.5;
    const p2 = (e2 + o5) * 0.125 + 128.5;
    const p5 = (e2 - o5) * 0.125 + 128.5;
    const p4 = (e3 + o4) * 0.125 + 128.5;
    const p3 = (e3 - o4) * 0.125 + 128.5;
    plane[out] = p0 <= 0 ? 0 : p0 >= 255 ? 255 : p0 | 0;
    plane[out + 1] = p1 <= 0 ? 0 : p1 >= 255 ? 255 : p1 | 0;
    plane[out + 2] = p2 <= 0 ? 0 : p2 >= 255 ? 255 : p2 | 0;
    plane[out + 3] = p3 <= 0 ? 0 : p3 >= 255 ? 255 : p3 | 0;
    plane[out + 4] = p4 <= 0 ? 0 : p4 >= 255 ? 255 : p4 | 0;
    plane[out + 5] = p5 <= 0 ? 0 : p5 >= 255 ? 255 : p5 | 0;
    plane[out + 6] = p6 <= 0 ? 0 : p6 >= 255 ? 255 : p6 | 0;
    plane[out + 7] = p7 <= 0 ? 0 : p7 >= 255 ? 255 : p7 | 0;
  }
}

interface Sampler {
  readonly c: Component;
  readonly rx: number;
  readonly ry: number;
  readonly planeWidth: number;
  readonly usedWide: number;
  readonly usedHigh: number;
}

/**
 * One output row of a component at full (scaled) resolution. Factor 2 in a direction uses the
 * triangle filter (weights 3/4, 1/4 towards the nearer neighbour), as libjpeg's fancy upsampling
 * does; other factors repeat samples. Values carry 4 extra bits until the final rounding.
 */
function upsampleRow(s: Sampler, y: number, row: Int32Array, width: number): void {
  const plane = s.c.plane;
  const lastX = s.usedWide - 1;
  const lastY = s.usedHigh - 1;
  let y0: number;
  let y1: number;
  let wy0: number;
  let wy1: number;
  if (s.ry === 2) {
    const cy = y >> 1;
    y0 = Math.min(cy, lastY);
    y1 = Math.min(Math.max((y & 1) === 0 ? cy - 1 : cy + 1, 0), lastY);
    wy0 = 3;
    wy1 = 1;
  } else {
    y0 = y1 = Math.min((y / s.ry) | 0, lastY);
    wy0 = 4;
    wy1 = 0;
  }
  const r0 = y0 * s.planeWidth;
  const r1 = y1 * s.planeWidth;
  if (s.rx === 2) {
    for (let x = 0; x < width; x++) {
      const cx = Math.min(x >> 1, lastX);
      const nx = Math.min(Math.max((x & 1) === 0 ? cx - 1 : cx + 1, 0), lastX);
      const near = wy0 * plane[r0 + cx]! + wy1 * plane[r1 + cx]!;
      const far = wy0 * plane[r0 + nx]! + wy1 * plane[r1 + nx]!;
      row[x] = 3 * near + far; // ×16
    }
  } else {
    for (let x = 0; x < width; x++) {
      const cx = Math.min((x / s.rx) | 0, lastX);
      row[x] = 4 * (wy0 * plane[r0 + cx]! + wy1 * plane[r1 + cx]!); // ×16
    }
  }
}

type ColourConverter = (rows: Int32Array[], out: Uint8Array, at: number, width: number) => void;

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
/** A ×16 sample back to 8 bits, rounded. */
const down = (v: number) => (v + 8) >> 4;

/** YCbCr → RGB per JFIF, in 16.16 fixed point (libjpeg's constants). */
function ycc(y: number, cb: number, cr: number, out: Uint8Array, at: number): void {
  const b = cb - 128;
  const r = cr - 128;
  out[at] = clamp(y + ((91881 * r + 32768) >> 16));
  out[at + 1] = clamp(y - ((22554 * b + 46802 * r - 32768) >> 16));
  out[at + 2] = clamp(y + ((116130 * b + 32768) >> 16));
}

/**
 * How components become RGB: one is grey; three are YCbCr unless an Adobe marker says "no
 * transform" (or the ids spell R, G, B without a JFIF marker); four are CMYK, or YCCK with
 * Adobe transform 2. Adobe's CMYK is stored inverted, so each channel is ink-free × K / 255.
 */
function colourModel(
  count: number,
  adobe: number,
  jfif: boolean,
  ids: readonly number[],
): ColourConverter {
  if (count === 1)
    return (rows, out, at, width) => {
      const g = rows[0]!;
      for (let x = 0; x < width; x++) {
        const v = down(g[x]!);
        out[at + 3 * x] = out[at + 3 * x + 1] = out[at + 3 * x + 2] = v;
      }
    };
  if (count === 3) {
    const rgb =
      adobe === 0 || (adobe < 0 && !jfif && ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42);
    return (rows, out, at, width) => {
      const [a, b, c] = rows as [Int32Array, Int32Array, Int32Array];
      for (let x = 0; x < width; x++) {
        if (rgb) {
          out[at + 3 * x] = down(a[x]!);
          out[at + 3 * x + 1] = down(b[x]!);
          out[at + 3 * x + 2] = down(c[x]!);
        } else ycc(down(a[x]!), down(b[x]!), down(c[x]!), out, at + 3 * x);
      }
    };
  }
  const ycck = adobe === 2;
  const pixel = new Uint8Array(3);
  return (rows, out, at, width) => {
    const [a, b, c, d] = rows as [Int32Array, Int32Array, Int32Array, Int32Array];
    for (let x = 0; x < width; x++) {
      const k = down(d[x]!);
      if (ycck) ycc(down(a[x]!), down(b[x]!), down(c[x]!), pixel, 0);
      else {
        pixel[0] = down(a[x]!);
        pixel[1] = down(b[x]!);
        pixel[2] = down(c[x]!);
      }
      // YCCK decodes to inverted CMY, like Adobe's stored CMYK.
      for (let ch = 0; ch < 3; ch++)
        out[at + 3 * x + ch] = Math.floor((pixel[ch]! * k + 127) / 255);
    }
  };
}

/**
 * Decodes a JPEG shrunk by `scale` (1, 2, 4 or 8) in the DCT domain: the result is
 * ceil(width / scale) × ceil(height / scale) RGB, as stored (EXIF orientation is the caller's).
 * Throws DecodeError for corrupt, truncated or unsupported files.
 *
 * @example
 * const small = decodeJpegScaled(phonePhoto, 8); // 4000 × 3000 → 500 × 375
 */
export function decodeJpegScaled(bytes: Uint8Array, scale: DecodeScale): RgbImage {
  return new JpegDecoder(bytes, scale).decode();
}
