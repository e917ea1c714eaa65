// Hostile requests to the datasets API: zip bombs of every kind, broken archives, traversal and
// absolute paths, symlinks and devices, polyglots, archives whose every entry is refused, bad
// uploads of single images, and another tenant's datasets.
import { concatBytes } from '../../../src/shared/bytes.js';
import { forgedKey, form, request, streamOf, type HostileCase } from './corpus.js';
import { declaredPng, NOT_IMAGES, pngWithSize, solidPng, text, UNSUPPORTED } from './images.js';
import { buildZip, deflatedZeros, manyEntries, type EntrySpec } from './zips.js';
import type { World } from './world.js';

type Archive = (w: World) => Uint8Array | Promise<Uint8Array>;

interface UploadOptions {
  readonly type?: string;
  readonly query?: string;
  readonly key?: (w: World) => string;
}

/** POST /v1/datasets with `archive` as the body. */
const upload =
  (archive: Archive, opts: UploadOptions = {}) =>
  async (w: World) =>
    request(`/v1/datasets${opts.query ?? ''}`, {
      key: (opts.key ?? ((x: World) => x.a.uploadKey))(w),
      headers: { 'content-type': opts.type ?? 'application/zip' },
      body: await archive(w),
    });

/** An archive case refused as a whole, naming the archive. */
const archive = (name: string, bytes: Archive, code: HostileCase['code']): HostileCase => ({
  area: 'datasets',
  name,
  request: upload(bytes),
  code,
  field: 'archive',
});

/**
 * A two-class layout (train/ants, train/bees, three files each) whose every entry is made by
 * `entry`: an archive that is only refused because every one of its entries is.
 */
const everyEntry = (entry: (name: string, i: number) => EntrySpec | Promise<EntrySpec>) => () =>
  Promise.all(
    ['ants', 'bees'].flatMap((label, c) =>
      [0, 1, 2].map(async (i) => entry(`train/${label}/${i}.png`, c * 3 + i)),
    ),
  ).then((entries) => buildZip(entries));

const png = (i: number) => solidPng(4, 4, [i * 20, 7, 9]);

/** POST /v1/datasets/{id}/images as tenant A. */
const addImage =
  (fields: (w: World) => Record<string, string | Uint8Array>, dataset = (w: World) => w.datasetA) =>
  (w: World) =>
    request(`/v1/datasets/${dataset(w)}/images`, { key: w.a.uploadKey, body: form(fields(w)) });

