// Fine-tune jobs: the request schema with the lesson's defaults, presets, states, and the
// shapes the edge and the GPU worker exchange.
import { z } from 'zod';
import { AUGMENTATION_PRESET_NAMES } from './augment.js';
import { BACKBONE_REF_PATTERN, BACKBONE_IDS, DEFAULT_EMBEDDER } from './backbones.js';

/** Every state a job can be in; `succeeded`, `failed` and `canceled` are final. */
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'canceled']);

/**
 * Strategies the lesson teaches: train a head on frozen features, fine-tune the backbone from a
 * block on (with its own learning rate), or train every layer.
 */
export const STRATEGIES = ['feature_extraction', 'fine_tune', 'full'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** A backbone block name as manifests list them (`stem`, `block_16`, `top_conv`, …). */
export const BlockNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a block name such as block_16 (GET /v1/models lists them)');

const HeadSchema = z
  .object({
    type: z.enum(['linear', 'mlp']),
    dropout: z.number().min(0).max(0.95),
    /** Hidden units of the MLP head (ignored for linear). */
    hiddenUnits: z.number().int().min(8).max(4096),
  })
  .strict();

const OptimizerSchema = z
  .object({
    type: z.literal('adam'),
    /** Learning rate of the new head. */
    lr: z.number().positive().max(1),
    weightDecay: z.number().min(0).max(1),
    /** Learning rate of pretrained backbone layers when they train (fine_tune and full). */
    backboneLr: z.number().positive().max(1).default(1e-5),
    /**
     * Discriminative learning rates: each backbone block further from the head gets its
     * successor's rate times this factor (1 = one rate for the whole backbone).
     */
    layerDecay: z.number().positive().max(1).default(1),
  })
  .strict();

const SchedulerSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('step'),
      stepSize: z.number().int().min(1).max(1000),
      gamma: z.number().positive().max(1),
    })
    .strict(),
  z.object({ type: z.literal('none') }).strict(),
]);

const EarlyStoppingSchema = z
  .object({ patience: z.number().int().min(1).max(100), minDelta: z.number().min(0).max(1) })
  .strict();

/** A fully specified job: what the worker runs. */
export const FineTuneSpecSchema = z
  .object({
    datasetId: z.string().regex(/^ds_[A-Za-z0-9_-]{8,64}$/, 'a dataset id such as ds_…'),
    /** A catalogue backbone (BACKBONE_IDS) or one imported into the models bucket. */
    backbone: z
      .string()
      .regex(
        BACKBONE_REF_PATTERN,
        `a backbone id such as ${BACKBONE_IDS.join(', ')}, or one of your own (GET /v1/backbones)`,
      ),
    strategy: z.enum(STRATEGIES),
    head: HeadSchema,
    epochs: z.number().int().min(1).max(500),
    batchSize: z.number().int().min(1).max(4096),
    optimizer: OptimizerSchema,
    scheduler: SchedulerSchema,
    /**
     * How images become the backbone's input: `crop` (shorter side to 256, centre 224 crop),
     * `squash` (whole image to 224 × 224), or `auto` (train on both, keep the one with the
     * better validation accuracy — like keeping the best epoch).
     */
    inputMode: z.enum(['auto', 'crop', 'squash']),
    augmentation: z
      .object({
        preset: z.enum(AUGMENTATION_PRESET_NAMES),
        /** Seeded augmented views per training image (besides its centre view), each embedded once. */
        views: z.number().int().min(0).max(64),
      })
      .strict(),
    labelSmoothing: z.number().min(0).max(0.5),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    earlyStopping: EarlyStoppingSchema.nullable(),
    maxAttempts: z.number().int().min(1).max(10),
    /**
     * fine_tune: the first trainable block (null = the last block; with `unfreeze`, null means
     * the head alone trains until the first unfreeze epoch).
     */
    trainableFrom: BlockNameSchema.nullable().default(null),
    /** Gradual unfreezing: from `epoch` on, blocks from `from` to the head train. */
    unfreeze: z
      .array(z.object({ epoch: z.number().int().min(1).max(500), from: BlockNameSchema }).strict())
      .max(16)
      .default([]),
    /**
     * BatchNorm in trainable blocks: `frozen` keeps the pretrained statistics (inference mode,
     * the safe choice for small batches); `train` normalises with batch statistics and updates
     * the running ones.
     */
    batchNorm: z.enum(['frozen', 'train']).default('frozen'),
  })
  .strict();
