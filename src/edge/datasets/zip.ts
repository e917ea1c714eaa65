// A ZIP reader over ranged reads (an archive in R2 is never held whole): the central directory,
// then one entry at a time, inflated with a counted, capped DecompressionStream.
import { concatBytes } from '../../shared/bytes.js';
import { crc32Update } from '../../shared/zip-store.js';

/** Random access to the archive's bytes, e.g. R2 range reads. */
export interface RandomAccessSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** One central-directory entry. Sizes are what the archive declares; reads never trust them. */
export interface ZipEntry {
  /** The stored name, decoded as UTF-8 (flag bit 11) or CP437. */
  readonly name: string;
  /** Set when the name bytes are not valid in their encoding. */
  readonly nameError?: string;
  readonly kind: 'file' | 'directory' | 'symlink' | 'special';
  /** 0 stored, 8 deflate; anything else is refused when the entry is read. */
  readonly method: number;
  readonly encrypted: boolean;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  /** Unix st_mode from the external attributes, when the archive was made on Unix or macOS. */
  readonly unixMode?: number;
}

/** The archive as a whole cannot be read (or is over a structural limit). */
export class ZipArchiveError extends Error {
  override name = 'ZipArchiveError';
  constructor(
    readonly kind: 'malformed' | 'too_many_entries' | 'directory_too_large',
    message: string,
  ) {
    super(message);
  }
}

/** One entry cannot be read; the rest of the archive may still be fine. */
export class ZipEntryError extends Error {
  override name = 'ZipEntryError';
  constructor(
    readonly kind: 'encrypted' | 'unsupported_compression' | 'corrupt' | 'too_large' | 'ratio',
    message: string,
  ) {
    super(message);
  }
}

/** Compression ratios are judged only past this much output: small files harm no one. */
export const RATIO_FLOOR_BYTES = 1024 * 1024;
const READ_BYTES = 1024 * 1024;
/** Deflate input is fed in slices this small so one slice can inflate to at most ~16 MiB. */
const INFLATE_SLICE_BYTES = 16 * 1024;

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_BYTES = 22;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;

const malformed = (message: string) => new ZipArchiveError('malformed', message);
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function u64(v: DataView, at: number): number {
  const value = v.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed('a ZIP64 field is out of range');
  return Number(value);
}

async function readExactly(source: RandomAccessSource, offset: number, length: number) {
  if (offset < 0 || length < 0 || offset + length > source.size)
    throw malformed(`a record at byte ${offset} runs past the end of the archive`);
  const bytes = length === 0 ? new Uint8Array(0) : await source.read(offset, length);
  if (bytes.byteLength !== length)
    throw malformed(`read ${bytes.byteLength} of ${length} bytes at ${offset}`);
  return bytes;
}

interface DirectoryLocation {
  readonly entries: number;
  readonly offset: number;
  readonly size: number;
  /** Where the records after the central directory begin; the directory must end before. */
  readonly end: number;
}

async function locateDirectory(source: RandomAccessSource): Promise<DirectoryLocation> {
  if (source.size < EOCD_BYTES) throw malformed('too short to be a ZIP archive');
  const tailStart = Math.max(0, source.size - EOCD_BYTES - 0xffff);
  const tail = await readExactly(source, tailStart, source.size - tailStart);
  const t = view(tail);
  let at = -1;
  for (let i = tail.length - EOCD_BYTES; i >= 0; i--) {
    if (
      t.getUint32(i, true) === SIG_EOCD &&
      i + EOCD_BYTES + t.getUint16(i + 20, true) === tail.length
    ) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    const head = await readExactly(source, 0, 4);
    throw view(head).getUint32(0, true) === SIG_LOCAL
      ? malformed('no end-of-central-directory record (truncated archive?)')
      : malformed('not a ZIP archive');
  }
  const eocd = tailStart + at;
  if (t.getUint16(at + 4, true) !== 0 || t.getUint16(at + 6, true) !== 0)
    throw malformed('multi-part (split) archives are not supported');
  const plain = {
    entries: t.getUint16(at + 10, true),
    size: t.getUint32(at + 12, true),
    offset: t.getUint32(at + 16, true),
    end: eocd,
  };
  // A ZIP64 locator sits right before the classic record; when present its values win.
  if (at < 20 || t.getUint32(at - 20, true) !== SIG_ZIP64_LOCATOR) return plain;
  const recordAt = u64(t, at - 20 + 8);
  const record = view(await readExactly(source, recordAt, 56));
  if (record.getUint32(0, true) !== SIG_ZIP64_EOCD) throw malformed('bad ZIP64 end record');
  return {
    entries: u64(record, 32),
    size: u64(record, 40),
    offset: u64(record, 48),
    end: recordAt,
  };
}