export const DATASET_CASES: HostileCase[] = [
  // Zip bombs.
  archive(
    'zip bomb: an entry declaring 200 MB from a few bytes',
    async () =>
      buildZip([
        {
          name: 'train/ants/0.png',
          data: await png(0),
          method: 'deflate',
          declaredSize: 200 * 2 ** 20,
        },
        { name: 'train/bees/0.png', data: await png(1) },
      ]),
    'archive_too_large',
  ),
  archive(
    'zip bomb: entries that inflate 16 MB of zeros while declaring 100 bytes',
    async () => {
      const zeros = await deflatedZeros(16 * 2 ** 20);
      return buildZip([
        { name: 'train/ants/0.png', deflated: zeros, declaredSize: 100 },
        { name: 'train/bees/0.png', deflated: zeros, declaredSize: 100 },
      ]);
    },
    'archive_too_large',
  ),
  archive('zip bomb: 20001 entries', () => manyEntries(20_001), 'archive_too_large'),
  archive(
    'zip bomb: an end record claiming 65535 entries',
    async () =>
      buildZip([{ name: 'train/ants/0.png', data: await png(0) }], { eocd: { entries: 65535 } }),
    'archive_too_large',
  ),
  archive(
    'zip bomb: an end record claiming a 4 GB central directory',
    async () =>
      buildZip([{ name: 'train/ants/0.png', data: await png(0) }], {
        eocd: { directorySize: 0xfffffff0 },
      }),
    'archive_too_large',
  ),
  archive(
    'zip bomb: overlapping entries sharing one local header',
    async () =>
      buildZip(
        [
          { name: 'train/ants/0.png', data: await png(0) },
          { name: 'train/bees/0.png', data: await png(1) },
        ],
        {
          aliases: Array.from({ length: 50 }, (_, i) => ({
            name: `train/${i % 2 ? 'ants' : 'bees'}/copy${i}.png`,
            of: 'train/ants/0.png',
          })),
        },
      ),
    'invalid_archive',
  ),
  // Broken archives.
  archive('random bytes sent as application/zip', () => NOT_IMAGES.noise, 'invalid_archive'),
  archive('an HTML page sent as application/zip', () => NOT_IMAGES.html, 'invalid_archive'),
  archive('only a local-file signature', () => text('PK\u0003\u0004'), 'invalid_archive'),
  archive(
    'truncated archive (end record cut off)',
    async () => (await buildZip([{ name: 'train/ants/0.png', data: await png(0) }])).slice(0, -10),
    'invalid_archive',
  ),
  archive(
    'central directory offset past its end record',
    async () =>
      buildZip([{ name: 'train/ants/0.png', data: await png(0) }], {
        eocd: { directoryOffset: 1_000_000 },
      }),
    'invalid_archive',
  ),
  archive(
    'split (multi-disk) archive',
    async () => buildZip([{ name: 'train/ants/0.png', data: await png(0) }], { eocd: { disk: 1 } }),
    'invalid_archive',
  ),
  archive(
    'ZIP64 locator pointing at garbage',
    async () => buildZip([{ name: 'train/ants/0.png', data: await png(0) }], { zip64At: 0 }),
    'invalid_archive',
  ),
  archive(
    'polyglot: a JPEG with a ZIP appended (offsets not adjusted)',
    async (w) =>
      buildZip(
        [
          { name: 'train/ants/0.png', data: await png(0) },
          { name: 'train/bees/0.png', data: await png(1) },
        ],
        { prefix: w.photos.jpeg },
      ),
    'invalid_archive',
  ),
  archive('an archive with no entries at all', () => buildZip([]), 'invalid_dataset'),
  // Paths, links and special files: every entry is refused, so the dataset is too.
  archive(
    'path traversal only',
    async () =>
      buildZip([
        { name: '../../evil/0.png', data: await png(0) },
        { name: 'train/../../../etc/cron.d/x.png', data: await png(1) },
        { name: 'train/ants/../../../../1.png', data: await png(2) },
        { name: '..\\..\\windows\\2.png', data: await png(3) },
      ]),
    'invalid_dataset',
  ),
  archive(
    'absolute paths and drive letters only',
    async () =>
      buildZip([
        { name: '/train/ants/0.png', data: await png(0) },
        { name: '/etc/passwd', data: text('root:x:0:0') },
        { name: 'C:/train/bees/1.png', data: await png(1) },
        { name: '//server/share/train/bees/2.png', data: await png(2) },
      ]),
    'invalid_dataset',
  ),
  archive(
    'symlinks only',
    everyEntry((name) => ({ name, data: text('/etc/passwd'), unixMode: 0o120777 })),
    'invalid_dataset',
  ),
  archive(
    'class folders that are symlinks out of the archive',
    () =>
      buildZip([
        { name: 'train/ants', data: text('/etc'), unixMode: 0o120777 },
        { name: 'train/bees', data: text('../../..'), unixMode: 0o120777 },
      ]),
    'invalid_dataset',
  ),
  archive(
    'character devices and FIFOs',
    everyEntry((name, i) => ({
      name,
      data: new Uint8Array(4),
      unixMode: i % 2 ? 0o020644 : 0o010644,
    })),
    'invalid_dataset',
  ),
  archive(
    'names that are not valid UTF-8',
    everyEntry(async (name, i) => ({
      name,
      rawName: concatBytes([text(name.slice(0, -4)), Uint8Array.of(0xc3, 0x28), text('.png')]),
      data: await png(i),
    })),
    'invalid_dataset',
  ),
  archive(
    'names with NUL and control characters',
    everyEntry(async (name, i) => ({
      name: i % 2 ? name.replace('.png', '\u0000.png') : name.replace('.png', '\u001b[2J.png'),
      data: await png(i),
    })),
    'invalid_dataset',
  ),
  archive(
    'names 2000 characters long',
    everyEntry(async (name, i) => ({
      name: name.replace('.png', `${'x'.repeat(2000)}.png`),
      data: await png(i),
    })),
    'invalid_dataset',
  ),
  archive(
    'nested archives disguised as photos',
    everyEntry(async (name, i) => ({
      name: name.replace('.png', '.jpg'),
      data: await buildZip([{ name: `inner${i}.png`, data: await png(i) }]),
    })),
    'invalid_dataset',
  ),
  archive(
    'encrypted entries',
    everyEntry(async (name, i) => ({ name, data: await png(i), encrypted: true })),
    'invalid_dataset',
  ),
  archive(
    'bzip2 and LZMA entries',
    everyEntry(async (name, i) => ({ name, data: await png(i), methodCode: i % 2 ? 12 : 14 })),
    'invalid_dataset',
  ),
  archive(
    'entries whose CRC-32 does not match',
    everyEntry(async (name, i) => ({ name, data: await png(i), crc: 0xdeadbeef })),
    'invalid_dataset',
  ),
  archive(
    'entries with corrupt deflate data',
    everyEntry((name, i) => ({
      name,
      deflated: { data: NOT_IMAGES.noise.slice(i, i + 400), size: 1000, crc: 0 },
    })),
    'invalid_dataset',
  ),
  archive(
    'truncated images only',
    everyEntry(async (name, i) => ({ name, data: (await png(i)).slice(0, 40) })),
    'invalid_dataset',
  ),
  archive(
    'images declaring 100000×100000 pixels',
    everyEntry(async (name, i) => ({ name, data: pngWithSize(await png(i), 100_000, 100_000) })),
    'invalid_dataset',
  ),
  archive(
    'PNG decompression bombs (8000×8000 each)',
    everyEntry(async (name, i) => ({
      name,
      data: concatBytes([await declaredPng(8000, 8000), Uint8Array.of(i)]),
    })),
    'invalid_dataset',
  ),
  archive(
    'HTML, SVG and PDF files named .png',
    everyEntry((name, i) => ({
      name,
      data: concatBytes([
        [NOT_IMAGES.html, UNSUPPORTED.svg, NOT_IMAGES.pdf][i % 3]!,
        Uint8Array.of(i),
      ]),
    })),
    'invalid_dataset',
  ),
  // Request-level refusals.
  {
    area: 'datasets',
    name: 'text/plain upload',
    request: upload(() => text('train/ants/0.png'), { type: 'text/plain' }),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'datasets',
    name: 'multipart upload',
    request: (w) =>
      request('/v1/datasets', { key: w.a.uploadKey, body: form({ archive: w.photos.jpeg }) }),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'datasets',
    name: 'archive streamed without a Content-Length, past the 100 MiB limit',
    request: (w) =>
      request('/v1/datasets', {
        key: w.a.uploadKey,
        headers: { 'content-type': 'application/zip' },
        body: streamOf(101 * 2 ** 20),
      }),
    code: 'archive_too_large',
    field: 'body',
  },
  {
    area: 'datasets',
    name: 'archive streamed without a Content-Length that is not a zip',
    request: (w) =>
      request('/v1/datasets', {
        key: w.a.uploadKey,
        headers: { 'content-type': 'application/zip' },
        body: streamOf(9 * 2 ** 20),
      }),
    code: 'invalid_archive',
    field: 'archive',
  },
  {
    area: 'datasets',
    name: 'a Content-Length declaring 200 MB',
    request: (w) =>
      request('/v1/datasets', {
        key: w.a.uploadKey,
        headers: { 'content-type': 'application/zip', 'content-length': String(200 * 2 ** 20) },
        body: streamOf(2 ** 20),
      }),
    code: 'archive_too_large',
    field: 'body',
  },
  {
    area: 'datasets',
    name: 'valFraction=1',
    request: upload(async () => buildZip([{ name: 'train/ants/0.png', data: await png(0) }]), {
      query: '?valFraction=1',
    }),
    code: 'invalid_request',
    field: 'query.valFraction',
  },
  {
    area: 'datasets',
    name: 'seed=-1',
    request: upload(async () => buildZip([]), { query: '?seed=-1' }),
    code: 'invalid_request',
    field: 'query.seed',
  },
  {
    area: 'datasets',
    name: 'a 201-character name',
    request: upload(async () => buildZip([]), { query: `?name=${'n'.repeat(201)}` }),
    code: 'invalid_request',
    field: 'query.name',
  },
  {
    area: 'datasets',
    name: 'upload without a key',
    request: () =>
      request('/v1/datasets', {
        headers: { 'content-type': 'application/zip' },
        body: NOT_IMAGES.noise,
      }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'datasets',
    name: 'upload with a forged key',
    request: upload(() => NOT_IMAGES.noise, { key: () => forgedKey('hs_key') }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'datasets',
    name: 'upload with a revoked key',
    request: upload(() => NOT_IMAGES.noise, { key: (w) => w.revokedKey }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  // Another tenant's datasets, and ids that are paths.
  {
    area: 'datasets',
    name: "reading another tenant's dataset",
    request: (w) => request(`/v1/datasets/${w.datasetB}`, { key: w.a.apiKey }),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'datasets',
    name: "deleting another tenant's dataset",
    request: (w) => request(`/v1/datasets/${w.datasetB}`, { key: w.a.apiKey, method: 'DELETE' }),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'datasets',
    name: "adding an image to another tenant's dataset",
    request: addImage(
      (w) => ({ image: w.photos.jpeg, label: 'ants' }),
      (w) => w.datasetB,
    ),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'datasets',
    name: 'a dataset id that is a traversal path',
    request: (w) =>
      request(`/v1/datasets/${encodeURIComponent('../../backbones')}`, { key: w.a.apiKey }),
    code: 'invalid_request',
    field: 'path.id',
  },
  {
    area: 'datasets',
    name: 'deleting a dataset id that is a traversal path',
    request: (w) =>
      request(`/v1/datasets/${encodeURIComponent(`${w.datasetA}/../${w.datasetB}`)}`, {
        key: w.a.apiKey,
        method: 'DELETE',
      }),
    code: 'invalid_request',
    field: 'path.id',
  },
  {
    area: 'datasets',
    name: 'listing with limit=101',
    request: (w) => request('/v1/datasets?limit=101', { key: w.a.apiKey }),
    code: 'invalid_request',
    field: 'query.limit',
  },
  // Single images.
  {
    area: 'datasets',
    name: 'image with a traversal label',
    request: addImage((w) => ({ image: w.photos.jpeg, label: '../../escape' })),
    code: 'invalid_request',
    field: 'form.label',
  },
  {
    area: 'datasets',
    name: 'image with a hidden-file label',
    request: addImage((w) => ({ image: w.photos.jpeg, label: '.htaccess' })),
    code: 'invalid_request',
    field: 'form.label',
  },
  {
    area: 'datasets',
    name: 'image for a split named test',
    request: addImage((w) => ({ image: w.photos.jpeg, label: 'ants', split: 'test' })),
    code: 'invalid_request',
    field: 'form.split',
  },
  {
    area: 'datasets',
    name: 'GIF image',
    request: addImage((w) => ({ image: w.other.gif, label: 'ants' })),
    code: 'unsupported_media_type',
    field: 'form.image',
  },
  {
    area: 'datasets',
    name: 'HTML as an image',
    request: addImage(() => ({ image: NOT_IMAGES.html, label: 'ants' })),
    code: 'invalid_image',
    field: 'form.image',
  },
  {
    area: 'datasets',
    name: 'image declaring 100000×100000 pixels',
    request: addImage((w) => ({
      image: pngWithSize(w.photos.png, 100_000, 100_000),
      label: 'ants',
    })),
    code: 'image_too_large',
    field: 'form.image',
  },
  {
    area: 'datasets',
    name: 'image field sent as text',
    request: addImage(() => ({ image: 'not a file', label: 'ants' })),
    code: 'invalid_request',
    field: 'form.image',
  },
  {
    area: 'datasets',
    name: 'image sent as JSON',
    request: (w) =>
      request(`/v1/datasets/${w.datasetA}/images`, {
        key: w.a.uploadKey,
        json: { image: 'data:image/png;base64,AAAA', label: 'ants' },
      }),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
];
