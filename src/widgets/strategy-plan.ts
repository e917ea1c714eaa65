// What each transfer-learning strategy trains, counted from a backbone's real block list: the
// three strategies of the lesson and a gradual-unfreezing schedule. Pure functions, no DOM.
import type { BackboneBlock } from './responses.js';

/**
 * Blocks partial fine-tuning unfreezes: the lesson's recipe, "the three last inverted-residual
 * blocks + the 1x1 conv" of MobileNetV2.
 */
export const PARTIAL_TOP_BLOCKS = 4;

export interface Strategy {
  readonly id: 'feature_extraction' | 'partial' | 'full';
  readonly title: string;
  readonly summary: string;
  /** Index of the first trainable trunk block; `trunk.length` when only the head trains. */
  readonly firstTrainable: number;
  readonly trainableParameters: number;
}

/** One step of a gradual-unfreezing schedule: from `epoch` on, train from block `from` up. */
export interface UnfreezeStep {
  readonly epoch: number;
  /** A block name, or 'head' for the head alone. */
  readonly from: string;
}

/** The blocks that compute the embedding, in network order (the source's own classifier is not one). */
export const trunkBlocks = (blocks: readonly BackboneBlock[]): BackboneBlock[] =>
  blocks.filter((b) => b.role === 'trunk');

/**
 * Parameters of a linear head: one weight per embedding dimension and class, one bias per class.
 *
 * @example
 * headParameters(1280, 2); // 2562
 */
export const headParameters = (embeddingDim: number, classes: number): number =>
  embeddingDim * classes + classes;

/** Trainable parameters when blocks `from`… and the head train. */
export function trainableFrom(trunk: readonly BackboneBlock[], from: number, head: number): number {
  return trunk.slice(from).reduce((n, b) => n + b.trainableParameters, head);
}

/**
 * The three strategies for `trunk` with a head of `head` parameters.
 *
 * @example
 * strategies(trunkBlocks(manifest.blocks), headParameters(1280, 2)).map((s) => s.trainableParameters);
 */
export function strategies(trunk: readonly BackboneBlock[], head: number): Strategy[] {
  const top = Math.max(0, trunk.length - PARTIAL_TOP_BLOCKS);
  const plan = (
    id: Strategy['id'],
    title: string,
    summary: string,
    firstTrainable: number,
  ): Strategy => ({
    id,
    title,
    summary,
    firstTrainable,
    trainableParameters: trainableFrom(trunk, firstTrainable, head),
  });
  return [
    plan(
      'feature_extraction',
      'Feature extraction',
      'The backbone is a fixed function from photo to embedding.',
      trunk.length,
    ),
    plan(
      'partial',
      'Partial fine-tuning',
      `The last ${trunk.length - top} blocks adapt too, with a smaller learning rate than the head.`,
      top,
    ),
    plan(
      'full',
      'Full fine-tuning',
      'Everything adapts, with a small learning rate for the pretrained part.',
      0,
    ),
  ];
}

/**
 * Head alone, then the top block at epoch 5, the top third at 10, everything at 15.
 *
 * @example
 * defaultSchedule(trunk); // [{epoch:0,from:'head'},{epoch:5,from:'top_conv'},{epoch:10,from:'block_11'},{epoch:15,from:'stem'}]
 */
export function defaultSchedule(trunk: readonly BackboneBlock[]): UnfreezeStep[] {
  const last = trunk.at(-1);
  const first = trunk[0];
  const twoThirds = trunk[Math.round(((trunk.length - 1) * 2) / 3)];
  if (!last || !first || !twoThirds) return [{ epoch: 0, from: 'head' }];
  return [
    { epoch: 0, from: 'head' },
    { epoch: 5, from: last.name },
    { epoch: 10, from: twoThirds.name },
    { epoch: 15, from: first.name },
  ];
}

/** The step in force at `epoch` (the last one that has started). */
export function stepAt(schedule: readonly UnfreezeStep[], epoch: number): UnfreezeStep {
  let current = schedule[0] ?? { epoch: 0, from: 'head' };
  for (const step of schedule) if (step.epoch <= epoch) current = step;
  return current;
}

/** Index of the first trainable trunk block under `step` (`trunk.length`: head only). */
export function firstTrainableOf(trunk: readonly BackboneBlock[], step: UnfreezeStep): number {
  const at = trunk.findIndex((b) => b.name === step.from);
  return at < 0 ? trunk.length : at;
}
