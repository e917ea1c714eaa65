// Fine-tuning a backbone tail on real activations: the cut-out tail reproduces the backbone,
// training lowers the loss and is deterministic, gradual unfreezing leaves blocks alone until
// their epoch, and BatchNorm with batch statistics trains and folds back into the convolutions.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { createWorkerSession } from '../../src/gpu-worker/embed.js';
import { readOnnxModel, type OnnxModel } from '../../src/gpu-worker/finetune/onnx-model.js';
import {
  buildTailGraph,
  extractTail,
  type Tail,
} from '../../src/gpu-worker/finetune/tail-graph.js';
import {
  trainTail,
  type ActivationSet,
  type TailTrainConfig,
} from '../../src/gpu-worker/finetune/train-tail.js';
import { blockInputs } from '../../src/shared/backbone-graph.js';
import { parseBackboneManifest, type BackboneManifest } from '../../src/shared/manifest.js';
import { withGraphOutputs } from '../../src/shared/onnx-outputs.js';
import { preprocess } from '../../src/shared/preprocess.js';
import { decodePhoto, photosOf } from '../support/photos.js';
import { TEST_MODELS } from '../support/paths.js';

const ID = 'mobilenet-v2-0.35';
const CUT = 'block_15_add';
let manifest: BackboneManifest;
let model: OnnxModel;
let tail: Tail;
let train: ActivationSet;
let val: ActivationSet;
let embeddings: Float32Array;

async function activations(files: string[][]) {
  const bytes = new Uint8Array(await readFile(`${TEST_MODELS}/${ID}/model.onnx`));
  const session = await createWorkerSession(withGraphOutputs(bytes, [CUT]), {
    provider: 'cpu',
    threads: 2,
  });
  const { width, height } = manifest.preprocessing.crop;
  const all = files.flatMap((f, label) => f.map((file) => ({ file, label })));
  const input = new Float32Array(all.length * 3 * width * height);
  for (const [i, { file }] of all.entries())
    input.set(preprocess(await decodePhoto(file), manifest.preprocessing), i * 3 * width * height);
  const out = await session.run(
    { pixel_values: { data: input, dims: [all.length, 3, height, width] } },
    [CUT, 'embedding'],
  );
  await session.release();
  const cut = out[CUT]!;
  return {
    set: {
      x: cut.data,
      y: Int32Array.from(all.map((a) => a.label)),
      n: all.length,
      size: cut.data.length / all.length,
    },
    shape: cut.dims.slice(1),
    embeddings: out.embedding!.data,
  };
}

beforeAll(async () => {
  manifest = parseBackboneManifest(
    JSON.parse(await readFile(`${TEST_MODELS}/${ID}/manifest.json`, 'utf8')),
  );
  model = readOnnxModel(new Uint8Array(await readFile(`${TEST_MODELS}/${ID}/model.onnx`)));
  const t = await activations([
    await photosOf('hymenoptera_data/train/ants', 12),
    await photosOf('hymenoptera_data/train/bees', 12),
  ]);
  const v = await activations([
    await photosOf('hymenoptera_data/val/ants', 8),
    await photosOf('hymenoptera_data/val/bees', 8),
  ]);
  train = t.set;
  val = v.set;
  embeddings = v.embeddings;
  expect(t.shape).toEqual([56, 7, 7]);
  tail = extractTail(model, CUT, t.shape, 'embedding');
});

const config = (over: Partial<TailTrainConfig> = {}): TailTrainConfig => ({
  head: { type: 'linear', dropout: 0.2, hiddenUnits: 0 },
  classes: 2,
  embeddingDim: 1280,
  epochs: 3,
  batchSize: 8,
  lrOf: (p) => (p === 'w1' || p === 'b1' ? 1e-3 : 1e-4),
  weightDecay: 0,
  scheduler: { type: 'none' },
  labelSmoothing: 0,
  earlyStopping: null,
  seed: 3,
  batchNorm: 'frozen',
  phases: [
    {
      epoch: 1,
      trainable: new Set([
        'block_16_expand/kernel',
        'block_16_project/kernel',
        'Conv_1/kernel',
        'Conv_1/folded_bias',
      ]),
    },
  ],
  provider: 'cpu',
  threads: 2,
  ...over,
});

