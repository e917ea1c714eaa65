// Hostile requests to POST /v1/classify and POST /v1/classify/batch: corrupt and truncated
// images, declared-size and decompression bombs, polyglots, wrong types, bad parameters, forged
// keys and another tenant's heads and aliases.
import { CLASSIFY_LIMITS } from '../../../src/shared/api.js';
import { concatBytes } from '../../../src/shared/bytes.js';
import { forgedKey, form, request, streamOf, type HostileCase } from './corpus.js';
import {
  declaredPng,
  jpegWithHiddenFrame,
  jpegWithOverlongSegment,
  jpegWithSize,
  jpegWithoutEnd,
  jpegWithoutFrame,
  NOT_IMAGES,
  pngWithDamagedData,
  pngWithSize,
  UNSUPPORTED,
  webpLosslessGarbage,
  webpWithCanvas,
  webpWithLongRiff,
  webpWithoutImage,
} from './images.js';
import { buildZip } from './zips.js';
import type { World } from './world.js';

const typed = (type: string) => ({ 'content-type': type });

type Bytes = (w: World) => Uint8Array | Promise<Uint8Array>;

interface RawOptions {
  readonly query?: (w: World) => string;
  readonly key?: (w: World) => string;
}

/** POST /v1/classify with a raw body of `type`. */
const raw =
  (type: string, bytes: Bytes, opts: RawOptions = {}) =>
  async (w: World) =>
    request(`/v1/classify${opts.query?.(w) ?? ''}`, {
      headers: typed(type),
      body: await bytes(w),
      ...(opts.key ? { key: opts.key(w) } : {}),
    });

const photo: Bytes = (w) => w.photos.jpeg;

const image = (
  name: string,
  type: string,
  bytes: Bytes,
  code: HostileCase['code'],
  field = 'body',
): HostileCase => ({ area: 'classify', name, request: raw(type, bytes), code, field });

const jpeg = 'image/jpeg';
const png = 'image/png';
const webp = 'image/webp';

/** POST /v1/classify/batch with a multipart form. */
const batch =
  (
    fields: (w: World) => Record<string, string | Uint8Array | Uint8Array[]>,
    key?: (w: World) => string,
  ) =>
  (w: World) =>
    request('/v1/classify/batch', { body: form(fields(w)), ...(key ? { key: key(w) } : {}) });

