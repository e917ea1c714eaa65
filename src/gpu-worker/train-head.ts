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

/**
 * Buffers for one mini-batch, reused across batches. The dropped-out input is kept sparse: for
 * each row, the indices and values of the features that survived dropout and are non-zero, in
 * ascending order. Skipping the zeros is what the dense loops did too (a zero adds nothing), so
 * the sums are the same, term for term, without the unpredictable branches of a dense pass.
 */
export interface BatchWorkspace {
  readonly rows: number;
  readonly keptIndex: Int32Array;
  readonly keptValue: Float32Array;
  readonly keptCount: Int32Array;
  readonly hidden: Float32Array;
  readonly mask2: Float32Array;
  readonly logits: Float32Array;
  readonly dLogits: Float32Array;
  readonly dHidden: Float32Array;
  readonly labels: Int32Array;
  readonly grads: HeadParams;
}

/** Allocates the buffers for batches of up to `rows` rows. */
export function batchWorkspace(params: HeadParams, rows: number): BatchWorkspace {
  const { dim, classes, hidden } = params;
  return {
    rows,
    keptIndex: new Int32Array(rows * dim),
    keptValue: new Float32Array(rows * dim),
    keptCount: new Int32Array(rows),
    hidden: new Float32Array(rows * hidden),
    mask2: new Float32Array(rows * hidden),
    logits: new Float32Array(rows * classes),
    dLogits: new Float32Array(rows * classes),
    dHidden: new Float32Array(rows * hidden),
    labels: new Int32Array(rows),
    grads: {
      ...params,
      w1: new Float32Array(params.w1.length),
      b1: new Float32Array(params.b1.length),
      w2: new Float32Array(params.w2.length),
      b2: new Float32Array(params.b2.length),
    },
  };
}

/** out[r × cols + j] = bias[j] + Σ over the kept (k, v) of row r of v · w[k × cols + j]. */
function sparseMatmulBias(
  ws: BatchWorkspace,
  dim: number,
  w: Float32Array,
  bias: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array,
): void {
  const { keptIndex, keptValue, keptCount } = ws;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) out[o + j] = bias[j]!;
    const end = r * dim + keptCount[r]!;
    for (let p = r * dim; p < end; p++) {
      const v = keptValue[p]!;
      const wk = keptIndex[p]! * cols;
      for (let j = 0; j < cols; j++) out[o + j]! += v * w[wk + j]!;
    }
  }
}

/** gw += (kept input)ᵀ · dOut · scale, gb += Σ_rows dOut · scale, over the kept features only. */
function sparseLayerGrads(
  ws: BatchWorkspace,
  dim: number,
  dOut: Float32Array,
  rows: number,
  cols: number,
  scale: number,
  gw: Float32Array,
  gb: Float32Array,
): void {
  const { keptIndex, keptValue, keptCount } = ws;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) gb[j]! += dOut[o + j]! * scale;
    const end = r * dim + keptCount[r]!;
    for (let p = r * dim; p < end; p++) {
      const v = keptValue[p]! * scale;
      const wk = keptIndex[p]! * cols;
      for (let j = 0; j < cols; j++) gw[wk + j]! += v * dOut[o + j]!;
    }
  }
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
 * The gradients live in `ws.grads` (pass a workspace to reuse buffers across batches). Exposed
 * for the finite-difference test.
 */
export function batchGradients(
  params: HeadParams,
  data: EmbeddingSet,
  index: ArrayLike<number>,
  cfg: Pick<TrainConfig, 'labelSmoothing' | 'classWeights'> & { dropout: number },
  rng: Rng | undefined,
  ws: BatchWorkspace = batchWorkspace(params, index.length),
): { loss: number; correct: number; grads: HeadParams } {
  const rows = index.length;
  if (rows > ws.rows) throw new RangeError(`batch of ${rows} rows, workspace for ${ws.rows}`);
  const { dim, classes, hidden } = params;
  const { grads } = ws;
  grads.w1.fill(0);
  grads.b1.fill(0);
  grads.w2.fill(0);
  grads.b2.fill(0);
  const dropout = rng !== undefined && cfg.dropout > 0 ? rng : undefined;
  const keep = 1 - cfg.dropout;
  // Inverted dropout: surviving activations are scaled by 1 / keep during training.
  const scaleKept = dropout ? 1 / keep : 1;
  const { keptIndex, keptValue, keptCount, labels } = ws;
  for (let r = 0; r < rows; r++) {
    const src = index[r]! * dim;
    labels[r] = data.y[index[r]!]!;
    let n = r * dim;
    for (let k = 0; k < dim; k++) {
      // One draw per feature, kept or not, so the stream does not depend on the data.
      const survives = dropout ? dropout() < keep : true;
      const v = data.x[src + k]!;
      // Written unconditionally, counted only when kept: a coin flip is a branch no CPU predicts.
      keptIndex[n] = k;
      keptValue[n] = v * scaleKept;
      n += +survives & +(v !== 0);
    }
    keptCount[r] = n - r * dim;
  }
  // The layer that produces logits reads either the (dropped-out) input or the MLP's hidden layer.
  const mlp = params.type === 'mlp';
  if (mlp) {
    sparseMatmulBias(ws, dim, params.w1, params.b1, rows, hidden, ws.hidden);
    const n = rows * hidden;
    for (let i = 0; i < n; i++) {
      const m = dropout ? (dropout() < keep ? 1 / keep : 0) : 1;
      ws.mask2[i] = ws.hidden[i]! > 0 ? m : 0;
      ws.hidden[i] = ws.hidden[i]! > 0 ? ws.hidden[i]! * m : 0;
    }
  }
  const logits = ws.logits.subarray(0, rows * classes);
  const dLogits = ws.dLogits.subarray(0, rows * classes);
  if (mlp) matmulBias(ws.hidden, params.w2, params.b2, rows, hidden, classes, logits);
  else sparseMatmulBias(ws, dim, params.w1, params.b1, rows, classes, logits);
  const stats = softmaxCrossEntropy(
    logits,
    labels,
    rows,
    classes,
    cfg.labelSmoothing,
    cfg.classWeights,
    dLogits,
  );
  const scale = 1 / stats.weightSum;
  if (mlp) {
    accumulateLayerGrads(ws.hidden, dLogits, rows, hidden, classes, scale, grads.w2, grads.b2);
    // Back through the second layer, ReLU and dropout.
    for (let r = 0; r < rows; r++) {
      for (let h = 0; h < hidden; h++) {
        let g = 0;
        for (let j = 0; j < classes; j++)
          g += dLogits[r * classes + j]! * params.w2[h * classes + j]!;
        ws.dHidden[r * hidden + h] = g * ws.mask2[r * hidden + h]!;
      }
    }
    sparseLayerGrads(ws, dim, ws.dHidden, rows, hidden, scale, grads.w1, grads.b1);
  } else {
    sparseLayerGrads(ws, dim, dLogits, rows, classes, scale, grads.w1, grads.b1);
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
  const ws = batchWorkspace(params, Math.min(cfg.batchSize, train.n));
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
        ws,
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
