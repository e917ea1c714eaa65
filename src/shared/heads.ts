// The trained-head contract: what a head file says about itself (written by the worker,
// validated by the edge before it is stored or served), its per-image evaluation, and the names
// clients use for heads (ids and aliases).
import { z } from 'zod';
import { JsonValueSchema } from './jobs.js';
import { PreprocessingSchema, type BackboneManifest, type Preprocessing } from './manifest.js';

export const HEAD_FORMAT_VERSION = 1;

/** Head ids are content addresses: `head_` and 32 hex digits of a sha256. */
export const HEAD_ID = /^head_[0-9a-f]{32}$/;
export const HeadIdSchema = z
  .string()
  .regex(HEAD_ID, 'a head id such as head_0123…(32 hex digits)');

/**
 * Alias names: lowercase letters, digits and dashes, starting with a letter. They cannot contain
 * `_` or `.`, so an alias never looks like a head id or a versioned backbone id.
 */
export const AliasNameSchema = z
  .string()
  .min(1)
  .max(48)
  .regex(/^[a-z][a-z0-9-]*$/, 'lowercase letters, digits and dashes, starting with a letter');

export const HeadManifestSchema = z.looseObject({
  formatVersion: z.literal(HEAD_FORMAT_VERSION),
  kind: z.literal('head'),
  /** The backbone the head was trained on, by id and weights fingerprint. */
  backbone: z.object({ id: z.string().min(1), fingerprint: z.string().regex(/^[0-9a-f]{64}$/) }),
  /**
   * The backbone tensor the head consumes and its size: the embedding for feature extraction,
   * a block's input (with its shape, batch axis left out) for a fine-tuned tail.
   */
  input: z.object({
    name: z.string().min(1),
    dim: z.number().int().min(1),
    shape: z.array(z.number().int().min(1)).min(1).max(4).optional(),
  }),
  /** How images were turned into the backbone's input when the head was trained. */
  preprocessing: PreprocessingSchema,
  id2label: z.record(z.string().regex(/^\d+$/), z.string()),
  metrics: z.record(z.string(), JsonValueSchema),
});
export type HeadManifest = z.infer<typeof HeadManifestSchema>;

/**
 * Largest completion upload a worker may send: the head, its manifest and evaluation (a
 * 1000-class head on a 1280-d embedding is about 5 MB; fine-tuned tails are larger).
 */
export const MAX_HEAD_BYTES = 64 * 1024 * 1024;

/** Most validation images whose predictions are kept with a head. */
export const MAX_EVALUATION_IMAGES = 20_000;

/** The head's predictions on every validation image, as the worker computed them. */
export const HeadEvaluationSchema = z.object({
  formatVersion: z.literal(1),
  /** The input mode (and so preprocessing) the predictions were made with. */
  inputMode: z.enum(['crop', 'squash']),
  classes: z.array(z.string()).min(2),
  images: z
    .array(
      z.object({
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        path: z.string(),
        label: z.string(),
        predicted: z.string(),
        probabilities: z.array(z.number().min(0).max(1)),
      }),
    )
    .max(MAX_EVALUATION_IMAGES),
});
export type HeadEvaluation = z.infer<typeof HeadEvaluationSchema>;

/** R2 keys of a stored head; the id derives from the content, so retries cannot fork it. */
export const headKeys = (headId: string) => ({
  model: `heads/${headId}/model.onnx`,
  manifest: `heads/${headId}/manifest.json`,
  evaluation: `heads/${headId}/evaluation.json`,
});

/** Everything about preprocessing except the resize mode, which a head may choose. */
const contractOf = (p: Preprocessing) =>
  JSON.stringify({ ...p, resize: { ...p.resize, mode: '' } });

/**
 * Why a head cannot run on top of `backbone`, or null when it can: same weights (fingerprint),
 * the embedding it consumes, and the backbone's preprocessing contract (only the resize mode may
 * differ).
 *
 * @example
 * const problem = headIncompatibility(headManifest, backboneManifest); // null, or a sentence
 */
export function headIncompatibility(head: HeadManifest, backbone: BackboneManifest): string | null {
  if (head.backbone.id !== backbone.id)
    return `the head was trained on ${head.backbone.id}, not ${backbone.id}`;
  if (head.backbone.fingerprint !== backbone.fingerprint)
    return `the head was trained on other weights of ${backbone.id} (fingerprint ${head.backbone.fingerprint.slice(0, 12)}…, now ${backbone.fingerprint.slice(0, 12)}…)`;
  if (head.input.name === backbone.onnx.outputs.embedding.name) {
    if (head.input.dim !== backbone.embeddingDim)
      return `the head expects ${head.input.dim} features, the backbone gives ${backbone.embeddingDim}`;
  } else {
    const cut = backbone.blocks?.find((b) => b.input === head.input.name);
    if (!cut)
      return `the head consumes "${head.input.name}", which ${backbone.id} neither outputs nor lists as a block input`;
    const size = head.input.shape?.reduce((a, b) => a * b, 1);
    if (size !== head.input.dim)
      return `the head consumes "${head.input.name}" but gives no shape matching its ${head.input.dim} values`;
  }
  if (contractOf(head.preprocessing) !== contractOf(backbone.preprocessing))
    return `the head's preprocessing differs from ${backbone.id}'s contract`;
  return null;
}

/** A head as the heads API lists it. */
export const HeadSummarySchema = z.object({
  id: z.string(),
  jobId: z.string(),
  datasetId: z.string(),
  backbone: z.string(),
  labels: z.array(z.string()),
  /** The headline figures; GET /v1/heads/{id} has everything (confusion matrix, history…). */
  metrics: z.object({
    valAccuracy: z.number().nullable(),
    valLoss: z.number().nullable(),
    bestEpoch: z.number().nullable(),
    epochsRun: z.number().nullable(),
    inputMode: z.string().nullable(),
  }),
  /** Bytes of the ONNX head. */
  bytes: z.number().int(),
  /** Aliases that point at this head now. */
  aliases: z.array(z.string()),
  createdAt: z.string(),
});
export type HeadSummary = z.infer<typeof HeadSummarySchema>;

export const AliasViewSchema = z.object({
  name: z.string(),
  headId: z.string(),
  updatedAt: z.string(),
});
export type AliasView = z.infer<typeof AliasViewSchema>;
