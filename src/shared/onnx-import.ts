// Imports an ONNX backbone that a person brings (exported from PyTorch, timm, Hugging Face…):
// checks it against its card, finds the embedding, adds a softmax over its own logits, makes the
// batch axis dynamic, discovers where it can be cut for partial fine-tuning, proves it runs in
// the edge's runtime (onnxruntime-web) on real photos, and describes it in a manifest.
// `models:import` runs it in Node; `POST /v1/backbones` runs it inside the edge's isolate.
import onnxProto from 'onnx-proto';
import { blockInputs, InvalidCutError, tailNodes, type GraphNodeRef } from './backbone-graph.js';
import { MAX_BACKBONE_BYTES, cardPreprocessing, type BackboneCard } from './backbone-card.js';
import { sha256Hex, weightsFingerprint, type NamedTensorBytes } from './fingerprint.js';
import type { RgbImage } from './image.js';
import {
  MANIFEST_FORMAT_VERSION,
  parseBackboneManifest,
  type BackboneBlock,
  type BackboneManifest,
} from './manifest.js';
import { preprocess, stackBatch } from './preprocess.js';
import { backboneBlocks } from './backbone-blocks.js';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;
type Node = onnxProto.onnx.INodeProto;

/** Bump when the importer's output changes, so `models:import` rebuilds existing files. */
export const ONNX_IMPORTER_VERSION = '1.0.0';
export { MAX_BACKBONE_BYTES };

/** A loaded model for the trial run: the edge's EdgeSession, or onnxruntime-web in Node. */
export interface TrialSession {
  run(
    feeds: Record<string, { readonly data: Float32Array; readonly dims: readonly number[] }>,
  ): Promise<Record<string, { readonly dims: readonly number[]; readonly data: Float32Array }>>;
  release(): Promise<void>;
}
/** Creates a session in the edge's runtime (onnxruntime-web, wasm); may throw on load. */
export type TrialRuntime = (bytes: Uint8Array) => Promise<TrialSession>;

/** The file or its card cannot be imported; `field` names the card field or `model`. */
export class BackboneImportError extends Error {
  override name = 'BackboneImportError';
  constructor(
    readonly field: string,
    message: string,
    readonly code:
      | 'invalid_model'
      | 'model_too_large'
      | 'external_data'
      | 'unsupported_operator'
      | 'invalid_card'
      | 'trial_run_failed' = 'invalid_model',
  ) {
    super(`${field}: ${message}`);
  }
}

const DTYPE_NAMES: Record<number, { name: string; bytes: number }> = {
  1: { name: 'float32', bytes: 4 },
  2: { name: 'uint8', bytes: 1 },
  3: { name: 'int8', bytes: 1 },
  5: { name: 'int16', bytes: 2 },
  6: { name: 'int32', bytes: 4 },
  7: { name: 'int64', bytes: 8 },
  10: { name: 'float16', bytes: 2 },
  11: { name: 'float64', bytes: 8 },
};

/** Operators that mark integer-quantized weights (QOperator or QDQ formats). */
const QUANTIZED_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'QLinearConv',
  'QLinearMatMul',
  'QLinearAdd',
  'QLinearMul',
  'QLinearGlobalAveragePool',
  'QLinearAveragePool',
  'QLinearSigmoid',
  'QLinearConcat',
  'QGemm',
  'ConvInteger',
  'MatMulInteger',
  'DynamicQuantizeLinear',
]);
/** A final classifier: the embedding is the tensor entering it. */
const CLASSIFIER_OPS = new Set(['Gemm', 'MatMul', 'QLinearMatMul', 'QGemm', 'MatMulInteger']);
/** Domains the edge's onnxruntime-web build has kernels for. */
const DOMAINS = new Set(['', 'ai.onnx', 'com.microsoft']);