/** Sequential reads through a byte range, fetched in 1 MiB windows. */
class Cursor {
  private window: Uint8Array = new Uint8Array(0);
  private at = 0;
  constructor(
    private readonly source: RandomAccessSource,
    private next: number,
    private readonly end: number,
  ) {}
  async take(n: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let missing = n;
    while (missing > 0) {
      if (this.at >= this.window.length) {
        if (this.next >= this.end) throw malformed('the central directory is truncated');
        const length = Math.min(READ_BYTES, this.end - this.next);
        this.window = await readExactly(this.source, this.next, length);
        this.next += length;
        this.at = 0;
      }
      const part = this.window.subarray(this.at, this.at + missing);
      this.at += part.length;
      missing -= part.length;
      parts.push(part);
    }
    return parts.length === 1 ? parts[0]! : concatBytes(parts);
  }
}

// CP437's upper half; the lower half is ASCII for file names.
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function decodeName(bytes: Uint8Array, utf8: boolean): { name: string; nameError?: string } {
  if (!utf8) {
    return {
      name: Array.from(bytes, (b) =>
        b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80]!,
      ).join(''),
    };
  }
  try {
    return { name: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    return {
      name: new TextDecoder('utf-8').decode(bytes),
      nameError: 'the name is not valid UTF-8',
    };
  }
}

function entryKind(
  name: string,
  mode: number | undefined,
  dosAttributes: number,
): ZipEntry['kind'] {
  const type = (mode ?? 0) & 0o170000;
  if (type === 0o120000) return 'symlink';
  if (type !== 0 && type !== 0o100000 && type !== 0o040000) return 'special';
  if (name.endsWith('/') || type === 0o040000 || (dosAttributes & 0x10) !== 0) return 'directory';
  return 'file';
}

async function readCentralEntry(cursor: Cursor): Promise<ZipEntry & { nameBytes: number }> {
  const head = view(await cursor.take(CENTRAL_BYTES));
  if (head.getUint32(0, true) !== SIG_CENTRAL) throw malformed('bad central directory record');
  const flags = head.getUint16(8, true);
  const nameLength = head.getUint16(28, true);
  const extraLength = head.getUint16(30, true);
  const commentLength = head.getUint16(32, true);
  const external = head.getUint32(38, true);
  const nameBytes = await cursor.take(nameLength);
  const extra = view(await cursor.take(extraLength));
  await cursor.take(commentLength);
  let uncompressedSize = head.getUint32(24, true);
  let compressedSize = head.getUint32(20, true);
  let localHeaderOffset = head.getUint32(42, true);
  // ZIP64 extra field: only the fields saturated in the fixed record follow, in this order.
  for (let at = 0; at + 4 <= extra.byteLength;) {
    const id = extra.getUint16(at, true);
    const size = extra.getUint16(at + 2, true);
    if (id === 0x0001) {
      let field = at + 4;
      const next = () => {
        if (field + 8 > at + 4 + size || field + 8 > extra.byteLength)
          throw malformed('short ZIP64 field');
        field += 8;
        return u64(extra, field - 8);
      };
      if (uncompressedSize === 0xffffffff) uncompressedSize = next();
      if (compressedSize === 0xffffffff) compressedSize = next();
      if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
    }
    at += 4 + size;
  }
  const hostOs = head.getUint16(4, true) >>> 8;
  const unixMode = hostOs === 3 || hostOs === 19 ? external >>> 16 : undefined;
  const { name, nameError } = decodeName(nameBytes, (flags & 0x0800) !== 0);
  const method = head.getUint16(10, true);
  return {
    name,
    ...(nameError === undefined ? {} : { nameError }),
    kind: entryKind(name, unixMode, external & 0xff),
    method,
    // Bit 0: traditional or strong encryption; method 99: WinZip AES.
    encrypted: (flags & 0x0001) !== 0 || method === 99,
    crc32: head.getUint32(16, true),
    compressedSize,
    uncompressedSize,
    localHeaderOffset,
    ...(unixMode === undefined ? {} : { unixMode }),
    nameBytes: nameLength,
  };
}

