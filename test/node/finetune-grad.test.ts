// Gradients of the generated training graph against central finite differences: one small tail
// per operator (each behind a trainable convolution, so input gradients are checked too), and
// the real last block + top convolution of MobileNetV2.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createWorkerSession, type WorkerSession } from '../../src/gpu-worker/embed.js';
import { readOnnxModel, type ModelNode } from '../../src/gpu-worker/finetune/onnx-model.js';
import {
  bnParams,
  buildTailGraph,
  extractTail,
  gradName,
  type ClassifierShape,
  type Tail,
} from '../../src/gpu-worker/finetune/tail-graph.js';
import { attr } from '../../src/shared/onnx-graph.js';
import { createRng } from '../../src/shared/random.js';

const rng = createRng(7);
const randn = (n: number, scale: number) =>
  Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale);

interface Layer {
  readonly node: ModelNode;
  readonly constants: Record<string, { dims: number[]; data: Float32Array }>;
}

function conv(
  name: string,
  input: string,
  cin: number,
  cout: number,
  opts: { k?: number; stride?: number; pads?: number[]; group?: number } = {},
): Layer {
  const k = opts.k ?? 1;
  const group = opts.group ?? 1;
  return {
    node: {
      name,
      op: 'Conv',
      inputs: [input, `${name}/w`, `${name}/b`],
      outputs: [name],
      attrs: {
        kernel_shape: attr.ints([k, k]),
        strides: attr.ints([opts.stride ?? 1, opts.stride ?? 1]),
        pads: attr.ints(opts.pads ?? [0, 0, 0, 0]),
        dilations: attr.ints([1, 1]),
        group: attr.int(group),
      },
    },
    constants: {
      [`${name}/w`]: {
        dims: [cout, cin / group, k, k],
        data: randn((cout * cin * k * k) / group, 1 / Math.sqrt((cin / group) * k * k)),
      },
      [`${name}/b`]: { dims: [cout], data: randn(cout, 0.1) },
    },
  };
}

const simple = (op: string, name: string, inputs: string[], attrs = {}): Layer => ({
  node: { name, op, inputs, outputs: [name], attrs },
  constants: {},
});

function clip(name: string, input: string): Layer {
  return {
    node: {
      name,
      op: 'Clip',
      inputs: [input, `${name}/min`, `${name}/max`],
      outputs: [name],
      attrs: {},
    },
    constants: {
      [`${name}/min`]: { dims: [], data: Float32Array.of(0) },
      [`${name}/max`]: { dims: [], data: Float32Array.of(6) },
    },
  };
}

/** A tail ending in GAP → Flatten → `embedding`. */
function tailOf(cutShape: number[], layers: Layer[], last: string): Tail {
  const all = [
    ...layers,
    simple('GlobalAveragePool', 'gap', [last]),
    simple('Flatten', 'flat', ['gap'], { axis: attr.int(1) }),
    simple('Identity', 'embedding', ['flat']),
  ];
  const initializers = new Map(all.flatMap((l) => Object.entries(l.constants)));
  return extractTail(
    { input: 'x', nodes: all.map((l) => l.node), initializers },
    'x',
    cutShape,
    'embedding',
  );
}

interface Check {
  readonly tail: Tail;
  readonly classifier: ClassifierShape;
  readonly trainable: string[];
  readonly batchNormAfter?: string[];
  readonly dropout?: boolean;
  readonly batch?: number;
}

