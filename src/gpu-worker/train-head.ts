// Trains a classification head on frozen-backbone embeddings: Dropout + Linear (or a one-hidden-
// layer MLP), softmax cross-entropy with optional label smoothing and class weights, Adam,
// StepLR, best epoch by validation accuracy, optional early stopping. Plain typed arrays,
// deterministic for a given seed.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { createRng, type Rng } from '../shared/random.js';
import type { HeadWeights } from '../shared/head-onnx.js';
import { EpochKeeper, bestScoreIndex } from './epoch-keeper.js';

export interface HeadConfig {
  readonly type: 'linear' | 'mlp';
  readonly dropout: number;
  readonly hiddenUnits: number;
}

export interface TrainConfig {
  readonly head: HeadConfig;
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly weightDecay: number;
  readonly scheduler:
    | { readonly type: 'step'; readonly stepSize: number; readonly gamma: number }
    | { readonly type: 'none' };
  readonly labelSmoothing: number;
  /** Per-class loss weights (length = classes), or undefined for equal weights. */
  readonly classWeights?: Float32Array | undefined;
  readonly earlyStopping: { readonly patience: number; readonly minDelta: number } | null;
  readonly seed: number;
}

/** A set of embeddings (row-major, n × dim) with integer labels. */
export interface EmbeddingSet {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly n: number;
  readonly dim: number;
}

/** Head parameters: one layer (w1: dim × classes) or two (w1: dim × hidden, w2: hidden × classes). */
export type HeadParams = HeadWeights;

export interface EpochResult {
  readonly epoch: number;
  /** Which validation set (input mode) scored best this epoch. */
  readonly valSet: number;
  readonly lr: number;
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly valLoss: number;
  readonly valAccuracy: number;
  readonly seconds: number;
}

export interface TrainResult {
  readonly params: HeadParams;
  readonly bestEpoch: number;
  /** Index of the validation set the kept epoch was chosen on. */
  readonly bestValSet: number;
  readonly history: EpochResult[];
  readonly stoppedEarly: boolean;
}

/** Parameters initialised like torch.nn.Linear: U(−1/√fan_in, 1/√fan_in), seeded. */
export function initHead(
  type: 'linear' | 'mlp',
  dim: number,
  hidden: number,
  classes: number,
  rng: Rng,
): HeadParams {
  const uniform = (size: number, fanIn: number) => {
    const bound = 1 / Math.sqrt(fanIn);
    return Float32Array.from({ length: size }, () => (rng() * 2 - 1) * bound);
  };
  if (type === 'linear') {
    return {
      type,
      dim,
      hidden: 0,
      classes,
      w1: uniform(dim * classes, dim),
      b1: uniform(classes, dim),
      w2: new Float32Array(0),
      b2: new Float32Array(0),
    };
  }
  return {
    type,
    dim,
    hidden,
    classes,
    w1: uniform(dim * hidden, dim),
    b1: uniform(hidden, dim),
    w2: uniform(hidden * classes, hidden),
    b2: uniform(classes, hidden),
  };
}

/** out[r × cols + j] = bias[j] + Σ_k a[r × inner + k] · w[k × cols + j] (rows × inner times inner × cols). */
function matmulBias(
  a: Float32Array,
  w: Float32Array,
  bias: Float32Array,
  rows: number,
  inner: number,
  cols: number,
  out: Float32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) out[o + j] = bias[j]!;
    const ar = r * inner;
    for (let k = 0; k < inner; k++) {
      const v = a[ar + k]!;
      if (v === 0) continue;
      const wk = k * cols;
      for (let j = 0; j < cols; j++) out[o + j]! += v * w[wk + j]!;
    }
  }
}

/** Softmax cross-entropy of each row; writes dLoss/dLogits into `grad` (already weighted). */
function softmaxCrossEntropy(
  logits: Float32Array,
  labels: ArrayLike<number>,
  rows: number,
  classes: number,
  smoothing: number,
  weights: Float32Array | undefined,
  grad: Float32Array | undefined,
): { loss: number; correct: number; weightSum: number } {
  let loss = 0;
  let correct = 0;
  let weightSum = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * classes;
    let max = -Infinity;
    let argmax = 0;
    for (let j = 0; j < classes; j++) {
      const v = logits[o + j]!;
      if (v > max) [max, argmax] = [v, j];
    }
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp(logits[o + j]! - max);
    const logSum = Math.log(sum) + max;
    const label = labels[r]!;
    const w = weights ? weights[label]! : 1;
    let rowLoss = 0;
    for (let j = 0; j < classes; j++) {
      const target = (j === label ? 1 - smoothing : 0) + smoothing / classes;
      const logP = logits[o + j]! - logSum;
      rowLoss -= target * logP;
      if (grad) grad[o + j] = w * (Math.exp(logP) - target);
    }
    loss += w * rowLoss;
    weightSum += w;
    if (argmax === label) correct++;
  }
  return { loss, correct, weightSum };
}

