// Adam with PyTorch's semantics (L2 weight decay added to the gradient, bias-corrected moments),
// applied in place to one parameter tensor per call.

const BETA1 = 0.9;
const BETA2 = 0.999;
const ADAM_EPS = 1e-8;

export interface AdamState {
  readonly m: Float32Array;
  readonly v: Float32Array;
  t: number;
}

/**
 * One Adam step on `p` with gradient `g`.
 *
 * @example
 * const state = { m: new Float32Array(p.length), v: new Float32Array(p.length), t: 0 };
 * adamStep(p, grad, state, 1e-3, 0);
 */
export function adamStep(
  p: Float32Array,
  g: Float32Array,
  s: AdamState,
  lr: number,
  wd: number,
): void {
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
