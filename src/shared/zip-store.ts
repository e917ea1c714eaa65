// Writes ZIP archives with stored (uncompressed) entries: enough to hand out a few model files
// as one download that every unzip tool opens. ONNX weights barely compress, so nothing is lost.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  return c >>> 0;
});

/**
 * Continues a CRC-32 (IEEE 802.3, as ZIP stores it) over more bytes; start from 0.
 *
 * @example
 * crc32Update(crc32Update(0, head), tail) === crc32(concatBytes([head, tail])); // true
 */
export function crc32Update(crc: number, data: Uint8Array): number {
  let c = crc ^ 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of `data`. */
export const crc32 = (data: Uint8Array): number => crc32Update(0, data);

/** DOS date and time fields for `date` (ZIP's own timestamp format, 2-second resolution). */
function dosTime(date: Date): { time: number; day: number } {
  const year = Math.max(date.getUTCFullYear(), 1980);
  return {
    time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | (date.getUTCSeconds() >> 1),
    day: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
  };
}

/** One entry's stored-file headers: the local header (before its data) and its central record. */
export interface ZipEntryHeaders {
  readonly local: Uint8Array;
  readonly central: Uint8Array;
}

/**
 * The local header and central-directory record of one stored (uncompressed) entry with a UTF-8
 * name, whose local header starts at `offset` in the archive. Streaming writers emit `local`,
 * then the data, and keep `central` for the end.
 *
 * @example
 * const { local, central } = storedEntryHeaders('train/ants/a.jpg', crc32(bytes), bytes.length, 0);
 */
export function storedEntryHeaders(
  fileName: string,
  crc: number,
  size: number,
  offset: number,
  modified = new Date(),
): ZipEntryHeaders {
  const name = new TextEncoder().encode(fileName);
  const { time, day } = dosTime(modified);
  const local = new Uint8Array(30 + name.length);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true);
  lv.setUint16(4, 20, true); // version needed
  lv.setUint16(6, 0x0800, true); // UTF-8 names
  lv.setUint16(8, 0, true); // stored
  lv.setUint16(10, time, true);
  lv.setUint16(12, day, true);
  lv.setUint32(14, crc, true);
  lv.setUint32(18, size, true);
  lv.setUint32(22, size, true);
  lv.setUint16(26, name.length, true);
  local.set(name, 30);
  const central = new Uint8Array(46 + name.length);
  const cv = new DataView(central.buffer);
  cv.setUint32(0, 0x02014b50, true);
  cv.setUint16(4, (3 << 8) | 20, true); // made by Unix, spec 2.0
  cv.setUint16(6, 20, true);
  cv.setUint16(8, 0x0800, true);
  cv.setUint16(10, 0, true);
  cv.setUint16(12, time, true);
  cv.setUint16(14, day, true);
  cv.setUint32(16, crc, true);
  cv.setUint32(20, size, true);
  cv.setUint32(24, size, true);
  cv.setUint16(28, name.length, true);
  cv.setUint32(38, (0o100644 << 16) >>> 0, true); // regular file, rw-r--r--
  cv.setUint32(42, offset, true);
  central.set(name, 46);
  return { local, central };
}

/** The end-of-central-directory record for `count` entries (classic, non-ZIP64). */
export function endOfCentralDirectory(
  count: number,
  centralSize: number,
  centralOffset: number,
): Uint8Array {
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, count, true);
  ev.setUint16(10, count, true);
  ev.setUint32(12, centralSize, true);
  ev.setUint32(16, centralOffset, true);
  return end;
}

/**
 * A ZIP archive of `files`, stored uncompressed with UTF-8 names. Classic (non-ZIP64) format:
 * each file and the whole archive must stay under 4 GiB.
 *
 * @example
 * const zip = storedZip([{ name: 'manifest.json', data: new TextEncoder().encode('{}') }]);
 */
export function storedZip(
  files: readonly { readonly name: string; readonly data: Uint8Array }[],
  modified = new Date(),
): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const file of files) {
    const size = file.data.byteLength;
    const { local, central } = storedEntryHeaders(
      file.name,
      crc32(file.data),
      size,
      offset,
      modified,
    );
    locals.push(local, file.data);
    centrals.push(central);
    offset += local.length + size;
  }
  const centralSize = centrals.reduce((n, c) => n + c.length, 0);
  const end = endOfCentralDirectory(files.length, centralSize, offset);
  const out = new Uint8Array(offset + centralSize + end.length);
  let at = 0;
  for (const part of [...locals, ...centrals, end]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
