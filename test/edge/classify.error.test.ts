// Bad input to POST /v1/classify: each case gets the right status and stable code, never a 500,
// and the isolate keeps serving afterwards.
import { SELF, createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLASSIFY_LIMITS } from '../../src/shared/api.js';
import { app } from '../../src/edge/app.js';
import { evictBackboneSession } from '../../src/edge/classification/model-store.js';
import { fixtureBytes, seedBackbone } from './fixtures.js';

let jpeg: Uint8Array;
let png: Uint8Array;
let webp: Uint8Array;

beforeAll(async () => {
  await seedBackbone('mobilenet-v1-0.25');
  await seedBackbone('mobilenet-v2-0.35');
  jpeg = await fixtureBytes('images/bee.jpg');
  png = await fixtureBytes('images/bee.png');
  webp = await fixtureBytes('images/bee.webp');
});

async function post(body: BodyInit | null, headers: Record<string, string>, query = '') {
  const init: RequestInit = { method: 'POST', body, headers };
  if (body instanceof ReadableStream) Object.assign(init, { duplex: 'half' });
  const res = await SELF.fetch(`https://edge.test/v1/classify${query}`, init);
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: JSON.parse(text) as { code?: string; field?: string; detail?: string },
  };
}

async function expectProblem(
  p: ReturnType<typeof post>,
  status: number,
  code: string,
  field?: string,
) {
  const res = await p;
  expect(res.type).toBe('application/problem+json');
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
  if (field !== undefined) expect(res.body.field).toBe(field);
  return res.body;
}

/** A copy of a JPEG whose frame header declares another size. */
function withJpegSize(bytes: Uint8Array, width: number, height: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 2; i < out.length - 9; i++) {
    if (out[i] === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2)) {
      out[i + 5] = height >> 8;
      out[i + 6] = height & 0xff;
      out[i + 7] = width >> 8;
      out[i + 8] = width & 0xff;
      return out;
    }
  }
  throw new Error('no SOF marker');
}

const jpegHeaders = { 'content-type': 'image/jpeg' };