async function gradientErrors(check: Check, samplesPerParam = 6) {
  const { tail, classifier } = check;
  const batch = check.batch ?? 3;
  const bn = new Set(check.batchNormAfter ?? []);
  const graph = buildTailGraph(tail, classifier, {
    kind: 'train',
    trainable: new Set(check.trainable),
    batchNormAfter: bn,
    dropout: check.dropout ?? false,
  });
  const session: WorkerSession = await createWorkerSession(graph.bytes, {
    provider: 'cpu',
    threads: 1,
  });
  const size = tail.cutShape.reduce((a, b) => a * b, 1);
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
    [tail.cut]: { data: randn(batch * size, 1.5), dims: [batch, ...tail.cutShape] },
    targets: {
      data: Float32Array.from({ length: batch * classifier.classes }, (_, i) =>
        i % classifier.classes === Math.floor(i / classifier.classes) % classifier.classes
          ? 0.9
          : 0.1 / (classifier.classes - 1),
      ),
      dims: [batch, classifier.classes],
    },
  };
  if (check.dropout)
    feeds.dropout_mask = {
      data: Float32Array.from({ length: batch * classifier.dim }, (_, i) =>
        i % 3 === 0 ? 0 : 1.5,
      ),
      dims: [batch, classifier.dim],
    };
  for (const p of check.trainable) {
    const constant = tail.constants.get(p);
    if (constant) feeds[p] = { data: Float32Array.from(constant.data), dims: [...constant.dims] };
  }
  const head = (n: number, fanIn: number) => randn(n, 1 / Math.sqrt(fanIn));
  const { dim, hidden, classes } = classifier;
  const headShapes: Record<string, number[]> =
    classifier.type === 'linear'
      ? { w1: [dim, classes], b1: [classes] }
      : { w1: [dim, hidden], b1: [hidden], w2: [hidden, classes], b2: [classes] };
  for (const [p, dims] of Object.entries(headShapes))
    if (check.trainable.includes(p))
      feeds[p] = {
        data: head(
          dims.reduce((a, b) => a * b, 1),
          dims[0]!,
        ),
        dims,
      };
  for (const conv of bn) {
    const names = bnParams(conv);
    const channels = tail.constants.get(`${conv}/b`)!.dims[0]!;
    feeds[names.gamma] = {
      data: Float32Array.from({ length: channels }, () => 0.8 + rng() * 0.4),
      dims: [1, channels, 1, 1],
    };
    feeds[names.beta] = { data: randn(channels, 0.2), dims: [1, channels, 1, 1] };
  }
  const out = await session.run(feeds);
  const errors: { param: string; analytic: number; numeric: number }[] = [];
  const eps = 1e-2;
  const lossAt = async () => (await session.run(feeds, ['loss'])).loss!.data[0]!;
  for (const p of check.trainable) {
    const grad = out[gradName(p)]!.data;
    const value = feeds[p]!.data;
    expect(grad.length).toBe(value.length);
    for (let s = 0; s < Math.min(samplesPerParam, value.length); s++) {
      const i = Math.floor(rng() * value.length);
      const original = value[i]!;
      value[i] = original + eps;
      const up = await lossAt();
      value[i] = original - eps;
      const down = await lossAt();
      value[i] = original;
      errors.push({ param: p, analytic: grad[i]!, numeric: (up - down) / (2 * eps) });
    }
  }
  await session.release();
  return errors;
}

function expectClose(errors: { param: string; analytic: number; numeric: number }[]) {
  expect(errors.length).toBeGreaterThan(0);
  const bad = errors.filter(
    (e) => Math.abs(e.analytic - e.numeric) > 2e-3 + 0.03 * Math.abs(e.numeric),
  );
  expect(bad).toEqual([]);
  // Not all zero: the check would pass trivially otherwise.
  expect(errors.some((e) => Math.abs(e.numeric) > 1e-3)).toBe(true);
}

const linear = (dim: number, classes = 3): ClassifierShape => ({
  type: 'linear',
  dim,
  hidden: 0,
  classes,
});

