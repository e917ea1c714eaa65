// Trains a backbone tail plus a classifier on activations cached at the cut: onnxruntime runs the
// generated training-step graph (forward, loss, gradients), Adam updates the parameters here with
// a learning rate per parameter group, StepLR scales every group, the trainable boundary can move
// earlier at given epochs (gradual unfreezing), and the best epoch by validation accuracy is kept.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { createRng, type Rng } from '../../shared/random.js';
import { withGraphOutputs } from '../../shared/onnx-outputs.js';
import { createWorkerSession, type ExecutionProvider, type WorkerSession } from '../embed.js';
import { initHead, type EpochResult } from '../train-head.js';
import {
  BN_EPSILON,
  CLASSIFIER_PARAMS,
  bnParams,
  buildTailGraph,
  gradName,
  type ClassifierShape,
  type Tail,
} from './tail-graph.js';

/** Activations at the cut, one row of `size` floats per view, with integer labels. */
export interface ActivationSet {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly n: number;
  readonly size: number;
}

export interface TailPhase {
  /** First epoch (1-based) of this phase. */
  readonly epoch: number;
  /** Backbone parameters trained from that epoch on (the classifier always trains). */
  readonly trainable: ReadonlySet<string>;
}

export interface TailTrainConfig {
  readonly head: {
    readonly type: 'linear' | 'mlp';
    readonly dropout: number;
    readonly hiddenUnits: number;
  };
  readonly classes: number;
  /** Size of the embedding the tail ends in. */
  readonly embeddingDim: number;
  readonly epochs: number;
  readonly batchSize: number;
  /** Base learning rate per parameter (before the scheduler): the head's and each backbone block's. */
  readonly lrOf: (param: string) => number;
  readonly weightDecay: number;
  readonly scheduler:
    | { readonly type: 'step'; readonly stepSize: number; readonly gamma: number }
    | { readonly type: 'none' };
  readonly labelSmoothing: number;
  readonly earlyStopping: { readonly patience: number; readonly minDelta: number } | null;
  readonly seed: number;
  /** `frozen`: BatchNorm stays folded in inference mode; `train`: batch statistics in trainable blocks. */
  readonly batchNorm: 'frozen' | 'train';
  /** Phases in epoch order; the first starts at epoch 1. */
  readonly phases: readonly TailPhase[];
  readonly provider: ExecutionProvider;
  readonly threads?: number;
}

export interface TailTrainResult {
  /** Tail and classifier weights of the best epoch, BatchNorm folded in: what the head exports. */
  readonly weights: Map<string, Float32Array>;
  readonly classifier: ClassifierShape;
  readonly bestEpoch: number;
  /** Index of the validation set (input mode) the kept epoch was chosen on. */
  readonly bestValSet: number;
  readonly history: EpochResult[];
  readonly stoppedEarly: boolean;
  /** Parameters trained at any point (backbone ones, for the manifest). */
  readonly trainedBackboneParameters: number;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const ADAM_EPS = 1e-8;
const BN_MOMENTUM = 0.1;
const EVAL_BATCH = 64;

interface AdamState {
  readonly m: Float32Array;
  readonly v: Float32Array;
  t: number;
}

function adamStep(p: Float32Array, g: Float32Array, s: AdamState, lr: number, wd: number): void {
  s.t++;
  const c1 = 1 - BETA1 ** s.t;
  const c2 = 1 - BETA2 ** s.t;
  const { m, v } = s;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! + wd * p[i]!;
    m[i] = BETA1 * m[i]! + (1 - BETA1) * gi;
    v[i] = BETA2 * v[i]! + (1 - BETA2) * gi * gi;
    p[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + ADAM_EPS);
  }
}

/** Conv output name → its weight and bias parameter names, for the convolutions of the tail. */
function convParams(tail: Tail): Map<string, { w: string; b: string }> {
  const out = new Map<string, { w: string; b: string }>();
  for (const n of tail.nodes)
    if (n.op === 'Conv' && n.inputs[2]) out.set(n.outputs[0]!, { w: n.inputs[1]!, b: n.inputs[2] });
  return out;
}

