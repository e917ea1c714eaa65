// Strategies 2 and 3 for one job: cut the backbone where the plan says, train that tail and a new
// classifier on the cached cut activations (parameter groups, gradual unfreezing, BatchNorm mode),
// and export the result as one ONNX head that consumes the cut tensor.
import { tailNodes } from '../../shared/backbone-graph.js';
import type { FineTuneSpec } from '../../shared/jobs.js';
import type { BackboneManifest } from '../../shared/manifest.js';
import { cutBlocks, type CutBlock, type StrategyPlan } from '../../shared/strategies.js';
import type { BackboneStore } from '../backbones.js';
import { createWorkerSession } from '../embed.js';
import type { EpochResult } from '../train-head.js';
import type { OnnxModel } from './onnx-model.js';
import { CLASSIFIER_PARAMS, buildTailGraph, extractTail } from './tail-graph.js';
import { evaluateTail, trainTail, type ActivationSet } from './train-tail.js';

export interface FineTuneOutcome {
  readonly onnx: Uint8Array;
  readonly valLogits: Float32Array;
  /** Which validation set (input mode) the kept epoch was chosen on. */
  readonly bestValSet: number;
  readonly bestEpoch: number;
  readonly history: EpochResult[];
  readonly stoppedEarly: boolean;
  /** Backbone parameters that trained at some epoch. */
  readonly trainedBackboneParameters: number;
  /** Blocks that trained at some epoch, in network order. */
  readonly trainedBlocks: string[];
}

/** Convolution weights and biases from `block` to the embedding. */
function parametersFrom(model: OnnxModel, block: CutBlock, output: string): Set<string> {
  const nodes = tailNodes(
    model.nodes,
    block.input,
    output,
    new Set(model.initializers.keys()),
    model.input,
  );
  return new Set(
    nodes.filter((n) => n.op === 'Conv').flatMap((n) => n.inputs.slice(1).filter((i) => i !== '')),
  );
}

/**
 * @example
 * const outcome = await fineTune({ backbones, spec, plan, manifest, cutShape, train, vals, classes, producerVersion, onEpoch });
 */
export async function fineTune(opts: {
  readonly backbones: BackboneStore;
  readonly spec: FineTuneSpec;
  readonly plan: StrategyPlan;
  readonly manifest: BackboneManifest;
  readonly cutShape: readonly number[];
  readonly train: ActivationSet;
  /** One validation set per input mode. */
  readonly vals: readonly ActivationSet[];
  readonly classes: number;
  readonly producerVersion: string;
  readonly docString: string;
  readonly onEpoch: (epoch: EpochResult) => Promise<void>;
}): Promise<FineTuneOutcome> {
  const { spec, plan, manifest } = opts;
  const output = manifest.onnx.outputs.embedding.name;
  const model = await opts.backbones.graph(manifest.id);
  const tail = extractTail(model, plan.cut.input, opts.cutShape, output);
  const blocks = cutBlocks(manifest.blocks);
  const indexOf = (name: string) => blocks.findIndex((b) => b.name === name);
  const from = indexOf(plan.cut.name);
  const reachable = blocks.slice(from).map((b) => parametersFrom(model, b, output));
  // Each block's own parameters: those from it on, minus those from the next block on.
  const blockOf = new Map<string, number>();
  reachable.forEach((params, i) => {
    for (const p of params) if (!reachable[i + 1]?.has(p)) blockOf.set(p, from + i);
  });
  const last = blocks.length - 1;
  const head = new Set<string>(CLASSIFIER_PARAMS.mlp);
  const lrOf = (param: string) =>
    head.has(param)
      ? spec.optimizer.lr
      : spec.optimizer.backboneLr *
        spec.optimizer.layerDecay ** (last - (blockOf.get(param) ?? last));
  const phases = plan.phases.map((p) => ({
    epoch: p.epoch,
    trainable: p.from ? reachable[indexOf(p.from.name) - from]! : new Set<string>(),
  }));
  const { provider, threads } = opts.backbones.sessionOptions;
  const result = await trainTail(
    tail,
    opts.train,
    opts.vals,
    {
      head: spec.head,
      classes: opts.classes,
      embeddingDim: manifest.embeddingDim,
      epochs: spec.epochs,
      batchSize: spec.batchSize,
      lrOf,
      weightDecay: spec.optimizer.weightDecay,
      scheduler: spec.scheduler,
      labelSmoothing: spec.labelSmoothing,
      earlyStopping: spec.earlyStopping,
      seed: spec.seed,
      batchNorm: spec.batchNorm,
      phases,
      provider,
      ...(threads > 0 ? { threads } : {}),
    },
    opts.onEpoch,
  );
  const onnx = buildTailGraph(tail, result.classifier, {
    kind: 'export',
    weights: result.weights,
    producerVersion: opts.producerVersion,
    docString: opts.docString,
  }).bytes;
  // Validation predictions come from the exported file itself: what the edge will serve.
  const session = await createWorkerSession(onnx, {
    provider,
    ...(threads > 0 ? { threads } : {}),
  });
  let valLogits: Float32Array;
  try {
    valLogits = (
      await evaluateTail(session, tail, new Map(), opts.vals[result.bestValSet]!, opts.classes)
    ).logits;
  } finally {
    await session.release();
  }
  const trained = new Set(phases.flatMap((p) => [...p.trainable]));
  return {
    onnx,
    valLogits,
    bestValSet: result.bestValSet,
    bestEpoch: result.bestEpoch,
    history: result.history,
    stoppedEarly: result.stoppedEarly,
    trainedBackboneParameters: result.trainedBackboneParameters,
    trainedBlocks: blocks
      .filter((_, i) => [...trained].some((p) => blockOf.get(p) === i))
      .map((b) => b.name),
  };
}
