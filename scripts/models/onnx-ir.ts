// The converter's intermediate graph, its peephole passes, and serialisation to ONNX bytes.
import { OnnxGraphBuilder, attr, type Dim, type OnnxAttribute } from '../../src/shared/onnx-graph.js';

export interface IrNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, OnnxAttribute>;
}

export interface IrGraph {
  readonly nodes: IrNode[];
  readonly initializers: Map<string, { dims: number[]; data: Float32Array | BigInt64Array }>;
}

function consumers(graph: IrGraph): Map<string, IrNode[]> {
  const map = new Map<string, IrNode[]>();
  for (const node of graph.nodes) {
    for (const input of node.inputs) map.set(input, [...(map.get(input) ?? []), node]);
  }
  return map;
}

function floats(graph: IrGraph, name: string | undefined): Float32Array {
  const init = name === undefined ? undefined : graph.initializers.get(name);
  if (!init || !(init.data instanceof Float32Array)) throw new Error(`initializer ${name ?? '?'} is not a float tensor`);
  return init.data;
}

/**
 * Folds every BatchNormalization whose input comes only from a Conv into that Conv's weights
 * and bias: w' = w · γ/√(σ²+ε), b' = (b − μ) · γ/√(σ²+ε) + β, computed in double precision.
 */
export function foldBatchNorm(graph: IrGraph, graphOutputs: ReadonlySet<string>): number {
  let folded = 0;
  const uses = consumers(graph);
  const producer = new Map(graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  for (const bn of graph.nodes.filter((n) => n.op === 'BatchNormalization')) {
    const convOut = bn.inputs[0]!;
    const conv = producer.get(convOut);
    if (!conv || conv.op !== 'Conv' || uses.get(convOut)?.length !== 1 || graphOutputs.has(convOut)) continue;
    const epsilon = bn.attrs.epsilon?.kind === 'float' ? bn.attrs.epsilon.value : 1e-5;
    const [gamma, beta, mean, variance] = bn.inputs.slice(1).map((n) => floats(graph, n));
    const weightInit = graph.initializers.get(conv.inputs[1]!)!;
    const weights = floats(graph, conv.inputs[1]);
    const cout = weightInit.dims[0]!;
    const perChannel = weights.length / cout;
    const bias = conv.inputs[2] === undefined ? new Float32Array(cout) : floats(graph, conv.inputs[2]);
    const newWeights = new Float32Array(weights.length);
    const newBias = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      const s = gamma![o]! / Math.sqrt(variance![o]! + epsilon);
      for (let i = 0; i < perChannel; i++) newWeights[o * perChannel + i] = weights[o * perChannel + i]! * s;
      newBias[o] = (bias[o]! - mean![o]!) * s + beta![o]!;
    }
    const biasName = `${conv.inputs[1]!.replace(/\/kernel$/, '')}/folded_bias`;
    graph.initializers.set(conv.inputs[1]!, { dims: weightInit.dims, data: newWeights });
    graph.initializers.set(biasName, { dims: [cout], data: newBias });
    conv.inputs = [conv.inputs[0]!, conv.inputs[1]!, biasName];
    conv.outputs = [...bn.outputs];
    conv.name = bn.name;
    graph.nodes.splice(graph.nodes.indexOf(bn), 1);
    folded++;
  }
  return folded;
}

/** Folds a constant zero Pad on the spatial axes into the single Conv that reads it. */
export function foldPadding(graph: IrGraph, graphOutputs: ReadonlySet<string>): number {
  let folded = 0;
  const uses = consumers(graph);
  for (const pad of graph.nodes.filter((n) => n.op === 'Pad')) {
    const out = pad.outputs[0]!;
    const readers = uses.get(out);
    const conv = readers?.[0];
    if (readers?.length !== 1 || conv?.op !== 'Conv' || graphOutputs.has(out)) continue;
    const pads = graph.initializers.get(pad.inputs[1]!)?.data;
    if (!(pads instanceof BigInt64Array) || pad.inputs.length > 2) continue;
    const [n0, c0, top, left, n1, c1, bottom, right] = Array.from(pads, Number);
    if (n0 !== 0 || c0 !== 0 || n1 !== 0 || c1 !== 0) continue;
    const current = conv.attrs.pads?.kind === 'ints' ? conv.attrs.pads.value : [0, 0, 0, 0];
    conv.attrs.pads = attr.ints([current[0]! + top!, current[1]! + left!, current[2]! + bottom!, current[3]! + right!]);
    conv.inputs[0] = pad.inputs[0]!;
    graph.nodes.splice(graph.nodes.indexOf(pad), 1);
    folded++;
  }
  return folded;
}

/** Drops initializers no node reads any more (left behind by folding). */
export function pruneInitializers(graph: IrGraph): void {
  const read = new Set(graph.nodes.flatMap((n) => n.inputs));
  for (const name of [...graph.initializers.keys()]) if (!read.has(name)) graph.initializers.delete(name);
}

/**
 * Writes the graph as an ONNX model.
 *
 * @example
 * const bytes = serialiseGraph(graph, { input, outputs, opset: 13, producerVersion: '1' });
 */
export function serialiseGraph(
  graph: IrGraph,
  opts: {
    readonly graphName: string;
    readonly input: { readonly name: string; readonly shape: readonly Dim[] };
    readonly outputs: readonly { readonly name: string; readonly shape: readonly Dim[] }[];
    readonly opset: number;
    readonly producerVersion: string;
    readonly docString: string;
  },
): Uint8Array {
  const builder = new OnnxGraphBuilder(opts.graphName);
  builder.addInput(opts.input.name, opts.input.shape);
  for (const [name, init] of graph.initializers) builder.addInitializer(name, init.dims, init.data);
  for (const node of graph.nodes) builder.addNode(node.op, node.inputs, node.outputs, node.attrs, node.name);
  for (const out of opts.outputs) builder.addOutput(out.name, out.shape);
  return builder.toBytes({
    opset: opts.opset,
    producer: 'headstart-tfjs-to-onnx',
    producerVersion: opts.producerVersion,
    docString: opts.docString,
  });
}