export type FineTuneSpec = z.infer<typeof FineTuneSpecSchema>;

type SpecDefaults = Omit<FineTuneSpec, 'datasetId'>;

const LESSON = {
  backbone: DEFAULT_EMBEDDER,
  strategy: 'feature_extraction',
  head: { type: 'linear', dropout: 0.5, hiddenUnits: 256 },
  epochs: 20,
  batchSize: 32,
  optimizer: { type: 'adam', lr: 1e-3, weightDecay: 0, backboneLr: 1e-5, layerDecay: 1 },
  scheduler: { type: 'step', stepSize: 7, gamma: 0.1 },
  inputMode: 'crop',
  augmentation: { preset: 'lesson', views: 4 },
  labelSmoothing: 0,
  seed: 0,
  earlyStopping: null,
  maxAttempts: 3,
  trainableFrom: null,
  unfreeze: [],
  batchNorm: 'frozen',
} as const satisfies SpecDefaults;

/**
 * Named recipes. `lesson` is the lesson's pipeline: Dropout 0.5 + Linear, Adam 1e-3, StepLR(7,
 * 0.1), 20 epochs, batch 32, resize 256 + centre crop 224, RandomResizedCrop + flip views, best
 * epoch by validation accuracy. `headstart` (the default) changes what measurably helps on
 * frozen embeddings: both input modes chosen on validation, Adam 3e-3, one augmented view.
 */
export const JOB_PRESETS = {
  headstart: {
    ...LESSON,
    inputMode: 'auto',
    optimizer: { ...LESSON.optimizer, lr: 3e-3 },
    augmentation: { preset: 'lesson', views: 1 },
  },
  lesson: LESSON,
} as const satisfies Record<string, SpecDefaults>;
export type JobPreset = keyof typeof JOB_PRESETS;
export const DEFAULT_JOB_PRESET: JobPreset = 'headstart';

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields whose variants have different shapes: another `type` replaces the default whole. */
const VARIANT_FIELDS: ReadonlySet<string> = new Set(['scheduler']);

function mergeDefaults(defaults: unknown, input: unknown, field = ''): unknown {
  if (!isPlainObject(defaults) || !isPlainObject(input))
    return input === undefined ? defaults : input;
  // Scheduler "none" has no step size: it replaces the default instead of merging. A head's
  // type (linear or MLP) shares its fields, so `{ "type": "mlp" }` keeps the preset's dropout.
  if (VARIANT_FIELDS.has(field) && 'type' in input && input.type !== defaults.type) return input;
  const out: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(input))
    out[key] = mergeDefaults(defaults[key], value, key);
  return out;
}

/** The request body of POST /v1/fine-tunes: any subset of the spec, plus an optional preset. */
export const FineTuneRequestSchema = z.looseObject({
  preset: z.enum(Object.keys(JOB_PRESETS) as [JobPreset, ...JobPreset[]]).optional(),
});

/**
 * Fills a request from its preset (default `headstart`) and validates the result strictly, so an
 * unknown field or a bad value is named in the error.
 *
 * @example
 * const spec = resolveFineTuneSpec({ datasetId: 'ds_abc12345', optimizer: { lr: 3e-4 } });
 * // spec.optimizer = { type: 'adam', lr: 3e-4, weightDecay: 0 }, spec.epochs = 20, …
 */
export function resolveFineTuneSpec(
  request: unknown,
):
  | { success: true; data: FineTuneSpec; error?: undefined }
  | { success: false; data?: undefined; error: z.ZodError } {
  const head = FineTuneRequestSchema.safeParse(request);
  // A bad preset (or a body that is not an object) is the error to report, not the spec's.
  if (!head.success) return { success: false, error: head.error };
  const { preset = DEFAULT_JOB_PRESET, ...rest } = head.data;
  return FineTuneSpecSchema.safeParse(mergeDefaults(JOB_PRESETS[preset], rest));
}

/** Per-epoch numbers a worker reports while training. */
export const EpochMetricsSchema = z
  .object({
    epoch: z.number().int().min(1),
    epochs: z.number().int().min(1),
    trainLoss: z.number().nonnegative(),
    trainAccuracy: z.number().min(0).max(1),
    valLoss: z.number().nonnegative(),
    valAccuracy: z.number().min(0).max(1),
    lr: z.number().nonnegative(),
    seconds: z.number().nonnegative(),
  })
  .strict();
