// Backbones for tests: a small hand-built convolutional backbone (two convolutions, a global pool, a classifier) and
// the ways to break it: the ONNX importer's tests, in Node and through POST /v1/backbones.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * The tiny backbone's bytes: input `image` [N, 3, 32, 32], classifier output `scores` [N, 5].
 *
 * @example
 * const bytes = tinyModel({ externalData: true }); // refused: weights outside the file
 */
export function tinyModel(
  opts: {
    inputDims?: (number | string)[];
    weight?: number;
    extraNode?: onnxProto.onnx.INodeProto;
    externalData?: boolean;
  } = {},
): Uint8Array {
  const f = (name: string, dims: number[], fill: (i: number) => number) =>
    onnx.TensorProto.create({
      name,
      dataType: 1,
      dims,
      floatData: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)),
    });
  const w = opts.weight ?? 0.01;
  const initializer = [
    f('w1', [4, 3, 3, 3], (i) => w * ((i % 7) - 3)),
    f('b1', [4], () => 0.1),
    f('w2', [8, 4, 1, 1], (i) => w * ((i % 5) - 2)),
    f('fc', [8, 5], (i) => 0.1 * ((i % 3) - 1)),
    f('fc_b', [5], () => 0),
  ];
  if (opts.externalData) {
    initializer[0]!.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    initializer[0]!.externalData = [{ key: 'location', value: 'weights.bin' }];
    initializer[0]!.floatData = [];
  }
  const node = (
    opType: string,
    input: string[],
    output: string,
    attrs: Record<string, number[]> = {},
  ) =>
    onnx.NodeProto.create({
      name: `n_${output}`,
      opType,
      input,
      output: [output],
      attribute: Object.entries(attrs).map(([name, ints]) =>
        onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
      ),
    });
  const nodes = [
    node('Conv', ['image', 'w1', 'b1'], 'c1', { pads: [1, 1, 1, 1], strides: [2, 2] }),
    node('Relu', ['c1'], 'r1'),
    node('Conv', ['r1', 'w2'], 'c2'),
    node('Relu', ['c2'], 'r2'),
    node('GlobalAveragePool', ['r2'], 'pool'),
    node('Flatten', ['pool'], 'flat'),
    node('Gemm', ['flat', 'fc', 'fc_b'], 'scores'),
    ...(opts.extraNode ? [opts.extraNode] : []),
  ];
  const dims = (opts.inputDims ?? ['N', 3, 32, 32]).map((d) =>
    typeof d === 'number' ? { dimValue: d } : { dimParam: d },
  );
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny',
      node: nodes,
      initializer,
      input: [{ name: 'image', type: { tensorType: { elemType: 1, shape: { dim: dims } } } }],
      output: [{ name: 'scores', type: { tensorType: { elemType: 1 } } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** A card for the tiny backbone (32×32 crops), as JSON before parsing. */
export const tinyCardJson = (extra: Record<string, unknown> = {}) => ({
  id: 'my-model',
  displayName: 'My model',
  licence: 'Apache-2.0',
  origin: 'https://example.org/model.onnx',
  preprocessing: {
    resize: { mode: 'shortest-edge', shortestEdge: 36 },
    crop: { width: 32, height: 32 },
    rescaleFactor: 1 / 255,
    image_mean: [0.485, 0.456, 0.406],
    image_std: [0.229, 0.224, 0.225],
  },
  ...extra,
});

/** A node named "odd" after the classifier, with an operator of our choosing. */
export const oddNode = (opType: string, domain?: string) =>
  onnx.NodeProto.create({
    name: 'odd',
    opType,
    ...(domain ? { domain } : {}),
    input: ['scores'],
    output: ['odd'],
  });

/**
 * The card of the shared int8 MobileNetV2 (`mobilenetv2-12-int8.onnx` from the ONNX model zoo),
 * as a user writes it: torchvision preprocessing, its ImageNet classifier.
 */
export const zooInt8Card = (id: string) => ({
  id,
  displayName: 'MobileNetV2 int8 (ONNX model zoo)',
  licence: 'Apache-2.0',
  origin: 'https://github.com/onnx/models (mobilenetv2-12-int8)',
  preprocessing: {
    resize: { shortestEdge: 256 },
    crop: { width: 224, height: 224 },
    image_mean: [0.485, 0.456, 0.406],
    image_std: [0.229, 0.224, 0.225],
  },
  outputs: { logits: 'output', labels: 'imagenet' },
});
