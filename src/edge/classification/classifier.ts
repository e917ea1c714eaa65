// Classification: sniff → load models → plan and decode to each model's size (within the decode
// budget) → preprocess → one backbone pass per preprocessing → each model's classifier (the
// backbone's own, or trained heads on its embedding) → top-k.
import { CLASSIFY_LIMITS, type ClassifyResponse } from '../../shared/api.js';
import type { RgbImage } from '../../shared/image.js';
import type { Preprocessing } from '../../shared/manifest.js';
import { topK } from '../../shared/head-math.js';
import { preprocess } from '../../shared/preprocess.js';
import { ApiError } from '../errors.js';
import { DecodeError, decodeTarget, planDecode, type DecodePlan } from '../../shared/decode.js';
import { sniffImage, type ImageHeader } from '../../shared/image-header.js';
import { decodeUpload } from './decoder.js';
import { acquireHead, type LoadedHead } from './head-store.js';
import { acquireBackbone, type LoadedBackbone } from './model-store.js';

/** Checks an upload before any decoding: format, declared size, completeness. */
export function inspectImage(bytes: Uint8Array, field: string): ImageHeader {
  const sniffed = sniffImage(bytes);
  if (sniffed.kind === 'unsupported') {
    throw new ApiError(
      'unsupported_media_type',
      `${sniffed.format.toUpperCase()} images are not supported; send JPEG, PNG or WebP`,
      field,
    );
  }
  if (sniffed.kind === 'invalid') throw new ApiError('invalid_image', sniffed.reason, field);
  const { width, height } = sniffed.header;
  if (width < 1 || height < 1)
    throw new ApiError(
      'invalid_image',
      `the image declares an empty size ${width}×${height}`,
      field,
    );
  if (width * height > CLASSIFY_LIMITS.maxPixels) {
    throw new ApiError(
      'image_too_large',
      `the image declares ${width}×${height} = ${((width * height) / 1e6).toFixed(1)} megapixels; the limit is ${CLASSIFY_LIMITS.maxPixels / 1e6}`,
      field,
    );
  }
  return sniffed.header;
}

/** A model a request named, resolved: a backbone's own classifier or a trained head. */
export type ModelTarget =
  | { readonly kind: 'backbone'; readonly ref: string; readonly backboneId: string }
  | { readonly kind: 'head'; readonly ref: string; readonly headId: string };

interface Pass {
  readonly backbone: LoadedBackbone;
  readonly preprocessing: Preprocessing;
  readonly outputs: Set<string>;
}

interface PreparedTarget {
  readonly target: ModelTarget;
  readonly pass: number;
  readonly labels: readonly string[];
  readonly head?: LoadedHead;
}

/** Loaded models grouped into backbone passes: heads sharing a backbone and preprocessing share one run. */
export interface PreparedModels {
  readonly passes: readonly Pass[];
  readonly targets: readonly PreparedTarget[];
  /** Gives the backbone and head sessions back to the isolate's caches: call once the request is done. */
  readonly release: () => void;
}

export interface ModelDeps {
  readonly bucket: R2Bucket;
  readonly keepAlive: (promise: Promise<unknown>) => void;
}

/** A load that failed because a model does not exist names the request field it came from. */
function naming<T>(promise: Promise<T>, field: string): Promise<T> {
  return promise.catch((err: unknown) => {
    if (err instanceof ApiError && err.code === 'not_found')
      throw new ApiError(err.code, err.message, field);
    throw err;
  });
}

/**
 * Loads every target's sessions (shared and cached per isolate) and plans the backbone passes.
 *
 * @example
 * const prepared = await prepareModels(deps, [{ kind: 'head', ref: 'production', headId }], 'query.model');
 */