export const CLASSIFY_CASES: HostileCase[] = [
  // Truncated and corrupt images.
  image(
    'truncated JPEG (first half)',
    jpeg,
    (w) => w.photos.jpeg.slice(0, w.photos.jpeg.length >> 1),
    'invalid_image',
  ),
  image('JPEG cut inside its headers', jpeg, (w) => w.photos.jpeg.slice(0, 300), 'invalid_image'),
  image(
    'JPEG without its end-of-image marker',
    jpeg,
    (w) => jpegWithoutEnd(w.photos.jpeg),
    'invalid_image',
  ),
  image('JPEG scan with no frame header', jpeg, () => jpegWithoutFrame(), 'invalid_image'),
  image(
    'JPEG segment longer than the file',
    jpeg,
    () => jpegWithOverlongSegment(),
    'invalid_image',
  ),
  image(
    'JPEG start followed by 64 KiB of fill bytes',
    jpeg,
    () => NOT_IMAGES.jpegFill,
    'invalid_image',
  ),
  image(
    'JPEG declaring 0×0 pixels',
    jpeg,
    (w) => jpegWithSize(w.photos.jpeg, 0, 0),
    'invalid_image',
  ),
  image(
    'JPEG with a second, different frame size hidden before the real one',
    jpeg,
    (w) => jpegWithHiddenFrame(w.photos.jpeg, 4000, 3000),
    'invalid_image',
  ),
  image(
    'truncated PNG (no IEND)',
    png,
    (w) => w.photos.png.slice(0, w.photos.png.length - 20),
    'invalid_image',
  ),
  image(
    'PNG with damaged compressed data',
    png,
    (w) => pngWithDamagedData(w.photos.png),
    'invalid_image',
  ),
  image('PNG declaring 0×10 pixels', png, (w) => pngWithSize(w.photos.png, 0, 10), 'invalid_image'),
  image(
    'PNG declaring 4000×4000 with 64 bytes of pixel data',
    png,
    () => declaredPng(4000, 4000, new Uint8Array(64)),
    'invalid_image',
  ),
  image(
    'truncated WebP (first half)',
    webp,
    (w) => w.photos.webp.slice(0, w.photos.webp.length >> 1),
    'invalid_image',
  ),
  image(
    'WebP whose RIFF size claims 2 GB',
    webp,
    (w) => webpWithLongRiff(w.photos.webp),
    'invalid_image',
  ),
  image('WebP container without an image chunk', webp, () => webpWithoutImage(), 'invalid_image'),
  image(
    'lossless WebP header followed by garbage',
    webp,
    () => webpLosslessGarbage(),
    'invalid_image',
  ),
  // Huge declared dimensions and decompression bombs: refused before decoding.
  image(
    'JPEG declaring 65535×65535 pixels',
    jpeg,
    (w) => jpegWithSize(w.photos.jpeg, 65535, 65535),
    'image_too_large',
  ),
  image(
    'PNG declaring 100000×100000 pixels',
    png,
    (w) => pngWithSize(w.photos.png, 100_000, 100_000),
    'image_too_large',
  ),
  image(
    'PNG declaring 2^32-1 × 2^32-1 pixels',
    png,
    (w) => pngWithSize(w.photos.png, 0xffffffff, 0xffffffff),
    'image_too_large',
  ),
  image(
    'PNG decompression bomb: 8000×8000 of zeros in a few KB',
    png,
    () => declaredPng(8000, 8000),
    'image_too_large',
  ),
  image(
    'WebP canvas declaring 16384×16384',
    webp,
    () => webpWithCanvas(16384, 16384),
    'image_too_large',
  ),
  // Formats recognised but not decoded, whatever the declared type.
  image('GIF bytes sent as image/jpeg', jpeg, (w) => w.other.gif, 'unsupported_media_type'),
  image('TIFF bytes sent as image/png', png, (w) => w.other.tiff, 'unsupported_media_type'),
  image('BMP bytes sent as image/webp', webp, () => UNSUPPORTED.bmp, 'unsupported_media_type'),
  image('AVIF bytes sent as image/jpeg', jpeg, () => UNSUPPORTED.avif, 'unsupported_media_type'),
  image(
    'SVG with a script sent as image/png',
    png,
    () => UNSUPPORTED.svg,
    'unsupported_media_type',
  ),
  // Polyglots and documents dressed as images.
  image(
    'GIFAR: a GIF with a ZIP appended',
    jpeg,
    async (w) =>
      concatBytes([w.other.gif, await buildZip([{ name: 'a.class', data: new Uint8Array(8) }])]),
    'unsupported_media_type',
  ),
  image(
    'a ZIP archive sent as image/jpeg',
    jpeg,
    (w) => buildZip([{ name: 'bee.jpg', data: w.photos.jpeg }]),
    'invalid_image',
  ),
  image('an HTML page sent as image/jpeg', jpeg, () => NOT_IMAGES.html, 'invalid_image'),
  image(
    'a PDF sent as application/octet-stream',
    'application/octet-stream',
    () => NOT_IMAGES.pdf,
    'invalid_image',
  ),
  image('a PNG signature followed by HTML', png, () => NOT_IMAGES.pngThenHtml, 'invalid_image'),
  image(
    'a JPEG start-of-image followed by a script',
    jpeg,
    () => NOT_IMAGES.jpegThenScript,
    'invalid_image',
  ),
  // Wrong content types and broken bodies.
  {
    area: 'classify',
    name: 'text/plain body',
    request: raw('text/plain', photo),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'classify',
    name: 'application/json body',
    request: raw('application/json', () => new TextEncoder().encode('{"image":"x"}')),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'classify',
    name: 'image/svg+xml declared type',
    request: raw('image/svg+xml', () => UNSUPPORTED.svg),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'classify',
    name: 'multipart boundary that never appears',
    request: raw('multipart/form-data; boundary=nowhere', photo),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'classify',
    name: 'form without an image field',
    request: (w) =>
      request('/v1/classify', { body: form({ model: 'mobilenet-v1-0.25', note: w.a.tenantId }) }),
    code: 'invalid_request',
    field: 'form.image',
  },
  image('empty body', jpeg, () => new Uint8Array(0), 'invalid_request'),
  image(
    'body over 10 MB',
    jpeg,
    (w) => {
      const big = new Uint8Array(CLASSIFY_LIMITS.maxBodyBytes + 1);
      big.set(w.photos.jpeg);
      return big;
    },
    'body_too_large',
  ),
  {
    area: 'classify',
    name: 'body over 10 MB streamed without a length',
    request: (w) =>
      request('/v1/classify', {
        headers: typed(jpeg),
        body: streamOf(CLASSIFY_LIMITS.maxBodyBytes + 2 ** 20, w.photos.jpeg),
      }),
    code: 'body_too_large',
    field: 'body',
  },
  // Parameters.
  {
    area: 'classify',
    name: 'topK=0',
    request: raw(jpeg, photo, { query: () => '?topK=0' }),
    code: 'invalid_request',
    field: 'query.topK',
  },
  {
    area: 'classify',
    name: 'topK=1e309',
    request: raw(jpeg, photo, { query: () => '?topK=1e309' }),
    code: 'invalid_request',
    field: 'query.topK',
  },
  {
    area: 'classify',
    name: 'model=../../etc/passwd',
    request: raw(jpeg, photo, { query: () => `?model=${encodeURIComponent('../../etc/passwd')}` }),
    code: 'invalid_request',
    field: 'query.model',
  },
  {
    area: 'classify',
    name: 'nine models in one request',
    request: raw(jpeg, photo, {
      query: () => `?model=${Array.from({ length: 9 }, (_, i) => `m${i}`).join(',')}`,
    }),
    code: 'invalid_request',
    field: 'query.model',
  },
  {
    area: 'classify',
    name: 'unknown backbone',
    request: raw(jpeg, photo, { query: () => '?model=resnet-999' }),
    code: 'not_found',
    field: 'query.model',
  },
  // Keys, and another tenant's heads and aliases.
  {
    area: 'classify',
    name: "another tenant's head id",
    request: raw(jpeg, photo, { query: (w) => `?model=${w.headB}`, key: (w) => w.a.apiKey }),
    code: 'not_found',
    field: 'query.model',
  },
  {
    area: 'classify',
    name: "another tenant's alias",
    request: raw(jpeg, photo, { query: (w) => `?model=${w.aliasB}`, key: (w) => w.a.apiKey }),
    code: 'not_found',
    field: 'query.model',
  },
  {
    area: 'classify',
    name: 'a head id without any key',
    request: raw(jpeg, photo, { query: (w) => `?model=${w.headA}` }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'classify',
    name: 'forged API key',
    request: raw(jpeg, photo, { key: () => forgedKey('hs_key') }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'classify',
    name: 'revoked API key',
    request: raw(jpeg, photo, { key: (w) => w.revokedKey }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'classify',
    name: 'worker token as an API key',
    request: raw(jpeg, photo, { key: (w) => w.worker }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'classify',
    name: 'Basic credentials instead of a bearer key',
    request: (w) =>
      request('/v1/classify', {
        headers: { ...typed(jpeg), authorization: `Basic ${btoa(`${w.a.tenantId}:x`)}` },
        body: w.photos.jpeg,
      }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  // Batches.
  {
    area: 'classify',
    name: 'batch: JSON instead of multipart',
    request: () => request('/v1/classify/batch', { json: { images: [] } }),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'classify',
    name: 'batch: no images',
    request: batch(() => ({ topK: '3' })),
    code: 'invalid_request',
    field: 'form.images',
  },
  {
    area: 'classify',
    name: 'batch: images sent as text fields',
    request: batch(() => ({ images: 'not a file' })),
    code: 'invalid_request',
    field: 'form.images',
  },
  {
    area: 'classify',
    name: 'batch: 17 images',
    request: batch((w) => ({ images: Array.from({ length: 17 }, () => w.photos.jpeg) })),
    code: 'invalid_request',
    field: 'form.images',
  },
  {
    area: 'classify',
    name: 'batch: topK=21',
    request: batch((w) => ({ images: [w.photos.jpeg], topK: '21' })),
    code: 'invalid_request',
    field: 'form.topK',
  },
  {
    area: 'classify',
    name: "batch: another tenant's head",
    request: batch(
      (w) => ({ images: [w.photos.jpeg], model: w.headB }),
      (w) => w.a.apiKey,
    ),
    code: 'not_found',
    field: 'form.model',
  },
  {
    area: 'classify',
    name: 'batch: body over 24 MB',
    request: (w) =>
      request('/v1/classify/batch', {
        body: form({
          images: [new Uint8Array(CLASSIFY_LIMITS.maxBatchBodyBytes + 1)],
          model: w.aliasA,
        }),
      }),
    code: 'body_too_large',
    field: 'body',
  },
];