/**
 * Reads the central directory. Refuses archives that are not ZIPs, are truncated, exceed the
 * entry or directory-size limits, or whose entries overlap (a known zip-bomb construction).
 *
 * @example
 * const entries = await openZip(source, { maxEntries: 20_000, maxDirectoryBytes: 20 << 20 });
 */
export async function openZip(
  source: RandomAccessSource,
  limits: { maxEntries: number; maxDirectoryBytes: number },
): Promise<ZipEntry[]> {
  const dir = await locateDirectory(source);
  if (dir.entries > limits.maxEntries)
    throw new ZipArchiveError(
      'too_many_entries',
      `${dir.entries} entries (limit ${limits.maxEntries})`,
    );
  if (dir.size > limits.maxDirectoryBytes)
    throw new ZipArchiveError(
      'directory_too_large',
      `a ${dir.size}-byte central directory (limit ${limits.maxDirectoryBytes})`,
    );
  if (dir.offset + dir.size > dir.end)
    throw malformed('the central directory overlaps its end record');
  const cursor = new Cursor(source, dir.offset, dir.offset + dir.size);
  const entries: (ZipEntry & { nameBytes: number })[] = [];
  for (let i = 0; i < dir.entries; i++) entries.push(await readCentralEntry(cursor));
  // Each entry's local header and data must fit before the next one and before the directory.
  const byOffset = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (const [i, entry] of byOffset.entries()) {
    const end = entry.localHeaderOffset + LOCAL_BYTES + entry.nameBytes + entry.compressedSize;
    const limit = byOffset[i + 1]?.localHeaderOffset ?? dir.offset;
    if (end > limit) throw malformed(`entry "${entry.name}" overlaps the next record`);
  }
  return entries.map(({ nameBytes: _, ...entry }) => entry);
}

/**
 * True when the entry's declared sizes already exceed the ratio (past the 1 MiB floor).
 *
 * @example
 * if (declaresExcessiveRatio(entry, 50)) throw new Error('zip bomb');
 */
export function declaresExcessiveRatio(entry: ZipEntry, maxRatio: number): boolean {
  return (
    entry.uncompressedSize > RATIO_FLOOR_BYTES &&
    entry.uncompressedSize > entry.compressedSize * maxRatio
  );
}