export async function prepareModels(
  deps: ModelDeps,
  targets: readonly ModelTarget[],
  modelField: string,
): Promise<PreparedModels> {
  const leases: (() => void)[] = [];
  const release = () => leases.splice(0).forEach((r) => r());
  const hold = async (id: string, field?: string) => {
    const acquiring = acquireBackbone(deps.bucket, id, deps.keepAlive);
    const lease = await (field === undefined ? acquiring : naming(acquiring, field));
    leases.push(lease.release);
    return lease.backbone;
  };
  const settled = await Promise.allSettled(
    targets.map(async (target) => {
      if (target.kind === 'backbone') {
        const backbone = await hold(target.backboneId, modelField);
        const { manifest } = backbone;
        if (!manifest.id2label || !manifest.onnx.outputs.probabilities) {
          throw new ApiError(
            'unprocessable',
            `"${manifest.id}" has no classifier of its own; train a head on it first`,
            modelField,
          );
        }
        const labels = Object.entries(manifest.id2label)
          .sort(([a], [b]) => Number(a) - Number(b))
          .map(([, label]) => label);
        return {
          target,
          backbone,
          labels,
          preprocessing: manifest.preprocessing,
          output: manifest.onnx.outputs.probabilities.name,
        };
      }
      const headLease = await acquireHead(deps.bucket, target.headId, deps.keepAlive);
      leases.push(headLease.release);
      const head = headLease.value;
      const backbone = await hold(head.manifest.backbone.id);
      return {
        target,
        backbone,
        head,
        labels: head.labels,
        preprocessing: head.manifest.preprocessing,
        output: head.manifest.input.name,
      };
    }),
  );
  // Every load has settled before a failure is thrown, so no session is left held.
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) {
    release();
    throw failed.reason;
  }
  const loaded = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const passes: Pass[] = [];
  const passOf = new Map<string, number>();
  const prepared = loaded.map(({ target, backbone, head, labels, preprocessing, output }) => {
    const key = `${backbone.manifest.id}\n${JSON.stringify(preprocessing)}`;
    let pass = passOf.get(key);
    if (pass === undefined) {
      pass = passes.push({ backbone, preprocessing, outputs: new Set() }) - 1;
      passOf.set(key, pass);
    }
    passes[pass]!.outputs.add(output);
    return { target, pass, labels, ...(head ? { head } : {}) };
  });
  return { passes, targets: prepared, release };
}

export interface ModelPredictions {
  /** The model as the request named it (a backbone id, head id or alias). */
  readonly model: string;
  /** The head that answered, when the model is a head or an alias. */
  readonly head?: { readonly id: string; readonly backbone: string };
  readonly predictions: { label: string; index: number; score: number }[];
}

/**
 * Runs each backbone pass once on its decoded image (`images[i]` for pass i), then every head on
 * its pass's embedding.
 *
 * @example
 * const { results } = await runModels(prepared, [image], 5);
 */
export async function runModels(
  prepared: PreparedModels,
  images: readonly RgbImage[],
  k: number,
): Promise<{ results: ModelPredictions[]; preprocessMs: number; inferenceMs: number }> {
  let preprocessMs = 0;
  let inferenceMs = 0;
  const outputs = [];
  for (const [i, pass] of prepared.passes.entries()) {
    const t0 = performance.now();
    const tensor = preprocess(images[i]!, pass.preprocessing);
    const t1 = performance.now();
    const { manifest, session } = pass.backbone;
    const { crop } = pass.preprocessing;
    const input = { data: tensor, dims: [1, 3, crop.height, crop.width] };
    // A fully fine-tuned head consumes the pixels themselves: no backbone pass for it.
    const fetch = [...pass.outputs].filter((o) => o !== manifest.onnx.input.name);
    const out =
      fetch.length > 0 ? await session.run({ [manifest.onnx.input.name]: input }, fetch) : {};
    outputs.push({ ...out, [manifest.onnx.input.name]: input });
    preprocessMs += t1 - t0;
    inferenceMs += performance.now() - t1;
  }
  const results: ModelPredictions[] = [];
  for (const { target, pass, labels, head } of prepared.targets) {
    const t0 = performance.now();
    let probabilities: Float32Array;
    if (head) {
      const embedding = outputs[pass]![head.manifest.input.name]!;
      const out = await head.session.run({ [head.manifest.input.name]: embedding }, [
        'probabilities',
      ]);
      probabilities = out.probabilities!.data;
      if (probabilities.length !== labels.length)
        throw new ApiError(
          'model_unavailable',
          `${head.id} gives ${probabilities.length} scores for ${labels.length} labels`,
        );
    } else {
      const { outputs: names } = prepared.passes[pass]!.backbone.manifest.onnx;
      probabilities = outputs[pass]![names.probabilities!.name]!.data;
    }
    inferenceMs += performance.now() - t0;
    results.push({
      model: target.ref,
      ...(head ? { head: { id: head.id, backbone: head.manifest.backbone.id } } : {}),
      predictions: topK(probabilities, k).map(({ index, score }) => ({
        label: labels[index] ?? `class ${index}`,
        index,
        score,
      })),
    });
  }
  return { results, preprocessMs, inferenceMs };
}

