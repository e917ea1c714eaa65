// Classification with a backbone's own classifier: sniff → decode → preprocess → run → top-k.
import { CLASSIFY_LIMITS, type ClassifyResponse } from '../../shared/api.js';
import { topK } from '../../shared/head-math.js';
import { preprocess } from '../../shared/preprocess.js';
import { ApiError } from '../errors.js';
import { DecodeError } from '../../shared/decode.js';
import { sniffImage, type ImageHeader } from '../../shared/image-header.js';
import { decodeUpload } from './decoder.js';
import { loadBackboneSession } from './model-store.js';

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

/**
 * Classifies one encoded image with backbone `modelId`'s ImageNet classifier.
 *
 * @example
 * const result = await classifyImage({ bucket: env.MODELS, keepAlive: (p) => ctx.waitUntil(p) }, bytes, opts);
 */
export async function classifyImage(
  deps: { readonly bucket: R2Bucket; readonly keepAlive: (promise: Promise<unknown>) => void },
  bytes: Uint8Array,
  opts: {
    readonly model: string;
    readonly topK: number;
    /** Request fields named in errors, e.g. `body` and `query.model`. */
    readonly imageField: string;
    readonly modelField: string;
  },
): Promise<ClassifyResponse> {
  const started = performance.now();
  const header = inspectImage(bytes, opts.imageField);
  // Start loading the model while the image decodes.
  const loading = loadBackboneSession(deps.bucket, opts.model, deps.keepAlive).catch(
    (err: unknown) => {
      // The shared load knows nothing of this request: name the field it came from.
      if (err instanceof ApiError && err.code === 'not_found')
        throw new ApiError(err.code, err.message, opts.modelField);
      throw err;
    },
  );
  loading.catch(() => undefined);

  const decodeStart = performance.now();
  let image;
  try {
    image = decodeUpload(bytes, header);
  } catch (err) {
    if (err instanceof DecodeError)
      throw new ApiError('invalid_image', err.message, opts.imageField);
    throw err;
  }
  const decodeEnd = performance.now();
  const { manifest, session } = await loading;
  const labels = manifest.id2label;
  if (!labels || !manifest.onnx.outputs.probabilities) {
    throw new ApiError(
      'unprocessable',
      `"${manifest.id}" has no classifier of its own; train a head on it first`,
      opts.modelField,
    );
  }
  const preprocessStart = performance.now();
  const tensor = preprocess(image, manifest.preprocessing);
  const inferenceStart = performance.now();
  const { crop } = manifest.preprocessing;
  const out = await session.run(
    { [manifest.onnx.input.name]: { data: tensor, dims: [1, 3, crop.height, crop.width] } },
    [manifest.onnx.outputs.probabilities.name],
  );
  const probabilities = out[manifest.onnx.outputs.probabilities.name]!.data;
  const done = performance.now();
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return {
    model: manifest.id,
    predictions: topK(probabilities, opts.topK).map(({ index, score }) => ({
      label: labels[String(index)] ?? `class ${index}`,
      index,
      score,
    })),
    image: { format: header.format, width: image.width, height: image.height },
    timings: {
      decodeMs: round(decodeEnd - decodeStart),
      modelLoadMs: round(preprocessStart - decodeEnd),
      preprocessMs: round(inferenceStart - preprocessStart),
      inferenceMs: round(done - inferenceStart),
      totalMs: round(done - started),
    },
  };
}
