// One fine-tune job, start to finish: dataset → decoded images → seeded views → embeddings
// (cached) → head training → evaluation → ONNX head + manifest → completion at the edge.
import { createHash } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  AUGMENTATION_PRESETS,
  AugmentationSchema,
  CENTRE_VIEW,
  trainingViews,
  viewKey,
  type ViewParams,
} from '../shared/augment.js';
import {
  DatasetManifestSchema,
  type DatasetImage,
  type DatasetManifest,
} from '../shared/datasets.js';
import { softmax } from '../shared/head-math.js';
import {
  HEAD_FORMAT_VERSION,
  MAX_EVALUATION_IMAGES,
  type HeadEvaluation,
} from '../shared/heads.js';
import type { EpochMetrics, FineTuneSpec, JsonValue, LeaseGrant } from '../shared/jobs.js';
import type { BackboneManifest, Preprocessing } from '../shared/manifest.js';
import { tenantBackboneOf } from '../shared/backbones.js';
import { decodeTarget, decodedSize } from '../shared/decode.js';
import type { BackboneStore } from './backbones.js';
import { EdgeRequestError, type EdgeClient } from './edge-client.js';
import { EmbeddingCache, MemoryCache, type VectorCache } from './embedding-cache.js';
import { fineTune } from './finetune/fine-tune.js';
import { cutBlocks, planStrategy } from '../shared/strategies.js';
import { evaluatePredictions } from './evaluate.js';
import { BatchAssembler } from './batch-assembler.js';
import { ImageDecodeError, type ViewRenderer } from './preprocess-pool.js';
import { HEAD_INPUT, exportHeadOnnx } from '../shared/head-onnx.js';
import { headLogits, trainHead, type EmbeddingSet, type EpochResult } from './train-head.js';

/**
 * What cached vectors of a backbone are keyed by. A catalogue backbone's preprocessing and
 * outputs are pinned with its weights, so its fingerprint says it all (and keeps old caches). A
 * tenant may import the same weights with another card (preprocessing, embedding tensor): those
 * are part of its key.
 */
function cacheIdentity(backbone: BackboneManifest): string {
  if (!tenantBackboneOf(backbone.id)) return backbone.fingerprint;
  return createHash('sha256')
    .update(
      JSON.stringify([
        backbone.fingerprint,
        backbone.preprocessing,
        backbone.onnx.input.name,
        backbone.onnx.outputs.embedding.name,
      ]),
    )
    .digest('hex');
}

/** The job cannot succeed however often it is retried (a bad dataset): fail it at once. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

/** The user canceled the job; the worker stops and acknowledges. */
export class JobCanceledError extends Error {
  override name = 'JobCanceledError';
}

export interface JobRunContext {
  readonly edge: EdgeClient;
  readonly backbones: BackboneStore;
  readonly cacheDir: string;
  readonly producerVersion: string;
  /** Decodes images and renders their views (a pool of threads, or the main thread). */
  readonly renderer: ViewRenderer;
  readonly log: (message: string) => void;
}

export interface JobTimings {
  fetchSeconds: number;
  preprocessSeconds: number;
  embedSeconds: number;
  trainSeconds: number;
  exportSeconds: number;
  totalSeconds: number;
  embeddings: number;
  cachedEmbeddings: number;
}

export interface JobOutcome {
  readonly headId: string;
  readonly inputMode: 'crop' | 'squash';
  readonly valAccuracy: number;
  readonly bestEpoch: number;
  readonly timings: JobTimings;
}

/** Images per request to the edge, and their total size at most (bounds the worker's memory). */
const FETCH_CHUNK_IMAGES = 32;
const FETCH_CHUNK_BYTES = 16 * 1024 * 1024;
/** Requests started ahead of the decoding. */
const FETCH_CHUNKS_AHEAD = 2;
/** Images per backbone run. */
const EMBED_BATCH = 32;

const seconds = (since: number) => (performance.now() - since) / 1000;

type InputMode = 'crop' | 'squash';

/** One embedding to make: a view of the image under an input mode. */
interface ModeView {
  readonly mode: InputMode;
  readonly view: ViewParams;
  /** Cache key: centre views differ by mode, augmented crops do not. */
  readonly key: string;
}

const modesOf = (spec: FineTuneSpec): InputMode[] =>
  spec.inputMode === 'auto' ? ['crop', 'squash'] : [spec.inputMode];

function modePreprocessing(base: Preprocessing, mode: InputMode): Preprocessing {
  return {
    ...base,
    resize: { ...base.resize, mode: mode === 'crop' ? 'shortest-edge' : 'squash' },
  };
}

