// Converts a TF.js layers (Keras) model into an ONNX graph, NHWC → NCHW.
//
// Layers become a small intermediate graph first; peephole passes then fold BatchNormalization
// and zero padding into the neighbouring convolutions before the ONNX bytes are written.
import { z } from 'zod';
import type { NamedTensorBytes } from '../../src/shared/fingerprint.js';
import { attr, type Dim, type OnnxAttribute } from '../../src/shared/onnx-graph.js';
import {
  ActivationConfig,
  BatchNormalizationConfig,
  Conv2DConfig,
  DenseConfig,
  DepthwiseConv2DConfig,
  FunctionalConfig,
  GlobalAveragePooling2DConfig,
  InboundNodes,
  InputLayerConfig,
  NamedConfig,
  ReLUConfig,
  ReshapeConfig,
  SequentialConfig,
  ZeroPadding2DConfig,
} from './keras-layers.js';
import { type IrGraph, type IrNode } from './onnx-ir.js';
import { KerasLayerSchema, asFloat32, type KerasLayerJson } from './tfjs-format.js';

/** A tensor in the graph. `shape` is the Keras shape without batch: [H, W, C] or [C]. */
interface Ref {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Raised for a model the converter cannot translate faithfully; the message names the layer. */
export class UnsupportedModelError extends Error {
  override name = 'UnsupportedModelError';
}

export interface ConvertedGraph extends IrGraph {
  readonly input: { readonly name: string; readonly shape: readonly Dim[] };
  readonly outputs: {
    readonly embedding: OutputInfo;
    readonly logits?: OutputInfo;
    readonly probabilities?: OutputInfo;
  };
}

export interface OutputInfo {
  readonly name: string;
  readonly shape: readonly Dim[];
}

const INPUT_NAME = 'pixel_values';

function parseConfig<T extends z.ZodType>(schema: T, layer: KerasLayerJson): z.infer<T> {
  const result = schema.safeParse(layer.config);
  if (!result.success) {
    throw new UnsupportedModelError(
      `layer ${layer.name ?? '?'} (${layer.class_name}): unsupported config: ${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}

/** NCHW ONNX dims for a Keras shape. */
function onnxDims(shape: readonly number[]): Dim[] {
  if (shape.length === 3) return ['batch', shape[2]!, shape[0]!, shape[1]!];
  return ['batch', ...shape];
}

function convOutput(inSize: number, k: number, s: number, d: number, padding: 'same' | 'valid') {
  const effective = (k - 1) * d + 1;
  if (padding === 'valid') return { out: Math.floor((inSize - effective) / s) + 1, before: 0, after: 0 };
  const out = Math.ceil(inSize / s);
  const total = Math.max((out - 1) * s + effective - inSize, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

class Converter {
  readonly nodes: IrNode[] = [];
  readonly initializers = new Map<string, { dims: number[]; data: Float32Array | BigInt64Array }>();
  private readonly weights = new Map<string, NamedTensorBytes>();
  private readonly usedWeights = new Set<string>();
  private readonly names = new Set<string>([INPUT_NAME, 'embedding', 'logits', 'probabilities']);
  /** The pooled vectors seen, in order; the last one is the embedding. */
  readonly pooled: Ref[] = [];
  /** Softmax ops seen: logits in, probabilities out. */
  readonly softmaxes: { logits: Ref; probabilities: Ref }[] = [];
  /** Tensors that only reshape another one, mapped to the tensor they came from. */
  readonly shapeOnlyFrom = new Map<string, string>();

  constructor(weights: readonly NamedTensorBytes[]) {
    for (const w of weights) this.weights.set(w.name.replace(/:0$/, ''), w);
  }

  fresh(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./-]/g, '_');
    let name = clean;
    for (let i = 1; this.names.has(name); i++) name = `${clean}_${i}`;
    this.names.add(name);
    return name;
  }

  emit(op: string, inputs: string[], output: string, attrs: Record<string, OnnxAttribute> = {}): string {
    this.nodes.push({ op, name: output, inputs, outputs: [output], attrs });
    return output;
  }

  constant(base: string, dims: number[], data: Float32Array | BigInt64Array): string {
    const name = this.fresh(base);
    this.initializers.set(name, { dims, data });
    return name;
  }

  weight(layer: string, param: string, shape: readonly number[]): Float32Array {
    let key = `${layer}/${param}`;
    if (!this.weights.has(key)) {
      const matches = [...this.weights.keys()].filter((k) => k.endsWith(`/${layer}/${param}`));
      if (matches.length !== 1) {
        throw new UnsupportedModelError(`layer ${layer}: weight ${param} not found in the weights manifest`);
      }
      key = matches[0]!;
    }
    const t = this.weights.get(key)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UnsupportedModelError(
        `layer ${layer}: weight ${param} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`,
      );
    }
    this.usedWeights.add(key);
    return asFloat32(t);
  }

  unusedWeights(): string[] {
    return [...this.weights.keys()].filter((k) => !this.usedWeights.has(k));
  }

  activation(layer: string, kind: string, input: Ref): Ref {
    const out = (op: string, inputs: string[] = [input.name], attrs: Record<string, OnnxAttribute> = {}) => ({
      name: this.emit(op, inputs, this.fresh(`${layer}/${kind}`), attrs),
      shape: input.shape,
    });
    switch (kind) {
      case 'linear':
        return input;
      case 'relu':
        return out('Relu');
      case 'relu6':
        return out('Clip', [input.name, this.scalar(layer, 'min', 0), this.scalar(layer, 'max', 6)]);
      case 'sigmoid':
        return out('Sigmoid');
      case 'tanh':
        return out('Tanh');
      case 'softmax': {
        // Keras normalises the last (channel) axis; in NCHW that is axis 1.
        const probs = out('Softmax', [input.name], { axis: attr.int(input.shape.length === 3 ? 1 : -1) });
        this.softmaxes.push({ logits: input, probabilities: probs });
        return probs;
      }
      default:
        throw new UnsupportedModelError(`layer ${layer}: activation "${kind}" is not supported`);
    }
  }

  private scalar(layer: string, what: string, value: number): string {
    return this.constant(`${layer}/${what}`, [], new Float32Array([value]));
  }

  /** Converts one layer (or nested model) applied to `inputs`; returns its output tensors. */
  layer(json: unknown, inputs: readonly Ref[]): Ref[] {
    const layer = KerasLayerSchema.parse(json);
    switch (layer.class_name) {
      case 'Model':
      case 'Functional':
        return this.functional(layer, inputs);
      case 'Sequential':
        return this.sequential(layer, inputs);
      default:
        return [this.simpleLayer(layer, inputs)];
    }
  }

  functional(layer: KerasLayerJson, inputs: readonly Ref[]): Ref[] {
    const cfg = parseConfig(FunctionalConfig, layer);
    const tensors = new Map<string, Ref>();
    if (cfg.input_layers.length !== inputs.length) {
      throw new UnsupportedModelError(`model ${cfg.name}: expects ${cfg.input_layers.length} inputs, got ${inputs.length}`);
    }
    cfg.input_layers.forEach(([name, node, tensor], i) => tensors.set(`${name}:${node}:${tensor}`, inputs[i]!));
    for (const raw of cfg.layers) {
      const child = KerasLayerSchema.parse(raw);
      if (child.class_name === 'InputLayer') continue;
      const nodes = InboundNodes.safeParse(child.inbound_nodes);
      if (!nodes.success) {
        throw new UnsupportedModelError(`layer ${child.name ?? '?'}: unsupported inbound_nodes format`);
      }
      nodes.data.forEach((node, k) => {
        const ins = node.map(([name, n, t]) => {
          const ref = tensors.get(`${name}:${n}:${t}`);
          if (!ref) throw new UnsupportedModelError(`layer ${child.name ?? '?'}: input ${name} is not defined before it`);
          return ref;
        });
        this.layer(child, ins).forEach((ref, t) => tensors.set(`${child.name ?? ''}:${k}:${t}`, ref));
      });
    }
    return cfg.output_layers.map(([name, n, t]) => {
      const ref = tensors.get(`${name}:${n}:${t}`);
      if (!ref) throw new UnsupportedModelError(`model ${cfg.name}: output ${name} was never computed`);
      return ref;
    });
  }

  sequential(layer: KerasLayerJson, inputs: readonly Ref[]): Ref[] {
    const cfg = parseConfig(SequentialConfig, layer);
    let current = [...inputs];
    for (const raw of cfg.layers) {
      const child = KerasLayerSchema.parse(raw);
      if (child.class_name === 'InputLayer') continue;
      current = this.layer(child, current);
    }
    return current;
  }

  simpleLayer(layer: KerasLayerJson, inputs: readonly Ref[]): Ref {
    const name = parseConfig(NamedConfig, layer).name;
    const x = inputs[0];
    if (!x) throw new UnsupportedModelError(`layer ${name}: no input`);
    const needRank = (rank: number) => {
      if (x.shape.length !== rank) {
        throw new UnsupportedModelError(`layer ${name} (${layer.class_name}): expects a rank-${rank} input, got [${x.shape.join(', ')}]`);
      }
    };
    switch (layer.class_name) {
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        needRank(3);
        return this.conv(layer, x);
      }
      case 'BatchNormalization': {
        const cfg = parseConfig(BatchNormalizationConfig, layer);
        const axis = Array.isArray(cfg.axis) ? cfg.axis[0]! : cfg.axis;
        if (axis !== -1 && axis !== x.shape.length) {
          throw new UnsupportedModelError(`layer ${name}: BatchNormalization over axis ${axis} is not supported (only channels)`);
        }
        const c = x.shape[x.shape.length - 1]!;
        const gamma = cfg.scale ? this.weight(name, 'gamma', [c]) : new Float32Array(c).fill(1);
        const beta = cfg.center ? this.weight(name, 'beta', [c]) : new Float32Array(c);
        const mean = this.weight(name, 'moving_mean', [c]);
        const variance = this.weight(name, 'moving_variance', [c]);
        const ins = [
          x.name,
          this.constant(`${name}/gamma`, [c], gamma),
          this.constant(`${name}/beta`, [c], beta),
          this.constant(`${name}/moving_mean`, [c], mean),
          this.constant(`${name}/moving_variance`, [c], variance),
        ];
        return { name: this.emit('BatchNormalization', ins, this.fresh(name), { epsilon: attr.float(cfg.epsilon) }), shape: x.shape };
      }
      case 'ReLU': {
        const cfg = parseConfig(ReLUConfig, layer);
        if (cfg.threshold !== 0) throw new UnsupportedModelError(`layer ${name}: ReLU with a threshold is not supported`);
        if (cfg.negative_slope !== 0) {
          if (cfg.max_value != null) throw new UnsupportedModelError(`layer ${name}: leaky ReLU with a maximum is not supported`);
          return { name: this.emit('LeakyRelu', [x.name], this.fresh(name), { alpha: attr.float(cfg.negative_slope) }), shape: x.shape };
        }
        if (cfg.max_value == null) return { name: this.emit('Relu', [x.name], this.fresh(name)), shape: x.shape };
        const ins = [x.name, this.scalar(name, 'min', 0), this.scalar(name, 'max', cfg.max_value)];
        return { name: this.emit('Clip', ins, this.fresh(name)), shape: x.shape };
      }
      case 'Activation': {
        const cfg = parseConfig(ActivationConfig, layer);
        return this.activation(name, cfg.activation, x);
      }
      case 'Add': {
        if (inputs.length < 2) throw new UnsupportedModelError(`layer ${name}: Add needs at least two inputs`);
        for (const other of inputs) {
          if (other.shape.join() !== x.shape.join()) {
            throw new UnsupportedModelError(`layer ${name}: Add of different shapes [${x.shape.join(', ')}] and [${other.shape.join(', ')}]`);
          }
        }
        let acc = x.name;
        inputs.slice(1).forEach((other, i) => {
          acc = this.emit('Add', [acc, other.name], this.fresh(i === inputs.length - 2 ? name : `${name}/partial`));
        });
        return { name: acc, shape: x.shape };
      }
      case 'ZeroPadding2D': {
        needRank(3);
        const [[top, bottom], [left, right]] = parseConfig(ZeroPadding2DConfig, layer).padding;
        const pads = this.constant(`${name}/pads`, [8], BigInt64Array.from([0, 0, top, left, 0, 0, bottom, right].map(BigInt)));
        const shape = [x.shape[0]! + top + bottom, x.shape[1]! + left + right, x.shape[2]!];
        return { name: this.emit('Pad', [x.name, pads], this.fresh(name), { mode: attr.string('constant') }), shape };
      }
      case 'GlobalAveragePooling2D': {
        needRank(3);
        const cfg = parseConfig(GlobalAveragePooling2DConfig, layer);
        const c = x.shape[2]!;
        const pooled = this.emit('GlobalAveragePool', [x.name], this.fresh(cfg.keepdims ? name : `${name}/pool`));
        const ref: Ref = cfg.keepdims
          ? { name: pooled, shape: [1, 1, c] }
          : { name: this.emit('Flatten', [pooled], this.fresh(name), { axis: attr.int(1) }), shape: [c] };
        this.pooled.push(ref);
        return ref;
      }
      case 'Reshape': {
        const cfg = parseConfig(ReshapeConfig, layer);
        return this.reshape(name, x, cfg.target_shape);
      }
      case 'Flatten':
        return this.reshape(name, x, [x.shape.reduce((a, b) => a * b, 1)]);
      case 'Dropout':
        return x;
      case 'Dense': {
        needRank(1);
        const cfg = parseConfig(DenseConfig, layer);
        const inDim = x.shape[0]!;
        const kernel = this.weight(name, 'kernel', [inDim, cfg.units]);
        const ins = [x.name, this.constant(`${name}/kernel`, [inDim, cfg.units], kernel)];
        if (cfg.use_bias) ins.push(this.constant(`${name}/bias`, [cfg.units], this.weight(name, 'bias', [cfg.units])));
        const y = { name: this.emit('Gemm', ins, this.fresh(cfg.activation === 'linear' ? name : `${name}/linear`)), shape: [cfg.units] };
        return this.activation(name, cfg.activation, y);
      }
      default:
        throw new UnsupportedModelError(`layer ${name}: layer kind ${layer.class_name} is not supported`);
    }
  }

  conv(layer: KerasLayerJson, x: Ref): Ref {
    const depthwise = layer.class_name === 'DepthwiseConv2D';
    const cfg = depthwise ? parseConfig(DepthwiseConv2DConfig, layer) : parseConfig(Conv2DConfig, layer);
    const name = cfg.name;
    const [kh, kw] = cfg.kernel_size;
    const [sh, sw] = cfg.strides;
    const [dh, dw] = cfg.dilation_rate;
    const [h, w, cin] = [x.shape[0]!, x.shape[1]!, x.shape[2]!];
    const rows = convOutput(h, kh, sh, dh, cfg.padding);
    const cols = convOutput(w, kw, sw, dw, cfg.padding);
    let weights: Float32Array;
    let cout: number;
    let group: number;
    if ('depth_multiplier' in cfg) {
      // Keras [kh, kw, cin, m] → ONNX [cin·m, 1, kh, kw]; output channel i·m + j in both.
      const m = cfg.depth_multiplier;
      const k = this.weight(name, 'depthwise_kernel', [kh, kw, cin, m]);
      cout = cin * m;
      group = cin;
      weights = new Float32Array(cout * kh * kw);
      for (let y = 0; y < kh; y++)
        for (let xx = 0; xx < kw; xx++)
          for (let c = 0; c < cin; c++)
            for (let j = 0; j < m; j++) weights[((c * m + j) * kh + y) * kw + xx] = k[((y * kw + xx) * cin + c) * m + j]!;
    } else {
      // Keras HWIO [kh, kw, cin/g, cout] → ONNX OIHW [cout, cin/g, kh, kw].
      group = cfg.groups;
      if (cin % group !== 0) throw new UnsupportedModelError(`layer ${name}: ${cin} channels do not split into ${group} groups`);
      const cig = cin / group;
      cout = cfg.filters;
      const k = this.weight(name, 'kernel', [kh, kw, cig, cout]);
      weights = new Float32Array(cout * cig * kh * kw);
      for (let y = 0; y < kh; y++)
        for (let xx = 0; xx < kw; xx++)
          for (let i = 0; i < cig; i++)
            for (let o = 0; o < cout; o++) weights[((o * cig + i) * kh + y) * kw + xx] = k[((y * kw + xx) * cig + i) * cout + o]!;
    }
    const ins = [x.name, this.constant(`${name}/kernel`, [cout, depthwise ? 1 : cin / group, kh, kw], weights)];
    if (cfg.use_bias) ins.push(this.constant(`${name}/bias`, [cout], this.weight(name, 'bias', [cout])));
    const out = this.emit('Conv', ins, this.fresh(cfg.activation === 'linear' ? name : `${name}/conv`), {
      kernel_shape: attr.ints([kh, kw]),
      strides: attr.ints([sh, sw]),
      dilations: attr.ints([dh, dw]),
      pads: attr.ints([rows.before, cols.before, rows.after, cols.after]),
      group: attr.int(group),
    });
    return this.activation(name, cfg.activation, { name: out, shape: [rows.out, cols.out, cout] });
  }

  /** Keras reshapes follow NHWC memory order, so 4-D tensors go through NHWC and back. */
  reshape(name: string, x: Ref, target: readonly number[]): Ref {
    const size = x.shape.reduce((a, b) => a * b, 1);
    const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const shape = target.map((d) => (d === -1 ? size / known : d));
    if (shape.reduce((a, b) => a * b, 1) !== size || !shape.every(Number.isInteger)) {
      throw new UnsupportedModelError(`layer ${name}: cannot reshape [${x.shape.join(', ')}] to [${target.join(', ')}]`);
    }
    if (shape.length !== 1 && shape.length !== 3) {
      throw new UnsupportedModelError(`layer ${name}: reshape to rank ${shape.length} is not supported`);
    }
    const spatial = (s: readonly number[]) => s.length === 3 && (s[0] !== 1 || s[1] !== 1);
    let src = x.name;
    if (spatial(x.shape)) src = this.emit('Transpose', [src], this.fresh(`${name}/to_nhwc`), { perm: attr.ints([0, 2, 3, 1]) });
    const dims = spatial(shape) ? [0, ...shape] : shape.length === 3 ? [0, shape[2]!, 1, 1] : [0, ...shape];
    const shapeConst = this.constant(`${name}/shape`, [dims.length], BigInt64Array.from(dims.map(BigInt)));
    let out = this.emit('Reshape', [src, shapeConst], this.fresh(spatial(shape) ? `${name}/nhwc` : name));
    if (spatial(shape)) out = this.emit('Transpose', [out], this.fresh(name), { perm: attr.ints([0, 3, 1, 2]) });
    this.shapeOnlyFrom.set(out, x.name);
    return { name: out, shape };
  }
}

/** The tensor `name` came from, following reshape-only layers back. */
function throughShapeOnly(c: Converter, name: string): string {
  let current = name;
  for (let next = c.shapeOnlyFrom.get(current); next !== undefined; next = c.shapeOnlyFrom.get(current)) current = next;
  return current;
}

function findInputShape(json: unknown): number[] {
  const layer = KerasLayerSchema.parse(json);
  const cfg = InputLayerConfig.partial().safeParse(layer.config);
  const batchShape = cfg.success ? (cfg.data.batch_input_shape ?? cfg.data.batch_shape) : undefined;
  if (batchShape) {
    const dims = batchShape.slice(1);
    if (dims.some((d) => d === null)) throw new UnsupportedModelError('the model input must have a fixed size');
    return dims.map(Number);
  }
  if (layer.class_name === 'Sequential' || layer.class_name === 'Model' || layer.class_name === 'Functional') {
    const nested = (layer.config as { layers?: unknown[] } | unknown[]) ?? [];
    const layers = Array.isArray(nested) ? nested : (nested.layers ?? []);
    if (layers[0] !== undefined) return findInputShape(layers[0]);
  }
  throw new UnsupportedModelError('cannot find the model input shape (no InputLayer or batch_input_shape)');
}

/**
 * Converts a Keras topology and its weights into an intermediate ONNX graph with named outputs:
 * `embedding` (the last global-average-pooled vector), and — when the model ends in a softmax —
 * `logits` and `probabilities`.
 *
 * @example
 * const graph = convertKerasModel(model.topology, model.weights);
 */
export function convertKerasModel(topology: KerasLayerJson, weights: readonly NamedTensorBytes[]): ConvertedGraph {
  const shape = findInputShape(topology);
  if (shape.length !== 3 || shape[2] !== 3) {
    throw new UnsupportedModelError(`the model input must be [height, width, 3], got [${shape.join(', ')}]`);
  }
  const c = new Converter(weights);
  const [output] = c.layer(topology, [{ name: INPUT_NAME, shape }]);
  if (!output) throw new UnsupportedModelError('the model has no output');
  const unused = c.unusedWeights();
  if (unused.length > 0) throw new UnsupportedModelError(`weights not used by any layer: ${unused.slice(0, 5).join(', ')}`);
  const embedding = c.pooled[c.pooled.length - 1];
  if (!embedding) throw new UnsupportedModelError('no GlobalAveragePooling2D layer to take the embedding from');

  const named = (ref: Ref, outName: string): OutputInfo => {
    const flat = ref.shape.reduce((a, b) => a * b, 1);
    const op = ref.shape.length === 1 ? 'Identity' : 'Flatten';
    c.emit(op, [ref.name], outName, op === 'Flatten' ? { axis: attr.int(1) } : {});
    return { name: outName, shape: ['batch', flat] };
  };
  const outputs: { embedding: OutputInfo; logits?: OutputInfo; probabilities?: OutputInfo } = {
    embedding: named(embedding, 'embedding'),
  };
  const last = c.softmaxes[c.softmaxes.length - 1];
  if (last && throughShapeOnly(c, output.name) === last.probabilities.name && output.name !== embedding.name) {
    outputs.logits = named(last.logits, 'logits');
    outputs.probabilities = named(output, 'probabilities');
  }
  return {
    nodes: c.nodes,
    initializers: c.initializers,
    input: { name: INPUT_NAME, shape: onnxDims(shape) },
    outputs,
  };
}
