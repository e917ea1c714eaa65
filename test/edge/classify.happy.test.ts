// POST /v1/classify inside workerd: real photos in every supported encoding, and agreement with
// onnxruntime-node's probabilities on the same photos.
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ClassifyResponse } from '../../src/shared/api.js';
import { fixtureBytes, fixtureFloats, parityIndex, seedBackbone } from './fixtures.js';

beforeAll(async () => {
  await seedBackbone('mobilenet-v1-0.25');
  await seedBackbone('mobilenet-v2-0.35');
});

async function classify(
  body: BodyInit,
  contentType: string,
  query = '',
): Promise<ClassifyResponse> {
  const res = await SELF.fetch(`https://edge.test/v1/classify${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType },
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as ClassifyResponse;
}

const labels = (r: ClassifyResponse) => r.predictions.map((p) => p.label);

describe('POST /v1/classify', () => {
  it('labels a bee photo "bee", with the default model, sorted scores and timings', async () => {
    const result = await classify(await fixtureBytes('images/bee.jpg'), 'image/jpeg');
    expect(result.model).toBe('mobilenet-v1-0.25');
    expect(result.predictions).toHaveLength(5);
    expect(result.predictions[0]!.label).toBe('bee');
    const scores = result.predictions.map((p) => p.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(result.image).toEqual({ format: 'jpeg', width: 500, height: 464 });
    for (const value of Object.values(result.timings)) expect(value).toBeGreaterThanOrEqual(0);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.inferenceMs);
  });

  it('accepts a multipart form with topK and model fields', async () => {
    const form = new FormData();
    form.set(
      'image',
      new File([await fixtureBytes('images/bee.jpg')], 'bee.jpg', { type: 'image/jpeg' }),
    );
    form.set('topK', '3');
    form.set('model', 'mobilenet-v1-0.25');
    const res = await SELF.fetch('https://edge.test/v1/classify', { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const result = await res.json<ClassifyResponse>();
    expect(result.predictions).toHaveLength(3);
    expect(result.predictions[0]!.label).toBe('bee');
  });

  for (const [file, type] of [
    ['bee.png', 'image/png'],
    ['bee-alpha.png', 'image/png'],
    ['bee-grey16.png', 'image/png'],
    ['bee.webp', 'image/webp'],
    ['bee-lossless.webp', 'image/webp'],
    ['bee-grey.jpg', 'image/jpeg'],
    ['bee-cmyk.jpg', 'image/jpeg'],
    ['bee-progressive.jpg', 'image/jpeg'],
    ['bee.jpg', 'application/octet-stream'],
  ] as const) {
    it(`decodes ${file} (${type}) and still sees a bee`, async () => {
      const result = await classify(await fixtureBytes(`images/${file}`), type, '?topK=5');
      expect(labels(result)).toContain('bee');
      expect([result.image.width, result.image.height]).toEqual([500, 464]);
    });
  }

  it('honours EXIF orientation: a photo stored sideways but tagged 6 is seen upright', async () => {
    const result = await classify(await fixtureBytes('images/bee-rotated6.jpg'), 'image/jpeg');
    expect([result.image.width, result.image.height]).toEqual([500, 464]);
    expect(result.predictions[0]!.label).toBe('bee');
  });

  it('matches onnxruntime-node probabilities on the same photos within 1e-3', async () => {
    const index = await parityIndex();
    const reference = await fixtureFloats('parity/mobilenet-v1-0.25-probabilities.bin');
    let worst = 0;
    for (const [i] of index.images.entries()) {
      const result = await classify(
        await fixtureBytes(`parity/photo-${i}.jpg`),
        'image/jpeg',
        '?topK=20',
      );
      for (const p of result.predictions)
        worst = Math.max(worst, Math.abs(p.score - reference[i * 1000 + p.index]!));
    }
    console.log(
      `edge vs onnxruntime-node: largest probability difference ${worst.toExponential(2)} over ${index.images.length} photos (top-20 each)`,
    );
    expect(worst).toBeLessThan(1e-3);
  });
});
