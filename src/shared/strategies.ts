// Turns a job's strategy fields into a training plan against a backbone's blocks: where the
// backbone is cut (activations there are cached), and which block trains from which epoch. The
// edge checks jobs with it before accepting them; the worker trains by it.
import type { FineTuneSpec } from './jobs.js';

/** A block that can start a trainable tail: its name and the tensor entering it. */
export interface CutBlock {
  readonly name: string;
  readonly input: string;
}

export interface StrategyPlan {
  /** The earliest block that ever trains: the tail starts at its input. */
  readonly cut: CutBlock;
  /** From each `epoch` on, blocks from `from` (null: none, the head alone) to the head train. */
  readonly phases: readonly { readonly epoch: number; readonly from: CutBlock | null }[];
}

/**
 * Largest mini-batch when backbone layers train: one training step runs as one onnxruntime call,
 * and bounded steps keep the worker's heartbeats flowing between them.
 */
export const MAX_FINE_TUNE_BATCH = 128;
const batchProblem = {
  field: 'batchSize',
  message: `fine-tuning backbone layers takes batches of at most ${MAX_FINE_TUNE_BATCH}`,
};

export interface StrategyProblem {
  readonly field: string;
  readonly message: string;
}

/** Blocks of a manifest that are valid cuts, in network order. */
export function cutBlocks(
  blocks: readonly { name: string; role: string; input?: string | undefined }[] | undefined,
): CutBlock[] {
  return (blocks ?? []).flatMap((b) =>
    b.role === 'trunk' && b.input !== undefined ? [{ name: b.name, input: b.input }] : [],
  );
}

/** The block fine_tune starts from by default: the last numbered block (its last inverted-residual or depthwise-separable block). */
export function defaultTrainableBlock(blocks: readonly CutBlock[]): CutBlock | undefined {
  return [...blocks].reverse().find((b) => /^block_\d+$/.test(b.name)) ?? blocks.at(-1);
}

/**
 * The plan for `spec` on a backbone with `blocks` (see cutBlocks), or the first problem with the
 * field it concerns (relative to the spec: `trainableFrom`, `unfreeze.0.from`, …). Feature
 * extraction has no plan (null).
 *
 * @example
 * const result = planStrategy(spec, cutBlocks(manifest.blocks));
 * if ('problem' in result) throw new ApiError('invalid_request', result.problem.message, result.problem.field);
 */
export function planStrategy(
  spec: {
    readonly strategy: FineTuneSpec['strategy'];
    readonly trainableFrom: string | null;
    readonly unfreeze: readonly { readonly epoch: number; readonly from: string }[];
    readonly epochs: number;
    readonly batchSize: number;
  },
  blocks: readonly CutBlock[],
): { plan: StrategyPlan | null } | { problem: StrategyProblem } {
  const names = blocks.map((b) => b.name).join(', ');
  const find = (name: string, field: string): CutBlock | StrategyProblem =>
    blocks.find((b) => b.name === name) ?? {
      field,
      message: `no block "${name}" to train from; this backbone has ${names}`,
    };
  const isProblem = (v: CutBlock | StrategyProblem): v is StrategyProblem => 'field' in v;
  if (spec.strategy === 'feature_extraction' || spec.strategy === 'full') {
    if (spec.trainableFrom !== null)
      return {
        problem: {
          field: 'trainableFrom',
          message: 'trainableFrom applies to strategy "fine_tune" only',
        },
      };
    if (spec.unfreeze.length > 0)
      return {
        problem: { field: 'unfreeze', message: 'unfreeze applies to strategy "fine_tune" only' },
      };
    if (spec.strategy === 'feature_extraction') return { plan: null };
    if (spec.batchSize > MAX_FINE_TUNE_BATCH) return { problem: batchProblem };
    const first = blocks[0];
    if (!first)
      return { problem: { field: 'backbone', message: 'this backbone lists no blocks to train' } };
    return { plan: { cut: first, phases: [{ epoch: 1, from: first }] } };
  }
  if (spec.batchSize > MAX_FINE_TUNE_BATCH) return { problem: batchProblem };
  let start: CutBlock | null;
  if (spec.trainableFrom !== null) {
    const found = find(spec.trainableFrom, 'trainableFrom');
    if (isProblem(found)) return { problem: found };
    start = found;
  } else if (spec.unfreeze.length > 0) start = null;
  else {
    start = defaultTrainableBlock(blocks) ?? null;
    if (!start)
      return { problem: { field: 'backbone', message: 'this backbone lists no blocks to train' } };
  }
  const phases: { epoch: number; from: CutBlock | null }[] = [{ epoch: 1, from: start }];
  const index = (b: CutBlock | null) => (b === null ? blocks.length : blocks.indexOf(b));
  for (const [i, step] of spec.unfreeze.entries()) {
    const found = find(step.from, `unfreeze.${i}.from`);
    if (isProblem(found)) return { problem: found };
    const previous = phases.at(-1)!;
    if (step.epoch <= previous.epoch || step.epoch > spec.epochs)
      return {
        problem: {
          field: `unfreeze.${i}.epoch`,
          message: `unfreeze epochs must increase, after epoch ${previous.epoch} and within the ${spec.epochs} epochs`,
        },
      };
    if (index(found) >= index(previous.from))
      return {
        problem: {
          field: `unfreeze.${i}.from`,
          message: `"${found.name}" does not move the trainable boundary earlier than ${previous.from?.name ?? 'the head'}`,
        },
      };
    phases.push({ epoch: step.epoch, from: found });
  }
  const earliest = phases.at(-1)!.from ?? start;
  // Head-only training from the start with no unfreezing is feature extraction; keep a cut anyway.
  const cut = earliest ?? defaultTrainableBlock(blocks);
  if (!cut)
    return { problem: { field: 'backbone', message: 'this backbone lists no blocks to train' } };
  return { plan: { cut, phases } };
}
