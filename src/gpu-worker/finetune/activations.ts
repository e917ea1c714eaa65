// Cached activations at the cut as mini-batches: rows, soft targets, scoring, and the evaluation
// pass over a set.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { WorkerSession } from '../embed.js';
import type { Tail } from './tail-graph.js';

/** Activations at the cut, one row of `size` floats per view, with integer labels. */
export interface ActivationSet {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly n: number;
  readonly size: number;
}

/** Rows per evaluation run. */
export const EVAL_BATCH = 64;

/**
 * Rows `index[from..to)` of a set, packed into one batch tensor.
 *
 * @example
 * const batch = rows(train, order, 0, 32); // 32 × size floats
 */
export function rows(
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

/**
 * One-hot targets with label smoothing for rows `index[from..to)`.
 *
 * @example
 * softTargets(train.y, order, 0, 32, 2, 0.1); // 0.95 / 0.05 rows
 */
export function softTargets(
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

/**
 * Summed cross-entropy and correct predictions of logits rows against the labels of rows
 * `index[from…]`.
 *
 * @example
 * const { loss, correct } = scoreLogits(out.logits.data, train.y, order, from, 2);
 */
export function scoreLogits(
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

/**
 * Runs an evaluation (or exported) graph over a set; returns mean loss, accuracy and all logits.
 *
 * @example
 * const { accuracy, logits } = await evaluateTail(session, tail, weights, val, 2, dimsOf);
 */
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