/** The raw little-endian bytes of an initializer (for the fingerprint). */
function tensorBytes(t: onnxProto.onnx.ITensorProto): Uint8Array {
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  const dtype = t.dataType ?? 0;
  const typed =
    dtype === 1
      ? Float32Array.from(t.floatData ?? [])
      : dtype === 7
        ? BigInt64Array.from((t.int64Data ?? []).map((v: unknown) => BigInt(String(v))))
        : dtype === 11
          ? Float64Array.from(t.doubleData ?? [])
          : dtype === 2 || dtype === 3
            ? (dtype === 2 ? Uint8Array : Int8Array).from(t.int32Data ?? [])
            : Int32Array.from(t.int32Data ?? []);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

const dimsOf = (v: onnxProto.onnx.IValueInfoProto | undefined) =>
  v?.type?.tensorType?.shape?.dim?.map((d) =>
    d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0
      ? Number(d.dimValue)
      : (d.dimParam ?? '?'),
  );

function decode(bytes: Uint8Array): Model {
  if (bytes.byteLength > MAX_BACKBONE_BYTES)
    throw new BackboneImportError(
      'model',
      `${bytes.byteLength} bytes is over the ${MAX_BACKBONE_BYTES}-byte limit for a backbone`,
      'model_too_large',
    );
  let model: Model;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new BackboneImportError(
      'model',
      `not an ONNX model, or a truncated one (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  if (!model.graph || (model.graph.node ?? []).length === 0)
    throw new BackboneImportError('model', 'not an ONNX model: it has no graph nodes');
  return model;
}

/** Checks what the edge can hold and run; returns whether the weights are integer-quantized. */
function checkGraph(model: Model): { quantized: boolean } {
  const graph = model.graph!;
  for (const t of graph.initializer ?? []) {
    if (
      t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL ||
      (t.externalData ?? []).length > 0
    )
      throw new BackboneImportError(
        'model',
        `tensor "${t.name ?? '?'}" keeps its data in an external file; export with the weights inside the .onnx file`,
        'external_data',
      );
  }
  for (const node of graph.node ?? []) {
    if (!DOMAINS.has(node.domain ?? ''))
      throw new BackboneImportError(
        'model',
        `node "${node.name ?? '?'}" uses operator ${node.domain}.${node.opType}, which the edge's onnxruntime-web cannot run`,
        'unsupported_operator',
      );
  }
  return { quantized: (graph.node ?? []).some((n) => QUANTIZED_OPS.has(n.opType ?? '')) };
}

/** The image input: one float32 [batch, 3, H, W] tensor matching the card's crop; batch made dynamic. */
function checkInput(model: Model, card: BackboneCard): string {
  const graph = model.graph!;
  const constants = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const inputs = (graph.input ?? []).filter((i) => !constants.has(i.name ?? ''));
  const field = 'card.input';
  const input = card.input
    ? inputs.find((i) => i.name === card.input)
    : inputs.length === 1
      ? inputs[0]
      : undefined;
  if (!input)
    throw new BackboneImportError(
      card.input ? field : 'model',
      card.input
        ? `the graph has no input "${card.input}"; its inputs are ${inputs.map((i) => `"${i.name}"`).join(', ')}`
        : `the graph has ${inputs.length} inputs (${inputs.map((i) => `"${i.name}"`).join(', ')}); name the image one in card.input`,
      card.input ? 'invalid_card' : 'invalid_model',
    );
  if (inputs.length !== 1)
    throw new BackboneImportError(
      'model',
      `an image backbone takes one input; this graph has ${inputs.length}`,
    );
  const name = input.name ?? '';
  const tensor = input.type?.tensorType;
  if (!tensor || tensor.elemType !== 1)
    throw new BackboneImportError(field, `input "${name}" is not a float32 image tensor`);
  const dims = tensor.shape?.dim ?? [];
  const shape = dimsOf(input) ?? [];
  if (dims.length !== 4)
    throw new BackboneImportError(
      field,
      `input "${name}" has shape [${shape.join(', ')}]; an NCHW image is [batch, 3, height, width]`,
    );
  const [batch, channels, height, width] = shape;
  const { crop } = card.preprocessing;
  const fixed = (v: number | string | undefined, want: number) =>
    typeof v !== 'number' || v === want;
  if (channels !== 3 || !fixed(height, crop.height) || !fixed(width, crop.width))
    throw new BackboneImportError(
      field,
      `input "${name}" is [${shape.join(', ')}] but the card's crop makes [batch, 3, ${crop.height}, ${crop.width}]`,
      'invalid_card',
    );
  if (typeof batch === 'number' && batch !== 1)
    throw new BackboneImportError(
      field,
      `input "${name}" has a fixed batch of ${batch}; export with a dynamic (or 1) batch axis`,
    );
  // A batch of 1 becomes dynamic: convolutional backbones do not depend on it (the trial run checks).
  dims[0] = { dimParam: 'batch' };
  return name;
}

