// Builds ONNX graphs for a backbone's tail (the nodes from a cut tensor to the embedding) plus a
// classifier: the training step (forward, loss and reverse-mode gradients, all in one graph that
// onnxruntime runs on CPU or CUDA), the evaluation pass, and the exported head. Parameters the
// step trains are graph inputs, so the optimiser (Adam, in the trainer) can update them between
// steps; frozen ones stay constants.
import { OnnxGraphBuilder, attr, type OnnxAttribute } from '../../shared/onnx-graph.js';
import { tailNodes } from '../../shared/backbone-graph.js';
import type { FloatTensor, ModelNode } from './onnx-model.js';

export const TAIL_OPSET = 13;

/** Operators the tail may contain; anything else is refused before training starts. */
export const DIFFERENTIABLE_OPS: ReadonlySet<string> = new Set([
  'Conv',
  'Clip',
  'Relu',
  'Add',
  'GlobalAveragePool',
  'Flatten',
  'Identity',
]);

/** A tail of the backbone: nodes in graph order from `cut` to `output`, with their constants. */
export interface Tail {
  readonly cut: string;
  /** Shape of the cut tensor without the batch axis, e.g. [56, 7, 7]. */
  readonly cutShape: readonly number[];
  readonly output: string;
  readonly nodes: readonly ModelNode[];
  /** Every constant the nodes read (weights, biases, clip bounds) at their pretrained values. */
  readonly constants: ReadonlyMap<string, FloatTensor>;
}

export interface ClassifierShape {
  readonly type: 'linear' | 'mlp';
  readonly dim: number;
  readonly hidden: number;
  readonly classes: number;
}

/** Classifier parameter names (the exported head uses the same ones as a linear probe). */
export const CLASSIFIER_PARAMS = {
  linear: ['w1', 'b1'],
  mlp: ['w1', 'b1', 'w2', 'b2'],
} as const;

/** Names of the BatchNorm parameters inserted after a trainable convolution in `train` mode. */
export const bnParams = (conv: string) => ({
  gamma: `bn/${conv}/gamma`,
  beta: `bn/${conv}/beta`,
  mean: `bnstat/${conv}/mean`,
  variance: `bnstat/${conv}/var`,
});
export const BN_EPSILON = 1e-3;

export const gradName = (param: string) => `grad/${param}`;
const LOGITS = 'logits';

export type GraphKind =
  | {
      /** Forward + loss + gradients of `trainable` (parameter names). */
      readonly kind: 'train';
      readonly trainable: ReadonlySet<string>;
      /** Convolutions (by output name) followed by a BatchNorm that uses batch statistics. */
      readonly batchNormAfter: ReadonlySet<string>;
      readonly dropout: boolean;
    }
  | {
      /** Forward only; every tail and classifier parameter is an input (validation each epoch). */
      readonly kind: 'eval';
    }
  | {
      /** The deployable head: weights baked in, Softmax added. */
      readonly kind: 'export';
      readonly weights: ReadonlyMap<string, Float32Array>;
      readonly producerVersion: string;
      readonly docString?: string;
    };

type Shape = readonly number[];

interface TapeEntry {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly output: string;
  readonly attrs: Readonly<Record<string, OnnxAttribute>>;
  /** BatchNorm internals kept for its backward pass. */
  readonly bn?: { readonly xhat: string; readonly inv: string; readonly gamma: string };
}

const ints = (a: OnnxAttribute | undefined, fallback: number[]): number[] =>
  a?.kind === 'ints' ? [...a.value] : fallback;
const int = (a: OnnxAttribute | undefined, fallback: number): number =>
  a?.kind === 'int' ? a.value : fallback;

class TailGraphBuilder {
  readonly g = new OnnxGraphBuilder('headstart_tail');
  private readonly shapes = new Map<string, Shape>();
  private readonly tape: TapeEntry[] = [];
  private readonly constCache = new Map<string, string>();
  private readonly requiresGrad = new Set<string>();
  private readonly grads = new Map<string, string>();
  private readonly declaredParams = new Set<string>();
  private readonly paramDims = new Map<string, Shape>();

  constructor(
    private readonly tail: Tail,
    private readonly classifier: ClassifierShape,
    private readonly kind: GraphKind,
  ) {}