/** The views an image is embedded under: a centre view per input mode, plus seeded augmentations for training. */
function viewsFor(
  image: DatasetImage,
  split: 'train' | 'val',
  spec: FineTuneSpec,
  modes: readonly InputMode[],
  target: number,
): ModeView[] {
  const centres = modes.map((mode) => ({
    mode,
    view: CENTRE_VIEW,
    key: `mode=${mode};${viewKey(CENTRE_VIEW)}`,
  }));
  if (split === 'val' || spec.augmentation.preset === 'none' || spec.augmentation.views === 0)
    return centres;
  const aug = AugmentationSchema.parse(AUGMENTATION_PRESETS[spec.augmentation.preset]);
  // Crop boxes lie on the image as it is decoded: upright, shrunk to the model's size.
  const decoded = decodedSize(image, target);
  const extra = trainingViews(decoded.width, decoded.height, aug, {
    seed: spec.seed,
    imageKey: image.sha256,
    count: spec.augmentation.views,
  });
  // Augmented crop boxes are squashed into the input size whatever the mode: one embedding serves all.
  return [...centres, ...extra.map((view) => ({ mode: modes[0]!, view, key: viewKey(view) }))];
}

interface Slot {
  readonly image: DatasetImage;
  readonly split: 'train' | 'val';
  readonly views: ModeView[];
  readonly embeddings: (Float32Array | undefined)[];
}

/**
 * Embeds every (image, view) not already cached. Image requests run ahead; preprocessing
 * threads decode and render views into shared batch buffers while onnxruntime runs the batches
 * already complete.
 */
async function embedAll(
  ctx: JobRunContext,
  grant: LeaseGrant,
  slots: Slot[],
  cache: VectorCache,
  embed: (batch: Float32Array[]) => Promise<Float32Array[]>,
  signal: AbortSignal,
  timings: JobTimings,
): Promise<void> {
  const { preprocessing } = await ctx.backbones.manifest(grant.spec.backbone);
  const byMode = {
    crop: modePreprocessing(preprocessing, 'crop'),
    squash: modePreprocessing(preprocessing, 'squash'),
  };
  // The views each image still needs (those the cache does not have), in dataset order.
  const missing = new Map<Slot, number[]>();
  for (const slot of slots) {
    for (const [i, view] of slot.views.entries()) {
      const hit = await cache.get(slot.image.sha256, view.key);
      if (hit) slot.embeddings[i] = hit;
      else if (missing.has(slot)) missing.get(slot)!.push(i);
      else missing.set(slot, [i]);
    }
  }
  timings.cachedEmbeddings = cache.hits;
  timings.embeddings = [...missing.values()].reduce((n, views) => n + views.length, 0);
  const toFetch = [...missing.keys()];
  // Images come in chunks (one request each), a couple of chunks ahead of the decoding.
  const chunks: Slot[][] = [];
  for (let i = 0, bytes = 0; i < toFetch.length; i++) {
    const slot = toFetch[i]!;
    const last = chunks.at(-1);
    if (
      !last ||
      last.length >= FETCH_CHUNK_IMAGES ||
      bytes + slot.image.bytes > FETCH_CHUNK_BYTES
    ) {
      chunks.push([slot]);
      bytes = slot.image.bytes;
    } else {
      last.push(slot);
      bytes += slot.image.bytes;
    }
  }
  const chunkFetches = new Map<number, Promise<Map<Slot, Uint8Array>>>();
  const fetchChunk = (c: number) => {
    let p = chunkFetches.get(c);
    if (!p) {
      const chunk = chunks[c]!;
      const started = performance.now();
      p = ctx.edge
        .datasetImages(
          grant.jobId,
          grant.leaseToken,
          chunk.map((slot) => slot.image.sha256),
        )
        .then((images) => {
          timings.fetchSeconds += seconds(started);
          return new Map(
            chunk.map((slot, i) => {
              const bytes = images[i];
              if (!bytes)
                throw new PermanentJobError(`${imageName(slot)} is no longer in the dataset`);
              return [slot, bytes];
            }),
          );
        });
      p.catch(() => undefined);
      chunkFetches.set(c, p);
    }
    return p;
  };

  // Views are rendered straight into slots of shared batch buffers; a full batch runs at once.
  const assembler = new BatchAssembler<{ slot: Slot; view: number }>({
    batchSize: EMBED_BATCH,
    viewSize: 3 * preprocessing.crop.width * preprocessing.crop.height,
    buffers: 3,
    run: async (tensors, items) => {
      const started = performance.now();
      const out = await embed(tensors);
      timings.embedSeconds += seconds(started);
      await Promise.all(
        items.map(async (b, i) => {
          b.slot.embeddings[b.view] = out[i]!;
          await cache.put(b.slot.image.sha256, b.slot.views[b.view]!.key, out[i]!);
        }),
      );
    },
  });

  const { renderer } = ctx;
  const rendering = new Set<Promise<void>>();
  let failure: Error | undefined;
  /** Renders one image's views into their slots; never rejects (the first failure is kept). */
  const renderSlot = async (slot: Slot, bytes: Uint8Array): Promise<void> => {
    try {
      const todo = missing.get(slot)!;
      const placements = await assembler.placeAll(todo.map((view) => ({ slot, view })));
      const requests = todo.map((i) => {
        const { view, mode } = slot.views[i]!;
        return { view, preprocessing: byMode[mode] };
      });
      const { ms } = await renderer.render(
        bytes,
        requests,
        placements.map((p) => p.target),
      );
      timings.preprocessSeconds += ms / 1000;
      for (const p of placements) p.done();
    } catch (err) {
      failure ??=
        err instanceof ImageDecodeError
          ? new PermanentJobError(`${imageName(slot)} cannot be decoded: ${err.message}`)
          : err instanceof Error
            ? err
            : new Error(String(err));
      // Views of this image will never be written: release anything waiting on their batch.
      assembler.abort(failure);
    }
  };

  try {
    for (let c = 0; c < chunks.length && failure === undefined; c++) {
      for (let ahead = c; ahead < Math.min(chunks.length, c + FETCH_CHUNKS_AHEAD); ahead++)
        void fetchChunk(ahead);
      if (signal.aborted) throw new JobCanceledError('the job was canceled');
      const images = await fetchChunk(c);
      chunkFetches.delete(c);
      for (const [slot, bytes] of images) {
        if (failure !== undefined) break;
        // Slots are reserved here, in dataset order, before the image goes to a thread.
        const task = renderSlot(slot, bytes).finally(() => rendering.delete(task));
        rendering.add(task);
        // Enough images in flight to keep every preprocessing thread busy, and no more.
        while (rendering.size >= renderer.capacity) await Promise.race(rendering);
        // Let timers (heartbeats) and I/O run between images.
        await yieldToEventLoop();
      }
    }
  } finally {
    await Promise.all(rendering);
  }
  if (failure !== undefined) throw failure;
  await assembler.finish();
}