interface Workspace {
  hidden: Float32Array;
  mask1: Float32Array;
  mask2: Float32Array;
  input: Float32Array;
  logits: Float32Array;
  dLogits: Float32Array;
  dHidden: Float32Array;
}

/** Forward pass without dropout: logits for every row of `x`. */
export function headLogits(params: HeadParams, x: Float32Array, rows: number): Float32Array {
  const logits = new Float32Array(rows * params.classes);
  if (params.type === 'linear') {
    matmulBias(x, params.w1, params.b1, rows, params.dim, params.classes, logits);
    return logits;
  }
  const hidden = new Float32Array(rows * params.hidden);
  matmulBias(x, params.w1, params.b1, rows, params.dim, params.hidden, hidden);
  for (let i = 0; i < hidden.length; i++) if (hidden[i]! < 0) hidden[i] = 0;
  matmulBias(hidden, params.w2, params.b2, rows, params.hidden, params.classes, logits);
  return logits;
}

/**
 * Loss and gradients of one mini-batch (rows of `x` at `index`), dropout masks drawn from `rng`.
 * Exposed for the finite-difference test.
 */
export function batchGradients(
  params: HeadParams,
  data: EmbeddingSet,
  index: ArrayLike<number>,
  cfg: Pick<TrainConfig, 'labelSmoothing' | 'classWeights'> & { dropout: number },
  rng: Rng | undefined,
): { loss: number; correct: number; grads: HeadParams } {
  const rows = index.length;
  const { dim, classes, hidden } = params;
  const ws: Workspace = {
    input: new Float32Array(rows * dim),
    mask1: new Float32Array(rows * dim),
    hidden: new Float32Array(rows * hidden),
    mask2: new Float32Array(rows * hidden),
    logits: new Float32Array(rows * classes),
    dLogits: new Float32Array(rows * classes),
    dHidden: new Float32Array(rows * hidden),
  };
  const keep = 1 - cfg.dropout;
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const src = index[r]! * dim;
    labels[r] = data.y[index[r]!]!;
    for (let k = 0; k < dim; k++) {
      // Inverted dropout: surviving activations are scaled by 1 / keep during training.
      const m = rng && cfg.dropout > 0 ? (rng() < keep ? 1 / keep : 0) : 1;
      ws.mask1[r * dim + k] = m;
      ws.input[r * dim + k] = data.x[src + k]! * m;
    }
  }
  const grads: HeadParams = {
    ...params,
    w1: new Float32Array(params.w1.length),
    b1: new Float32Array(params.b1.length),
    w2: new Float32Array(params.w2.length),
    b2: new Float32Array(params.b2.length),
  };
  // The layer that produces logits reads either the (dropped-out) input or the MLP's hidden layer.
  const mlp = params.type === 'mlp';
  if (mlp) {
    matmulBias(ws.input, params.w1, params.b1, rows, dim, hidden, ws.hidden);
    for (let i = 0; i < ws.hidden.length; i++) {
      const m = rng && cfg.dropout > 0 ? (rng() < keep ? 1 / keep : 0) : 1;
      ws.mask2[i] = ws.hidden[i]! > 0 ? m : 0;
      ws.hidden[i] = ws.hidden[i]! > 0 ? ws.hidden[i]! * m : 0;
    }
  }
  const features = mlp ? ws.hidden : ws.input;
  const featureDim = mlp ? hidden : dim;
  const [w, b, gw, gb] = mlp
    ? [params.w2, params.b2, grads.w2, grads.b2]
    : [params.w1, params.b1, grads.w1, grads.b1];
  matmulBias(features, w, b, rows, featureDim, classes, ws.logits);
  const stats = softmaxCrossEntropy(
    ws.logits,
    labels,
    rows,
    classes,
    cfg.labelSmoothing,
    cfg.classWeights,
    ws.dLogits,
  );
  const scale = 1 / stats.weightSum;
  accumulateLayerGrads(features, ws.dLogits, rows, featureDim, classes, scale, gw, gb);
  if (mlp) {
    // Back through the second layer, ReLU and dropout.
    for (let r = 0; r < rows; r++) {
      for (let h = 0; h < hidden; h++) {
        let g = 0;
        for (let j = 0; j < classes; j++)
          g += ws.dLogits[r * classes + j]! * params.w2[h * classes + j]!;
        ws.dHidden[r * hidden + h] = g * ws.mask2[r * hidden + h]!;
      }
    }
    accumulateLayerGrads(ws.input, ws.dHidden, rows, dim, hidden, scale, grads.w1, grads.b1);
  }
  return { loss: stats.loss / stats.weightSum, correct: stats.correct, grads };
}

