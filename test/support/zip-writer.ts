// Builds ZIP archives for tests — ordinary ones and the hostile ones no zip tool would write —
// and the dataset fixtures that the workerd tests ingest.
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import { crc32 } from '../../src/shared/zip-store.js';
import { DATASETS_DIR } from './paths.js';

export { crc32 };

export interface ZipEntrySpec {
  /** The name as stored; a trailing slash makes a directory entry. */
  readonly name: string;
  /** Raw name bytes, written instead of `name` (e.g. CP437 or invalid UTF-8). */
  readonly rawName?: Uint8Array;
  readonly data?: Uint8Array;
  /** Default deflate (stored for directories). */
  readonly method?: 'store' | 'deflate';
  /** Unix st_mode in the external attributes; default 0o100644, or 0o040755 for directories. */
  readonly unixMode?: number;
  /** Flag bit 11 (UTF-8 name); default true. */
  readonly utf8?: boolean;
  /** Sets flag bit 0 (the data is left as is). */
  readonly encrypted?: boolean;
  /** A raw compression method code written instead of 0/8 (e.g. 12, bzip2). */
  readonly methodCode?: number;
  /** Declared uncompressed size, written in place of the true one. */
  readonly declaredSize?: number;
  /** CRC-32 written in place of the true one. */
  readonly crc?: number;
}

export interface ZipOptions {
  /** Write ZIP64 records (saturated classic fields, ZIP64 extra fields and end records). */
  readonly zip64?: boolean;
  /** Extra central-directory records pointing at an existing entry's local header. */
  readonly aliases?: readonly { readonly name: string; readonly of: string }[];
}

interface Written {
  readonly spec: ZipEntrySpec;
  readonly nameBytes: Buffer;
  readonly flags: number;
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly offset: number;
}

const SATURATED = 0xffffffff;
// 1980-01-01 00:00, the earliest DOS date: archives are byte-for-byte reproducible.
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/**
 * Builds a ZIP archive in memory.
 *
 * @example
 * buildZip([{ name: 'train/ants/a.jpg', data: jpeg }, { name: 'link', data: target, unixMode: 0o120777 }]);
 */
