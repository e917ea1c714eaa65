// Inside workerd: preprocessing gives Node's exact bytes, and onnxruntime-web matches
// onnxruntime-node on the same input tensors (references written by the global setup).
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { renderView } from '../../src/shared/augment.js';
import { BACKBONES } from '../../src/shared/backbones.js';
import { MOBILENET_PREPROCESSING } from '../../src/shared/manifest.js';
import { preprocess, stackBatch } from '../../src/shared/preprocess.js';
import { loadBackboneSession } from '../../src/edge/classification/model-store.js';
import { decodeUpload } from '../../src/edge/classification/decoder.js';
import { sniffImage } from '../../src/shared/image-header.js';
import { decodeTarget, planDecode } from '../../src/shared/decode.js';
import { identical, relativeError } from '../support/numeric.js';
import { fixtureBytes, fixtureFloats, parityIndex, seedBackbone } from './fixtures.js';

async function workerdTensors() {
  const index = await parityIndex();
  const tensors: Float32Array[] = [];
  for (const [i, meta] of index.images.entries()) {
    const pixels = await fixtureBytes(`parity/pixels-${i}.bin`);
    tensors.push(
      preprocess(
        { width: meta.width, height: meta.height, channels: meta.channels, data: pixels },
        MOBILENET_PREPROCESSING,
      ),
    );
  }
  return { index, tensors };
}

describe('workerd and Node agree', () => {
  it('the image decoder gives the same pixels as in Node (phone photos shrunk while decoded)', async () => {
    const index = await parityIndex();
    for (const [i, meta] of index.images.entries()) {
      const jpeg = await fixtureBytes(`parity/photo-${i}.jpg`);
      const sniffed = sniffImage(jpeg);
      if (sniffed.kind !== 'ok') throw new Error(`${meta.file}: ${sniffed.kind}`);
      const plan = planDecode(jpeg, sniffed.header, decodeTarget(MOBILENET_PREPROCESSING));
      const decoded = await decodeUpload(jpeg, sniffed.header, plan);
      const expected = await fixtureBytes(`parity/pixels-${i}.bin`);
      expect([decoded.width, decoded.height, decoded.channels]).toEqual([
        meta.width,
        meta.height,
        meta.channels,
      ]);
      expect(
        decoded.data.every((v, j) => v === expected[j]),
        meta.file,
      ).toBe(true);
    }
  });

  it('preprocessing produces bit-identical tensors for real photos', async () => {
    const { index, tensors } = await workerdTensors();
    expect(index.images.length).toBeGreaterThanOrEqual(7);
    for (const [i, tensor] of tensors.entries()) {
      expect(
        identical(tensor, await fixtureFloats(`parity/tensor-${i}.bin`)),
        index.images[i]!.file,
      ).toBe(true);
    }
  });

  it('augmented views (crop, flip, rotation, colour jitter) are bit-identical too', async () => {
    const index = await parityIndex();
    for (const [i, meta] of index.images.entries()) {
      const pixels = await fixtureBytes(`parity/pixels-${i}.bin`);
      const view = renderView(
        { width: meta.width, height: meta.height, channels: meta.channels, data: pixels },
        meta.view,
        MOBILENET_PREPROCESSING,
      );
      expect(identical(view, await fixtureFloats(`parity/view-${i}.bin`)), meta.file).toBe(true);
    }
  });

  for (const spec of BACKBONES) {
    it(`onnxruntime-web matches onnxruntime-node within 1e-4 for ${spec.id}`, async () => {
      await seedBackbone(spec.id);
      const { index, tensors } = await workerdTensors();
      const { session, manifest } = await loadBackboneSession(env.MODELS, spec.id);
      const n = tensors.length;
      const out = await session.run({
        pixel_values: { data: stackBatch(tensors), dims: [n, 3, 224, 224] },
      });
      for (const [name, dims] of Object.entries(index.outputs[spec.id]!)) {
        expect(out[name]!.dims).toEqual(dims);
        const reference = await fixtureFloats(`parity/${spec.id}-${name}.bin`);
        const error = relativeError(out[name]!.data, reference);
        console.log(
          `${spec.id} ${name}: onnxruntime-web vs onnxruntime-node relative error ${error.toExponential(2)}`,
        );
        expect(error, name).toBeLessThan(1e-4);
      }
      expect(out.embedding!.dims).toEqual([n, manifest.embeddingDim]);
    });
  }
});
