// Head training maths: gradients against finite differences, learning, determinism.
import { describe, expect, it } from 'vitest';
import {
  batchGradients,
  evaluateHead,
  initHead,
  trainHead,
  type EmbeddingSet,
  type HeadParams,
  type TrainConfig,
} from '../../src/gpu-worker/train-head.js';
import { createRng } from '../../src/shared/random.js';

/** Gaussian-ish blobs around class centres fixed by (dim, classes); `seed` draws the points. */
function blobs(n: number, dim: number, classes: number, seed: number, spread = 1): EmbeddingSet {
  const centreRng = createRng(dim * 1000 + classes);
  const centres = Array.from({ length: classes }, () =>
    Float32Array.from({ length: dim }, () => centreRng() * 4 - 2),
  );
  const rng = createRng(seed);
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % classes;
    for (let k = 0; k < dim; k++) x[i * dim + k] = centres[y[i]!]![k]! + (rng() * 2 - 1) * spread;
  }
  return { x, y, n, dim };
}

const config = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  head: { type: 'linear', dropout: 0.5, hiddenUnits: 16 },
  epochs: 20,
  batchSize: 16,
  lr: 1e-2,
  weightDecay: 0,
  scheduler: { type: 'step', stepSize: 7, gamma: 0.1 },
  labelSmoothing: 0,
  earlyStopping: null,
  seed: 3,
  ...over,
});

function checkGradients(
  params: HeadParams,
  data: EmbeddingSet,
  smoothing: number,
  weights?: Float32Array,
) {
  const index = Int32Array.from({ length: data.n }, (_, i) => i);
  const cfg = { dropout: 0, labelSmoothing: smoothing, classWeights: weights };
  const { grads } = batchGradients(params, data, index, cfg, undefined);
  const eps = 1e-3;
  let worst = 0;
  for (const name of ['w1', 'b1', 'w2', 'b2'] as const) {
    const tensor = params[name];
    for (let i = 0; i < tensor.length; i++) {
      const saved = tensor[i]!;
      tensor[i] = saved + eps;
      const up = batchGradients(params, data, index, cfg, undefined).loss;
      tensor[i] = saved - eps;
      const down = batchGradients(params, data, index, cfg, undefined).loss;
      tensor[i] = saved;
      const numeric = (up - down) / (2 * eps);
      worst = Math.max(
        worst,
        Math.abs(numeric - grads[name][i]!) / Math.max(1e-3, Math.abs(numeric)),
      );
    }
  }
  return worst;
}

describe('head gradients', () => {
  it('match central finite differences for the linear head (with label smoothing and class weights)', () => {
    const data = blobs(7, 5, 3, 1);
    const params = initHead('linear', 5, 0, 3, createRng(2));
    expect(checkGradients(params, data, 0)).toBeLessThan(2e-2);
    expect(checkGradients(params, data, 0.1, new Float32Array([1, 2, 0.5]))).toBeLessThan(2e-2);
  });

  it('match central finite differences for the MLP head', () => {
    const data = blobs(6, 4, 3, 5);
    const params = initHead('mlp', 4, 6, 3, createRng(7));
    expect(checkGradients(params, data, 0.05)).toBeLessThan(2e-2);
  });
});

describe('trainHead', () => {
  it('lowers the loss and separates separable classes, keeping the best epoch', async () => {
    const train = blobs(200, 16, 4, 11);
    const val = blobs(80, 16, 4, 12);
    const before = evaluateHead(initHead('linear', 16, 0, 4, createRng(3)), val);
    const result = await trainHead(train, [val], 4, config());
    const after = evaluateHead(result.params, val);
    expect(result.history).toHaveLength(20);
    expect(result.history.at(-1)!.trainLoss).toBeLessThan(result.history[0]!.trainLoss);
    expect(after.loss).toBeLessThan(before.loss);
    expect(after.accuracy).toBeGreaterThan(0.95);
    expect(after.accuracy).toBe(Math.max(...result.history.map((h) => h.valAccuracy)));
    expect(result.history[7]!.lr).toBeCloseTo(1e-3, 10);
  });

  it('trains an MLP head too', async () => {
    const result = await trainHead(
      blobs(120, 8, 3, 21),
      [blobs(60, 8, 3, 22)],
      3,
      config({ head: { type: 'mlp', dropout: 0.2, hiddenUnits: 16 } }),
    );
    expect(evaluateHead(result.params, blobs(60, 8, 3, 22)).accuracy).toBeGreaterThan(0.9);
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const train = blobs(64, 8, 2, 31, 3);
    const val = blobs(32, 8, 2, 32, 3);
    const a = await trainHead(train, [val], 2, config({ epochs: 3 }));
    const b = await trainHead(train, [val], 2, config({ epochs: 3 }));
    const c = await trainHead(train, [val], 2, config({ epochs: 3, seed: 4 }));
    expect(Array.from(a.params.w1)).toEqual(Array.from(b.params.w1));
    expect(Array.from(a.params.w1)).not.toEqual(Array.from(c.params.w1));
  });

  it('picks the validation set (input mode) on which the head scores best', async () => {
    const train = blobs(200, 16, 4, 11);
    const good = blobs(80, 16, 4, 12);
    const noisy = blobs(80, 16, 4, 13, 6);
    const result = await trainHead(train, [noisy, good], 4, config());
    expect(result.bestValSet).toBe(1);
    expect(result.history.every((h) => h.valSet === 1)).toBe(true);
  });

  it('stops early when validation accuracy stops improving', async () => {
    const data = blobs(60, 4, 2, 41, 0.1);
    const result = await trainHead(
      data,
      [data],
      2,
      config({ epochs: 50, earlyStopping: { patience: 3, minDelta: 0 } }),
    );
    expect(result.stoppedEarly).toBe(true);
    expect(result.history.length).toBeLessThan(50);
  });
});
