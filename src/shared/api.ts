// Public API shapes shared by the edge, the CLI and the widgets: requests, responses, limits.
import { z } from 'zod';

/** Limits on classification requests (documented in docs/api.md and the OpenAPI document). */
export const CLASSIFY_LIMITS = {
  /** Largest accepted request body. */
  maxBodyBytes: 10 * 1024 * 1024,
  /** Largest image, in pixels, as declared by its header (checked before decoding). */
  maxPixels: 40_000_000,
  maxTopK: 20,
  defaultTopK: 5,
  /** Models (backbones, heads, aliases) named in one request. */
  maxModels: 8,
  /** Images in one POST /v1/classify/batch request. */
  maxBatchImages: 16,
  /** Largest batch request body. */
  maxBatchBodyBytes: 24 * 1024 * 1024,
  /**
   * Most memory one image's decode may take (working buffers and result, planned from its
   * headers before decoding): the decoder's share of the isolate's 128 MB (see the memory budget
   * in docs/preprocessing.md).
   */
  maxDecodeBytes: 16 * 1024 * 1024,
} as const;

/** Media types accepted as a raw request body. */
export const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;

export const ModelIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9.-]*$/, 'lowercase letters, digits, dots and dashes');

/** A model as a request names it: a backbone id, a head id (head_…) or an alias. */
const MODEL_REF = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * `model=a,b,c`: up to maxModels distinct models, answered from one backbone pass each. Errors
 * name the whole field (and the bad name in the message).
 */
export const ModelListSchema = z
  .string()
  .max(CLASSIFY_LIMITS.maxModels * 65)
  .transform((value, ctx) => {
    const refs = value.split(',').map((ref) => ref.trim());
    const problem =
      refs.find((ref) => !MODEL_REF.test(ref)) !== undefined
        ? `"${refs.find((ref) => !MODEL_REF.test(ref))}" is not a backbone id, head id or alias (lowercase letters, digits, '.', '_', '-')`
        : refs.length > CLASSIFY_LIMITS.maxModels
          ? `${refs.length} models; at most ${CLASSIFY_LIMITS.maxModels} in one request`
          : new Set(refs).size !== refs.length
            ? 'a model is named twice'
            : undefined;
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return refs;
  });

export const ClassifyParamsSchema = z.object({
  model: ModelListSchema.optional(),
  topK: z.coerce
    .number()
    .int('topK must be a whole number')
    .min(1, 'topK must be at least 1')
    .max(CLASSIFY_LIMITS.maxTopK, `topK must be at most ${CLASSIFY_LIMITS.maxTopK}`)
    .default(CLASSIFY_LIMITS.defaultTopK),
});
export type ClassifyParams = z.infer<typeof ClassifyParamsSchema>;

export const PredictionSchema = z.object({
  label: z.string(),
  index: z.number().int().min(0),
  score: z.number().min(0).max(1),
});

/** One model's answer. */
export const ModelPredictionsSchema = z.object({
  /** The model as the request named it. */
  model: z.string(),
  /** Present when the model is a trained head (named by id or alias). */
  head: z.object({ id: z.string(), backbone: z.string() }).optional(),
  predictions: z.array(PredictionSchema),
});

const ClassifyCommonSchema = z.object({
  /** Backbone runs this answer took: one per backbone and preprocessing among the models. */
  backbonePasses: z.number().int().min(1),
  image: z.object({
    format: z.enum(['jpeg', 'png', 'webp']),
    /** The photo's size, upright. */
    width: z.number().int(),
    height: z.number().int(),
    /**
     * What it was decoded to for the (first) model: shrunk by `scale` while decoding, to the
     * size the model's preprocessing needs.
     */
    decoded: z.object({
      scale: z.number().int(),
      width: z.number().int(),
      height: z.number().int(),
    }),
  }),
  timings: z.object({
    decodeMs: z.number(),
    /** Waiting for the model beyond the decode (non-zero on an isolate's first request). */
    modelLoadMs: z.number(),
    preprocessMs: z.number(),
    inferenceMs: z.number(),
    totalMs: z.number(),
  }),
});

/** One model named: its answer at the top level. */
export const ClassifyResponseSchema = ModelPredictionsSchema.extend(ClassifyCommonSchema.shape);
export type ClassifyResponse = z.infer<typeof ClassifyResponseSchema>;

/** Several models named (`model=a,b`): one entry per model, in the order named. */
export const MultiClassifyResponseSchema = ClassifyCommonSchema.extend({
  results: z.array(ModelPredictionsSchema),
});
export type MultiClassifyResponse = z.infer<typeof MultiClassifyResponseSchema>;

/** POST /v1/classify/batch: one entry per image, in upload order; errors stay per image. */
export const BatchClassifyResponseSchema = z.object({
  results: z.array(
    z.union([
      ClassifyCommonSchema.extend({
        index: z.number().int(),
        filename: z.string().nullable(),
        status: z.literal(200),
        results: z.array(ModelPredictionsSchema),
      }),
      z.object({
        index: z.number().int(),
        filename: z.string().nullable(),
        status: z.number().int().min(400),
        error: z.object({ code: z.string(), detail: z.string(), field: z.string().optional() }),
      }),
    ]),
  ),
  /** Images answered and failed, and the whole request's time. */
  succeeded: z.number().int(),
  failed: z.number().int(),
  totalMs: z.number(),
});
export type BatchClassifyResponse = z.infer<typeof BatchClassifyResponseSchema>;

export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  field: z.string().optional(),
  requestId: z.string(),
});