/**
 * Plans the decode of an inspected upload for each pass (the shrink factor its preprocessing
 * allows), refusing with 413 one whose decode would take more than the decode budget — before
 * any decoding — and with 422 one whose headers are corrupt.
 */
export function planDecodes(
  bytes: Uint8Array,
  header: ImageHeader,
  passes: readonly { readonly preprocessing: Preprocessing }[],
  field: string,
): DecodePlan[] {
  return passes.map((pass) => {
    let plan: DecodePlan;
    try {
      plan = planDecode(bytes, header, decodeTarget(pass.preprocessing));
    } catch (err) {
      if (err instanceof DecodeError) throw new ApiError('invalid_image', err.message, field);
      throw err;
    }
    if (plan.costBytes > CLASSIFY_LIMITS.maxDecodeBytes) {
      const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
      throw new ApiError(
        'image_too_large',
        `decoding this ${header.width}×${header.height} ${header.format.toUpperCase()} would take ${mb(plan.costBytes)} MB; the limit is ${mb(CLASSIFY_LIMITS.maxDecodeBytes)} MB${header.format === 'webp' ? ' (WebP is decoded at full size: send large photos as JPEG or PNG)' : ''}`,
        field,
      );
    }
    return plan;
  });
}

/** Decodes an upload as planned, naming `field` when it is corrupt. */
export async function decodeChecked(
  bytes: Uint8Array,
  header: ImageHeader,
  plan: Pick<DecodePlan, 'scale'>,
  field: string,
): Promise<RgbImage> {
  try {
    return await decodeUpload(bytes, header, plan);
  } catch (err) {
    if (err instanceof DecodeError) throw new ApiError('invalid_image', err.message, field);
    throw err;
  }
}

export interface ClassifyResult {
  readonly results: ModelPredictions[];
  readonly backbonePasses: number;
  readonly image: ClassifyResponse['image'];
  readonly timings: ClassifyResponse['timings'];
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * Classifies one encoded image with every target: the image is inspected before anything else,
 * then the models load, then it is decoded once per shrink factor the passes need (usually one),
 * each decode planned and budgeted before it runs; each backbone runs once per distinct
 * preprocessing.
 *
 * @example
 * const result = await classifyImage(bytes, { load: () => prepareModels(deps, targets, 'query.model'), topK: 5, imageField: 'body' });
 */
export async function classifyImage(
  bytes: Uint8Array,
  opts: {
    /** Called once the image has passed inspection. */
    readonly load: () => Promise<PreparedModels>;
    readonly topK: number;
    /** The request field named in errors, e.g. `body` or `form.image`. */
    readonly imageField: string;
  },
): Promise<ClassifyResult> {
  const started = performance.now();
  const header = inspectImage(bytes, opts.imageField);
  const prepared = await opts.load();
  const loaded = performance.now();
  const plans = planDecodes(bytes, header, prepared.passes, opts.imageField);
  // One decode per distinct shrink factor, shared by the passes that need it.
  const decodedAt = new Map<number, RgbImage>();
  const images: RgbImage[] = [];
  for (const plan of plans) {
    let image = decodedAt.get(plan.scale);
    if (!image) {
      image = await decodeChecked(bytes, header, plan, opts.imageField);
      decodedAt.set(plan.scale, image);
    }
    images.push(image);
  }
  const decoded = performance.now();
  const run = await runModels(prepared, images, opts.topK);
  const done = performance.now();
  const upright = header.orientation >= 5;
  const first = plans[0]!;
  return {
    results: run.results,
    backbonePasses: prepared.passes.length,
    image: {
      format: header.format,
      width: upright ? header.height : header.width,
      height: upright ? header.width : header.height,
      decoded: { scale: first.scale, width: first.width, height: first.height },
    },
    timings: {
      decodeMs: round(decoded - loaded),
      modelLoadMs: round(loaded - started),
      preprocessMs: round(run.preprocessMs),
      inferenceMs: round(run.inferenceMs),
      totalMs: round(done - started),
    },
  };
}
