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

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: path.join(DATASETS_DIR, 'hymenoptera_data') },
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
  },
});

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
    const dataset = await uploadImageFolder(edge, values.dataset);
    console.log(
      `${path.basename(values.dataset)}: ${dataset.imageCount.train} training and ${dataset.imageCount.val} validation images`,
    );

    const client = new EdgeClient({ baseUrl: edge.url, token: edge.workerToken });
    const backbones = new BackboneStore(client, {
      cacheDir: tempDir('backbones'),
      provider: 'cpu',
      threads: Number(values.threads),
    });
    const cacheDir = tempDir('embeddings');
    const renderer = createViewRenderer(Number(values['preprocess-threads']));
    const runOnce = async (): Promise<{ outcome: JobOutcome; totalSeconds: number }> => {
      const submitted = await fetch(`${edge.url}/v1/fine-tunes`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({
          strategy: values.strategy,
          ...(JSON.parse(values.spec) as object),
          datasetId: dataset.id,
          backbone: values.backbone,
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
    if (values.quick) {
      await Promise.all([backbones.close(), renderer.close()]);
      console.log(JSON.stringify(figures(t, embedPerSecond, cold)));
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
    console.log(JSON.stringify(figures(t, embedPerSecond, cold)));
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
