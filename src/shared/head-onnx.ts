// Writes a trained head as a small ONNX graph: embedding → logits → probabilities. Shared so the
// worker exports heads and tests build them with the same code.
import { OnnxGraphBuilder, attr } from './onnx-graph.js';

/** A head's weights, row-major [in, out] matrices (w2/b2 and hidden are used by the MLP only). */
export interface HeadWeights {
  readonly type: 'linear' | 'mlp';
  readonly dim: number;
  readonly hidden: number;
  readonly classes: number;
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  readonly w2: Float32Array;
  readonly b2: Float32Array;
}

export const HEAD_OPSET = 13;
export const HEAD_INPUT = 'embedding';

/**
 * The head as ONNX (opset 13): `embedding` [batch, dim] → Gemm (→ Relu → Gemm) → `logits`
 * [batch, classes] → Softmax → `probabilities`. Dropout is an identity at inference, so it is
 * not in the graph.
 *
 * @example
 * const bytes = exportHeadOnnx(result.params, { producerVersion: '0.1.0' });
 */
export function exportHeadOnnx(
  params: HeadWeights,
  opts: { producerVersion: string; docString?: string },
): Uint8Array {
  const g = new OnnxGraphBuilder('headstart_head');
  g.addInput(HEAD_INPUT, ['batch', params.dim]);
  if (params.type === 'linear') {
    g.addInitializer('w1', [params.dim, params.classes], params.w1);
    g.addInitializer('b1', [params.classes], params.b1);
    g.addNode('Gemm', [HEAD_INPUT, 'w1', 'b1'], ['logits']);
  } else {
    g.addInitializer('w1', [params.dim, params.hidden], params.w1);
    g.addInitializer('b1', [params.hidden], params.b1);
    g.addInitializer('w2', [params.hidden, params.classes], params.w2);
    g.addInitializer('b2', [params.classes], params.b2);
    g.addNode('Gemm', [HEAD_INPUT, 'w1', 'b1'], ['hidden_linear']);
    g.addNode('Relu', ['hidden_linear'], ['hidden']);
    g.addNode('Gemm', ['hidden', 'w2', 'b2'], ['logits']);
  }
  g.addNode('Softmax', ['logits'], ['probabilities'], { axis: attr.int(-1) });
  g.addOutput('logits', ['batch', params.classes]);
  g.addOutput('probabilities', ['batch', params.classes]);
  return g.toBytes({
    opset: HEAD_OPSET,
    producer: 'headstart-worker',
    producerVersion: opts.producerVersion,
    ...(opts.docString === undefined ? {} : { docString: opts.docString }),
  });
}
