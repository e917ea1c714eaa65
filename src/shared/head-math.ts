// Small numeric helpers shared by classification and training: softmax and top-k.

/**
 * Numerically stable softmax over one row of logits.
 *
 * @example
 * softmax(new Float32Array([0, Math.log(3)])); // Float32Array [0.25, 0.75]
 */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i]! - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

/**
 * The `k` largest scores with their indices, best first; ties keep the lower index first.
 *
 * @example
 * topK(new Float32Array([0.1, 0.7, 0.2]), 2); // [{ index: 1, score: 0.7… }, { index: 2, score: 0.2… }]
 */
export function topK(scores: ArrayLike<number>, k: number): { index: number; score: number }[] {
  const best: { index: number; score: number }[] = [];
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i]!;
    if (best.length === k && score <= best[k - 1]!.score) continue;
    let at = best.length;
    while (at > 0 && best[at - 1]!.score < score) at--;
    best.splice(at, 0, { index: i, score });
    if (best.length > k) best.pop();
  }
  return best;
}
