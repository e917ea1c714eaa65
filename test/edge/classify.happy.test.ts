// POST /v1/classify inside workerd: real photos in every supported encoding, and agreement with
// onnxruntime-node's probabilities on the same photos.
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ClassifyResponse } from '../../src/shared/api.js';
import { env } from 'cloudflare:workers';
import { PhotonImage } from '@cf-wasm/photon/workerd';
import { loadBackboneSession } from '../../src/edge/classification/model-store.js';
import { decodeWhole } from '../../src/shared/decode.js';
import { topK } from '../../src/shared/head-math.js';
import { sniffImage } from '../../src/shared/image-header.js';
import { MOBILENET_PREPROCESSING } from '../../src/shared/manifest.js';
import { applyOrientation } from '../../src/shared/orientation.js';
import { preprocess } from '../../src/shared/preprocess.js';
import { fixtureBytes, fixtureFloats, parityIndex, seedBackbone } from './fixtures.js';

const V1 = 'mobilenet-v1-0.25';
/** The phone and camera photos of ../shared/datasets/camera_photos (in the parity fixtures). */
const CAMERA = new Set([
  'HMD_Nokia_8.3_5G.jpg',
  'canon_hdr_NO.jpg',
  'iphone_hdr_NO.jpg',
  'jolla.jpg',
]);

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
    // 500 × 464 is already near the 256 px the model needs: decoded at full size.
    expect(result.image).toEqual({
      format: 'jpeg',
      width: 500,
      height: 464,
      decoded: { scale: 1, width: 500, height: 464 },
    });
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

  it('classifies full-size phone photos shrunk while decoded, upright, like a full-size decode', async () => {
    await seedBackbone(V1);
    const index = await parityIndex();
    const camera = [...index.images.entries()].filter(([, m]) => CAMERA.has(m.file));
    expect(camera.map(([, m]) => m.file).sort()).toEqual([...CAMERA].sort());
    const { session, manifest } = await loadBackboneSession(env.MODELS, V1);
    const labelOf = (i: number) => manifest.id2label![String(i)];
    let agree = 0;
    for (const [i, meta] of camera) {
      const bytes = await fixtureBytes(`parity/photo-${i}.jpg`);
      const result = await classify(bytes, 'image/jpeg', '?topK=5');
      const sniffed = sniffImage(bytes);
      if (sniffed.kind !== 'ok') throw new Error(meta.file);
      const { header } = sniffed;
      const upright = header.orientation >= 5;
      expect([result.image.width, result.image.height], meta.file).toEqual(
        upright ? [header.height, header.width] : [header.width, header.height],
      );
      // Shrunk in the DCT domain to no less than the 256 px the preprocessing needs.
      expect(result.image.decoded.scale, meta.file).toBeGreaterThanOrEqual(4);
      expect(
        Math.min(result.image.decoded.width, result.image.decoded.height),
      ).toBeGreaterThanOrEqual(256);
      expect([result.image.decoded.width, result.image.decoded.height]).toEqual([
        meta.width,
        meta.height,
      ]);
      // The reference: the whole photo decoded at full size, upright, through the same resampler.
      const full = applyOrientation(decodeWhole(PhotonImage, bytes, header), header.orientation);
      const tensor = preprocess(full, MOBILENET_PREPROCESSING);
      const out = await session.run({ pixel_values: { data: tensor, dims: [1, 3, 224, 224] } }, [
        'probabilities',
      ]);
      const top = topK(out.probabilities!.data, 1)[0]!;
      console.log(
        `${meta.file} (orientation ${header.orientation}): edge ${result.predictions[0]!.label} (decoded 1/${result.image.decoded.scale}, ${result.timings.decodeMs} ms), full-size decode ${labelOf(top.index)}`,
      );
      if (result.predictions[0]!.label === labelOf(top.index)) agree++;
    }
    expect(agree).toBeGreaterThanOrEqual(3);
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
