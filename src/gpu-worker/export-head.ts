// Writes a trained head as a small ONNX graph: embedding → logits → probabilities.
import { OnnxGraphBuilder, attr } from '../shared/onnx-graph.js';
import type { HeadParams } from './train-head.js';

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
  params: HeadParams,
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