function producers(nodes: readonly Node[]): Map<string, Node> {
  const map = new Map<string, Node>();
  for (const n of nodes) for (const o of n.output ?? []) map.set(o, n);
  return map;
}

function freshName(taken: Set<string>, want: string): string {
  let name = want;
  for (let i = 1; taken.has(name); i++) name = `${want}_${i}`;
  taken.add(name);
  return name;
}

/**
 * Adds the `embedding` output (flattened; dequantized first when it is an integer tensor) and
 * `probabilities` (softmax over the card's logits); returns the output names.
 */
function addOutputs(
  model: Model,
  card: BackboneCard,
): { embedding: string; logits?: string; probabilities?: string } {
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const made = producers(nodes);
  const taken = new Set([
    ...made.keys(),
    ...(graph.input ?? []).map((i) => i.name ?? ''),
    ...(graph.initializer ?? []).map((t) => t.name ?? ''),
  ]);
  let source: string;
  let dequantize: { scale: string; zeroPoint: string } | undefined;
  if (card.outputs.embedding) {
    source = card.outputs.embedding;
    if (!made.has(source))
      throw new BackboneImportError(
        'card.outputs.embedding',
        `the graph has no tensor "${source}"`,
        'invalid_card',
      );
  } else {
    const classifier = [...nodes].reverse().find((n) => CLASSIFIER_OPS.has(n.opType ?? ''));
    if (!classifier)
      throw new BackboneImportError(
        'card.outputs.embedding',
        'found no final classifier (Gemm or MatMul after the global pool) to take the embedding from; name the embedding tensor',
        'invalid_card',
      );
    source = classifier.input![0]!;
    if (classifier.opType === 'QLinearMatMul' || classifier.opType === 'QGemm')
      dequantize = { scale: classifier.input![1]!, zeroPoint: classifier.input![2]! };
  }
  if (dequantize) {
    const out = freshName(taken, `${source}_dequantized`);
    nodes.push(
      onnx.NodeProto.create({
        name: 'headstart_embedding_dequantize',
        opType: 'DequantizeLinear',
        input: [source, dequantize.scale, dequantize.zeroPoint],
        output: [out],
      }),
    );
    source = out;
  }
  let embedding = source;
  if (source !== 'embedding') {
    embedding = freshName(taken, 'embedding');
    nodes.push(
      onnx.NodeProto.create({
        name: 'headstart_embedding_flatten',
        opType: 'Flatten',
        input: [source],
        output: [embedding],
        attribute: [
          onnx.AttributeProto.create({
            name: 'axis',
            type: onnx.AttributeProto.AttributeType.INT,
            i: 1,
          }),
        ],
      }),
    );
  }
  const outputs: { embedding: string; logits?: string; probabilities?: string } = { embedding };
  if (card.outputs.logits) {
    const logits = card.outputs.logits;
    if (!made.has(logits))
      throw new BackboneImportError(
        'card.outputs.logits',
        `the graph has no tensor "${logits}"`,
        'invalid_card',
      );
    const probabilities = freshName(taken, 'probabilities');
    nodes.push(
      onnx.NodeProto.create({
        name: 'headstart_softmax',
        opType: 'Softmax',
        input: [logits],
        output: [probabilities],
        attribute: [
          onnx.AttributeProto.create({
            name: 'axis',
            type: onnx.AttributeProto.AttributeType.INT,
            i: 1,
          }),
        ],
      }),
    );
    Object.assign(outputs, { logits, probabilities });
  }
  graph.node = nodes;
  graph.output = Object.values(outputs).map((name) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: 1,
          shape: { dim: [{ dimParam: 'batch' }, { dimParam: `${name}_size` }] },
        },
      },
    }),
  );
  return outputs;
}