  private tmp(base: string): string {
    return this.g.uniqueName(`__${base}`);
  }

  private i64(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.tmp(`const_i64_${values.join('_').replace(/-/g, 'm')}`);
      this.g.addInitializer(name, [values.length], BigInt64Array.from(values.map(BigInt)));
      this.constCache.set(key, name);
    }
    return name;
  }

  private f32(value: number): string {
    const key = `f32:${value}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.tmp('const_f32');
      this.g.addInitializer(name, [], Float32Array.of(value));
      this.constCache.set(key, name);
    }
    return name;
  }

  private node(
    op: string,
    inputs: readonly string[],
    attrs: Readonly<Record<string, OnnxAttribute>> = {},
    output?: string,
  ): string {
    const out = output ?? this.tmp(op.toLowerCase());
    this.g.addNode(op, inputs, [out], attrs);
    return out;
  }

  private isTrainable(name: string): boolean {
    return this.kind.kind === 'train' && this.kind.trainable.has(name);
  }

  /** Declares a parameter: a graph input when it changes between runs, else a constant. */
  private param(name: string, dims: Shape, pretrained?: Float32Array): string {
    if (this.declaredParams.has(name)) return name;
    this.declaredParams.add(name);
    this.paramDims.set(name, dims);
    const k = this.kind;
    if (k.kind === 'export') {
      const value = k.weights.get(name) ?? pretrained;
      if (!value) throw new Error(`no value for parameter ${name}`);
      this.g.addInitializer(name, dims, value);
    } else if (k.kind === 'eval' || k.trainable.has(name)) {
      this.g.addInput(name, dims);
    } else {
      if (!pretrained) throw new Error(`parameter ${name} is frozen but has no value`);
      this.g.addInitializer(name, dims, pretrained);
    }
    if (this.isTrainable(name)) this.requiresGrad.add(name);
    return name;
  }

  /** Tail constants: conv weights and biases are parameters, clip bounds plain constants. */
  private constant(name: string, asParam: boolean): string {
    const t = this.tail.constants.get(name);
    if (!t) throw new Error(`the tail reads "${name}", which is not a constant of the backbone`);
    if (asParam) return this.param(name, t.dims, t.data);
    if (!this.declaredParams.has(name)) {
      this.declaredParams.add(name);
      this.g.addInitializer(name, t.dims, t.data);
    }
    return name;
  }

  private record(entry: TapeEntry, shape: Shape): void {
    this.tape.push(entry);
    this.shapes.set(entry.output, shape);
    if (entry.inputs.some((i) => this.requiresGrad.has(i))) this.requiresGrad.add(entry.output);
  }

  /** Emits the tail and classifier forward; returns the logits tensor. */
  forward(): string {
    const { tail } = this;
    this.g.addInput(tail.cut, ['batch', ...tail.cutShape]);
    this.shapes.set(tail.cut, tail.cutShape);
    for (const n of tail.nodes) this.forwardNode(n);
    return this.forwardClassifier(tail.output);
  }

  private forwardNode(n: ModelNode): void {
    if (!DIFFERENTIABLE_OPS.has(n.op))
      throw new Error(`${n.name}: ${n.op} is not supported in a trainable tail`);
    const out = n.outputs[0]!;
    const x = n.inputs[0]!;
    const xs = this.shapes.get(x);
    if (!xs) throw new Error(`${n.name}: the shape of "${x}" is unknown`);
    switch (n.op) {
      case 'Conv': {
        const w = this.tail.constants.get(n.inputs[1]!);
        if (!w) throw new Error(`${n.name}: missing weights`);
        const [co, , kh, kw] = w.dims as [number, number, number, number];
        const strides = ints(n.attrs.strides, [1, 1]);
        const pads = ints(n.attrs.pads, [0, 0, 0, 0]);
        const dil = ints(n.attrs.dilations, [1, 1]);
        if (dil.some((d) => d !== 1)) throw new Error(`${n.name}: dilated convolutions`);
        const ho = Math.floor((xs[1]! + pads[0]! + pads[2]! - kh) / strides[0]!) + 1;
        const wo = Math.floor((xs[2]! + pads[1]! + pads[3]! - kw) / strides[1]!) + 1;
        const inputs = [
          x,
          this.constant(n.inputs[1]!, true),
          ...(n.inputs[2] ? [this.constant(n.inputs[2], true)] : []),
        ];
        const attrs = {
          kernel_shape: attr.ints([kh, kw]),
          strides: attr.ints(strides),
          pads: attr.ints(pads),
          dilations: attr.ints([1, 1]),
          group: attr.int(int(n.attrs.group, 1)),
        };
        const k = this.kind;
        const bn = k.kind === 'train' && k.batchNormAfter.has(out);
        const convOut = bn ? this.tmp(`${out}_conv`) : out;
        this.node('Conv', inputs, attrs, convOut);
        this.record({ op: 'Conv', inputs, output: convOut, attrs }, [co, ho, wo]);
        if (bn) this.forwardBatchNorm(convOut, out, co, [co, ho, wo]);
        return;
      }
      case 'Clip': {
        const inputs = [x, ...n.inputs.slice(1).map((c) => (c ? this.constant(c, false) : ''))];
        this.node('Clip', inputs, {}, out);
        this.record({ op: 'Clip', inputs, output: out, attrs: {} }, xs);
        return;
      }
      case 'Add': {
        const shapeB = this.shapes.get(n.inputs[1]!);
        if (!shapeB || shapeB.join() !== xs.join())
          throw new Error(`${n.name}: Add with broadcasting is not supported`);
        this.node('Add', n.inputs, {}, out);
        this.record({ op: 'Add', inputs: n.inputs, output: out, attrs: {} }, xs);
        return;
      }
      case 'GlobalAveragePool':
        this.node(n.op, [x], {}, out);
        this.record({ op: n.op, inputs: [x], output: out, attrs: {} }, [xs[0]!, 1, 1]);
        return;
      case 'Flatten': {
        if (int(n.attrs.axis, 1) !== 1) throw new Error(`${n.name}: Flatten axis must be 1`);
        const attrs = { axis: attr.int(1) };
        this.node('Flatten', [x], attrs, out);
        this.record({ op: 'Flatten', inputs: [x], output: out, attrs }, [
          xs.reduce((a, b) => a * b, 1),
        ]);
        return;
      }
      default:
        this.node(n.op, [x], {}, out);
        this.record({ op: n.op, inputs: [x], output: out, attrs: {} }, xs);
    }
  }

  /** BatchNorm with batch statistics; starts as the identity (γ, β set from population stats). */
  private forwardBatchNorm(z: string, out: string, channels: number, shape: Shape): void {
    const names = bnParams(out);
    const gamma = this.param(names.gamma, [1, channels, 1, 1]);
    const beta = this.param(names.beta, [1, channels, 1, 1]);
    const axes = { axes: attr.ints([0, 2, 3]), keepdims: attr.int(1) };
    const mean = this.node('ReduceMean', [z], axes, names.mean);
    const d = this.node('Sub', [z, mean]);
    const variance = this.node('ReduceMean', [this.node('Mul', [d, d])], axes, names.variance);
    const inv = this.node('Reciprocal', [
      this.node('Sqrt', [this.node('Add', [variance, this.f32(BN_EPSILON)])]),
    ]);
    const xhat = this.node('Mul', [d, inv]);
    this.node('Add', [this.node('Mul', [xhat, gamma]), beta], {}, out);
    this.g.addOutput(names.mean, [1, channels, 1, 1]);
    this.g.addOutput(names.variance, [1, channels, 1, 1]);
    this.record(
      {
        op: 'BatchNorm',
        inputs: [z, gamma, beta],
        output: out,
        attrs: {},
        bn: { xhat, inv, gamma },
      },
      shape,
    );
  }

  private forwardClassifier(embedding: string): string {
    const c = this.classifier;
    const shape = this.shapes.get(embedding);
    if (!shape || shape.length !== 1 || shape[0] !== c.dim)
      throw new Error(`the tail ends in [${shape?.join(', ') ?? '?'}], not [${c.dim}]`);
    let features = embedding;
    const k = this.kind;
    if (k.kind === 'train' && k.dropout) {
      this.g.addInput('dropout_mask', ['batch', c.dim]);
      features = this.node('Mul', [embedding, 'dropout_mask']);
      this.record(
        { op: 'Mul', inputs: [embedding, 'dropout_mask'], output: features, attrs: {} },
        shape,
      );
    }
    const gemm = (input: string, w: string, b: string, inDim: number, outDim: number) => {
      const inputs = [input, this.param(w, [inDim, outDim]), this.param(b, [outDim])];
      const out = this.node('Gemm', inputs);
      this.record({ op: 'Gemm', inputs, output: out, attrs: {} }, [outDim]);
      return out;
    };
    if (c.type === 'linear') return gemm(features, 'w1', 'b1', c.dim, c.classes);
    const hidden = gemm(features, 'w1', 'b1', c.dim, c.hidden);
    const relu = this.node('Relu', [hidden]);
    this.record({ op: 'Relu', inputs: [hidden], output: relu, attrs: {} }, [c.hidden]);
    return gemm(relu, 'w2', 'b2', c.hidden, c.classes);
  }

  private accumulate(tensor: string, grad: string): void {
    if (!this.requiresGrad.has(tensor)) return;
    const existing = this.grads.get(tensor);
    this.grads.set(tensor, existing ? this.node('Add', [existing, grad]) : grad);
  }

  /** Softmax cross-entropy against soft targets, then every gradient back to the parameters. */
  lossAndBackward(logits: string): void {
    this.node('Identity', [logits], {}, LOGITS);
    this.g.addOutput(LOGITS, ['batch', this.classifier.classes]);
    this.g.addInput('targets', ['batch', this.classifier.classes]);
    const logp = this.node('LogSoftmax', [logits], { axis: attr.int(1) });
    const perRow = this.node('ReduceSum', [this.node('Mul', ['targets', logp]), this.i64([1])], {
      keepdims: attr.int(0),
    });
    this.node(
      'Neg',
      [this.node('ReduceMean', [perRow], { axes: attr.ints([0]), keepdims: attr.int(0) })],
      {},
      'loss',
    );
    const batch = this.node(
      'Cast',
      [this.node('Gather', [this.node('Shape', [logits]), this.i64([0])])],
      {
        to: attr.int(1),
      },
    );
    const probs = this.node('Softmax', [logits], { axis: attr.int(1) });
    this.grads.set(logits, this.node('Div', [this.node('Sub', [probs, 'targets']), batch]));
    this.g.addOutput('loss', []);

    for (let i = this.tape.length - 1; i >= 0; i--) {
      const e = this.tape[i]!;
      const dy = this.grads.get(e.output);
      if (dy) this.backwardEntry(e, dy);
    }
    if (this.kind.kind !== 'train') return;
    for (const p of this.kind.trainable) {
      const grad = this.grads.get(p);
      if (!grad) throw new Error(`parameter ${p} is not used by the tail`);
      this.node('Identity', [grad], {}, gradName(p));
      this.g.addOutput(gradName(p), this.paramDims.get(p) ?? []);
    }
  }

  private backwardEntry(e: TapeEntry, dy: string): void {
    const [x, b, c] = e.inputs as [string, string | undefined, string | undefined];
    const needs = (t: string | undefined): t is string =>
      t !== undefined && t !== '' && this.requiresGrad.has(t);
    switch (e.op) {
      case 'Conv':
        return this.backwardConv(e, dy);
      case 'BatchNorm': {
        const { xhat, inv, gamma } = e.bn!;
        const axes = { axes: attr.ints([0, 2, 3]), keepdims: attr.int(1) };
        const sum = (t: string) =>
          this.node('ReduceSum', [t, this.i64([0, 2, 3])], { keepdims: attr.int(1) });
        if (needs(b)) this.accumulate(b, sum(this.node('Mul', [dy, xhat])));
        if (needs(c)) this.accumulate(c, sum(dy));
        if (needs(x)) {
          const dxhat = this.node('Mul', [dy, gamma]);
          const m1 = this.node('ReduceMean', [dxhat], axes);
          const m2 = this.node('ReduceMean', [this.node('Mul', [dxhat, xhat])], axes);
          const centred = this.node('Sub', [
            this.node('Sub', [dxhat, m1]),
            this.node('Mul', [xhat, m2]),
          ]);
          this.accumulate(x, this.node('Mul', [inv, centred]));
        }
        return;
      }
      case 'Clip': {
        if (!needs(x)) return;
        // Inside the bounds the clipped value equals its input: one comparison with the forward
        // output instead of two against the bounds and an And.
        this.accumulate(
          x,
          this.node('Where', [this.node('Equal', [e.output, x]), dy, this.f32(0)]),
        );
        return;
      }
      case 'Relu':
        if (needs(x))
          this.accumulate(
            x,
            this.node('Where', [this.node('Greater', [x, this.f32(0)]), dy, this.f32(0)]),
          );
        return;
      case 'Add':
        if (needs(x)) this.accumulate(x, dy);
        if (needs(b)) this.accumulate(b, dy);
        return;
      case 'Mul':
        if (needs(x)) this.accumulate(x, this.node('Mul', [dy, b!]));
        return;
      case 'GlobalAveragePool': {
        if (!needs(x)) return;
        const [, h, w] = this.shapes.get(x)!;
        const scaled = this.node('Mul', [dy, this.f32(1 / (h! * w!))]);
        this.accumulate(x, this.node('Expand', [scaled, this.node('Shape', [x])]));
        return;
      }
      case 'Flatten':
        if (needs(x)) this.accumulate(x, this.node('Reshape', [dy, this.node('Shape', [x])]));
        return;
      case 'Gemm':
        if (needs(x)) this.accumulate(x, this.node('Gemm', [dy, b!], { transB: attr.int(1) }));
        if (needs(b)) this.accumulate(b, this.node('Gemm', [x, dy], { transA: attr.int(1) }));
        if (needs(c))
          this.accumulate(
            c,
            this.node('ReduceSum', [dy, this.i64([0])], { keepdims: attr.int(0) }),
          );
        return;
      default:
        if (needs(x)) this.accumulate(x, dy);
    }
  }

  private backwardConv(e: TapeEntry, dy: string): void {
    const [x, w, bias] = e.inputs as [string, string, string | undefined];
    const xs = this.shapes.get(x)!;
    const ys = this.shapes.get(e.output)!;
    const wt = this.tail.constants.get(w)!;
    const [co, cig, kh, kw] = wt.dims as [number, number, number, number];
    const strides = ints(e.attrs.strides, [1, 1]) as [number, number];
    const pads = ints(e.attrs.pads, [0, 0, 0, 0]) as [number, number, number, number];
    const group = int(e.attrs.group, 1);
    const ci = xs[0]!;
    if (bias && this.requiresGrad.has(bias))
      this.accumulate(
        bias,
        this.node('ReduceSum', [dy, this.i64([0, 2, 3])], { keepdims: attr.int(0) }),
      );
    if (this.requiresGrad.has(x)) {
      // The transposed convolution is the adjoint of the forward one: same weights, strides and
      // pads, plus the rows a strided forward pass never read (output_padding).
      const outputPadding = [0, 1].map(
        (d) =>
          xs[d + 1]! - (strides[d]! * (ys[d + 1]! - 1) + [kh, kw][d]! - pads[d]! - pads[d + 2]!),
      );
      this.accumulate(
        x,
        this.node('ConvTranspose', [dy, w], {
          kernel_shape: attr.ints([kh, kw]),
          strides: attr.ints(strides),
          pads: attr.ints(pads),
          output_padding: attr.ints(outputPadding),
          group: attr.int(group),
        }),
      );
    }
    if (!this.requiresGrad.has(w)) return;
    const pointwise =
      kh === 1 && kw === 1 && strides.every((s) => s === 1) && pads.every((p) => p === 0);
    const dyRows = () =>
      this.node('Reshape', [
        this.node('Transpose', [dy], { perm: attr.ints([1, 0, 2, 3]) }),
        this.i64([co, -1]),
      ]);
    const rowsOf = (t: string) =>
      this.node('Reshape', [
        this.node('Transpose', [t], { perm: attr.ints([0, 2, 3, 1]) }),
        this.i64([-1, ci / group]),
      ]);
    if (group === 1 && pointwise) {
      const dw = this.node('MatMul', [dyRows(), rowsOf(x)]);
      this.accumulate(w, this.node('Reshape', [dw, this.i64([co, ci, 1, 1])]));
      return;
    }
    const depthwise = group === ci && cig === 1 && co === ci;
    if (!depthwise && group !== 1)
      throw new Error(`grouped convolutions other than depthwise are not supported (${e.output})`);
    const padded = pads.some((p) => p !== 0)
      ? this.node('Pad', [x, this.i64([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]])])
      : x;
    const [, ho, wo] = ys as [number, number, number];
    const rows = depthwise ? undefined : dyRows();
    const taps: string[] = [];
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const window = this.node('Slice', [
          padded,
          this.i64([a, b]),
          this.i64([a + strides[0] * (ho - 1) + 1, b + strides[1] * (wo - 1) + 1]),
          this.i64([2, 3]),
          this.i64(strides),
        ]);
        if (depthwise) {
          const s = this.node('ReduceSum', [this.node('Mul', [window, dy]), this.i64([0, 2, 3])], {
            keepdims: attr.int(0),
          });
          taps.push(this.node('Unsqueeze', [s, this.i64([1])]));
        } else {
          taps.push(
            this.node('Unsqueeze', [this.node('MatMul', [rows!, rowsOf(window)]), this.i64([2])]),
          );
        }
      }
    }
    const stacked = this.node('Concat', taps, { axis: attr.int(depthwise ? 1 : 2) });
    this.accumulate(w, this.node('Reshape', [stacked, this.i64([co, cig, kh, kw])]));
  }

  /** Records the (batch, …) logits output for eval and export graphs. */
  finishInference(logits: string): void {
    this.node('Identity', [logits], {}, LOGITS);
    this.g.addOutput(LOGITS, ['batch', this.classifier.classes]);
    if (this.kind.kind === 'export') {
      this.node('Softmax', [LOGITS], { axis: attr.int(1) }, 'probabilities');
      this.g.addOutput('probabilities', ['batch', this.classifier.classes]);
    }
  }

  /** Every parameter the graph takes or bakes in (tail weights and biases, classifier, BN). */
  parameters(): string[] {
    return [...this.paramDims.keys()];
  }
}

export interface BuiltGraph {
  readonly bytes: Uint8Array;
  /** Tail and classifier parameters in the graph (inputs for train/eval, baked in for export). */
  readonly parameters: readonly string[];
}

/**
 * Builds one of the three graphs for `tail` + `classifier`.
 *
 * @example
 * const step = buildTailGraph(tail, { type: 'linear', dim: 1280, hidden: 0, classes: 2 },
 *   { kind: 'train', trainable: new Set(['w1', 'b1', 'Conv_1/kernel']), batchNormAfter: new Set(), dropout: true });
 * // inputs: the cut tensor, trainable parameters, targets, dropout_mask
 * // outputs: loss, logits, grad/<param> for each trainable parameter
 */
export function buildTailGraph(
  tail: Tail,
  classifier: ClassifierShape,
  kind: GraphKind,
): BuiltGraph {
  const b = new TailGraphBuilder(tail, classifier, kind);
  const logits = b.forward();
  if (kind.kind === 'train') b.lossAndBackward(logits);
  else b.finishInference(logits);
  return {
    bytes: b.g.toBytes({
      opset: TAIL_OPSET,
      producer: 'headstart-worker',
      producerVersion: kind.kind === 'export' ? kind.producerVersion : 'training',
      ...(kind.kind === 'export' && kind.docString !== undefined
        ? { docString: kind.docString }
        : {}),
    }),
    parameters: b.parameters(),
  };
}

/**
 * Cuts `tail` out of a backbone: the nodes from `cut` to `output` and the constants they read.
 *
 * @example
 * const tail = extractTail(readOnnxModel(bytes), 'block_15_add', [56, 7, 7], 'embedding');
 */
export function extractTail(
  model: {
    readonly input: string;
    readonly nodes: readonly ModelNode[];
    readonly initializers: ReadonlyMap<string, FloatTensor>;
  },
  cut: string,
  cutShape: readonly number[],
  output: string,
): Tail {
  const nodes = tailNodes(
    model.nodes,
    cut,
    output,
    new Set(model.initializers.keys()),
    model.input,
  );
  const constants = new Map<string, FloatTensor>();
  for (const n of nodes)
    for (const i of n.inputs) {
      const t = model.initializers.get(i);
      if (t) constants.set(i, t);
    }
  return { cut, cutShape, output, nodes, constants };
}
