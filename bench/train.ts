// `npm run bench:train`: the default fine-tune job on a real dataset, through a local edge and the
// worker's own code path — embedding throughput, head training time, total time from lease to a
// completed head, validation accuracy — plus how training time grows with the number of embeddings.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BackboneStore } from '../src/gpu-worker/backbones.js';
import { EdgeClient } from '../src/gpu-worker/edge-client.js';
import { createViewRenderer } from '../src/gpu-worker/preprocess-pool.js';
import { runJob, type JobOutcome } from '../src/gpu-worker/run-job.js';
import { trainHead, type EmbeddingSet } from '../src/gpu-worker/train-head.js';
import { DEFAULT_EMBEDDER } from '../src/shared/backbones.js';
import { JOB_PRESETS, type LeaseGrant } from '../src/shared/jobs.js';
import { createRng } from '../src/shared/random.js';
import { startLocalEdge } from '../scripts/lib/local-edge.js';
import { DEFAULT_OUT, DEFAULT_SOURCE } from '../scripts/models/import.js';
import { DATASETS_DIR } from '../test/support/paths.js';
import { uploadImageFolder } from './lib/dataset.js';
import { recordFigures } from './lib/results.js';

const DEFAULT_DATASET = path.join(DATASETS_DIR, 'hymenoptera_data');

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: DEFAULT_DATASET },
    backbone: { type: 'string', default: DEFAULT_EMBEDDER },
    threads: { type: 'string', default: '2' },
    /** Preprocessing threads (0 decodes on the main thread). */
    'preprocess-threads': { type: 'string', default: '2' },
    /** feature_extraction (default), fine_tune or full. */
    strategy: { type: 'string', default: 'feature_extraction' },
    /** Skip the second (cached) run and the training-time scaling. */
    quick: { type: 'boolean', default: false },
    /** Extra job fields as JSON, e.g. '{"preset":"lesson"}' — the default job when absent. */
    spec: { type: 'string', default: '{}' },
    /**
     * Another backbone to run the same job on, cold, in the same run (side by side), e.g.
     * --backbone mobilenet-v2-1.0 --compare mobilenet-v2-0.35.
     */
    compare: { type: 'string' },
    /** Do not write the figures into bench/results.json. */
    'no-record': { type: 'boolean', default: false },
    /**
     * Record a run with --spec too, under `train.<dataset>…<label>` (a default job needs none):
     * e.g. --spec '{"optimizer":{"backboneLr":3e-4}}' --label backbone_lr_3e-4.
     */
    label: { type: 'string' },
    /**
     * Run the job N times, with the job's own seed (the default job's is 0) and the N − 1 seeds
     * after it, and report each validation accuracy and their mean: on a few hundred validation
     * photos one seed moves the
     * score by a photo or more.
     */
    seeds: { type: 'string', default: '1' },
    /**
     * Leave the real validation photos out and validate on this fraction of the training photos
     * (seeded, per class), e.g. 0.2: for choosing settings without looking at the validation
     * split. Such runs are never recorded.
     */
    holdout: { type: 'string' },
  },
});
const HOLDOUT = values.holdout === undefined ? undefined : Number(values.holdout);
if (HOLDOUT !== undefined && !(HOLDOUT > 0 && HOLDOUT < 1))
  throw new Error('--holdout takes a fraction between 0 and 1, e.g. 0.2');
const SEEDS = Number(values.seeds);
if (!Number.isInteger(SEEDS) || SEEDS < 1 || SEEDS > 20)
  throw new Error('--seeds takes a whole number from 1 to 20');
/** The seed of the first run: the one --spec names, or the default job's. */
const FIRST_SEED =
  (JSON.parse(values.spec) as { seed?: number }).seed ?? JOB_PRESETS.headstart.seed;
/** How a run of several seeds is named: `seeds 0–4`. */
const seedRange = (n: number) => `seeds ${FIRST_SEED}–${FIRST_SEED + n - 1}`;