describe('training-graph gradients match finite differences', () => {
  it('pointwise Conv, Clip (ReLU6), GlobalAveragePool, Flatten and a linear classifier', async () => {
    const tail = tailOf([4, 5, 5], [conv('c1', 'x', 4, 6), clip('r1', 'c1')], 'r1');
    expectClose(
      await gradientErrors({
        tail,
        classifier: linear(6),
        trainable: ['c1/w', 'c1/b', 'w1', 'b1'],
      }),
    );
  });

  it('depthwise 3×3 convolution, stride 1, symmetric padding (and its input gradient)', async () => {
    const tail = tailOf(
      [3, 6, 6],
      [conv('c1', 'x', 3, 4), conv('dw', 'c1', 4, 4, { k: 3, pads: [1, 1, 1, 1], group: 4 })],
      'dw',
    );
    expectClose(
      await gradientErrors({
        tail,
        classifier: linear(4),
        trainable: ['c1/w', 'c1/b', 'dw/w', 'dw/b', 'w1', 'b1'],
      }),
    );
  });

  it('depthwise 3×3 convolution, stride 2, TensorFlow "same" padding on an odd size', async () => {
    const tail = tailOf(
      [3, 7, 7],
      [
        conv('c1', 'x', 3, 4),
        conv('dw', 'c1', 4, 4, { k: 3, stride: 2, pads: [0, 0, 1, 1], group: 4 }),
      ],
      'dw',
    );
    expectClose(
      await gradientErrors({
        tail,
        classifier: linear(4),
        trainable: ['c1/w', 'c1/b', 'dw/w', 'dw/b', 'w1', 'b1'],
      }),
    );
  });

  it('full 3×3 convolution, stride 2 (the stem)', async () => {
    const tail = tailOf(
      [3, 8, 8],
      [conv('c1', 'x', 3, 4), conv('stem', 'c1', 4, 5, { k: 3, stride: 2, pads: [0, 0, 1, 1] })],
      'stem',
    );
    expectClose(
      await gradientErrors({
        tail,
        classifier: linear(5),
        trainable: ['c1/w', 'stem/w', 'stem/b', 'w1', 'b1'],
      }),
    );
  });

  it('residual Add with a tensor used twice', async () => {
    const tail = tailOf(
      [4, 4, 4],
      [
        conv('c1', 'x', 4, 4),
        clip('r1', 'c1'),
        conv('c2', 'r1', 4, 4),
        simple('Add', 'sum', ['c1', 'c2']),
      ],
      'sum',
    );
    expectClose(
      await gradientErrors({
        tail,
        classifier: linear(4),
        trainable: ['c1/w', 'c1/b', 'c2/w', 'w1', 'b1'],
      }),
    );
  });

  it('BatchNorm with batch statistics after a trainable convolution', async () => {
    const tail = tailOf(
      [3, 4, 4],
      [conv('c1', 'x', 3, 5), clip('r1', 'c1'), conv('c2', 'r1', 5, 4)],
      'c2',
    );
    const names = bnParams('c1');
    expectClose(
      await gradientErrors({
        tail,
        classifier: linear(4),
        trainable: ['c1/w', 'c1/b', 'c2/w', names.gamma, names.beta, 'w1', 'b1'],
        batchNormAfter: ['c1'],
        batch: 4,
      }),
    );
  });

  it('an MLP classifier (Gemm, ReLU, Gemm) behind a dropout mask', async () => {
    const tail = tailOf([4, 3, 3], [conv('c1', 'x', 4, 6)], 'c1');
    expectClose(
      await gradientErrors({
        tail,
        classifier: { type: 'mlp', dim: 6, hidden: 5, classes: 3 },
        trainable: ['c1/w', 'w1', 'b1', 'w2', 'b2'],
        dropout: true,
      }),
    );
  });

  it('the real block_16 + top convolution of MobileNetV2 (0.35)', async () => {
    const model = readOnnxModel(
      new Uint8Array(await readFile('models/mobilenet-v2-0.35/model.onnx')),
    );
    const tail = extractTail(model, 'block_15_add', [56, 7, 7], 'embedding');
    expect(tail.nodes.map((n) => n.name)).toContain('block_16_depthwise_BN');
    const trainable = [
      'block_16_expand/kernel',
      'block_16_depthwise/kernel',
      'block_16_project/folded_bias',
      'Conv_1/kernel',
      'w1',
      'b1',
    ];
    for (const p of trainable.slice(0, 4)) expect(tail.constants.has(p)).toBe(true);
    expectClose(
      await gradientErrors({ tail, classifier: linear(1280, 2), trainable, batch: 2 }, 5),
    );
  });
});