/** Fingerprint and parameter count over the file's weights (as given, before any rewrite). */
async function weightsOf(
  model: Model,
): Promise<{ fingerprint: string; parameters: number; named: NamedTensorBytes[] }> {
  const named = (model.graph!.initializer ?? []).map((t) => ({
    name: t.name ?? '',
    dtype: DTYPE_NAMES[t.dataType ?? 0]?.name ?? `onnx-${t.dataType}`,
    shape: (t.dims ?? []).map(Number),
    bytes: tensorBytes(t),
  }));
  // Weights, not bookkeeping: scalars (clip bounds, scales, zero points) and int64 shapes do not count.
  const parameters = named
    .filter(
      (t) =>
        t.dtype !== 'int64' &&
        t.dtype !== 'int32' &&
        t.shape.reduce((a, b) => a * b, 1) > 1 &&
        !/scale|zero_point/.test(t.name),
    )
    .reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  return { fingerprint: await weightsFingerprint(named), parameters, named };
}

const refOf = (n: Node): GraphNodeRef => ({
  name: n.name ?? '',
  op: n.opType ?? '',
  inputs: n.input ?? [],
  outputs: n.output ?? [],
});

/**
 * Blocks and their cut tensors. Keras-style layer names (`block_3_expand/kernel`) group into the
 * blocks people name; otherwise every clean cut point (a tensor that everything downstream of it
 * passes through) starts a block of its own.
 */
function discoverBlocks(
  model: Model,
  input: string,
  embedding: string,
  named: readonly NamedTensorBytes[],
): BackboneBlock[] {
  const graph = model.graph!;
  const nodes = (graph.node ?? []).map(refOf);
  const constants = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const floats = named.filter(
    (t) => t.dtype === 'float32' && t.shape.length > 0 && t.shape.reduce((a, b) => a * b, 1) > 1,
  );
  const keras = backboneBlocks(floats.filter((t) => t.name.includes('/')));
  const cuts = blockInputs(nodes, keras, constants, input, embedding);
  if (cuts.size >= 2)
    return keras.map((b) => (cuts.has(b.name) ? { ...b, input: cuts.get(b.name)! } : b));
  // Generic: walk the trunk (the nodes computing the embedding); a layer with weights whose
  // input is a clean cut (everything downstream passes through it) starts a new block.
  const sizes = new Map(floats.map((t) => [t.name, t.shape.reduce((a, b) => a * b, 1)]));
  const trunk = tailNodes(nodes, input, embedding, constants, input);
  const blocks: BackboneBlock[] = [];
  let current: BackboneBlock & { layers: string[] } = {
    name: 'stem',
    role: 'trunk',
    layers: [],
    parameters: 0,
    trainableParameters: 0,
    input,
  };
  for (const node of trunk) {
    const own = node.inputs.reduce((n, i) => n + (sizes.get(i) ?? 0), 0);
    const entering = node.inputs.find((i) => i !== '' && !constants.has(i));
    if (own > 0 && current.parameters > 0 && entering !== undefined) {
      try {
        tailNodes(nodes, entering, embedding, constants, input);
        blocks.push(current);
        current = {
          name: `block_${blocks.length}`,
          role: 'trunk',
          layers: [],
          parameters: 0,
          trainableParameters: 0,
          input: entering,
        };
      } catch (err) {
        if (!(err instanceof InvalidCutError)) throw err;
      }
    }
    current.layers.push(node.name);
    current.parameters += own;
    current.trainableParameters += own;
  }
  blocks.push(current);
  return blocks;
}

