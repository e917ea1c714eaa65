// BatchNorm for fine-tuning with batch statistics: the population statistics it starts from, and
// folding the trained statistics back into the convolutions (inference-mode weights).
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { withGraphOutputs } from '../../shared/onnx-outputs.js';
import { createWorkerSession, type ExecutionProvider } from '../embed.js';
import { BN_EPSILON, bnParams, type Tail } from './tail-graph.js';
import { EVAL_BATCH, rows, type ActivationSet } from './activations.js';

/**
 * Conv output name → its weight and bias parameter names, for the convolutions of the tail.
 *
 * @example
 * convParams(tail).get('Conv_1_bn'); // { w: 'Conv_1/kernel', b: 'Conv_1/folded_bias' }
 */
export function convParams(tail: Tail): Map<string, { w: string; b: string }> {
  const out = new Map<string, { w: string; b: string }>();
  for (const n of tail.nodes)
    if (n.op === 'Conv' && n.inputs[2]) out.set(n.outputs[0]!, { w: n.inputs[1]!, b: n.inputs[2] });
  return out;
}

/**
 * BatchNorm statistics folded into the convolution before it: inference-mode weights, without
 * the `bn/…` parameters.
 *
 * @example
 * const exported = foldedWeights(params, tail, ['Conv_1_bn'], running);
 */
export function foldedWeights(
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

/**
 * Per-channel mean and variance of convolution outputs over a set, with the pretrained weights:
 * where an inserted BatchNorm starts, so that it begins as the identity.
 *
 * @example
 * const stats = await convStatistics(evalBytes, tail, ['Conv_1_bn'], params, dimsOf, train, { provider: 'cpu' });
 */
export async function convStatistics(
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
