// Hostile ZIP archives built in code inside workerd: bombs (by declared ratio, by lying sizes,
// by entry count, by overlapping entries), traversal and absolute paths, symlinks and devices,
// broken directories, and archives whose every entry is refused.
import { concatBytes } from '../../../src/shared/bytes.js';
import { crc32 } from '../../../src/shared/zip-store.js';
import { compress, compressedZeros, text } from './images.js';

export interface EntrySpec {
  /** The stored name; `rawName` replaces its bytes (invalid UTF-8, NUL). */
  readonly name: string;
  readonly rawName?: Uint8Array;
  readonly data?: Uint8Array;
  /** Data already compressed (raw deflate) for method 8, with its true uncompressed length. */
  readonly deflated?: { readonly data: Uint8Array; readonly size: number; readonly crc: number };
  readonly method?: 'store' | 'deflate';
  /** Unix st_mode in the external attributes (0o120777: a symlink, 0o020644: a device). */
  readonly unixMode?: number;
  readonly encrypted?: boolean;
  /** A raw compression method code in place of 0/8 (12 bzip2, 14 LZMA, 99 AES). */
  readonly methodCode?: number;
  /** The uncompressed size the headers declare, in place of the true one. */
  readonly declaredSize?: number;
  readonly crc?: number;
}

export interface ZipOptions {
  /** Extra central records pointing at an existing entry's local header (overlap bombs). */
  readonly aliases?: readonly { readonly name: string; readonly of: string }[];
  /** Overrides in the end-of-central-directory record. */
  readonly eocd?: {
    readonly entries?: number;
    readonly directorySize?: number;
    readonly directoryOffset?: number;
    readonly disk?: number;
  };
  /** Bytes before the archive whose offsets are not adjusted for them (polyglots). */
  readonly prefix?: Uint8Array;
  /** A ZIP64 end-of-directory locator pointing at `zip64At` (garbage there). */
  readonly zip64At?: number;
}

interface Written {
  readonly name: Uint8Array;
  readonly flags: number;
  readonly method: number;
  readonly crc: number;
  readonly compressed: number;
  readonly size: number;
  readonly offset: number;
  readonly mode: number;
}

function header(size: number, fill: (v: DataView) => void): Uint8Array {
  const out = new Uint8Array(size);
  fill(new DataView(out.buffer));
  return out;
}

function central(w: Written): Uint8Array {
  return concatBytes([
    header(46, (v) => {
      v.setUint32(0, 0x02014b50, true);
      v.setUint16(4, (3 << 8) | 20, true); // made by Unix
      v.setUint16(6, 20, true);
      v.setUint16(8, w.flags, true);
      v.setUint16(10, w.method, true);
      v.setUint32(16, w.crc, true);
      v.setUint32(20, w.compressed, true);
      v.setUint32(24, w.size, true);
      v.setUint16(28, w.name.length, true);
      v.setUint32(38, (w.mode << 16) >>> 0, true);
      v.setUint32(42, w.offset, true);
    }),
    w.name,
  ]);
}

/**
 * A ZIP archive, including the kinds no zip tool writes.
 *
 * @example
 * await buildZip([{ name: 'train/a/x.png', data: png }, { name: 'link', data: text('/etc'), unixMode: 0o120777 }]);
 */
export async function buildZip(
  entries: readonly EntrySpec[],
  options: ZipOptions = {},
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let offset = 0;
  const written = new Map<string, Written>();
  const order: Written[] = [];
  for (const spec of entries) {
    const data = spec.data ?? new Uint8Array(0);
    const isDir = spec.name.endsWith('/');
    const deflate = spec.deflated !== undefined || (!isDir && spec.method === 'deflate');
    const body = spec.deflated?.data ?? (deflate ? await compress(data, 'deflate-raw') : data);
    const name = spec.rawName ?? text(spec.name);
    const w: Written = {
      name,
      flags: 0x0800 | (spec.encrypted ? 0x0001 : 0),
      method: spec.methodCode ?? (deflate ? 8 : 0),
      crc: spec.crc ?? spec.deflated?.crc ?? crc32(data),
      compressed: body.length,
      size: spec.declaredSize ?? spec.deflated?.size ?? data.length,
      offset,
      mode: spec.unixMode ?? (isDir ? 0o040755 : 0o100644),
    };
    const local = header(30, (v) => {
      v.setUint32(0, 0x04034b50, true);
      v.setUint16(4, 20, true);
      v.setUint16(6, w.flags, true);
      v.setUint16(8, w.method, true);
      v.setUint32(14, w.crc, true);
      v.setUint32(18, w.compressed, true);
      v.setUint32(22, w.size, true);
      v.setUint16(26, name.length, true);
    });
    parts.push(local, name, body);
    offset += local.length + name.length + body.length;
    written.set(spec.name, w);
    order.push(w);
  }
  for (const alias of options.aliases ?? []) {
    const target = written.get(alias.of);
    if (!target) throw new Error(`no entry ${alias.of}`);
    order.push({ ...target, name: text(alias.name) });
  }
  const directory = concatBytes(order.map(central));
  const directoryOffset = offset;
  const e = options.eocd ?? {};
  const tail: Uint8Array[] = [];
  if (options.zip64At !== undefined) {
    tail.push(
      header(20, (v) => {
        v.setUint32(0, 0x07064b50, true);
        v.setBigUint64(8, BigInt(options.zip64At!), true);
        v.setUint32(16, 1, true);
      }),
    );
  }
  tail.push(
    header(22, (v) => {
      v.setUint32(0, 0x06054b50, true);
      v.setUint16(4, e.disk ?? 0, true);
      v.setUint16(6, e.disk ?? 0, true);
      v.setUint16(8, e.entries ?? order.length, true);
      v.setUint16(10, e.entries ?? order.length, true);
      v.setUint32(12, e.directorySize ?? directory.length, true);
      v.setUint32(16, e.directoryOffset ?? directoryOffset, true);
    }),
  );
  return concatBytes([options.prefix ?? new Uint8Array(0), ...parts, directory, ...tail]);
}

/**
 * Raw deflate of `size` zero bytes, for entries that inflate far beyond what they declare. The
 * CRC is left at 0: a reader that checks ratios stops long before it could compare it.
 */
export async function deflatedZeros(size: number) {
  const data = await compressedZeros(size, 'deflate-raw');
  return { data, size, crc: 0 };
}

/**
 * `count` distinct tiny entries in a valid layout (two classes), stored: an archive whose
 * directory alone is over the entry limit.
 */
export function manyEntries(count: number): Promise<Uint8Array> {
  return buildZip(
    Array.from({ length: count }, (_, i) => ({
      name: `train/${i % 2 ? 'a' : 'b'}/${i}.png`,
      data: Uint8Array.of(i & 0xff),
    })),
  );
}
