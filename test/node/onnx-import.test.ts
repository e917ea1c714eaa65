// ONNX import: the shared float and int8 MobileNetV2 files as users bring them, and every way a
// bad file or card is refused (with the field it concerns), checked on small hand-built graphs.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createWorkerSession } from '../../src/gpu-worker/embed.js';
import { parseBackboneCard, type BackboneCardInput } from '../../src/shared/backbone-card.js';
import { topK } from '../../src/shared/head-math.js';
import type { RgbImage } from '../../src/shared/image.js';
import { TORCHVISION_PREPROCESSING } from '../../src/shared/manifest.js';
import { preprocess, stackBatch } from '../../src/shared/preprocess.js';
import { cutBlocks, planStrategy } from '../../src/shared/strategies.js';
import { trialPhotos } from '../../scripts/models/import.js';
import {
  BackboneImportError,
  importOnnxBackbone,
  MAX_BACKBONE_BYTES,
} from '../../src/shared/onnx-import.js';
import { DATASETS_DIR, MODELS_SOURCE } from '../support/paths.js';
import { nodeTrialRuntime as runtime } from '../../scripts/models/trial-runtime.js';
import { decodePhoto, photosOf } from '../support/photos.js';
import { oddNode, tinyModel } from '../support/tiny-backbone.js';

const MNV2 = path.join(MODELS_SOURCE, 'mobilenet_v2_1.0_224_torchvision');

let photos: RgbImage[];
let imagenet: string[];

beforeAll(async () => {
  photos = await trialPhotos(path.join(DATASETS_DIR, 'hymenoptera_data', 'val', 'bees'));
  imagenet = JSON.parse(
    await readFile(path.join(MODELS_SOURCE, 'imagenet_classes.json'), 'utf8'),
  ) as string[];
});

const card = (extra: Partial<BackboneCardInput> = {}) =>
  parseBackboneCard({
    id: 'my-model',
    displayName: 'My model',
    licence: 'Apache-2.0',
    origin: 'https://example.org/model.onnx',
    preprocessing: TORCHVISION_PREPROCESSING,
    ...extra,
  });

describe('importing the shared MobileNetV2 files', () => {
  it('imports the float file: embedding, softmax over its logits, Keras-named blocks with cuts', async () => {
    const bytes = new Uint8Array(await readFile(path.join(MNV2, 'model.onnx')));
    const { onnx: model, manifest } = await importOnnxBackbone({
      bytes,
      card: card({ outputs: { logits: 'logits', labels: 'imagenet' } }),
      labels: imagenet,
      photos,
      runtime,
    });
    expect(manifest.source.format).toBe('onnx');
    expect(manifest.onnx.quantized).toBe(false);
    expect(manifest.embeddingDim).toBe(1280);
    expect(manifest.parameters).toBe(3_487_816);
    expect(manifest.onnx.outputs.probabilities).toEqual({
      name: 'probabilities',
      shape: ['batch', 1000],
    });
    expect(manifest.id2label!['309']).toBe('bee');
    const names = manifest.blocks!.map((b) => b.name);
    expect(names.slice(0, 3)).toEqual(['stem', 'block_0', 'block_1']);
    expect(names.at(-2)).toBe('top_conv');
    expect(manifest.blocks![0]!.input).toBe('pixel_values');
    expect(cutBlocks(manifest.blocks)).toHaveLength(19);
    // fine_tune plans on it like on the TF.js backbones: from the last inverted-residual block.
    const planned = planStrategy(
      { strategy: 'fine_tune', trainableFrom: null, unfreeze: [], epochs: 5, batchSize: 32 },
      cutBlocks(manifest.blocks),
    );
    expect('plan' in planned && planned.plan?.cut.name).toBe('block_16');

    // The rewritten file computes what the original does, and its probabilities sum to one.
    const batch = stackBatch(photos.map((p) => preprocess(p, TORCHVISION_PREPROCESSING)));
    const feeds = { pixel_values: { data: batch, dims: [2, 3, 224, 224] } };
    const original = await createWorkerSession(bytes, { provider: 'cpu', threads: 1 });
    const imported = await createWorkerSession(model, { provider: 'cpu', threads: 1 });
    const a = await original.run(feeds, ['embedding']);
    const b = await imported.run(feeds, ['embedding', 'probabilities']);
    await Promise.all([original.release(), imported.release()]);
    const maxDiff = a.embedding!.data.reduce(
      (m, v, i) => Math.max(m, Math.abs(v - b.embedding!.data[i]!)),
      0,
    );
    expect(maxDiff).toBeLessThan(1e-5);
    const sum = b.probabilities!.data.slice(0, 1000).reduce((s, v) => s + v, 0);
    expect(sum).toBeCloseTo(1, 4);
  });

  it('imports the int8 original for feature extraction: dequantized embedding, no blocks to train', async () => {
    const bytes = new Uint8Array(
      await readFile(path.join(MNV2, 'source/mobilenetv2-12-int8.onnx')),
    );
    const { onnx: model, manifest } = await importOnnxBackbone({
      bytes,
      card: card({ id: 'mnv2-int8', outputs: { logits: 'output', labels: 'imagenet' } }),
      labels: imagenet,
      photos,
      runtime,
    });
    expect(manifest.onnx.quantized).toBe(true);
    expect(manifest.onnx.input.name).toBe('input');
    expect(manifest.embeddingDim).toBe(1280);
    expect(manifest.blocks).toBeUndefined();

    // It classifies: the validation bees come out as bees.
    const session = await createWorkerSession(model, { provider: 'cpu', threads: 1 });
    const files = (await photosOf('hymenoptera_data/val/bees')).slice(0, 12);
    let bees = 0;
    for (const file of files) {
      const tensor = preprocess(await decodePhoto(file), manifest.preprocessing);
      const out = await session.run({ input: { data: tensor, dims: [1, 3, 224, 224] } }, [
        'embedding',
        'probabilities',
      ]);
      expect(out.embedding!.data.every(Number.isFinite)).toBe(true);
      if (topK(out.probabilities!.data, 5).some((p) => p.index === 309)) bees++;
    }
    await session.release();
    expect(bees).toBeGreaterThanOrEqual(10);
  });
});