/**
 * Two synthetic 320×240 images (smooth ramps and a diagonal texture): the trial run where no
 * real photos are at hand — a catalogue backbone pinned by fingerprint on a machine without the
 * datasets, or the edge when its models bucket holds no trial photos.
 */
export function syntheticTrialImages(): RgbImage[] {
  return [0, 1].map((k) => {
    const width = 320;
    const height = 240;
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        data[i] = (x * (k + 1)) % 256;
        data[i + 1] = (y * (2 - k)) % 256;
        data[i + 2] = ((x + y) * 3) % 256;
      }
    return { width, height, channels: 3 as const, data };
  });
}

/** Runs the model in onnxruntime-web on real photos: outputs must be finite and of the right size. */
async function trialRun(
  bytes: Uint8Array,
  input: string,
  outputs: { embedding: string; logits?: string; probabilities?: string },
  card: BackboneCard,
  labels: readonly string[] | undefined,
  photos: readonly RgbImage[],
  nodeOf: (op: string) => string | undefined,
  runtime: TrialRuntime,
): Promise<{ embeddingDim: number; classes?: number }> {
  let session: TrialSession;
  try {
    session = await runtime(bytes);
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err))
      .split('\n')[0]!
      .replace(/^Can't create a session\. ERROR_CODE: \d+, ERROR_MESSAGE: /, '')
      .replace(/^\[[^\]]*\] ?/, '');
    const op = /No Op registered for (\w+)|implementation for (\w+)/.exec(message);
    const node = op ? nodeOf(op[1] ?? op[2]!) : undefined;
    throw new BackboneImportError(
      'model',
      `the edge's onnxruntime-web cannot load it: ${message}${node ? ` (node "${node}")` : ''}`,
      op || /not (supported|implemented)/i.test(message) ? 'unsupported_operator' : 'invalid_model',
    );
  }
  try {
    const p = cardPreprocessing(card);
    const batch = stackBatch(photos.map((photo) => preprocess(photo, p)));
    const dims = [photos.length, 3, p.crop.height, p.crop.width];
    let result: Awaited<ReturnType<TrialSession['run']>>;
    try {
      result = await session.run({ [input]: { data: batch, dims } });
    } catch (err) {
      throw new BackboneImportError(
        'model',
        `the trial run on ${photos.length} photos failed: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`,
        'trial_run_failed',
      );
    }
    const check = (name: string, field: string, width?: number) => {
      const t = result[name];
      const shape = t?.dims ?? [];
      if (
        !t ||
        shape.length !== 2 ||
        shape[0] !== photos.length ||
        (width !== undefined && shape[1] !== width)
      )
        throw new BackboneImportError(
          field,
          `"${name}" came out as [${shape.join(', ')}], not [${photos.length}, ${width ?? 'n'}]`,
          'trial_run_failed',
        );
      if (!t.data.every(Number.isFinite))
        throw new BackboneImportError(
          field,
          `"${name}" has NaN or infinite values on real photos`,
          'trial_run_failed',
        );
      return shape[1]!;
    };
    const embeddingDim = check(outputs.embedding, 'card.outputs.embedding');
    if (embeddingDim > 16_384)
      throw new BackboneImportError(
        'card.outputs.embedding',
        `an embedding of ${embeddingDim} values is over the 16384 limit`,
      );
    if (!outputs.logits) return { embeddingDim };
    const classes = check(outputs.logits, 'card.outputs.logits', labels?.length);
    check(outputs.probabilities!, 'card.outputs.logits', classes);
    return { embeddingDim, classes };
  } finally {
    await session.release();
  }
}