/** How errors name an image: its path in the archive and the start of its hash. */
const imageName = (slot: Slot) => `image ${slot.image.path} (${slot.image.sha256.slice(0, 12)}…)`;

function embeddingSet(
  slots: Slot[],
  labelIndex: Map<string, number>,
  dim: number,
  only?: InputMode,
): EmbeddingSet & { ids: string[] } {
  const keep = (v: ModeView) => only === undefined || (v.mode === only && v.view === CENTRE_VIEW);
  const rows = slots.reduce((n, s) => n + s.views.filter(keep).length, 0);
  const x = new Float32Array(rows * dim);
  const y = new Int32Array(rows);
  const ids: string[] = [];
  let r = 0;
  for (const slot of slots) {
    for (const [i, e] of slot.embeddings.entries()) {
      if (!keep(slot.views[i]!)) continue;
      if (!e) throw new Error(`missing embedding for ${slot.image.sha256}`);
      x.set(e, r * dim);
      y[r] = labelIndex.get(slot.image.label)!;
      ids.push(slot.image.sha256);
      r++;
    }
  }
  return { x, y, n: rows, dim, ids };
}

/** The head's probabilities for every validation image (kept with the head for audits). */
function perImagePredictions(
  logits: Float32Array,
  images: readonly DatasetImage[],
  classes: readonly string[],
  inputMode: InputMode,
): HeadEvaluation {
  const c = classes.length;
  return {
    formatVersion: 1,
    inputMode,
    classes: [...classes],
    images: images.slice(0, MAX_EVALUATION_IMAGES).map((image, i) => {
      const probabilities = Array.from(softmax(logits.subarray(i * c, (i + 1) * c)));
      const predicted = probabilities.indexOf(Math.max(...probabilities));
      return {
        sha256: image.sha256,
        path: image.path,
        label: image.label,
        predicted: classes[predicted]!,
        probabilities,
      };
    }),
  };
}