/** The results-file prefix of this run: `train.<dataset>.<backbone>[.<strategy>][.<label>]`. */
function figurePrefix(): string {
  const dataset = path
    .basename(path.resolve(values.dataset))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_');
  // Always named: which backbone is the default changes, a measurement's backbone does not.
  const backbone = `.${values.backbone}`;
  const strategy = values.strategy === 'feature_extraction' ? '' : `.${values.strategy}`;
  const label = values.label ? `.${values.label}` : '';
  return `train.${dataset}${backbone}${strategy}${label}`;
}

/** Writes the run's figures into bench/results.json (default jobs only; --no-record skips). */
async function record(
  summary: ReturnType<typeof figures>,
  warmSeconds: number | undefined,
  seeds?: readonly number[],
): Promise<void> {
  if (values['no-record'] || HOLDOUT !== undefined || (values.spec !== '{}' && !values.label))
    return;
  const prefix = figurePrefix();
  const name = path.basename(path.resolve(values.dataset));
  const command = `npm run bench:train -- ${[
    values.dataset === DEFAULT_DATASET ? '' : `--dataset ${values.dataset}`,
    values.backbone === DEFAULT_EMBEDDER ? '' : `--backbone ${values.backbone}`,
    values.strategy === 'feature_extraction' ? '' : `--strategy ${values.strategy}`,
    values.spec === '{}' ? '' : `--spec '${values.spec}'`,
    values.label ? `--label ${values.label}` : '',
    values.compare ? `--compare ${values.compare}` : '',
    values.quick ? '--quick' : '',
    SEEDS > 1 ? `--seeds ${SEEDS}` : '',
  ]
    .filter(Boolean)
    .join(' ')}`.replace(/ -- $/, '');
  await recordFigures(command.trimEnd(), {
    [`${prefix}.val_acc`]: {
      value: summary.val_acc,
      display: summary.val_acc.toFixed(3),
      label: `${name}: validation accuracy of the kept epoch`,
    },
    [`${prefix}.total_s`]: {
      value: summary.total_s,
      display: `${summary.total_s.toFixed(1)} s`,
      label: `${name}: lease to completed head, embeddings computed (cold)`,
    },
    [`${prefix}.train_s`]: {
      value: summary.train_s,
      display: `${summary.train_s.toFixed(2)} s`,
      label: `${name}: head training alone`,
    },
    [`${prefix}.embed_images_per_s`]: {
      value: summary.embed_images_per_s,
      display: `${summary.embed_images_per_s.toFixed(0)} images/s`,
      label: `${name}: decode, views and backbone`,
    },
    ...(seeds && seeds.length > 1
      ? {
          [`${prefix}.val_acc_seeds_mean`]: {
            value: Math.round((seeds.reduce((a, b) => a + b, 0) / seeds.length) * 1000) / 1000,
            display: (seeds.reduce((a, b) => a + b, 0) / seeds.length).toFixed(3),
            label: `${name}: mean validation accuracy over ${seedRange(seeds.length)} (${seeds.map((v) => v.toFixed(3)).join(', ')})`,
          },
        }
      : {}),
    ...(warmSeconds === undefined
      ? {}
      : {
          [`${prefix}.warm_s`]: {
            value: Math.round(warmSeconds * 100) / 100,
            display: `${warmSeconds.toFixed(1)} s`,
            label: `${name}: the same job again, embeddings from the cache`,
          },
        }),
  });
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'headstart-bench-train-'));
  const tempDir = (name: string) => path.join(work, name);
  const stateDir = tempDir('state');
  const edge = await startLocalEdge(stateDir, {
    modelsSource: DEFAULT_SOURCE,
    modelsOut: DEFAULT_OUT,
  });
  try {
    const headers = { authorization: `Bearer ${edge.apiKey}` };
    const dataset = await uploadImageFolder(edge, values.dataset, {
      ...(HOLDOUT === undefined ? {} : { holdout: HOLDOUT }),
    });
    console.log(
      `${path.basename(values.dataset)}: ${dataset.imageCount.train} training and ${dataset.imageCount.val} validation images${HOLDOUT === undefined ? '' : ` (held out of training: ${HOLDOUT})`}`,
    );

    const client = new EdgeClient({ baseUrl: edge.url, token: edge.workerToken });
    const backbones = new BackboneStore(client, {
      cacheDir: tempDir('backbones'),
      provider: 'cpu',
      threads: Number(values.threads),
    });
    const cacheDir = tempDir('embeddings');
    const renderer = createViewRenderer(Number(values['preprocess-threads']));
    const runOnce = async (
      backbone = values.backbone,
      seed?: number,
    ): Promise<{ outcome: JobOutcome; totalSeconds: number }> => {
      const submitted = await fetch(`${edge.url}/v1/fine-tunes`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({
          strategy: values.strategy,
          ...(JSON.parse(values.spec) as object),
          ...(seed === undefined ? {} : { seed }),
          datasetId: dataset.id,
          backbone,
        }),
      });
      if (!submitted.ok) throw new Error(`submit failed: ${await submitted.text()}`);
      let grant: LeaseGrant | null = null;
      while (!grant)
        grant = await client.lease({ workerId: 'bench', waitSeconds: 5, leaseSeconds: 120 });
      const started = performance.now();
      const outcome = await runJob(
        {
          edge: client,
          backbones,
          renderer,
          cacheDir,
          producerVersion: 'bench',
          log: () => undefined,
        },
        grant,
        new AbortController().signal,
        async (m) => {
          if (values.strategy !== 'feature_extraction')
            console.log(
              `  epoch ${m.epoch}/${m.epochs}: train loss ${m.trainLoss.toFixed(3)}, val accuracy ${m.valAccuracy.toFixed(3)} (${m.seconds.toFixed(2)} s)`,
            );
          await client.progress(grant.jobId, grant.leaseToken, m);
        },
      );
      return { outcome, totalSeconds: (performance.now() - started) / 1000 };
    };

    console.log(
      `strategy ${values.strategy}${values.spec !== '{}' ? `, job fields: ${values.spec}` : ''}`,
    );
    // Warm the backbone download and session once, outside the timings (a long-lived worker has them).
    await Promise.all([backbones.embedder(values.backbone), renderer.warm()]);
    const cold = await runOnce();
    const t = cold.outcome.timings;
    const embedStage = t.fetchSeconds + t.preprocessSeconds + t.embedSeconds;
    const embedPerSecond = t.embeddings / Math.max(1e-9, t.preprocessSeconds + t.embedSeconds);
    console.log(
      `cold: ${t.embeddings} embeddings (${embedPerSecond.toFixed(1)} images/s through decode + preprocess + backbone), ` +
        `training ${t.trainSeconds.toFixed(2)} s, total ${cold.totalSeconds.toFixed(2)} s from lease to completed head, ` +
        `val accuracy ${cold.outcome.valAccuracy.toFixed(3)} (${cold.outcome.inputMode}, epoch ${cold.outcome.bestEpoch})`,
    );
    console.log(
      `  stages: fetch ${t.fetchSeconds.toFixed(2)} s (overlapped), preprocess ${t.preprocessSeconds.toFixed(2)} s, backbone ${t.embedSeconds.toFixed(2)} s, export ${t.exportSeconds.toFixed(2)} s; embedding stage ${embedStage.toFixed(2)} s`,
    );
    const seedAccuracies = [cold.outcome.valAccuracy];
    for (let seed = FIRST_SEED + 1; seed < FIRST_SEED + SEEDS; seed++) {
      const again = await runOnce(values.backbone, seed);
      seedAccuracies.push(again.outcome.valAccuracy);
      console.log(`seed ${seed}: val accuracy ${again.outcome.valAccuracy.toFixed(3)}`);
    }
    const seeded =
      SEEDS > 1
        ? {
            val_acc_seeds: seedAccuracies.map((v) => Math.round(v * 1000) / 1000),
            val_acc_seeds_mean:
              Math.round((seedAccuracies.reduce((a, b) => a + b, 0) / SEEDS) * 1000) / 1000,
          }
        : {};
    if (SEEDS > 1)
      console.log(
        `val accuracy over ${seedRange(SEEDS)}: mean ${seeded.val_acc_seeds_mean!.toFixed(3)}, min ${Math.min(...seedAccuracies).toFixed(3)}, max ${Math.max(...seedAccuracies).toFixed(3)}`,
      );
    let compared: Record<string, unknown> = {};
    if (values.compare) {
      await backbones.embedder(values.compare);
      const other = await runOnce(values.compare);
      const o = other.outcome.timings;
      console.log(
        `compare ${values.compare}: total ${other.totalSeconds.toFixed(2)} s from lease to completed head, ` +
          `val accuracy ${other.outcome.valAccuracy.toFixed(3)} (${o.embeddings} embeddings) — ` +
          `${values.backbone}: ${cold.totalSeconds.toFixed(2)} s, ${cold.outcome.valAccuracy.toFixed(3)}`,
      );
      compared = {
        compare: {
          backbone: values.compare,
          total_s: Math.round(other.totalSeconds * 100) / 100,
          val_acc: Math.round(other.outcome.valAccuracy * 1000) / 1000,
        },
      };
    }
    if (values.quick) {
      await Promise.all([backbones.close(), renderer.close()]);
      await record(figures(t, embedPerSecond, cold), undefined, seedAccuracies);
      console.log(JSON.stringify({ ...figures(t, embedPerSecond, cold), ...seeded, ...compared }));
      return;
    }
    const warm = await runOnce();
    console.log(
      `warm (same dataset again, embeddings from the cache): total ${warm.totalSeconds.toFixed(2)} s, val accuracy ${warm.outcome.valAccuracy.toFixed(3)}`,
    );

    // Training time against the number of embeddings (synthetic 1280-d data, default head).
    const preset = JOB_PRESETS.headstart;
    const scaling: { n: number; seconds: number }[] = [];
    for (const n of [1000, 2000, 5000, 10000]) {
      const rng = createRng(n);
      const make = (rows: number): EmbeddingSet => ({
        x: Float32Array.from({ length: rows * 1280 }, () => rng()),
        y: Int32Array.from({ length: rows }, (_, i) => i % 2),
        n: rows,
        dim: 1280,
      });
      const started = performance.now();
      await trainHead(make(n), [make(200)], 2, {
        head: preset.head,
        epochs: preset.epochs,
        batchSize: preset.batchSize,
        lr: preset.optimizer.lr,
        weightDecay: 0,
        scheduler: preset.scheduler,
        labelSmoothing: 0,
        earlyStopping: null,
        seed: 0,
      });
      scaling.push({ n, seconds: (performance.now() - started) / 1000 });
    }
    console.log(
      `training time by embeddings (${preset.epochs} epochs): ${scaling.map((s) => `${s.n}: ${s.seconds.toFixed(2)} s`).join(', ')}`,
    );
    await Promise.all([backbones.close(), renderer.close()]);
    await record(figures(t, embedPerSecond, cold), warm.totalSeconds, seedAccuracies);
    console.log(JSON.stringify({ ...figures(t, embedPerSecond, cold), ...seeded, ...compared }));
  } finally {
    await edge.stop();
    await rm(work, { recursive: true, force: true });
  }
}

function figures(
  t: JobOutcome['timings'],
  embedPerSecond: number,
  cold: { outcome: JobOutcome; totalSeconds: number },
) {
  return {
    embed_images_per_s: Math.round(embedPerSecond * 10) / 10,
    train_s: Math.round(t.trainSeconds * 100) / 100,
    total_s: Math.round(cold.totalSeconds * 100) / 100,
    val_acc: Math.round(cold.outcome.valAccuracy * 1000) / 1000,
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