/**
 * Imports one ONNX backbone. `labels` resolves the card's `labels` (the ImageNet names for
 * `"imagenet"`); `photos` are decoded real photos for the trial run. Throws BackboneImportError
 * naming the field at the first problem.
 *
 * @example
 * const { onnx, manifest } = await importOnnxBackbone({ bytes, card, labels, photos });
 */
export async function importOnnxBackbone(opts: {
  readonly bytes: Uint8Array;
  readonly card: BackboneCard;
  readonly labels?: readonly string[];
  readonly photos: readonly RgbImage[];
  /** Where the trial run happens: the edge's own onnxruntime-web. */
  readonly runtime: TrialRuntime;
  /** The id the manifest carries (default: the card's; a tenant's backbone is `tenant/name`). */
  readonly id?: string;
}): Promise<{ onnx: Uint8Array; manifest: BackboneManifest }> {
  const { card } = opts;
  const model = decode(opts.bytes);
  const { quantized } = checkGraph(model);
  const input = checkInput(model, card);
  const { fingerprint, parameters, named } = await weightsOf(model);
  const outputs = addOutputs(model, card);
  const labels = card.outputs.labels === undefined ? undefined : opts.labels;
  if (card.outputs.labels !== undefined && !labels)
    throw new BackboneImportError(
      'card.outputs.labels',
      'no class names were given for the labels',
      'invalid_card',
    );
  const bytes = onnx.ModelProto.encode(model).finish();
  const nodeOf = (op: string) => model.graph!.node?.find((n) => n.opType === op)?.name ?? undefined;
  const { embeddingDim, classes } = await trialRun(
    bytes,
    input,
    outputs,
    card,
    labels,
    opts.photos,
    nodeOf,
    opts.runtime,
  );
  // Output shapes are known now: write them into the graph so the file describes itself.
  for (const o of model.graph!.output ?? []) {
    const size = o.name === outputs.embedding ? embeddingDim : classes!;
    o.type!.tensorType!.shape!.dim![1] = { dimValue: size };
  }
  const final = onnx.ModelProto.encode(model).finish();
  const blocks = quantized ? undefined : discoverBlocks(model, input, outputs.embedding, named);
  const opset: unknown = (model.opsetImport ?? []).find((o) => (o.domain ?? '') === '')?.version;
  const preprocessing = cardPreprocessing(card);
  const tensor = (name: string, size: number) => ({ name, shape: ['batch' as const, size] });
  const manifest = parseBackboneManifest({
    formatVersion: MANIFEST_FORMAT_VERSION,
    kind: 'backbone',
    id: opts.id ?? card.id,
    displayName: card.displayName,
    fingerprint,
    parameters,
    source: { format: 'onnx', licence: card.licence, origin: card.origin },
    onnx: {
      file: 'model.onnx',
      sha256: await sha256Hex(final),
      bytes: final.byteLength,
      opset:
        typeof opset === 'number'
          ? opset
          : Number((opset as { low?: number } | undefined)?.low ?? 13),
      quantized,
      input: {
        name: input,
        shape: ['batch', 3, preprocessing.crop.height, preprocessing.crop.width],
      },
      outputs: {
        embedding: tensor(outputs.embedding, embeddingDim),
        ...(outputs.logits
          ? {
              logits: tensor(outputs.logits, classes!),
              probabilities: tensor(outputs.probabilities!, classes!),
            }
          : {}),
      },
    },
    inputSize: { width: preprocessing.crop.width, height: preprocessing.crop.height },
    preprocessing,
    embeddingDim,
    ...(blocks ? { blocks } : {}),
    ...(labels ? { id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])) } : {}),
    converter: { name: 'headstart-onnx-import', version: ONNX_IMPORTER_VERSION },
  });
  if (final.byteLength > MAX_BACKBONE_BYTES)
    throw new BackboneImportError(
      'model',
      `the imported model is ${final.byteLength} bytes, over the limit`,
      'model_too_large',
    );
  return { onnx: final, manifest };
}
