// The model card a person writes beside an ONNX backbone (`backbone.json`): who made it, how
// pixels become its input, and which tensors are its embedding and its own classifier. The
// importer turns card + ONNX file into a manifest; fields left out take our manifest's defaults.
import { z } from 'zod';
import { PreprocessingSchema, type Preprocessing } from './manifest.js';

const tensorName = z.string().min(1).max(256);

/** The card's preprocessing: the manifest's fields, with the fixed ones optional. */
const CardPreprocessingSchema = z.object({
  resize: z.object({
    mode: z.enum(['shortest-edge', 'squash']).default('shortest-edge'),
    shortestEdge: z.number().int().min(16).max(1024),
    filter: z.literal('triangle-antialias').default('triangle-antialias'),
  }),
  crop: z.object({
    width: z.number().int().min(16).max(1024),
    height: z.number().int().min(16).max(1024),
  }),
  rescaleFactor: z
    .number()
    .positive()
    .default(1 / 255),
  image_mean: z.tuple([z.number(), z.number(), z.number()]),
  image_std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  channelOrder: z.literal('RGB').default('RGB'),
  layout: z.literal('NCHW').default('NCHW'),
  dtype: z.literal('float32').default('float32'),
  alpha: z.literal('composite-over-white').default('composite-over-white'),
});

/** Largest ONNX backbone accepted: the edge isolate has 128 MB for everything. */
export const MAX_BACKBONE_BYTES = 32 * 1024 * 1024;

export const BackboneCardSchema = z
  .object({
    id: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9.-]{1,63}$/,
        'lowercase letters, digits, dots and dashes, 2–64 characters',
      ),
    displayName: z.string().min(1).max(120),
    licence: z.string().min(1).max(120),
    origin: z.string().min(1).max(2048),
    /** The image input; by default the graph's only non-constant input. */
    input: tensorName.optional(),
    preprocessing: CardPreprocessingSchema,
    outputs: z
      .object({
        /** The embedding tensor; by default the tensor entering the final classifier, flattened. */
        embedding: tensorName.optional(),
        /** The model's own classifier scores before softmax, when it has one. */
        logits: tensorName.optional(),
        /** `imagenet` (the 1000 ImageNet class names) or one name per logit. */
        labels: z
          .union([z.literal('imagenet'), z.array(z.string().min(1).max(200)).min(2).max(10_000)])
          .optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .refine((c) => (c.outputs.logits === undefined) === (c.outputs.labels === undefined), {
    message: 'logits and labels go together: name both or neither',
    path: ['outputs', 'labels'],
  });
export type BackboneCard = z.infer<typeof BackboneCardSchema>;
export type BackboneCardInput = z.input<typeof BackboneCardSchema>;

/** The manifest preprocessing a card describes (checked against the manifest's own rules). */
export function cardPreprocessing(card: BackboneCard): Preprocessing {
  return PreprocessingSchema.parse(card.preprocessing);
}

/**
 * Parses a card, throwing an Error whose message names the first bad field (`card.preprocessing.crop`).
 *
 * @example
 * const card = parseBackboneCard(JSON.parse(await readFile('backbone.json', 'utf8')));
 */
export function parseBackboneCard(value: unknown): BackboneCard {
  const parsed = BackboneCardSchema.safeParse(value);
  if (parsed.success) {
    const checked = PreprocessingSchema.safeParse(parsed.data.preprocessing);
    if (checked.success) return parsed.data;
    const issue = checked.error.issues[0]!;
    throw new CardError(['preprocessing', ...issue.path].map(String).join('.'), issue.message);
  }
  const issue = parsed.error.issues[0]!;
  const path = [
    ...issue.path,
    ...(issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : []),
  ];
  throw new CardError(path.map(String).join('.'), issue.message);
}

/** A card field is missing or wrong; `field` is its path under the card (`card.outputs.logits`). */
export class CardError extends Error {
  override name = 'CardError';
  readonly field: string;
  constructor(path: string, message: string) {
    const field = path ? `card.${path}` : 'card';
    super(`${field}: ${message}`);
    this.field = field;
  }
}