function checkDataset(manifest: DatasetManifest): void {
  if (manifest.classes.length < 2)
    throw new PermanentJobError(
      `the dataset has ${manifest.classes.length} class(es); a classifier needs at least 2`,
    );
  if (manifest.images.val.length === 0)
    throw new PermanentJobError(
      'the dataset has no validation images to choose the best epoch with',
    );
  for (const c of manifest.classes) {
    if ((manifest.counts.train[c] ?? 0) === 0)
      throw new PermanentJobError(`class "${c}" has no training images`);
  }
}

/**
 * Runs a leased job and completes it at the edge. Throws PermanentJobError for a dataset that
 * cannot work, JobCanceledError when `signal` aborts, anything else for a retryable failure.
 *
 * @example
 * const outcome = await runJob(ctx, grant, controller.signal, (m) => edge.progress(grant.jobId, grant.leaseToken, m));
 */
export async function runJob(
  ctx: JobRunContext,
  grant: LeaseGrant,
  signal: AbortSignal,
  onEpoch: (metrics: EpochMetrics) => Promise<void>,
): Promise<JobOutcome> {
  const started = performance.now();
  const spec = grant.spec;
  const timings: JobTimings = {
    fetchSeconds: 0,
    preprocessSeconds: 0,
    embedSeconds: 0,
    trainSeconds: 0,
    exportSeconds: 0,
    totalSeconds: 0,
    embeddings: 0,
    cachedEmbeddings: 0,
  };
  const parsed = DatasetManifestSchema.safeParse(
    await ctx.edge.datasetManifest(grant.jobId, grant.leaseToken).catch((err: unknown) => {
      // The dataset was deleted after the job was submitted: no retry can bring it back.
      if (err instanceof EdgeRequestError && err.status === 404)
        throw new PermanentJobError(
          `the job's dataset was deleted before training began; upload it again and submit a new job (${err.message})`,
        );
      throw err;
    }),
  );
  if (!parsed.success)
    throw new PermanentJobError(
      `the dataset manifest is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`,
    );
  const dataset = parsed.data;
  checkDataset(dataset);
  const backbone = await ctx.backbones.manifest(spec.backbone);
  if (backbone.onnx.quantized && spec.strategy !== 'feature_extraction')
    throw new PermanentJobError(
      `strategy: "${backbone.id}" has integer-quantized weights and trains with "feature_extraction" only`,
    );
  const planned = planStrategy(spec, cutBlocks(backbone.blocks));
  if ('problem' in planned)
    throw new PermanentJobError(`${planned.problem.field}: ${planned.problem.message}`);
  const plan = planned.plan;
  const modes = modesOf(spec);
  // What each view becomes: the embedding, or the activations at the fine-tuning cut.
  const tensor = plan ? plan.cut.input : backbone.onnx.outputs.embedding.name;
  const source = await ctx.backbones.activations(spec.backbone, tensor);
  const cutShape = source.shape;
  const rowSize = cutShape.reduce((a, b) => a * b, 1);
  // The pixels (full fine-tuning) are not worth a disk cache; embeddings keep their old path.
  const cache: VectorCache =
    tensor === backbone.onnx.input.name
      ? new MemoryCache()
      : new EmbeddingCache(
          ctx.cacheDir,
          cacheIdentity(backbone),
          rowSize,
          plan ? tensor : undefined,
        );
  const slots: Slot[] = [
    ...dataset.images.train.map((image) => ({ image, split: 'train' as const })),
    ...dataset.images.val.map((image) => ({ image, split: 'val' as const })),
  ].map(({ image, split }) => {
    const views = viewsFor(image, split, spec, modes, decodeTarget(backbone.preprocessing));
    return { image, split, views, embeddings: new Array<Float32Array | undefined>(views.length) };
  });
  await embedAll(ctx, grant, slots, cache, source.run, signal, timings);

  const labelIndex = new Map(dataset.classes.map((c, i) => [c, i]));
  const train = embeddingSet(
    slots.filter((s) => s.split === 'train'),
    labelIndex,
    rowSize,
  );
  const vals = modes.map((mode) =>
    embeddingSet(
      slots.filter((s) => s.split === 'val'),
      labelIndex,
      rowSize,
      mode,
    ),
  );
  ctx.log(
    `job ${grant.jobId}: ${train.n} training and ${vals.length} × ${vals[0]!.n} validation embeddings (${timings.cachedEmbeddings} from cache)`,
  );

  const trainStart = performance.now();
  const reportEpoch = async (epoch: EpochResult) => {
    if (signal.aborted) throw new JobCanceledError('the job was canceled');
    const { valSet: _valSet, ...metrics } = epoch;
    await onEpoch({ ...metrics, epochs: spec.epochs });
  };
  const docString = `head for ${spec.backbone} on ${dataset.id}`;
  let trained: {
    onnx: Uint8Array;
    valLogits: Float32Array;
    bestEpoch: number;
    bestValSet: number;
    history: EpochResult[];
    stoppedEarly: boolean;
    input: { name: string; dim: number; shape?: number[] };
    strategy: Record<string, JsonValue>;
  };
  if (plan) {
    const outcome = await fineTune({
      backbones: ctx.backbones,
      spec,
      plan,
      manifest: backbone,
      cutShape,
      train: { x: train.x, y: train.y, n: train.n, size: rowSize },
      vals: vals.map((v) => ({ x: v.x, y: v.y, n: v.n, size: rowSize })),
      classes: dataset.classes.length,
      producerVersion: ctx.producerVersion,
      docString,
      onEpoch: reportEpoch,
    });
    trained = {
      ...outcome,
      input: { name: plan.cut.input, dim: rowSize, shape: [...cutShape] },
      strategy: {
        name: spec.strategy,
        cut: plan.cut.name,
        cutTensor: plan.cut.input,
        trainedBlocks: outcome.trainedBlocks,
        trainedBackboneParameters: outcome.trainedBackboneParameters,
        batchNorm: spec.batchNorm,
      },
    };
  } else {
    const result = await trainHead(
      train,
      vals,
      dataset.classes.length,
      {
        head: spec.head,
        epochs: spec.epochs,
        batchSize: spec.batchSize,
        lr: spec.optimizer.lr,
        weightDecay: spec.optimizer.weightDecay,
        scheduler: spec.scheduler,
        labelSmoothing: spec.labelSmoothing,
        earlyStopping: spec.earlyStopping,
        seed: spec.seed,
      },
      reportEpoch,
    );
    const val = vals[result.bestValSet]!;
    trained = {
      onnx: exportHeadOnnx(result.params, { producerVersion: ctx.producerVersion, docString }),
      valLogits: headLogits(result.params, val.x, val.n),
      bestEpoch: result.bestEpoch,
      bestValSet: result.bestValSet,
      history: result.history,
      stoppedEarly: result.stoppedEarly,
      input: { name: HEAD_INPUT, dim: backbone.embeddingDim },
      strategy: { name: 'feature_extraction' },
    };
  }
  timings.trainSeconds = seconds(trainStart);

  const exportStart = performance.now();
  const mode = modes[trained.bestValSet]!;
  const val = vals[trained.bestValSet]!;
  const { onnx, valLogits } = trained;
  const evaluation = evaluatePredictions(valLogits, val.y, dataset.classes, val.ids);
  const predictions = perImagePredictions(
    valLogits,
    slots.filter((s) => s.split === 'val').map((s) => s.image),
    dataset.classes,
    mode,
  );
  const best = trained.history[trained.bestEpoch - 1]!;
  timings.exportSeconds = seconds(exportStart);
  timings.totalSeconds = seconds(started);
  const manifest = {
    formatVersion: HEAD_FORMAT_VERSION,
    kind: 'head',
    backbone: { id: backbone.id, fingerprint: backbone.fingerprint },
    input: trained.input,
    preprocessing: modePreprocessing(backbone.preprocessing, mode),
    id2label: Object.fromEntries(dataset.classes.map((c, i) => [String(i), c])),
    metrics: {
      valAccuracy: evaluation.accuracy,
      valLoss: best.valLoss,
      inputMode: mode,
      bestEpoch: trained.bestEpoch,
      epochsRun: trained.history.length,
      stoppedEarly: trained.stoppedEarly,
      strategy: trained.strategy,
      headBytes: onnx.byteLength,
      timings: { ...timings },
      perClass: evaluation.perClass.map((c) => ({ ...c })),
      confusion: evaluation.confusion,
      misclassified: evaluation.misclassified.slice(0, 200).map((m) => ({ ...m })),
      history: trained.history.map((h) => ({ ...h })),
    },
    hyperparameters: spec,
    datasetId: dataset.id,
    jobId: grant.jobId,
    timings: { ...timings },
  };
  ctx.log(`job ${grant.jobId}: uploading head (${onnx.byteLength} bytes)`);
  const done = await ctx.edge.complete(grant.jobId, grant.leaseToken, manifest, onnx, predictions);
  const headId = typeof done.headId === 'string' ? done.headId : '';
  return {
    headId,
    valAccuracy: evaluation.accuracy,
    bestEpoch: trained.bestEpoch,
    inputMode: mode,
    timings,
  };
}