export function buildZip(entries: readonly ZipEntrySpec[], options: ZipOptions = {}): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  const written: Written[] = [];
  for (const spec of entries) {
    const data = Buffer.from(spec.data ?? new Uint8Array(0));
    const isDir = spec.name.endsWith('/');
    const deflate = !isDir && (spec.method ?? 'deflate') === 'deflate';
    const body = deflate ? deflateRawSync(data, { level: 9 }) : data;
    const nameBytes = Buffer.from(spec.rawName ?? Buffer.from(spec.name, 'utf8'));
    const entry: Written = {
      spec,
      nameBytes,
      flags: (spec.utf8 === false ? 0 : 0x0800) | (spec.encrypted ? 0x0001 : 0),
      method: spec.methodCode ?? (deflate ? 8 : 0),
      crc: spec.crc ?? crc32(data),
      compressedSize: body.length,
      size: spec.declaredSize ?? data.length,
      offset,
    };
    const extra = options.zip64 ? zip64Extra([entry.size, entry.compressedSize]) : Buffer.alloc(0);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(options.zip64 ? 45 : 20, 4);
    local.writeUInt16LE(entry.flags, 6);
    local.writeUInt16LE(entry.method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(entry.crc, 14);
    local.writeUInt32LE(options.zip64 ? SATURATED : entry.compressedSize, 18);
    local.writeUInt32LE(options.zip64 ? SATURATED : entry.size, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(extra.length, 28);
    push(Buffer.concat([local, nameBytes, extra, body]));
    written.push(entry);
  }
  const aliases = (options.aliases ?? []).map(({ name, of }) => {
    const target = written.find((w) => w.spec.name === of);
    if (!target) throw new Error(`alias of unknown entry ${of}`);
    return { ...target, nameBytes: Buffer.from(name, 'utf8') };
  });
  const directoryOffset = offset;
  for (const entry of [...written, ...aliases]) push(centralRecord(entry, options.zip64 === true));
  const directorySize = offset - directoryOffset;
  const count = written.length + aliases.length;
  if (options.zip64) push(zip64End(count, directorySize, directoryOffset, offset));
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(options.zip64 ? 0xffff : count, 8);
  end.writeUInt16LE(options.zip64 ? 0xffff : count, 10);
  end.writeUInt32LE(options.zip64 ? SATURATED : directorySize, 12);
  end.writeUInt32LE(options.zip64 ? SATURATED : directoryOffset, 16);
  push(end);
  return Buffer.concat(parts);
}

function zip64Extra(values: readonly number[]): Buffer {
  const extra = Buffer.alloc(4 + 8 * values.length);
  extra.writeUInt16LE(0x0001, 0);
  extra.writeUInt16LE(8 * values.length, 2);
  values.forEach((v, i) => extra.writeBigUInt64LE(BigInt(v), 4 + 8 * i));
  return extra;
}

function centralRecord(entry: Written, zip64: boolean): Buffer {
  const isDir = entry.spec.name.endsWith('/');
  const mode = entry.spec.unixMode ?? (isDir ? 0o040755 : 0o100644);
  const extra = zip64
    ? zip64Extra([entry.size, entry.compressedSize, entry.offset])
    : Buffer.alloc(0);
  const record = Buffer.alloc(46);
  record.writeUInt32LE(0x02014b50, 0);
  record.writeUInt16LE((3 << 8) | 63, 4); // made by Unix, spec 6.3
  record.writeUInt16LE(zip64 ? 45 : 20, 6);
  record.writeUInt16LE(entry.flags, 8);
  record.writeUInt16LE(entry.method, 10);
  record.writeUInt16LE(0, 12);
  record.writeUInt16LE(DOS_DATE, 14);
  record.writeUInt32LE(entry.crc, 16);
  record.writeUInt32LE(zip64 ? SATURATED : entry.compressedSize, 20);
  record.writeUInt32LE(zip64 ? SATURATED : entry.size, 24);
  record.writeUInt16LE(entry.nameBytes.length, 28);
  record.writeUInt16LE(extra.length, 30);
  record.writeUInt32LE(((mode << 16) | (isDir ? 0x10 : 0)) >>> 0, 38);
  record.writeUInt32LE(zip64 ? SATURATED : entry.offset, 42);
  return Buffer.concat([record, entry.nameBytes, extra]);
}

function zip64End(count: number, size: number, directoryOffset: number, at: number): Buffer {
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeUInt16LE((3 << 8) | 63, 12);
  record.writeUInt16LE(45, 14);
  record.writeBigUInt64LE(BigInt(count), 24);
  record.writeBigUInt64LE(BigInt(count), 32);
  record.writeBigUInt64LE(BigInt(size), 40);
  record.writeBigUInt64LE(BigInt(directoryOffset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(at), 8);
  locator.writeUInt32LE(1, 16);
  return Buffer.concat([record, locator]);
}

/** Every file and folder under `dir`, sorted, as archive entries named from `dir`'s parent. */
async function folderEntries(dir: string): Promise<ZipEntrySpec[]> {
  const base = path.dirname(dir);
  const walk = async (folder: string): Promise<ZipEntrySpec[]> => {
    const names = (await readdir(folder, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    const out: ZipEntrySpec[] = [{ name: `${path.relative(base, folder)}/` }];
    for (const d of names) {
      const full = path.join(folder, d.name);
      if (d.isDirectory()) out.push(...(await walk(full)));
      else out.push({ name: path.relative(base, full), data: await readFile(full) });
    }
    return out;
  };
  return walk(dir);
}

/** `n` small, distinct real photos (64 px wide) re-encoded as JPEG, for compact fixtures. */
async function smallPhotos(classDir: string, n: number, skip = 0): Promise<Buffer[]> {
  const dir = path.join(DATASETS_DIR, 'hymenoptera_data', classDir);
  const names = (await readdir(dir)).filter((f) => f.endsWith('.jpg')).sort();
  const files = names.slice(skip, skip + n);
  return Promise.all(files.map((f) => sharp(path.join(dir, f)).resize(64).jpeg().toBuffer()));
}

/** A PNG that is only a header: valid chunks declaring `width`×`height`, and no pixels. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IEND', Buffer.alloc(0))]);
}

/** Valid train/val images, two classes, two or more each: the part of a fixture that is fine. */
async function validLayout(perClass = 2): Promise<ZipEntrySpec[]> {
  const [ants, bees] = await Promise.all([
    smallPhotos('val/ants', perClass + 1),
    smallPhotos('val/bees', perClass + 1),
  ]);
  const named = (split: string, label: string, list: Buffer[]) =>
    list.map((data, i) => ({ name: `${split}/${label}/${label}-${i}.jpg`, data }));
  return [
    ...named('train', 'ants', ants.slice(0, perClass)),
    ...named('train', 'bees', bees.slice(0, perClass)),
    ...named('val', 'ants', ants.slice(perClass)),
    ...named('val', 'bees', bees.slice(perClass)),
  ];
}

/**
 * Writes the archives the dataset tests ingest into `dir` (.cache/test/datasets/).
 *
 * @example
 * await writeDatasetFixtures(path.join(TEST_CACHE, 'datasets'));
 */
export async function writeDatasetFixtures(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const valid = await validLayout();
  const jpeg = valid[0]!.data!;
  const hymenoptera = buildZip(await folderEntries(path.join(DATASETS_DIR, 'hymenoptera_data')));
  const [extraAnts, extraBees] = await Promise.all([
    smallPhotos('train/ants', 12),
    smallPhotos('train/bees', 9),
  ]);
  const zeros = Buffer.alloc(200 * 1024 * 1024);
  const fixtures: Record<string, Buffer> = {
    'hymenoptera.zip': hymenoptera,
    // 200 MiB of zeros deflates to ~200 KiB: declared honestly, then declared as 1 KiB.
    'bomb.zip': buildZip([...valid, { name: 'train/a/x.jpg', data: zeros }]),
    'bomb-lying.zip': buildZip([
      ...valid,
      { name: 'train/ants/x.jpg', data: zeros.subarray(0, 64 * 1024 * 1024), declaredSize: 1024 },
    ]),
    'traversal.zip': buildZip([
      ...valid,
      { name: 'train/../../evil.jpg', data: jpeg },
      { name: '/etc/x.jpg', data: jpeg },
      { name: 'C:/windows/x.jpg', data: jpeg },
      { name: 'train\\ants\\back.jpg', data: jpeg },
      { name: 'train/ants/nul\u0000.jpg', data: jpeg },
      { name: '../outside/', data: undefined },
    ]),
    'symlink.zip': buildZip([
      ...valid,
      {
        name: 'train/ants/link.jpg',
        data: Buffer.from('../../../../etc/passwd'),
        unixMode: 0o120777,
      },
      { name: 'train/bees', data: Buffer.from('/tmp'), unixMode: 0o120755 },
    ]),
    'nested.zip': buildZip([
      ...valid,
      { name: 'train/ants/inner.zip', data: buildZip(valid) },
      { name: 'train/ants/photos.tar.gz', data: Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]) },
      // A ZIP named like a photo: caught by its magic bytes, never opened.
      { name: 'train/bees/photo.jpg', data: buildZip(valid), method: 'store' },
    ]),
    'noval.zip': buildZip([
      ...extraAnts.map((data, i) => ({ name: `train/ants/a${i}.jpg`, data })),
      ...extraBees.map((data, i) => ({ name: `train/bees/b${i}.jpg`, data })),
    ]),
    'rejects.zip': await rejectsZip(valid),
    'zip64.zip': buildZip(valid, { zip64: true }),
    'overlap.zip': buildZip(valid, {
      aliases: [{ name: 'train/ants/again.jpg', of: 'train/ants/ants-0.jpg' }],
    }),
    'no-train.zip': buildZip(
      valid.map((e) => ({ ...e, name: e.name.replace(/^train\//, 'training/') })),
    ),
    'not-a-zip.zip': Buffer.from('this is a text file, not an archive\n'),
    'truncated.zip': hymenoptera.subarray(0, 256 * 1024),
  };
  // Written beside and renamed into place, so a test reading a fixture never sees half a file.
  for (const [name, data] of Object.entries(fixtures)) {
    const file = path.join(dir, name);
    await writeFile(`${file}.${process.pid}.tmp`, data);
    await rename(`${file}.${process.pid}.tmp`, file);
  }
}

/** One archive with an example of every per-entry rejection next to valid images. */
async function rejectsZip(valid: ZipEntrySpec[]): Promise<Buffer> {
  const [a, b] = await Promise.all([
    smallPhotos('train/ants', 4, 20),
    smallPhotos('train/bees', 4, 20),
  ]);
  const source = path.join(DATASETS_DIR, 'hymenoptera_data');
  const gif = await readFile(path.join(source, 'train/ants/imageNotFound.gif'));
  const png = await sharp(a[0]).png().toBuffer();
  const webp = await sharp(b[0]).webp().toBuffer();
  return buildZip([
    ...valid,
    { name: 'train/ants/small.png', data: png },
    { name: 'train/bees/small.webp', data: webp },
    { name: 'train/ants/copy.jpg', data: valid[0]!.data },
    { name: 'val/bees/copy.jpg', data: valid[2]!.data },
    { name: 'train/ants/placeholder.gif', data: gif },
    { name: 'train/ants/notes.jpg', data: Buffer.from('not a photo at all') },
    { name: 'train/bees/half.jpg', data: b[1]!.subarray(0, b[1]!.length >> 1) },
    { name: 'train/bees/huge.png', data: pngHeaderOnly(20_000, 20_000) },
    { name: 'train/ants/secret.jpg', data: a[1], encrypted: true },
    { name: 'train/ants/bzip2.jpg', data: a[2], methodCode: 12, method: 'store' },
    { name: 'train/ants/fifo.jpg', data: a[3], unixMode: 0o010644 },
    { name: 'train/bees/badcrc.jpg', data: b[2], crc: 0x12345678 },
    {
      name: 'train/bees/caf\u00e9.jpg',
      data: b[3],
      rawName: Buffer.from('train/bees/caf\x82.jpg', 'latin1'),
      utf8: false,
    },
    {
      name: 'train/bees/bad-utf8.jpg',
      data: jpegOf(valid),
      rawName: Buffer.from([0x74, 0xff, 0xfe]),
    },
    { name: 'README.txt', data: Buffer.from('hello') },
    { name: 'train/loose.jpg', data: jpegOf(valid) },
    { name: 'train/ants/sub/deep.jpg', data: jpegOf(valid) },
    { name: 'val/wasps/w.jpg', data: jpegOf(valid) },
    { name: 'test/ants/t.jpg', data: jpegOf(valid) },
    { name: '__MACOSX/train/ants/._ants-0.jpg', data: Buffer.from('resource fork') },
    { name: 'train/ants/.DS_Store', data: Buffer.alloc(6148) },
    { name: 'Thumbs.db', data: Buffer.from('thumbs') },
  ]);
}

const jpegOf = (valid: ZipEntrySpec[]) => valid[valid.length - 1]!.data!;
