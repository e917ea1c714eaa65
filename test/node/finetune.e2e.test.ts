// The three strategies end to end: one batch (feature extraction, last-block fine-tune, full
// fine-tune) through a local edge and a worker, compared side by side by GET /v1/batches/{id};
// then the edge classifies with the fine-tuned heads and matches the worker's probabilities.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeadEvaluation } from '../../src/shared/heads.js';
import type { BatchComparisonRow, JobView } from '../../src/shared/jobs.js';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { DATASETS_DIR, MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { startInProcessWorker, type InProcessWorker } from '../support/worker.js';
import { buildZip } from '../support/zip-writer.js';

let edge: LocalEdge;
let worker: InProcessWorker;

interface Photo {
  readonly name: string;
  readonly label: string;
  readonly data: Buffer;
}

/** 12 training and 8 validation photos per class from hymenoptera. */
async function photos(): Promise<Photo[]> {
  const out: Photo[] = [];
  for (const [split, n] of [
    ['train', 12],
    ['val', 8],
  ] as const)
    for (const label of ['ants', 'bees']) {
      const dir = path.join(DATASETS_DIR, 'hymenoptera_data', split, label);
      for (const f of (await readdir(dir))
        .filter((f) => f.endsWith('.jpg'))
        .sort()
        .slice(0, n))
        out.push({
          name: `${split}/${label}/${f}`,
          label,
          data: await readFile(path.join(dir, f)),
        });
    }
  return out;
}

async function api<T>(route: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${edge.url}${route}`, {
    ...init,
    headers: { authorization: `Bearer ${edge.apiKey}`, ...init.headers },
  });
  return { status: res.status, body: (await res.json()) as T };
}

interface Predictions {
  readonly model: string;
  readonly predictions: { label: string; score: number }[];
}

beforeAll(async () => {
  edge = await startLocalEdge(await tempDir('finetune-state'), {
    modelsSource: MODELS_SOURCE,
    modelsOut: TEST_MODELS,
  });
  worker = await startInProcessWorker(edge, { workerId: 'finetune-e2e', leaseSeconds: 60 });
});

afterAll(async () => {
  await worker?.stop();
  await edge?.stop();
});

type Batch = {
  jobs: JobView[];
  comparison: BatchComparisonRow[];
  counts: Record<string, number>;
};

/** Uploads the photos as one dataset; returns its id. */
async function uploadDataset(all: readonly Photo[]): Promise<string> {
  const upload = await api<{ id: string }>('/v1/datasets', {
    method: 'POST',
    headers: { 'content-type': 'application/zip' },
    body: new Uint8Array(
      buildZip(all.map((p) => ({ name: p.name, data: p.data, method: 'store' as const }))),
    ),
  });
  expect(upload.status, JSON.stringify(upload.body)).toBe(201);
  return upload.body.id;
}

/** Submits the jobs as one batch and waits until every one has succeeded. */
async function runBatch(jobs: readonly Record<string, unknown>[]): Promise<Batch> {
  const submitted = await api<{ batchId: string }>('/v1/fine-tunes/batch', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jobs }),
  });
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
  let batch = (await api<Batch>(`/v1/batches/${submitted.body.batchId}`)).body;
  const deadline = Date.now() + 240_000;
  while ((batch.counts.queued ?? 0) + (batch.counts.running ?? 0) > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    batch = (await api<Batch>(`/v1/batches/${submitted.body.batchId}`)).body;
  }
  for (const job of batch.jobs)
    expect(
      job.status,
      `${job.spec.strategy}: ${job.lastError} (batch ${JSON.stringify(batch.counts)})\n${worker.logs.join('\n')}`,
    ).toBe('succeeded');
  return batch;
}

/** Classifies the photos with the heads at the edge, all in one request. */
async function classifyAtEdge(heads: readonly string[], photos: readonly Photo[]) {
  const form = new FormData();
  form.set('model', heads.join(','));
  form.set('topK', '2');
  for (const p of photos)
    form.append(
      'images',
      new File([new Uint8Array(p.data)], path.basename(p.name), { type: 'image/jpeg' }),
    );
  const res = await api<{
    backbonePasses: number;
    results: { status: number; results: Predictions[]; backbonePasses?: number }[];
  }>('/v1/classify/batch', { method: 'POST', body: form });
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(200);
  return res.body;
}

/**
 * The largest difference between the probabilities the edge gave head number `h` of the request
 * and the worker's own evaluation of the same photos.
 */
async function worstDifference(
  headId: string,
  h: number,
  photos: readonly Photo[],
  answers: Awaited<ReturnType<typeof classifyAtEdge>>,
): Promise<number> {
  const evaluation = (await api<HeadEvaluation>(`/v1/heads/${headId}/evaluation`)).body;
  const bySha = new Map(evaluation.images.map((e) => [e.sha256, e]));
  let worst = 0;
  for (const [i, p] of photos.entries()) {
    const answer = answers.results[i]!;
    expect(answer.status).toBe(200);
    const edgeScores = answer.results[h]!.predictions;
    const reference = bySha.get(createHash('sha256').update(p.data).digest('hex'))!;
    for (const [k, label] of evaluation.classes.entries())
      worst = Math.max(
        worst,
        Math.abs(reference.probabilities[k]! - edgeScores.find((s) => s.label === label)!.score),
      );
  }
  return worst;
}

describe('strategies end to end', () => {
  it('runs a batch of the three strategies, compares them, and serves the fine-tuned heads at the edge', async () => {
    const all = await photos();
    // The smallest backbone, converted from TF.js; the test below runs the imported ONNX one.
    const common = {
      datasetId: await uploadDataset(all),
      backbone: 'mobilenet-v2-0.35',
      inputMode: 'crop',
      batchSize: 8,
    };
    const batch = await runBatch([
      { ...common, strategy: 'feature_extraction', epochs: 4 },
      {
        ...common,
        strategy: 'fine_tune',
        epochs: 3,
        optimizer: { backboneLr: 1e-4, layerDecay: 0.5 },
        unfreeze: [{ epoch: 2, from: 'block_16' }],
        batchNorm: 'train',
      },
      { ...common, strategy: 'full', epochs: 1, augmentation: { views: 0 } },
    ]);
    const [fe, ft, full] = batch.comparison as [
      BatchComparisonRow,
      BatchComparisonRow,
      BatchComparisonRow,
    ];
    console.log(
      batch.comparison
        .map(
          (r) =>
            `${r.strategy}: acc ${r.valAccuracy} in ${r.totalSeconds?.toFixed(1)} s, ${r.headBytes} bytes, blocks ${r.trainedBlocks.join(' ')}`,
        )
        .join('\n'),
    );
    expect(batch.comparison.map((r) => r.strategy)).toEqual([
      'feature_extraction',
      'fine_tune',
      'full',
    ]);
    expect(fe.trainedBlocks).toEqual([]);
    expect(ft.trainedBlocks).toEqual(['block_16', 'top_conv']);
    expect(full.trainedBlocks[0]).toBe('stem');
    expect(full.trainedBlocks.at(-1)).toBe('top_conv');
    for (const r of batch.comparison) {
      expect(r.valAccuracy).toBeGreaterThan(0.5);
      expect(r.totalSeconds).toBeGreaterThan(0);
    }
    // A tail carries its blocks' weights: bigger than a linear head, smaller than the whole network.
    expect(ft.headBytes!).toBeGreaterThan(fe.headBytes! * 10);
    expect(full.headBytes!).toBeGreaterThan(ft.headBytes!);

    // The edge runs the backbone once for all three heads: the embedding, the cut at block_16 and
    // the pixels come out of one pass.
    const val = all.filter((p) => p.name.startsWith('val/'));
    const heads = [fe, ft, full].map((r) => r.headId!);
    const answers = await classifyAtEdge(heads, val);
    for (const [h, head] of heads.entries()) {
      if (h === 0) continue;
      const worst = await worstDifference(head, h, val, answers);
      console.log(
        `${batch.comparison[h]!.strategy}: largest edge/worker probability difference ${worst.toExponential(2)}`,
      );
      expect(worst).toBeLessThan(1e-3);
    }
    const single = new FormData();
    single.set('model', heads.join(','));
    single.set(
      'image',
      new File([new Uint8Array(val[0]!.data)], 'one.jpg', { type: 'image/jpeg' }),
    );
    const one = await api<{ backbonePasses: number }>('/v1/classify', {
      method: 'POST',
      body: single,
    });
    expect(one.status).toBe(200);
    expect(one.body.backbonePasses).toBe(1);
  }, 300_000);

  it("trains heads on a tenant's own ONNX backbone (imported through POST /v1/backbones) that the edge serves with the worker's probabilities", async () => {
    // The shared float MobileNetV2 file as a user brings it: the model and its card, uploaded.
    const form = new FormData();
    form.set(
      'model',
      new File(
        [
          await readFile(
            path.join(MODELS_SOURCE, 'mobilenet_v2_1.0_224_torchvision', 'model.onnx'),
          ),
        ],
        'model.onnx',
      ),
    );
    form.set(
      'card',
      JSON.stringify({
        id: 'my-mnv2',
        displayName: 'My MobileNetV2',
        licence: 'BSD-3-Clause',
        origin: 'torchvision',
        input: 'pixel_values',
        preprocessing: {
          resize: { mode: 'shortest-edge', shortestEdge: 256 },
          crop: { width: 224, height: 224 },
          rescaleFactor: 1 / 255,
          image_mean: [0.485, 0.456, 0.406],
          image_std: [0.229, 0.224, 0.225],
        },
        outputs: { embedding: 'embedding', logits: 'logits', labels: 'imagenet' },
      }),
    );
    // Each step says when it ends, so a run that stalls shows where (one CI run timed out here
    // with no job queued; alone it takes ~15 s).
    const began = Date.now();
    const step = (what: string) =>
      console.log(`my-mnv2: ${what} after ${((Date.now() - began) / 1000).toFixed(1)} s`);
    const imported = await api<{ id: string; blocks: { name: string }[] }>('/v1/backbones', {
      method: 'POST',
      body: form,
    });
    step(`imported (${imported.status})`);
    expect(imported.status, JSON.stringify(imported.body)).toBe(201);
    expect(imported.body.id).toMatch(/^ten_[A-Za-z0-9_-]{16}\/my-mnv2$/);
    expect(imported.body.blocks.map((b) => b.name)).toContain('block_16');
    const all = await photos();
    const datasetId = await uploadDataset(all);
    step('dataset uploaded');
    const common = {
      datasetId,
      backbone: 'my-mnv2',
      inputMode: 'crop',
      batchSize: 8,
      augmentation: { views: 0 },
    };
    const batch = await runBatch([
      { ...common, strategy: 'feature_extraction', epochs: 4 },
      { ...common, strategy: 'fine_tune', epochs: 2, trainableFrom: 'block_16' },
    ]);
    step('batch trained');
    const rows = batch.comparison;
    expect(rows.map((r) => [r.strategy, r.trainedBlocks])).toEqual([
      ['feature_extraction', []],
      ['fine_tune', ['block_16', 'top_conv']],
    ]);
    for (const r of rows) expect(r.valAccuracy).toBeGreaterThan(0.7);

    const val = all.filter((p) => p.name.startsWith('val/'));
    const answers = await classifyAtEdge(
      rows.map((r) => r.headId!),
      val,
    );
    for (const [h, row] of rows.entries()) {
      const worst = await worstDifference(row.headId!, h, val, answers);
      console.log(
        `my-mnv2 ${row.strategy}: largest edge/worker probability difference ${worst.toExponential(2)}`,
      );
      expect(worst).toBeLessThan(1e-4);
    }
  }, 300_000);
});