describe('POST /v1/classify refuses bad input', () => {
  it('413 for a body over 10 MB', async () => {
    const big = new Uint8Array(CLASSIFY_LIMITS.maxBodyBytes + 1);
    big.set(jpeg);
    await expectProblem(post(big, jpegHeaders), 413, 'body_too_large', 'body');
  });

  it('413 for a body over 10 MB even when sent without a length (streamed)', async () => {
    const chunk = new Uint8Array(1024 * 1024);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > CLASSIFY_LIMITS.maxBodyBytes) controller.close();
        else {
          sent += chunk.length;
          controller.enqueue(chunk);
        }
      },
    });
    await expectProblem(post(stream, jpegHeaders), 413, 'body_too_large');
  });

  it('413 for a JPEG declaring more than 40 megapixels, before decoding', async () => {
    const body = await expectProblem(
      post(withJpegSize(jpeg, 8000, 6000), jpegHeaders),
      413,
      'image_too_large',
      'body',
    );
    expect(body.detail).toContain('8000×6000');
  });

  it('413 for a photo whose decode would pass the decode budget, before decoding', async () => {
    // WebP is decoded whole: 2000 × 2000 plans ~40 MB against the 16 MiB budget.
    const big = await fixtureBytes('images/bee-2000.webp');
    const body = await expectProblem(
      post(big, { 'content-type': 'image/webp' }),
      413,
      'image_too_large',
      'body',
    );
    expect(body.detail).toMatch(/would take \d+(\.\d)? MB; the limit is 16\.0 MB/);
    expect(body.detail).toContain('JPEG or PNG');
    // The same photo as a 4 MP JPEG is decoded shrunk, well inside the budget.
    const res = await post(await fixtureBytes('images/bee-2000.jpg'), jpegHeaders);
    expect(res.status).toBe(200);
    expect(CLASSIFY_LIMITS.maxDecodeBytes).toBe(16 * 1024 * 1024);
  });

  it('413 for a PNG declaring a huge size', async () => {
    const huge = png.slice();
    new DataView(huge.buffer).setUint32(16, 60000);
    new DataView(huge.buffer).setUint32(20, 60000);
    await expectProblem(post(huge, { 'content-type': 'image/png' }), 413, 'image_too_large');
  });

  it('415 for a non-image content type, naming the header', async () => {
    await expectProblem(
      post('hello', { 'content-type': 'text/plain' }),
      415,
      'unsupported_media_type',
      'header.content-type',
    );
    await expectProblem(
      post(JSON.stringify({ image: 'x' }), { 'content-type': 'application/json' }),
      415,
      'unsupported_media_type',
    );
  });

  it('415 for GIF and TIFF bytes, whatever the declared type', async () => {
    await expectProblem(
      post(await fixtureBytes('images/bee.gif'), jpegHeaders),
      415,
      'unsupported_media_type',
      'body',
    );
    await expectProblem(
      post(await fixtureBytes('images/bee.tiff'), { 'content-type': 'image/png' }),
      415,
      'unsupported_media_type',
    );
  });

  it('422 for bytes that are not an image', async () => {
    const noise = new Uint8Array(5000).map((_, i) => (i * 7919) % 251);
    await expectProblem(post(noise, jpegHeaders), 422, 'invalid_image', 'body');
  });

  it('422 for truncated JPEG, PNG and WebP files', async () => {
    await expectProblem(post(jpeg.slice(0, jpeg.length >> 1), jpegHeaders), 422, 'invalid_image');
    await expectProblem(
      post(png.slice(0, png.length >> 1), { 'content-type': 'image/png' }),
      422,
      'invalid_image',
    );
    await expectProblem(
      post(webp.slice(0, webp.length >> 1), { 'content-type': 'image/webp' }),
      422,
      'invalid_image',
    );
    await expectProblem(post(jpeg.slice(0, 300), jpegHeaders), 422, 'invalid_image');
  });

  it('422 for a PNG whose compressed data is damaged', async () => {
    const damaged = png.slice();
    const idat = damaged.findIndex(
      (_, i) =>
        damaged[i] === 0x49 &&
        damaged[i + 1] === 0x44 &&
        damaged[i + 2] === 0x41 &&
        damaged[i + 3] === 0x54,
    );
    for (let i = idat + 40; i < idat + 240; i++) damaged[i] = damaged[i]! ^ 0x5a;
    await expectProblem(
      post(damaged, { 'content-type': 'image/png' }),
      422,
      'invalid_image',
      'body',
    );
  });

  it('404 for an unknown model, naming the field', async () => {
    await expectProblem(
      post(jpeg, jpegHeaders, '?model=resnet-999'),
      404,
      'not_found',
      'query.model',
    );
  });

  it('422 for a backbone without a classifier', async () => {
    await expectProblem(
      post(jpeg, jpegHeaders, '?model=mobilenet-v2-0.35'),
      422,
      'unprocessable',
      'query.model',
    );
  });

  for (const topK of ['0', '21', 'abc', '2.5', '-1']) {
    it(`400 for topK=${topK}`, async () => {
      await expectProblem(
        post(jpeg, jpegHeaders, `?topK=${topK}`),
        400,
        'invalid_request',
        'query.topK',
      );
    });
  }

  it('400 for a malformed model id', async () => {
    await expectProblem(
      post(jpeg, jpegHeaders, `?model=${encodeURIComponent('../../etc')}`),
      400,
      'invalid_request',
      'query.model',
    );
  });

  it('400 for an empty body', async () => {
    await expectProblem(post(new Uint8Array(0), jpegHeaders), 400, 'invalid_request', 'body');
  });

  it('400 for a form without an image, and for a bad form topK', async () => {
    const form = new FormData();
    form.set('topK', '3');
    await expectProblem(post(form, {}), 400, 'invalid_request', 'form.image');
    const bad = new FormData();
    bad.set('image', new File([jpeg], 'bee.jpg'));
    bad.set('topK', '99');
    await expectProblem(post(bad, {}), 400, 'invalid_request', 'form.topK');
  });

  it('a request refused while the model is still loading does not stall the next ones', async () => {
    evictBackboneSession('mobilenet-v1-0.25');
    const damaged = png.slice(0, png.length - 20); // no IEND: refused right after the load starts
    await expectProblem(post(damaged, { 'content-type': 'image/png' }), 422, 'invalid_image');
    const started = Date.now();
    expect((await post(jpeg, jpegHeaders)).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('keeps serving good requests after all of the above', async () => {
    const res = await post(jpeg, jpegHeaders);
    expect(res.status).toBe(200);
  });
});

describe('POST /v1/classify rate limit', () => {
  it('costs one token of the key per request, single or batch', async () => {
    let tokens = 0;
    const limiter = {
      limit: () => {
        tokens++;
        return Promise.resolve({ success: true });
      },
    };
    for (const route of ['/v1/classify', '/v1/classify/batch']) {
      tokens = 0;
      const res = await app.fetch(
        new Request(`https://edge.test${route}`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: 'not an image',
        }),
        { ...env, CLASSIFY_LIMITER: limiter },
        createExecutionContext(),
      );
      expect({ route, status: res.status, tokens }).toEqual({ route, status: 415, tokens: 1 });
    }
  });
});