/** BatchNorm statistics folded into the convolution before it: inference-mode weights. */
function foldedWeights(
  params: ReadonlyMap<string, Float32Array>,
  tail: Tail,
  bnConvs: readonly string[],
  running: ReadonlyMap<string, { mean: Float32Array; variance: Float32Array }>,
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, value] of params) if (!name.startsWith('bn/')) out.set(name, value);
  const convs = convParams(tail);
  for (const conv of bnConvs) {
    const { w, b } = convs.get(conv)!;
    const names = bnParams(conv);
    const gamma = params.get(names.gamma)!;
    const beta = params.get(names.beta)!;
    const stats = running.get(conv)!;
    const weight = Float32Array.from(params.get(w)!);
    const bias = Float32Array.from(params.get(b)!);
    const per = weight.length / bias.length;
    for (let c = 0; c < bias.length; c++) {
      const s = gamma[c]! / Math.sqrt(stats.variance[c]! + BN_EPSILON);
      for (let i = 0; i < per; i++) weight[c * per + i]! *= s;
      bias[c] = (bias[c]! - stats.mean[c]!) * s + beta[c]!;
    }
    out.set(w, weight);
    out.set(b, bias);
  }
  return out;
}

function rows(
  set: ActivationSet,
  index: ArrayLike<number>,
  from: number,
  to: number,
): Float32Array {
  const out = new Float32Array((to - from) * set.size);
  for (let r = from; r < to; r++) {
    const i = index[r]!;
    out.set(set.x.subarray(i * set.size, (i + 1) * set.size), (r - from) * set.size);
  }
  return out;
}

function softTargets(
  y: Int32Array,
  index: ArrayLike<number>,
  from: number,
  to: number,
  classes: number,
  smoothing: number,
): Float32Array {
  const out = new Float32Array((to - from) * classes).fill(smoothing / classes);
  for (let r = from; r < to; r++) out[(r - from) * classes + y[index[r]!]!]! += 1 - smoothing;
  return out;
}

/** Loss and correct predictions of logits rows against labels. */
function scoreLogits(
  logits: Float32Array,
  y: Int32Array,
  index: ArrayLike<number>,
  from: number,
  classes: number,
) {
  let loss = 0;
  let correct = 0;
  const rowsN = logits.length / classes;
  for (let r = 0; r < rowsN; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    let max = -Infinity;
    let arg = 0;
    for (let j = 0; j < classes; j++) if (row[j]! > max) [max, arg] = [row[j]!, j];
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp(row[j]! - max);
    const label = y[index[from + r]!]!;
    loss += Math.log(sum) - (row[label]! - max);
    if (arg === label) correct++;
  }
  return { loss, correct };
}

/** Per-channel mean and variance of convolution outputs over a set, with the pretrained weights. */
async function convStatistics(
  evalBytes: Uint8Array,
  tail: Tail,
  convs: readonly string[],
  params: ReadonlyMap<string, Float32Array>,
  dimsOf: (name: string) => readonly number[],
  set: ActivationSet,
  sessionOpts: { provider: ExecutionProvider; threads?: number },
): Promise<Map<string, { mean: Float32Array; variance: Float32Array }>> {
  const session = await createWorkerSession(withGraphOutputs(evalBytes, convs), sessionOpts);
  try {
    const sums = new Map<string, { s: Float64Array; sq: Float64Array; n: number }>();
    const feeds: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
    for (const name of session.inputNames)
      if (name !== tail.cut) feeds[name] = { data: params.get(name)!, dims: dimsOf(name) };
    const identity = Int32Array.from({ length: set.n }, (_, i) => i);
    for (let from = 0; from < set.n; from += EVAL_BATCH) {
      const to = Math.min(set.n, from + EVAL_BATCH);
      const out = await session.run(
        {
          ...feeds,
          [tail.cut]: { data: rows(set, identity, from, to), dims: [to - from, ...tail.cutShape] },
        },
        convs,
      );
      for (const conv of convs) {
        const { data, dims } = out[conv]!;
        const [n, c] = dims as [number, number];
        const plane = data.length / (n * c);
        const acc = sums.get(conv) ?? { s: new Float64Array(c), sq: new Float64Array(c), n: 0 };
        for (let i = 0; i < n; i++)
          for (let ch = 0; ch < c; ch++) {
            const base = (i * c + ch) * plane;
            for (let k = 0; k < plane; k++) {
              const v = data[base + k]!;
              acc.s[ch] = acc.s[ch]! + v;
              acc.sq[ch] = acc.sq[ch]! + v * v;
            }
          }
        acc.n += n * plane;
        sums.set(conv, acc);
      }
      await yieldToEventLoop();
    }
    return new Map(
      [...sums].map(([conv, { s, sq, n }]) => {
        const mean = Float32Array.from(s, (v) => v / n);
        const variance = Float32Array.from(sq, (v, i) => Math.max(0, v / n - mean[i]! ** 2));
        return [conv, { mean, variance }];
      }),
    );
  } finally {
    await session.release();
  }
}

