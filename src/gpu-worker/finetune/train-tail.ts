// Trains a backbone tail plus a classifier on activations cached at the cut: onnxruntime runs the
// generated training-step graph (forward, loss, gradients), Adam updates the parameters here with
// a learning rate per parameter group, StepLR scales every group, the trainable boundary can move
// earlier at given epochs (gradual unfreezing), and the best epoch by validation accuracy is kept.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { createRng, type Rng } from '../../shared/random.js';
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
import { EpochKeeper, bestScoreIndex } from '../epoch-keeper.js';
import { adamStep, type AdamState } from './adam.js';
import { rows, scoreLogits, softTargets, evaluateTail, type ActivationSet } from './activations.js';
import { convParams, convStatistics, foldedWeights } from './batch-norm.js';

/** Weight of a batch's statistics in BatchNorm's running averages (PyTorch's momentum). */
const BN_MOMENTUM = 0.1;

export type { ActivationSet } from './activations.js';
export { evaluateTail } from './activations.js';

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
    // Copies: Adam keeps updating the live parameters in later epochs.
    const snapshot = () =>
      new Map(
        [...foldedWeights(params, tail, bnConvs, running)].map(([k, v]) => [
          k,
          Float32Array.from(v),
        ]),
      );
    const keeper = new EpochKeeper(snapshot(), cfg.earlyStopping);
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
      const evaluations = [];
      for (const val of vals)
        evaluations.push(await evaluateTail(evalSession, tail, weights, val, cfg.classes, dimsOf));
      const set = bestScoreIndex(evaluations);
      const evaluation = evaluations[set]!;
      const result: EpochResult = {
        epoch,
        valSet: set,
        lr: cfg.lrOf(headParams[0]!) * factor,
        trainLoss: lossSum / train.n,
        trainAccuracy: correct / train.n,
        valLoss: evaluation.loss,
        valAccuracy: evaluation.accuracy,
        seconds: (performance.now() - started) / 1000,
      };
      history.push(result);
      const stop = keeper.record(epoch, set, evaluation, snapshot);
      await onEpoch(result);
      if (stop) break;
    }
    return {
      weights: keeper.best.value,
      classifier,
      bestEpoch: keeper.best.epoch,
      bestValSet: keeper.best.set,
      history,
      stoppedEarly: keeper.stoppedEarly,
      trainedBackboneParameters: [...adam.keys()]
        .filter((p) => tail.constants.has(p))
        .reduce((n, p) => n + params.get(p)!.length, 0),
    };
  } finally {
    await evalSession.release();
    for (const s of sessions.values()) await s.release();
  }
}
