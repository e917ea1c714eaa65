// The backbone manifest: what a converted model is, where its bytes are, and how to feed it.
import { z } from 'zod';

/** Current manifest format. Readers refuse versions they do not know. */
export const MANIFEST_FORMAT_VERSION = 1;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256');

/**
 * How pixels become the model's input tensor. Field names follow the Hugging Face image
 * processor where one exists (`image_mean`, `image_std`); everything is explicit so the
 * edge and the worker can never disagree about a default.
 */
export const PreprocessingSchema = z
  .object({
    /**
     * `shortest-edge`: resize so the shorter side has `shortestEdge` pixels, keeping the aspect
     * ratio (floor), then take the centre crop. `squash`: resize the whole image to the crop
     * size, ignoring its aspect ratio (nothing is cut off; Teachable Machine's choice).
     */
    resize: z.object({
      mode: z.enum(['shortest-edge', 'squash']).default('shortest-edge'),
      shortestEdge: z.number().int().min(1).max(4096),
      filter: z.literal('triangle-antialias'),
    }),
    /** Output size: the centre crop of the resized image, or the squashed size. */
    crop: z.object({
      width: z.number().int().min(1).max(4096),
      height: z.number().int().min(1).max(4096),
    }),
    /** Multiplies 0–255 pixel values before normalisation. */
    rescaleFactor: z.number().positive(),
    image_mean: z.tuple([z.number(), z.number(), z.number()]),
    image_std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
    channelOrder: z.literal('RGB'),
    layout: z.literal('NCHW'),
    dtype: z.literal('float32'),
    /** How an alpha channel is removed before anything else. */
    alpha: z.literal('composite-over-white'),
  })
  .refine(
    (p) =>
      p.resize.mode === 'squash' ||
      (p.crop.width <= p.resize.shortestEdge && p.crop.height <= p.resize.shortestEdge),
    {
      message: 'the crop must fit inside the resized image',
      path: ['crop'],
    },
  );
export type Preprocessing = z.infer<typeof PreprocessingSchema>;

/** Shorter side to 256, centre 224 × 224 crop, x / 255, then (x − mean) / std per channel. */
const centreCrop224 = (
  mean: Preprocessing['image_mean'],
  std: Preprocessing['image_std'],
): Preprocessing => ({
  resize: { mode: 'shortest-edge', shortestEdge: 256, filter: 'triangle-antialias' },
  crop: { width: 224, height: 224 },
  rescaleFactor: 1 / 255,
  image_mean: mean,
  image_std: std,
  channelOrder: 'RGB',
  layout: 'NCHW',
  dtype: 'float32',
  alpha: 'composite-over-white',
});

/**
 * The TF.js MobileNets' contract: values scaled to [-1, 1], (x / 255 − 0.5) / 0.5 — the same as
 * MobileNet's x / 127.5 − 1.
 */
export const MOBILENET_PREPROCESSING: Preprocessing = centreCrop224(
  [0.5, 0.5, 0.5],
  [0.5, 0.5, 0.5],
);

/** torchvision's ImageNet contract: the ImageNet mean and standard deviation. */
export const TORCHVISION_PREPROCESSING: Preprocessing = centreCrop224(
  [0.485, 0.456, 0.406],
  [0.229, 0.224, 0.225],
);

const TensorInfoSchema = z.object({
  name: z.string().min(1),
  /** Dimensions; the string "batch" marks the dynamic batch axis. */
  shape: z.array(z.union([z.number().int().min(1), z.literal('batch')])),
});

/** One block of a backbone: the stem, a (inverted-)residual block, the top convolution, … */
export const BackboneBlockSchema = z.object({
  name: z.string().min(1),
  /** `trunk` blocks feed the embedding; `classifier` is the source's own ImageNet head. */
  role: z.enum(['trunk', 'classifier']),
  /** Keras layer names in the block. */
  layers: z.array(z.string()),
  parameters: z.number().int().min(0),
  /** Parameters a fine-tune would update (BatchNorm moving statistics excluded). */
  trainableParameters: z.number().int().min(0),
  /**
   * The ONNX tensor entering the block, when it is a clean cut (nothing reaches the embedding
   * around it): a head fine-tuned from this block consumes it.
   */
  input: z.string().min(1).optional(),
});
export type BackboneBlock = z.infer<typeof BackboneBlockSchema>;

export const BackboneManifestSchema = z.object({
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  kind: z.literal('backbone'),
  /** A catalogue id, or a tenant's backbone as `{tenantId}/{name}` (BACKBONE_REF_PATTERN). */
  id: z.string().regex(/^(ten_[A-Za-z0-9_-]{16}\/)?[a-z0-9][a-z0-9.-]{1,63}$/),
  displayName: z.string().min(1),
  /** sha256 over the source weights' names, dtypes, shapes and bytes (see fingerprint.ts). */
  fingerprint: sha256Hex,
  parameters: z.number().int().positive(),
  source: z.object({
    /** What was imported: a TF.js layers model (converted by us) or an ONNX file (checked, rewritten). */
    format: z.enum(['tfjs-layers', 'onnx']),
    licence: z.string(),
    origin: z.string(),
  }),
  onnx: z.object({
    file: z.string().regex(/^[a-z0-9._-]+\.onnx$/),
    sha256: sha256Hex,
    bytes: z.number().int().positive(),
    opset: z.number().int().min(7),
    /**
     * Integer-quantized (QOperator or QDQ) weights: fine for feature extraction, but there are no
     * float weights to train, so `fine_tune` and `full` are refused on it.
     */
    quantized: z.boolean().default(false),
    input: TensorInfoSchema,
    outputs: z.object({
      embedding: TensorInfoSchema,
      logits: TensorInfoSchema.optional(),
      probabilities: TensorInfoSchema.optional(),
    }),
  }),
  inputSize: z.object({ width: z.number().int().min(1), height: z.number().int().min(1) }),
  preprocessing: PreprocessingSchema,
  embeddingDim: z.number().int().min(1),
  /** The network's blocks in order with parameter counts (what partial fine-tuning names). */
  blocks: z.array(BackboneBlockSchema).optional(),
  /** Class names of the source's own classifier, index → label (Hugging Face naming). */
  id2label: z.record(z.string().regex(/^\d+$/), z.string()).optional(),
  converter: z.object({ name: z.string(), version: z.string() }),
});
export type BackboneManifest = z.infer<typeof BackboneManifestSchema>;

/**
 * Parses untrusted JSON into a manifest, throwing a ZodError that names every bad field.
 *
 * @example
 * const manifest = parseBackboneManifest(JSON.parse(text));
 */
export function parseBackboneManifest(value: unknown): BackboneManifest {
  return BackboneManifestSchema.parse(value);
}
