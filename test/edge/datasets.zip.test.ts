// The ZIP reader on its own, over an in-memory ranged source: directory parsing, entry kinds and
// names, and the caps that hold whatever the archive declares.
import { describe, expect, it } from 'vitest';
import {
  openZip,
  readZipEntry,
  ZipArchiveError,
  ZipEntryError,
  type RandomAccessSource,
  type ZipEntry,
} from '../../src/edge/datasets/zip.js';
import { fixture } from './datasets-helpers.js';

const LIMITS = { maxEntries: 20_000, maxDirectoryBytes: 20 << 20 };
const READ_LIMITS = { maxBytes: 10 << 20, maxRatio: 50 };

/** A ranged source over fixture bytes that records the length of every read. */
async function sourceOf(name: string): Promise<RandomAccessSource & { reads: number[] }> {
  const bytes = await fixture(`datasets/${name}`);
  const reads: number[] = [];
  return {
    size: bytes.byteLength,
    reads,
    read(offset, length) {
      reads.push(length);
      return Promise.resolve(bytes.slice(offset, offset + length));
    },
  };
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

const byName = (entries: ZipEntry[], name: string) => entries.find((e) => e.name === name)!;

describe('openZip', () => {
  it('lists files and folders with their sizes and Unix modes', async () => {
    const entries = await openZip(await sourceOf('hymenoptera.zip'), LIMITS);
    expect(entries).toHaveLength(406);
    expect(entries.filter((e) => e.kind === 'directory').map((e) => e.name)).toEqual([
      'hymenoptera_data/',
      'hymenoptera_data/train/',
      'hymenoptera_data/train/ants/',
      'hymenoptera_data/train/bees/',
      'hymenoptera_data/val/',
      'hymenoptera_data/val/ants/',
      'hymenoptera_data/val/bees/',
    ]);
    expect(byName(entries, 'hymenoptera_data/val/bees/10870992_eebeeb3a12.jpg')).toMatchObject({
      kind: 'file',
      method: 8,
      encrypted: false,
      uncompressedSize: 35339,
      unixMode: 0o100644,
    });
  });

  it('tells symlinks, special files, encryption and name encodings apart', async () => {
    const links = await openZip(await sourceOf('symlink.zip'), LIMITS);
    expect(byName(links, 'train/ants/link.jpg')).toMatchObject({
      kind: 'symlink',
      unixMode: 0o120777,
    });
    const entries = await openZip(await sourceOf('rejects.zip'), LIMITS);
    expect(byName(entries, 'train/ants/fifo.jpg').kind).toBe('special');
    expect(byName(entries, 'train/ants/secret.jpg').encrypted).toBe(true);
    expect(byName(entries, 'train/ants/bzip2.jpg').method).toBe(12);
    expect(byName(entries, 'train/bees/café.jpg').nameError).toBeUndefined();
    expect(byName(entries, 't\ufffd\ufffd').nameError).toBe('the name is not valid UTF-8');
  });

  it('reads ZIP64 end records and extra fields', async () => {
    const plain = await openZip(await sourceOf('symlink.zip'), LIMITS);
    const zip64 = await openZip(await sourceOf('zip64.zip'), LIMITS);
    const sizes = (list: ZipEntry[]) => list.slice(0, 6).map((e) => [e.name, e.uncompressedSize]);
    expect(sizes(zip64)).toEqual(sizes(plain));
  });

  it('refuses what is not a ZIP, and archives over the entry or directory limits', async () => {
    const kindOf = async (name: string, limits = LIMITS) => {
      const error = await errorOf(openZip(await sourceOf(name), limits));
      if (!(error instanceof ZipArchiveError))
        throw new Error(`no ZipArchiveError: ${String(error)}`);
      return [error.kind, error.message];
    };
    expect(await kindOf('not-a-zip.zip')).toEqual(['malformed', 'not a ZIP archive']);
    expect(await kindOf('overlap.zip')).toEqual([
      'malformed',
      'entry "train/ants/ants-0.jpg" overlaps the next record',
    ]);
    expect(await kindOf('zip64.zip', { ...LIMITS, maxEntries: 5 })).toEqual([
      'too_many_entries',
      '6 entries (limit 5)',
    ]);
    expect((await kindOf('hymenoptera.zip', { ...LIMITS, maxDirectoryBytes: 1000 }))[0]).toBe(
      'directory_too_large',
    );
  });
});

describe('readZipEntry', () => {
  it('reads every entry of a 45 MiB archive in reads of at most 1 MiB', async () => {
    const source = await sourceOf('hymenoptera.zip');
    const entries = await openZip(source, LIMITS);
    let total = 0;
    for (const entry of entries.filter((e) => e.kind === 'file'))
      total += (await readZipEntry(source, entry, READ_LIMITS)).byteLength;
    expect(total).toBe(entries.reduce((n, e) => n + e.uncompressedSize, 0));
    expect(Math.max(...source.reads)).toBeLessThanOrEqual(1 << 20);
  });

  it('refuses by kind: too large, bad CRC, unsupported method, encrypted, lying bomb', async () => {
    const kindOf = async (name: string, entry: string, limits = READ_LIMITS) => {
      const source = await sourceOf(name);
      const found = byName(await openZip(source, LIMITS), entry);
      const error = await errorOf(readZipEntry(source, found, limits));
      if (!(error instanceof ZipEntryError)) throw new Error(`no ZipEntryError: ${String(error)}`);
      return [error.kind, error.message];
    };
    expect(
      await kindOf('rejects.zip', 'train/ants/small.png', { ...READ_LIMITS, maxBytes: 100 }),
    ).toEqual(['too_large', 'declares 8718 bytes (limit 100)']);
    expect(await kindOf('rejects.zip', 'train/bees/badcrc.jpg')).toEqual([
      'corrupt',
      'CRC-32 mismatch',
    ]);
    expect((await kindOf('rejects.zip', 'train/ants/bzip2.jpg'))[0]).toBe(
      'unsupported_compression',
    );
    expect((await kindOf('rejects.zip', 'train/ants/secret.jpg'))[0]).toBe('encrypted');
    expect(await kindOf('bomb-lying.zip', 'train/ants/x.jpg')).toEqual([
      'ratio',
      'inflates to over 50× its compressed size',
    ]);
    // With no ratio cap the byte cap still stops it, never trusting the declared 1 KiB.
    expect(
      await kindOf('bomb-lying.zip', 'train/ants/x.jpg', { maxBytes: 4 << 20, maxRatio: Infinity }),
    ).toEqual(['too_large', `inflates to more than ${4 << 20} bytes`]);
  });

  it('reads stored entries as they are', async () => {
    const source = await sourceOf('nested.zip');
    const entry = byName(await openZip(source, LIMITS), 'train/bees/photo.jpg');
    expect(entry.method).toBe(0);
    const bytes = await readZipEntry(source, entry, READ_LIMITS);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0x50, 0x4b, 0x03, 0x04]);
  });
});