/** Runs the evaluation graph over a set; returns mean loss, accuracy and all logits. */
export async function evaluateTail(
  session: WorkerSession,
  tail: Tail,
  weights: ReadonlyMap<string, Float32Array>,
  set: ActivationSet,
  classes: number,
  dimsOf: (name: string) => readonly number[] = () => [],
): Promise<{ loss: number; accuracy: number; logits: Float32Array }> {
  const params: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
  for (const name of session.inputNames) {
    if (name === tail.cut) continue;
    const value = weights.get(name);
    if (!value) throw new Error(`no weights for ${name}`);
    params[name] = { data: value, dims: dimsOf(name) };
  }
  const logits = new Float32Array(set.n * classes);
  const identity = Int32Array.from({ length: set.n }, (_, i) => i);
  let loss = 0;
  let correct = 0;
  for (let from = 0; from < set.n; from += EVAL_BATCH) {
    const to = Math.min(set.n, from + EVAL_BATCH);
    const out = await session.run(
      {
        ...params,
        [tail.cut]: { data: rows(set, identity, from, to), dims: [to - from, ...tail.cutShape] },
      },
      ['logits'],
    );
    const l = out.logits!.data;
    logits.set(l, from * classes);
    const s = scoreLogits(l, set.y, identity, from, classes);
    loss += s.loss;
    correct += s.correct;
    await yieldToEventLoop();
  }
  return { loss: loss / set.n, accuracy: correct / set.n, logits };
}

/**
 * @example
 * const result = await trainTail(tail, train, [valCrop, valSquash], config, async (epoch) => report(epoch));
 */
