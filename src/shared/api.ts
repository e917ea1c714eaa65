// Public API shapes shared by the edge, the CLI and the widgets: requests, responses, limits.
import { z } from 'zod';

/** Limits on classification requests (documented in the README and the OpenAPI document). */
export const CLASSIFY_LIMITS = {
  /** Largest accepted request body. */
  maxBodyBytes: 10 * 1024 * 1024,
  /** Largest image, in pixels, as declared by its header (checked before decoding). */
  maxPixels: 40_000_000,
  maxTopK: 20,
  defaultTopK: 5,
} as const;

/** Media types accepted as a raw request body. */
export const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;

export const ModelIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9.-]*$/, 'lowercase letters, digits, dots and dashes');

export const ClassifyParamsSchema = z.object({
  model: ModelIdSchema.optional(),
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

export const ClassifyResponseSchema = z.object({
  model: z.string(),
  predictions: z.array(PredictionSchema),
  image: z.object({
    format: z.enum(['jpeg', 'png', 'webp']),
    width: z.number().int(),
    height: z.number().int(),
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
export type ClassifyResponse = z.infer<typeof ClassifyResponseSchema>;

export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  field: z.string().optional(),
  requestId: z.string(),
});