describe('backbone tails', () => {
  it('lists every MobileNetV2 block input as a cut and refuses a tensor inside a residual block', () => {
    const constants = new Set(model.initializers.keys());
    const cuts = blockInputs(model.nodes, manifest.blocks!, constants, model.input, 'embedding');
    expect(cuts.get('block_16')).toBe(CUT);
    expect(cuts.get('stem')).toBe('pixel_values');
    expect(manifest.blocks!.find((b) => b.name === 'block_16')!.input).toBe(CUT);
    // Inside block_15 the residual branch still needs block_14_add: not a cut.
    expect(() => extractTail(model, 'block_15_expand_relu', [336, 7, 7], 'embedding')).toThrow(
      /not a cut/,
    );
  });

  it('reproduces the backbone: tail with pretrained weights + identity classifier = embedding', async () => {
    const identity = new Float32Array(1280 * 1280);
    for (let i = 0; i < 1280; i++) identity[i * 1280 + i] = 1;
    const weights = new Map([
      ['w1', identity],
      ['b1', new Float32Array(1280)],
    ]);
    const { bytes } = buildTailGraph(
      tail,
      { type: 'linear', dim: 1280, hidden: 0, classes: 1280 },
      {
        kind: 'export',
        weights,
        producerVersion: 'test',
      },
    );
    const session = await createWorkerSession(bytes, { provider: 'cpu', threads: 2 });
    const out = await session.run({ [CUT]: { data: val.x, dims: [val.n, 56, 7, 7] } }, ['logits']);
    await session.release();
    let worst = 0;
    out.logits!.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - embeddings[i]!))));
    expect(worst).toBeLessThan(1e-4);
  });

  it('lowers the loss, keeps the best epoch, and gives the same weights for the same seed', async () => {
    const a = await trainTail(tail, train, [val], config(), () => Promise.resolve());
    const b = await trainTail(tail, train, [val], config(), () => Promise.resolve());
    expect(a.history).toHaveLength(3);
    expect(a.history.at(-1)!.trainLoss).toBeLessThan(a.history[0]!.trainLoss);
    expect(a.history[a.bestEpoch - 1]!.valAccuracy).toBe(
      Math.max(...a.history.map((h) => h.valAccuracy)),
    );
    expect(a.history[a.bestEpoch - 1]!.valAccuracy).toBeGreaterThanOrEqual(0.75);
    expect([...a.weights.get('Conv_1/kernel')!.slice(0, 50)]).toEqual([
      ...b.weights.get('Conv_1/kernel')!.slice(0, 50),
    ]);
    expect(a.trainedBackboneParameters).toBe(336 * 56 + 112 * 336 + 1280 * 112 + 1280);
    // Frozen parameters stay at their pretrained values; trained ones move.
    const pretrained = (name: string) => tail.constants.get(name)!.data;
    expect([...a.weights.get('block_16_depthwise/kernel')!]).toEqual([
      ...pretrained('block_16_depthwise/kernel'),
    ]);
    expect(
      a.weights.get('Conv_1/kernel')!.some((v, i) => v !== pretrained('Conv_1/kernel')[i]),
    ).toBe(true);
  });

  it('trains only the head until an unfreeze epoch, then the unfrozen blocks too', async () => {
    const block16 = new Set([
      'block_16_expand/kernel',
      'block_16_expand/folded_bias',
      'block_16_depthwise/kernel',
    ]);
    const phaseWeights: Float32Array[] = [];
    const cfg = config({
      epochs: 2,
      // Keep the first epoch's weights as the result so they can be inspected.
      phases: [
        { epoch: 1, trainable: new Set() },
        { epoch: 2, trainable: block16 },
      ],
    });
    const first = await trainTail(tail, train, [val], { ...cfg, epochs: 1 }, () =>
      Promise.resolve(),
    );
    phaseWeights.push(first.weights.get('block_16_expand/kernel')!);
    expect([...phaseWeights[0]!]).toEqual([...tail.constants.get('block_16_expand/kernel')!.data]);
    expect(first.trainedBackboneParameters).toBe(0);
    const both = await trainTail(tail, train, [val], cfg, () => Promise.resolve());
    expect(both.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(both.trainedBackboneParameters).toBe(336 * 56 + 336 + 336 * 9);
  });

  it('trains BatchNorm statistics when asked, folding them back into the exported convolutions', async () => {
    const frozen = await trainTail(tail, train, [val], config({ epochs: 2 }), () =>
      Promise.resolve(),
    );
    const bn = await trainTail(tail, train, [val], config({ epochs: 2, batchNorm: 'train' }), () =>
      Promise.resolve(),
    );
    expect(bn.history.at(-1)!.trainLoss).toBeLessThan(bn.history[0]!.trainLoss * 1.5);
    expect([...bn.weights.keys()].some((k) => k.startsWith('bn/'))).toBe(false);
    // With batch statistics the biases of trainable convolutions absorb the moving mean.
    const bias = 'Conv_1/folded_bias';
    expect(
      bn.weights.get(bias)!.some((v, i) => Math.abs(v - frozen.weights.get(bias)![i]!) > 1e-4),
    ).toBe(true);
    expect(bn.history[bn.bestEpoch - 1]!.valAccuracy).toBeGreaterThanOrEqual(0.6);
  });
});