export async function trainTail(
  tail: Tail,
  train: ActivationSet,
  /** One validation set per input mode; the best (epoch, set) pair is kept. */
  vals: readonly ActivationSet[],
  cfg: TailTrainConfig,
  onEpoch: (epoch: EpochResult) => Promise<void>,
): Promise<TailTrainResult> {
  const rng: Rng = createRng(cfg.seed);
  const dim = cfg.embeddingDim;
  const init = initHead(cfg.head.type, dim, cfg.head.hiddenUnits, cfg.classes, rng);
  const classifier: ClassifierShape = {
    type: cfg.head.type,
    dim,
    hidden: init.hidden,
    classes: cfg.classes,
  };
  const headParams: string[] = [...CLASSIFIER_PARAMS[cfg.head.type]];
  const params = new Map<string, Float32Array>();
  params.set('w1', init.w1).set('b1', init.b1);
  if (cfg.head.type === 'mlp') params.set('w2', init.w2).set('b2', init.b2);
  for (const [name, t] of tail.constants) params.set(name, Float32Array.from(t.data));
  const headDims: Record<string, number[]> = {
    w1: [dim, cfg.head.type === 'linear' ? cfg.classes : init.hidden],
    b1: [cfg.head.type === 'linear' ? cfg.classes : init.hidden],
    w2: [init.hidden, cfg.classes],
    b2: [cfg.classes],
  };
  const dimsOf = (name: string): readonly number[] =>
    tail.constants.get(name)?.dims ??
    headDims[name] ??
    (name.startsWith('bn/') ? [1, params.get(name)!.length, 1, 1] : []);

  const sessionOpts = { provider: cfg.provider, ...(cfg.threads ? { threads: cfg.threads } : {}) };
  const convs = convParams(tail);
  const everTrained = new Set(cfg.phases.flatMap((p) => [...p.trainable]));
  const bnConvs =
    cfg.batchNorm === 'train'
      ? [...convs].filter(([, p]) => everTrained.has(p.w)).map(([c]) => c)
      : [];
  const running = new Map<string, { mean: Float32Array; variance: Float32Array }>();
  // Weight decay applies to weights, not to biases or BatchNorm parameters.
  const decayed = new Set(['w1', 'w2', ...[...convs.values()].map((p) => p.w)]);
  const evalGraph = buildTailGraph(tail, classifier, { kind: 'eval' });
  const evalSession = await createWorkerSession(evalGraph.bytes, sessionOpts);
  const sessions = new Map<number, WorkerSession>();
  try {
    if (bnConvs.length > 0) {
      const stats = await convStatistics(
        evalGraph.bytes,
        tail,
        bnConvs,
        params,
        dimsOf,
        train,
        sessionOpts,
      );
      for (const [conv, { mean, variance }] of stats) {
        const names = bnParams(conv);
        // γ = √(σ² + ε), β = μ: the inserted BatchNorm starts as the identity on this data.
        params.set(
          names.gamma,
          Float32Array.from(variance, (v) => Math.sqrt(v + BN_EPSILON)),
        );
        params.set(names.beta, Float32Array.from(mean));
        running.set(conv, { mean: Float32Array.from(mean), variance: Float32Array.from(variance) });
      }
    }
    const adam = new Map<string, AdamState>();
    const history: EpochResult[] = [];
    let best = {
      weights: foldedWeights(params, tail, bnConvs, running),
      epoch: 1,
      set: 0,
      accuracy: -1,
      loss: Infinity,
    };
    let bestForPatience = -1;
    let sinceImprovement = 0;
    let stoppedEarly = false;
    const order = Int32Array.from({ length: train.n }, (_, i) => i);
    for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
      const started = performance.now();
      const phaseIndex = cfg.phases.reduce((at, p, i) => (p.epoch <= epoch ? i : at), 0);
      const phase = cfg.phases[phaseIndex]!;
      const phaseBn = bnConvs.filter((c) => phase.trainable.has(convs.get(c)!.w));
      const trainable = [
        ...headParams,
        ...phase.trainable,
        ...phaseBn.flatMap((c) => [bnParams(c).gamma, bnParams(c).beta]),
      ];
      let session = sessions.get(phaseIndex);
      if (!session) {
        const graph = buildTailGraph(tail, classifier, {
          kind: 'train',
          trainable: new Set(trainable),
          batchNormAfter: new Set(phaseBn),
          dropout: cfg.head.dropout > 0,
        });
        session = await createWorkerSession(graph.bytes, sessionOpts);
        sessions.set(phaseIndex, session);
      }
      // Frozen convolutions run in inference mode: their BatchNorm statistics stay folded in.
      const phaseWeights = foldedWeights(
        params,
        tail,
        bnConvs.filter((c) => !phaseBn.includes(c)),
        running,
      );
      const factor =
        cfg.scheduler.type === 'step'
          ? cfg.scheduler.gamma ** Math.floor((epoch - 1) / cfg.scheduler.stepSize)
          : 1;
      for (let i = train.n - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let lossSum = 0;
      let correct = 0;
      for (let from = 0; from < train.n; from += cfg.batchSize) {
        const to = Math.min(train.n, from + cfg.batchSize);
        const b = to - from;
        const feeds: Record<string, { data: Float32Array; dims: readonly number[] }> = {
          [tail.cut]: { data: rows(train, order, from, to), dims: [b, ...tail.cutShape] },
          targets: {
            data: softTargets(train.y, order, from, to, cfg.classes, cfg.labelSmoothing),
            dims: [b, cfg.classes],
          },
        };
        if (cfg.head.dropout > 0) {
          const keep = 1 - cfg.head.dropout;
          feeds.dropout_mask = {
            data: Float32Array.from({ length: b * dim }, () => (rng() < keep ? 1 / keep : 0)),
            dims: [b, dim],
          };
        }
        for (const name of session.inputNames) {
          if (name in feeds) continue;
          const value = phaseWeights.get(name) ?? params.get(name);
          if (!value) throw new Error(`no value for training input ${name}`);
          feeds[name] = { data: value, dims: dimsOf(name) };
        }
        const out = await session.run(feeds);
        lossSum += out.loss!.data[0]! * b;
        correct += scoreLogits(out.logits!.data, train.y, order, from, cfg.classes).correct;
        for (const name of trainable) {
          let state = adam.get(name);
          const value = params.get(name)!;
          if (!state) {
            state = { m: new Float32Array(value.length), v: new Float32Array(value.length), t: 0 };
            adam.set(name, state);
          }
          const decay = decayed.has(name) ? cfg.weightDecay : 0;
          adamStep(value, out[gradName(name)]!.data, state, cfg.lrOf(name) * factor, decay);
        }
        for (const conv of phaseBn) {
          const names = bnParams(conv);
          const stats = running.get(conv)!;
          const mean = out[names.mean]!.data;
          const variance = out[names.variance]!.data;
          for (let c = 0; c < stats.mean.length; c++) {
            stats.mean[c] = (1 - BN_MOMENTUM) * stats.mean[c]! + BN_MOMENTUM * mean[c]!;
            stats.variance[c] = (1 - BN_MOMENTUM) * stats.variance[c]! + BN_MOMENTUM * variance[c]!;
          }
        }
        await yieldToEventLoop();
      }
      const weights = foldedWeights(params, tail, bnConvs, running);
      let evaluation = { loss: Infinity, accuracy: -1, set: 0 };
      for (const [set, val] of vals.entries()) {
        const e = await evaluateTail(evalSession, tail, weights, val, cfg.classes, dimsOf);
        if (
          e.accuracy > evaluation.accuracy ||
          (e.accuracy === evaluation.accuracy && e.loss < evaluation.loss)
        )
          evaluation = { loss: e.loss, accuracy: e.accuracy, set };
      }
      const result: EpochResult = {
        epoch,
        valSet: evaluation.set,
        lr: cfg.lrOf(headParams[0]!) * factor,
        trainLoss: lossSum / train.n,
        trainAccuracy: correct / train.n,
        valLoss: evaluation.loss,
        valAccuracy: evaluation.accuracy,
        seconds: (performance.now() - started) / 1000,
      };
      history.push(result);
      if (
        evaluation.accuracy > best.accuracy ||
        (evaluation.accuracy === best.accuracy && evaluation.loss < best.loss)
      )
        // A copy: Adam keeps updating the live parameters in later epochs.
        best = {
          weights: new Map([...weights].map(([k, v]) => [k, Float32Array.from(v)])),
          epoch,
          set: evaluation.set,
          accuracy: evaluation.accuracy,
          loss: evaluation.loss,
        };
      await onEpoch(result);
      if (evaluation.accuracy > bestForPatience + (cfg.earlyStopping?.minDelta ?? 0)) {
        bestForPatience = evaluation.accuracy;
        sinceImprovement = 0;
      } else sinceImprovement++;
      if (cfg.earlyStopping && sinceImprovement >= cfg.earlyStopping.patience) {
        stoppedEarly = true;
        break;
      }
    }
    return {
      weights: best.weights,
      classifier,
      bestEpoch: best.epoch,
      bestValSet: best.set,
      history,
      stoppedEarly,
      trainedBackboneParameters: [...adam.keys()]
        .filter((p) => tail.constants.has(p))
        .reduce((n, p) => n + params.get(p)!.length, 0),
    };
  } finally {
    await evalSession.release();
    for (const s of sessions.values()) await s.release();
  }
}
