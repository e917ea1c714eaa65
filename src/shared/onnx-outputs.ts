// Adds graph outputs to serialised ONNX models without decoding them: the edge and the worker
// both need a backbone session that also returns the tensors at its cut points (where fine-tuned
// heads begin), and neither should pay for a full protobuf decode of the weights.

import { concatBytes } from './bytes.js';

const GRAPH_FIELD = 7; // ModelProto.graph
const GRAPH_OUTPUT_FIELD = 12; // GraphProto.output
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function readVarint(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < bytes.length && i < at + 10; i++) {
    const b = bytes[i]!;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, i + 1];
    scale *= 128;
  }
  throw new RangeError('truncated protobuf varint');
}

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

const lengthDelimited = (field: number, body: Uint8Array | number[]): number[] => [
  ...varint((field << 3) | WIRE_LEN),
  ...varint(body.length),
  ...body,
];

/** ValueInfoProto { name, type: TypeProto { tensor_type { elem_type: FLOAT } } }. */
function floatOutput(name: string): number[] {
  const tensorType = [...varint((1 << 3) | WIRE_VARINT), 1];
  const type = lengthDelimited(1, tensorType);
  return [...lengthDelimited(1, [...new TextEncoder().encode(name)]), ...lengthDelimited(2, type)];
}

/**
 * Returns a copy of the model whose graph also outputs `names` (float tensors, shape left to
 * onnxruntime's inference). Names already among the outputs are the caller's business: pass
 * only new ones.
 *
 * @example
 * const bytes = withGraphOutputs(backboneBytes, ['block_15_add']);
 */
export function withGraphOutputs(model: Uint8Array, names: readonly string[]): Uint8Array {
  if (names.length === 0) return model;
  const parts: Uint8Array[] = [];
  let at = 0;
  let found = false;
  while (at < model.length) {
    const start = at;
    const [key, afterKey] = readVarint(model, at);
    const wire = key & 7;
    let end: number;
    if (wire === WIRE_VARINT) end = readVarint(model, afterKey)[1];
    else if (wire === WIRE_I64) end = afterKey + 8;
    else if (wire === WIRE_I32) end = afterKey + 4;
    else if (wire === WIRE_LEN) {
      const [length, body] = readVarint(model, afterKey);
      end = body + length;
      if (key >>> 3 === GRAPH_FIELD) {
        found = true;
        const extra = names.flatMap((n) => lengthDelimited(GRAPH_OUTPUT_FIELD, floatOutput(n)));
        const graph = new Uint8Array(length + extra.length);
        graph.set(model.subarray(body, end));
        graph.set(extra, length);
        parts.push(new Uint8Array([...varint(key), ...varint(graph.length)]), graph);
        at = end;
        continue;
      }
    } else throw new RangeError(`unsupported protobuf wire type ${wire}`);
    if (end > model.length) throw new RangeError('truncated ONNX model');
    parts.push(model.subarray(start, end));
    at = end;
  }
  if (!found) throw new RangeError('the ONNX model has no graph');
  return concatBytes(parts);
}