export type EpochMetrics = z.infer<typeof EpochMetricsSchema>;

/**
 * One `event: epoch` of a job's event stream: an epoch's metrics, which attempt trained it, and
 * its number in the job's epoch log (`seq`, also the event's id: send it back as Last-Event-ID
 * to resume after it). Every epoch of every attempt is logged once, in order.
 */
export const JobEpochEventSchema = EpochMetricsSchema.extend({
  seq: z.number().int().min(1),
  attempt: z.number().int().min(1),
}).strict();
export type JobEpochEvent = z.infer<typeof JobEpochEventSchema>;

/** A JSON value (what job metrics may hold). */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export const JsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(JsonValueSchema),
    z.record(z.string(), JsonValueSchema),
  ]),
);

/** The public view of a job. */
export interface JobView {
  readonly id: string;
  readonly status: JobStatus;
  readonly datasetId: string;
  readonly batchId: string | null;
  readonly spec: FineTuneSpec;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly progress: EpochMetrics | null;
  readonly history: readonly EpochMetrics[];
  readonly metrics: Record<string, JsonValue> | null;
  readonly lastError: string | null;
  readonly headId: string | null;
  readonly cancelRequested: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** JobView as a schema, for clients that check what they receive (metrics stay free-form JSON). */
export const JobViewSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  datasetId: z.string(),
  batchId: z.string().nullable(),
  spec: FineTuneSpecSchema,
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  progress: EpochMetricsSchema.nullable(),
  history: z.array(EpochMetricsSchema),
  metrics: z.record(z.string(), z.unknown()).nullable(),
  lastError: z.string().nullable(),
  headId: z.string().nullable(),
  cancelRequested: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

/** What a worker gets when it leases a job. */
export const LeaseGrantSchema = z.object({
  jobId: z.string().min(1),
  leaseToken: z.string().min(1),
  expiresAt: z.string(),
  leaseSeconds: z.number().int().positive(),
  attempt: z.number().int().min(1),
  maxAttempts: z.number().int().min(1),
  spec: FineTuneSpecSchema,
});
export type LeaseGrant = z.infer<typeof LeaseGrantSchema>;

/** One job of a batch, side by side with the others: what it trained and what it got. */
export const BatchComparisonRowSchema = z.object({
  jobId: z.string(),
  status: z.enum(JOB_STATUSES),
  strategy: z.enum(STRATEGIES),
  /** fine_tune: the first block trained (null: the default last block, or head first with unfreeze). */
  trainableFrom: z.string().nullable(),
  /** Blocks that trained at some epoch (empty for feature extraction). */
  trainedBlocks: z.array(z.string()),
  valAccuracy: z.number().nullable(),
  bestEpoch: z.number().nullable(),
  trainSeconds: z.number().nullable(),
  totalSeconds: z.number().nullable(),
  headId: z.string().nullable(),
  headBytes: z.number().nullable(),
});
export type BatchComparisonRow = z.infer<typeof BatchComparisonRowSchema>;

const numberAt = (record: Record<string, JsonValue> | null | undefined, key: string) => {
  const v = record?.[key];
  return typeof v === 'number' ? v : null;
};
const recordAt = (record: Record<string, JsonValue> | null | undefined, key: string) => {
  const v = record?.[key];
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null;
};

/**
 * The comparison table of a batch: one row per job, from the metrics its worker reported.
 *
 * @example
 * compareJobs(batch.jobs).map((r) => `${r.strategy}: ${r.valAccuracy}`);
 */
export function compareJobs(jobs: readonly JobView[]): BatchComparisonRow[] {
  return jobs.map((job) => {
    const strategy = recordAt(job.metrics, 'strategy');
    const timings = recordAt(job.metrics, 'timings');
    const blocks = strategy?.trainedBlocks;
    return {
      jobId: job.id,
      status: job.status,
      strategy: job.spec.strategy,
      trainableFrom: job.spec.trainableFrom,
      trainedBlocks: Array.isArray(blocks) ? blocks.filter((b) => typeof b === 'string') : [],
      valAccuracy: numberAt(job.metrics, 'valAccuracy'),
      bestEpoch: numberAt(job.metrics, 'bestEpoch'),
      trainSeconds: numberAt(timings, 'trainSeconds'),
      totalSeconds: numberAt(timings, 'totalSeconds'),
      headId: job.headId,
      headBytes: numberAt(job.metrics, 'headBytes'),
    };
  });
}
