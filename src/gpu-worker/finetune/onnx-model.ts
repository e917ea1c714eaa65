// Reads a backbone's ONNX file into plain nodes and float weights, the form the fine-tuning
// graph builder works on.
import onnxProto from 'onnx-proto';
import type { GraphNodeRef } from '../../shared/backbone-graph.js';
import type { OnnxAttribute } from '../../shared/onnx-graph.js';

const { onnx } = onnxProto;

export interface ModelNode extends GraphNodeRef {
  readonly attrs: Readonly<Record<string, OnnxAttribute>>;
}

export interface FloatTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

export interface OnnxModel {
  readonly input: string;
  readonly nodes: readonly ModelNode[];
  readonly initializers: ReadonlyMap<string, FloatTensor>;
}

function attribute(a: onnxProto.onnx.IAttributeProto): OnnxAttribute | undefined {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.INT:
      return { kind: 'int', value: Number(a.i ?? 0) };
    case T.FLOAT:
      return { kind: 'float', value: a.f ?? 0 };
    case T.INTS:
      return { kind: 'ints', value: (a.ints ?? []).map(Number) };
    case T.FLOATS:
      return { kind: 'floats', value: [...(a.floats ?? [])] };
    case T.STRING:
      return { kind: 'string', value: new TextDecoder().decode(a.s ?? new Uint8Array()) };
    default:
      return undefined;
  }
}

function floatData(t: onnxProto.onnx.ITensorProto): Float32Array {
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT)
    throw new TypeError(`initializer ${t.name ?? '?'} is not float32`);
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  }
  return Float32Array.from(t.floatData ?? []);
}

/**
 * @example
 * const model = readOnnxModel(await readFile('models/mobilenet-v2-0.35/model.onnx'));
 * model.nodes.length; // 100
 */
export function readOnnxModel(bytes: Uint8Array): OnnxModel {
  const graph = onnx.ModelProto.decode(bytes).graph;
  if (!graph) throw new Error('the ONNX model has no graph');
  const initializers = new Map<string, FloatTensor>();
  for (const t of graph.initializer ?? [])
    initializers.set(t.name ?? '', { dims: (t.dims ?? []).map(Number), data: floatData(t) });
  const nodes = (graph.node ?? []).map((n) => ({
    name: n.name ?? '',
    op: n.opType ?? '',
    inputs: n.input ?? [],
    outputs: n.output ?? [],
    attrs: Object.fromEntries(
      (n.attribute ?? []).flatMap((a) => {
        const value = attribute(a);
        return value ? [[a.name ?? '', value] as const] : [];
      }),
    ),
  }));
  const input = graph.input?.find((i) => !initializers.has(i.name ?? ''))?.name;
  if (!input) throw new Error('the ONNX model has no input');
  return { input, nodes, initializers };
}