async function inflate(
  source: RandomAccessSource,
  start: number,
  length: number,
  limits: { maxBytes: number; maxRatio: number },
): Promise<{ chunks: Uint8Array[]; total: number; crc: number }> {
  let fed = 0;
  let readAt = start;
  let window: Uint8Array = new Uint8Array(0);
  let at = 0;
  let sourceError: Error | undefined;
  const input = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          if (at >= window.length) {
            if (readAt >= start + length) return controller.close();
            const n = Math.min(READ_BYTES, start + length - readAt);
            window = await readExactly(source, readAt, n);
            readAt += n;
            at = 0;
          }
          const slice = window.slice(at, at + INFLATE_SLICE_BYTES);
          at += slice.length;
          fed += slice.length;
          controller.enqueue(slice);
        } catch (error) {
          sourceError = error instanceof Error ? error : new Error(String(error));
          controller.error(error);
        }
      },
    },
    { highWaterMark: 0 },
  );
  const reader = input.pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let crc = 0;
  for (;;) {
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await reader.read();
    } catch (error) {
      if (sourceError !== undefined) throw sourceError;
      throw new ZipEntryError('corrupt', `invalid deflate data (${String(error)})`);
    }
    if (result.done) break;
    total += result.value.byteLength;
    let refusal: ZipEntryError | undefined;
    if (total > RATIO_FLOOR_BYTES && total > fed * limits.maxRatio)
      refusal = new ZipEntryError(
        'ratio',
        `inflates to over ${limits.maxRatio}× its compressed size`,
      );
    else if (total > limits.maxBytes)
      refusal = new ZipEntryError('too_large', `inflates to more than ${limits.maxBytes} bytes`);
    if (refusal) {
      await reader.cancel().catch(() => undefined);
      throw refusal;
    }
    crc = crc32Update(crc, result.value);
    chunks.push(result.value);
  }
  return { chunks, total, crc };
}

/**
 * Reads and inflates one entry, counting the bytes actually produced: past `maxBytes`, or past
 * `maxRatio` × the compressed bytes consumed (beyond the first MiB), it stops and throws. The
 * result must match the declared size and CRC-32.
 *
 * @example
 * const bytes = await readZipEntry(source, entry, { maxBytes: 10 << 20, maxRatio: 50 });
 */
export async function readZipEntry(
  source: RandomAccessSource,
  entry: ZipEntry,
  limits: { maxBytes: number; maxRatio: number },
): Promise<Uint8Array> {
  if (entry.encrypted) throw new ZipEntryError('encrypted', 'the entry is encrypted');
  if (entry.method !== 0 && entry.method !== 8)
    throw new ZipEntryError(
      'unsupported_compression',
      `compression method ${entry.method} is not supported (only stored and deflate)`,
    );
  if (declaresExcessiveRatio(entry, limits.maxRatio))
    throw new ZipEntryError('ratio', `declares over ${limits.maxRatio}× its compressed size`);
  if (entry.uncompressedSize > limits.maxBytes)
    throw new ZipEntryError(
      'too_large',
      `declares ${entry.uncompressedSize} bytes (limit ${limits.maxBytes})`,
    );
  const local = view(await readExactly(source, entry.localHeaderOffset, LOCAL_BYTES));
  if (local.getUint32(0, true) !== SIG_LOCAL)
    throw new ZipEntryError('corrupt', 'bad local header');
  if ((local.getUint16(6, true) & 0x0001) !== 0)
    throw new ZipEntryError('encrypted', 'the entry is encrypted');
  const dataStart =
    entry.localHeaderOffset + LOCAL_BYTES + local.getUint16(26, true) + local.getUint16(28, true);
  if (dataStart + entry.compressedSize > source.size)
    throw new ZipEntryError('corrupt', 'the entry runs past the end of the archive');
  let bytes: Uint8Array;
  let crc: number;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.uncompressedSize)
      throw new ZipEntryError('corrupt', 'a stored entry whose sizes disagree');
    bytes = await readExactly(source, dataStart, entry.compressedSize);
    crc = crc32Update(0, bytes);
  } else {
    const inflated = await inflate(source, dataStart, entry.compressedSize, limits);
    if (inflated.total !== entry.uncompressedSize)
      throw new ZipEntryError(
        'corrupt',
        `inflates to ${inflated.total} bytes but declares ${entry.uncompressedSize}`,
      );
    bytes = concatBytes(inflated.chunks);
    crc = inflated.crc;
  }
  if (crc !== entry.crc32) throw new ZipEntryError('corrupt', 'CRC-32 mismatch');
  return bytes;
}
