// A small typed builder for ONNX graphs, serialised with the onnx-proto protobuf bindings.
// Used by the TF.js converter and by head export, so both write models the same way.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** A node attribute with its ONNX type made explicit (ONNX distinguishes int from float). */
export type OnnxAttribute =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string };

export const attr = {
  int: (value: number): OnnxAttribute => ({ kind: 'int', value }),
  float: (value: number): OnnxAttribute => ({ kind: 'float', value }),
  ints: (value: readonly number[]): OnnxAttribute => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): OnnxAttribute => ({ kind: 'floats', value }),
  string: (value: string): OnnxAttribute => ({ kind: 'string', value }),
};

/** A dimension: a fixed size, or a name for a dynamic axis such as "batch". */
export type Dim = number | string;

function toAttributeProto(name: string, a: OnnxAttribute): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
  }
}

function valueInfo(name: string, dims: readonly Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Collects nodes, initializers, inputs and outputs, then serialises a ModelProto.
 *
 * @example
 * const g = new OnnxGraphBuilder('head');
 * g.addInput('embedding', ['batch', 1280]);
 * g.addInitializer('W', [1280, 2], weights);
 * g.addNode('MatMul', ['embedding', 'W'], ['logits']);
 * g.addOutput('logits', ['batch', 2]);
 * const bytes = g.toBytes({ opset: 13, producer: 'headstart' });
 */
export class OnnxGraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(private readonly graphName: string) {}

  /** A fresh tensor or node name derived from `base`. */
  uniqueName(base: string): string {
    let name = base;
    while (this.names.has(name)) name = `${base}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  addInput(name: string, dims: readonly Dim[]): void {
    this.inputs.push(valueInfo(name, dims));
  }

  addOutput(name: string, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  /** A float32 (or int64, for shapes and pads) constant tensor. */
  addInitializer(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): void {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new RangeError(
        `initializer ${name}: ${data.length} values for shape [${dims.join(', ')}]`,
      );
    }
    this.initializers.push({
      name,
      dims: [...dims],
      dataType:
        data instanceof Float32Array
          ? onnx.TensorProto.DataType.FLOAT
          : onnx.TensorProto.DataType.INT64,
      rawData: bytesOf(data),
    });
  }

  addNode(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attributes: Readonly<Record<string, OnnxAttribute>> = {},
    name?: string,
  ): void {
    this.nodes.push({
      opType,
      name: this.uniqueName(name ?? outputs[0] ?? opType),
      input: [...inputs],
      output: [...outputs],
      attribute: Object.entries(attributes).map(([k, v]) => toAttributeProto(k, v)),
    });
  }

  toBytes(opts: {
    readonly opset: number;
    readonly producer: string;
    readonly producerVersion: string;
    readonly docString?: string;
  }): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: opts.opset }],
      producerName: opts.producer,
      producerVersion: opts.producerVersion,
      docString: opts.docString ?? '',
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    // protobufjs hands back a Node Buffer where one exists: return a plain Uint8Array view.
    const bytes = onnx.ModelProto.encode(model).finish();
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}