function accumulateLayerGrads(
  input: Float32Array,
  dOut: Float32Array,
  rows: number,
  inner: number,
  cols: number,
  scale: number,
  gw: Float32Array,
  gb: Float32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) gb[j]! += dOut[o + j]! * scale;
    const ir = r * inner;
    for (let k = 0; k < inner; k++) {
      const v = input[ir + k]! * scale;
      if (v === 0) continue;
      const wk = k * cols;
      for (let j = 0; j < cols; j++) gw[wk + j]! += v * dOut[o + j]!;
    }
  }
}

/** Adam (as torch.optim.Adam, with L2 weight decay added to the gradient). */
class Adam {
  private step = 0;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  constructor(
    private readonly params: Float32Array[],
    private readonly weightDecay: number,
  ) {
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }
  update(grads: Float32Array[], lr: number): void {
    this.step++;
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** this.step;
    const c2 = 1 - b2 ** this.step;
    this.params.forEach((p, t) => {
      const g = grads[t]!;
      const m = this.m[t]!;
      const v = this.v[t]!;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! + this.weightDecay * p[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * gi;
        v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
        p[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8);
      }
    });
  }
}

/** Loss and accuracy of `params` on a whole set (no dropout). */
export function evaluateHead(
  params: HeadParams,
  data: EmbeddingSet,
  smoothing = 0,
): { loss: number; accuracy: number; logits: Float32Array } {
  const logits = headLogits(params, data.x, data.n);
  const stats = softmaxCrossEntropy(
    logits,
    data.y,
    data.n,
    params.classes,
    smoothing,
    undefined,
    undefined,
  );
  return { loss: stats.loss / data.n, accuracy: stats.correct / data.n, logits };
}

const cloneParams = (p: HeadParams): HeadParams => ({
  ...p,
  w1: p.w1.slice(),
  b1: p.b1.slice(),
  w2: p.w2.slice(),
  b2: p.b2.slice(),
});

/**
 * Trains a head and returns the parameters of its best epoch by validation accuracy (ties go to
 * the lower validation loss). With several validation sets (the same images under different
 * input modes), the best (epoch, set) pair wins. `onEpoch` runs after every epoch — the caller
 * reports progress there; the loop also yields to the event loop every ~20 ms so timers (the
 * lease heartbeat) keep running during long epochs.
 *
 * @example
 * const { params, history } = await trainHead(train, [val], classes, config, async (e) => report(e));
 */
export async function trainHead(
  train: EmbeddingSet,
  vals: readonly EmbeddingSet[],
  classes: number,
  cfg: TrainConfig,
  onEpoch: (result: EpochResult) => Promise<void> | void = () => undefined,
): Promise<TrainResult> {
  const rng = createRng(cfg.seed);
  const params = initHead(cfg.head.type, train.dim, cfg.head.hiddenUnits, classes, rng);
  const tensors = [params.w1, params.b1, params.w2, params.b2];
  const adam = new Adam(tensors, cfg.weightDecay);
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  const history: EpochResult[] = [];
  const keeper = new EpochKeeper(cloneParams(params), cfg.earlyStopping);
  let lastYield = performance.now();
  for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
    const started = performance.now();
    const lr =
      cfg.scheduler.type === 'step'
        ? cfg.lr * cfg.scheduler.gamma ** Math.floor((epoch - 1) / cfg.scheduler.stepSize)
        : cfg.lr;
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < order.length; start += cfg.batchSize) {
      const index = order.subarray(start, Math.min(order.length, start + cfg.batchSize));
      const batch = batchGradients(
        params,
        train,
        index,
        {
          dropout: cfg.head.dropout,
          labelSmoothing: cfg.labelSmoothing,
          classWeights: cfg.classWeights,
        },
        rng,
      );
      adam.update([batch.grads.w1, batch.grads.b1, batch.grads.w2, batch.grads.b2], lr);
      lossSum += batch.loss * index.length;
      correct += batch.correct;
      if (performance.now() - lastYield > 20) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
    }
    const evaluations = vals.map((val) => evaluateHead(params, val));
    const set = bestScoreIndex(evaluations);
    const evaluation = evaluations[set]!;
    const result: EpochResult = {
      epoch,
      valSet: set,
      lr,
      trainLoss: lossSum / train.n,
      trainAccuracy: correct / train.n,
      valLoss: evaluation.loss,
      valAccuracy: evaluation.accuracy,
      seconds: (performance.now() - started) / 1000,
    };
    history.push(result);
    const stop = keeper.record(epoch, set, evaluation, () => cloneParams(params));
    await onEpoch(result);
    if (stop) break;
  }
  return {
    params: keeper.best.value,
    bestEpoch: keeper.best.epoch,
    bestValSet: keeper.best.set,
    history,
    stoppedEarly: keeper.stoppedEarly,
  };
}