/** A small float backbone with generic node names: Conv → Relu → Conv → Relu → pool → Gemm. */
const tinyCard = (extra: Partial<BackboneCardInput> = {}) =>
  card({
    preprocessing: {
      ...TORCHVISION_PREPROCESSING,
      resize: { mode: 'shortest-edge', shortestEdge: 36 },
      crop: { width: 32, height: 32 },
    },
    ...extra,
  });
const labels5 = ['a', 'b', 'c', 'd', 'e'];

describe('importing a small generic backbone', () => {
  it('finds the embedding before the classifier, makes a fixed batch of 1 dynamic, and cuts blocks by the graph', async () => {
    const { manifest, onnx: model } = await importOnnxBackbone({
      bytes: tinyModel({ inputDims: [1, 3, 32, 32] }),
      card: tinyCard({ outputs: { logits: 'scores', labels: labels5 } }),
      labels: labels5,
      photos,
      runtime,
    });
    expect(manifest.embeddingDim).toBe(8);
    expect(manifest.onnx.outputs.embedding.name).toBe('embedding');
    expect(manifest.id2label).toEqual({ 0: 'a', 1: 'b', 2: 'c', 3: 'd', 4: 'e' });
    // Generic names: a block starts at each layer with weights whose input is a clean cut.
    expect(manifest.blocks!.map((b) => [b.name, b.input, b.parameters])).toEqual([
      ['stem', 'image', 112],
      ['block_1', 'r1', 32],
    ]);
    const session = await createWorkerSession(model, { provider: 'cpu', threads: 1 });
    const out = await session.run(
      { image: { data: new Float32Array(3 * 3 * 32 * 32).fill(0.5), dims: [3, 3, 32, 32] } },
      ['embedding'],
    );
    await session.release();
    expect(out.embedding!.dims).toEqual([3, 8]);
  });

  const refused: [
    string,
    () => Promise<unknown>,
    { field: string; code: string; message: RegExp },
  ][] = [
    [
      'a file that is not ONNX',
      () =>
        importOnnxBackbone({
          bytes: new TextEncoder().encode('<html>not a model</html>'),
          card: tinyCard(),
          photos,
          runtime,
        }),
      { field: 'model', code: 'invalid_model', message: /not an ONNX model/ },
    ],
    [
      'a truncated file',
      () =>
        importOnnxBackbone({ bytes: tinyModel().slice(0, 300), card: tinyCard(), photos, runtime }),
      { field: 'model', code: 'invalid_model', message: /not an ONNX model/ },
    ],
    [
      'a file over 32 MB',
      () =>
        importOnnxBackbone({
          bytes: new Uint8Array(MAX_BACKBONE_BYTES + 1),
          card: tinyCard(),
          photos,
          runtime,
        }),
      { field: 'model', code: 'model_too_large', message: /over the 33554432-byte limit/ },
    ],
    [
      'weights in an external file',
      () =>
        importOnnxBackbone({
          bytes: tinyModel({ externalData: true }),
          card: tinyCard(),
          photos,
          runtime,
        }),
      {
        field: 'model',
        code: 'external_data',
        message: /tensor "w1" keeps its data in an external file/,
      },
    ],
    [
      'an operator from another domain',
      () =>
        importOnnxBackbone({
          bytes: tinyModel({ extraNode: oddNode('Frobnicate', 'com.example') }),
          card: tinyCard(),
          photos,
          runtime,
        }),
      {
        field: 'model',
        code: 'unsupported_operator',
        message: /node "odd" uses operator com\.example\.Frobnicate/,
      },
    ],
    [
      'an operator onnxruntime-web does not have',
      () =>
        importOnnxBackbone({
          bytes: tinyModel({ extraNode: oddNode('NoSuchOp') }),
          card: tinyCard(),
          photos,
          runtime,
        }),
      {
        field: 'model',
        code: 'unsupported_operator',
        message: /onnxruntime-web cannot load it: No Op registered for NoSuchOp .*\(node "odd"\)$/,
      },
    ],
    [
      'a card naming an input the graph lacks',
      () =>
        importOnnxBackbone({
          bytes: tinyModel(),
          card: tinyCard({ input: 'pixels' }),
          photos,
          runtime,
        }),
      {
        field: 'card.input',
        code: 'invalid_card',
        message: /no input "pixels"; its inputs are "image"/,
      },
    ],
    [
      'an input that is not an image tensor',
      () =>
        importOnnxBackbone({
          bytes: tinyModel({ inputDims: ['N', 3072] }),
          card: tinyCard(),
          photos,
          runtime,
        }),
      {
        field: 'card.input',
        code: 'invalid_model',
        message: /an NCHW image is \[batch, 3, height, width\]/,
      },
    ],
    [
      'a card whose crop disagrees with the graph',
      () =>
        importOnnxBackbone({
          bytes: tinyModel({ inputDims: ['N', 3, 48, 48] }),
          card: tinyCard(),
          photos,
          runtime,
        }),
      {
        field: 'card.input',
        code: 'invalid_card',
        message: /card's crop makes \[batch, 3, 32, 32\]/,
      },
    ],
    [
      'a fixed batch larger than one',
      () =>
        importOnnxBackbone({
          bytes: tinyModel({ inputDims: [8, 3, 32, 32] }),
          card: tinyCard(),
          photos,
          runtime,
        }),
      { field: 'card.input', code: 'invalid_model', message: /fixed batch of 8/ },
    ],
    [
      'a misnamed embedding output',
      () =>
        importOnnxBackbone({
          bytes: tinyModel(),
          card: tinyCard({ outputs: { embedding: 'features' } }),
          photos,
          runtime,
        }),
      { field: 'card.outputs.embedding', code: 'invalid_card', message: /no tensor "features"/ },
    ],
    [
      'a misnamed logits output',
      () =>
        importOnnxBackbone({
          bytes: tinyModel(),
          card: tinyCard({ outputs: { logits: 'output', labels: labels5 } }),
          labels: labels5,
          photos,
          runtime,
        }),
      { field: 'card.outputs.logits', code: 'invalid_card', message: /no tensor "output"/ },
    ],
    [
      'labels that do not match the logits',
      () =>
        importOnnxBackbone({
          bytes: tinyModel(),
          card: tinyCard({ outputs: { logits: 'scores', labels: ['x', 'y'] } }),
          labels: ['x', 'y'],
          photos,
          runtime,
        }),
      {
        field: 'card.outputs.logits',
        code: 'trial_run_failed',
        message: /"scores" came out as \[2, 5\], not \[2, 2\]/,
      },
    ],
    [
      'a model that gives NaN on real photos',
      () =>
        importOnnxBackbone({
          bytes: tinyModel({ weight: Number.NaN }),
          card: tinyCard(),
          photos,
          runtime,
        }),
      {
        field: 'card.outputs.embedding',
        code: 'trial_run_failed',
        message: /NaN or infinite values/,
      },
    ],
  ];
  it.each(refused)('refuses %s, naming the field', async (_, run, want) => {
    const err = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackboneImportError);
    const e = err as BackboneImportError;
    expect({ field: e.field, code: e.code }, e.message).toEqual({
      field: want.field,
      code: want.code,
    });
    expect(e.message, e.message).toMatch(want.message);
    expect(e.message.split('\n')).toHaveLength(1);
  });

  it('refuses a bad card before touching the model, naming the card field', () => {
    expect(() => card({ id: 'My Model!' })).toThrow(/^card\.id: lowercase letters/);
    expect(() => card({ outputs: { logits: 'scores' } })).toThrow(
      /^card\.outputs\.labels: logits and labels go together/,
    );
    expect(() =>
      card({ preprocessing: { ...TORCHVISION_PREPROCESSING, crop: { width: 300, height: 300 } } }),
    ).toThrow(/^card\.preprocessing\.crop: the crop must fit inside the resized image/);
    const extra: unknown = { ...card(), colour: 'blue' };
    expect(() => parseBackboneCard(extra)).toThrow(/^card\.colour: /);
  });
});
