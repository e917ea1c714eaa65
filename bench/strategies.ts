// `npm run bench:strategies`: the lesson's three strategies on one dataset, as one batch through a
// local edge and a worker — feature extraction, last-block fine-tuning with discriminative
// learning rates, full fine-tuning — compared side by side by GET /v1/batches/{id}.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { BatchComparisonRowSchema } from '../src/shared/jobs.js';
import { startLocalEdge } from '../scripts/lib/local-edge.js';
import { DEFAULT_OUT, DEFAULT_SOURCE } from '../scripts/models/import.js';
import { DATASETS_DIR } from '../test/support/paths.js';
import { startInProcessWorker } from '../scripts/lib/in-process-worker.js';
import { uploadImageFolder } from './lib/dataset.js';
import { recordFigures } from './lib/results.js';

const DEFAULT_DATASET = path.join(DATASETS_DIR, 'hymenoptera_data');

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: DEFAULT_DATASET },
    backbone: { type: 'string', default: 'mobilenet-v2-0.35' },
    /** Epochs of the full fine-tune (every layer trains: the slow one). */
    'full-epochs': { type: 'string', default: '6' },
    /** Which strategies to run, comma-separated (full fine-tuning of a big backbone is slow). */
    strategies: { type: 'string', default: 'feature_extraction,fine_tune,full' },
    threads: { type: 'string', default: '2' },
  },
});

const BatchSchema = z.object({
  batchId: z.string(),
  counts: z.record(z.string(), z.number()),
  comparison: z.array(BatchComparisonRowSchema),
});

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'headstart-bench-strategies-'));
  const edge = await startLocalEdge(path.join(work, 'state'), {
    modelsSource: DEFAULT_SOURCE,
    modelsOut: DEFAULT_OUT,
  });
  const worker = startInProcessWorker(edge, {
    workerId: 'bench-strategies',
    threads: Number(values.threads),
    leaseSeconds: 120,
    cacheDir: path.join(work, 'cache'),
  });
  try {
    const headers = { authorization: `Bearer ${edge.apiKey}` };
    const dataset = await uploadImageFolder(edge, values.dataset);
    console.log(
      `${path.basename(values.dataset)}: ${dataset.imageCount.train} training and ${dataset.imageCount.val} validation images, backbone ${values.backbone}`,
    );
    const common = { datasetId: dataset.id, backbone: values.backbone };
    const wanted = new Set(values.strategies.split(',').map((s) => s.trim()));
    const jobs = [
      { ...common, strategy: 'feature_extraction' },
      // The lesson's discriminative rates: 1e-5 for the pretrained block, the head's own rate.
      { ...common, strategy: 'fine_tune', optimizer: { backboneLr: 1e-5 } },
      { ...common, strategy: 'full', epochs: Number(values['full-epochs']) },
    ].filter((j) => wanted.has(j.strategy));
    if (jobs.length === 0)
      throw new Error(`--strategies: none of ${values.strategies} is a strategy`);
    const submitted = await fetch(`${edge.url}/v1/fine-tunes/batch`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ jobs }),
    });
    if (!submitted.ok) throw new Error(`batch refused: ${await submitted.text()}`);
    const { batchId } = z.object({ batchId: z.string() }).parse(await submitted.json());
    const started = performance.now();
    // The worker trains on this process: a keep-alive socket may close while it is busy; retry.
    const readBatch = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await fetch(`${edge.url}/v1/batches/${batchId}`, { headers });
          return BatchSchema.parse(await res.json());
        } catch (err) {
          if (attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };
    let batch = await readBatch();
    let last = '';
    while ((batch.counts.queued ?? 0) + (batch.counts.running ?? 0) > 0) {
      await new Promise((r) => setTimeout(r, 2000));
      batch = await readBatch();
      const line = JSON.stringify(batch.counts);
      if (line !== last)
        console.error(`  ${((performance.now() - started) / 1000).toFixed(0)} s: ${line}`);
      last = line;
    }
    console.log(
      '\nstrategy            trained blocks          val acc  best epoch  train s  total s  head KB',
    );
    for (const r of batch.comparison) {
      console.log(
        [
          r.strategy.padEnd(19),
          (r.trainedBlocks.length > 3
            ? `${r.trainedBlocks[0]}…${r.trainedBlocks.at(-1)} (${r.trainedBlocks.length})`
            : r.trainedBlocks.join(', ') || '—'
          ).padEnd(23),
          (r.valAccuracy?.toFixed(3) ?? r.status).padStart(7),
          String(r.bestEpoch ?? '—').padStart(11),
          (r.trainSeconds?.toFixed(1) ?? '—').padStart(8),
          (r.totalSeconds?.toFixed(1) ?? '—').padStart(8),
          ((r.headBytes ?? 0) / 1024).toFixed(0).padStart(8),
        ].join(' '),
      );
    }
    console.log(
      JSON.stringify(
        Object.fromEntries(
          batch.comparison.map((r) => [
            r.strategy,
            {
              val_acc: r.valAccuracy,
              train_s: r.trainSeconds,
              total_s: r.totalSeconds,
              head_bytes: r.headBytes,
            },
          ]),
        ),
      ),
    );
    if (batch.comparison.some((r) => r.status !== 'succeeded')) {
      process.exitCode = 1;
      return;
    }
    const name = path
      .basename(path.resolve(values.dataset))
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_');
    const figures: Parameters<typeof recordFigures>[1] = {};
    for (const r of batch.comparison) {
      const prefix = `strategies.${name}.${values.backbone}.${r.strategy}`;
      figures[`${prefix}.val_acc`] = {
        value: r.valAccuracy ?? 0,
        display: (r.valAccuracy ?? 0).toFixed(3),
        label: `${name}, ${values.backbone}, ${r.strategy}: validation accuracy`,
      };
      figures[`${prefix}.total_s`] = {
        value: r.totalSeconds ?? 0,
        display: `${(r.totalSeconds ?? 0).toFixed(1)} s`,
        label: `${name}, ${values.backbone}, ${r.strategy}: lease to completed head`,
      };
    }
    const args = [
      values.dataset === DEFAULT_DATASET ? '' : `--dataset ${values.dataset}`,
      values.backbone === 'mobilenet-v2-0.35' ? '' : `--backbone ${values.backbone}`,
      values.strategies === 'feature_extraction,fine_tune,full'
        ? ''
        : `--strategies ${values.strategies}`,
      values['full-epochs'] === '6' ? '' : `--full-epochs ${values['full-epochs']}`,
    ].filter(Boolean);
    await recordFigures(
      `npm run bench:strategies${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
      figures,
    );
  } finally {
    await worker.stop();
    await edge.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
