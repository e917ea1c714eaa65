// The GPU worker (on CPU here) against a real local edge: a job goes from upload to a trained
// head in R2; heartbeats keep a long job's lease; an undecodable photo fails its job for good; a
// killed worker's job completes on the next one.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { getPlatformProxy } from 'wrangler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headKeys, HeadManifestSchema } from '../../src/shared/heads.js';
import type { JobView } from '../../src/shared/jobs.js';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { DATASETS_DIR, MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { startInProcessWorker } from '../support/worker.js';
import { buildZip } from '../support/zip-writer.js';

let edge: LocalEdge;
let stateDir: string;
let cacheDir: string;
let datasetId: string;

/** A copy of a JPEG with its first Huffman table's code counts overwritten (undecodable). */
function corruptHuffmanTable(jpeg: Buffer): Buffer {
  const bad = Buffer.from(jpeg);
  const dht = bad.findIndex((v, i) => v === 0xff && bad[i + 1] === 0xc4);
  if (dht < 0) throw new Error('no Huffman table in this JPEG');
  bad.fill(0xff, dht + 5, dht + 21);
  return bad;
}

/** The first training bee photo (by name): the one the corrupt-image test breaks. */
let firstBee: string;

/**
 * A small real dataset: 12 training and 8 validation photos per class from hymenoptera, each
 * entry's bytes passed through `edit` (unchanged by default).
 */
async function smallZip(
  edit: (name: string, data: Buffer) => Buffer = (_name, data) => data,
): Promise<Buffer> {
  const entries = [];
  for (const [split, n] of [
    ['train', 12],
    ['val', 8],
  ] as const) {
    for (const label of ['ants', 'bees']) {
      const dir = path.join(DATASETS_DIR, 'hymenoptera_data', split, label);
      const files = (await readdir(dir))
        .filter((f) => f.endsWith('.jpg'))
        .sort()
        .slice(0, n);
      if (split === 'train' && label === 'bees') firstBee = files[0]!;
      for (const f of files)
        entries.push({
          name: `${split}/${label}/${f}`,
          data: edit(`${split}/${label}/${f}`, await readFile(path.join(dir, f))),
          method: 'store' as const,
        });
    }
  }
  return buildZip(entries);
}

async function api<T>(route: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${edge.url}${route}`, {
    ...init,
    headers: { authorization: `Bearer ${edge.apiKey}`, ...init.headers },
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function submit(spec: Record<string, unknown>): Promise<JobView> {
  const res = await api<JobView>('/v1/fine-tunes', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ datasetId, ...spec }),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const job = async (id: string) => (await api<JobView>(`/v1/fine-tunes/${id}`)).body;

async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs an in-process worker until `done` says stop. */
async function runWorker(opts: { leaseSeconds: number; until: () => Promise<boolean> }) {
  const worker = await startInProcessWorker(edge, {
    workerId: 'test-worker',
    leaseSeconds: opts.leaseSeconds,
    cacheDir,
  });
  await waitFor(async () => ((await opts.until()) ? true : undefined), 120_000);
  await worker.stop(5);
  return { logs: worker.logs };
}

beforeAll(async () => {
  stateDir = await tempDir('edge-state');
  cacheDir = await tempDir('worker-cache');
  edge = await startLocalEdge(stateDir, { modelsSource: MODELS_SOURCE, modelsOut: TEST_MODELS });
  const upload = await api<{ id: string }>('/v1/datasets', {
    method: 'POST',
    headers: { 'content-type': 'application/zip' },
    body: new Uint8Array(await smallZip()),
  });
  expect(upload.status).toBe(201);
  datasetId = upload.body.id;
}, 120_000);

afterAll(async () => {
  await edge?.stop();
});

describe('the worker', () => {
  it('turns a job into a trained head stored in R2, with a working ONNX graph and its manifest', async () => {
    const submitted = await submit({ epochs: 8, augmentation: { views: 1 } });
    const { logs } = await runWorker({
      leaseSeconds: 30,
      until: async () =>
        (await job(submitted.id)).status !== 'queued' &&
        (await job(submitted.id)).status !== 'running',
    });
    const done = await job(submitted.id);
    expect(done.status, `${done.lastError}\n${logs.join('\n')}`).toBe('succeeded');
    expect(done.attempts).toBe(1);
    expect(done.history).toHaveLength(8);
    // The loss falls on real embeddings.
    expect(done.history.at(-1)!.trainLoss).toBeLessThan(done.history[0]!.trainLoss);
    expect(done.headId).toMatch(/^head_/);
    const valAccuracy = Number(done.metrics?.valAccuracy);
    expect(valAccuracy).toBeGreaterThanOrEqual(0.75);

    // Read the stored head back from the edge's local R2 and run it.
    const proxy = await getPlatformProxy<{
      MODELS: { get(k: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null> };
    }>({
      configPath: 'wrangler.toml',
      persist: { path: `${stateDir}/v3` },
    });
    const onnx = new Uint8Array(
      await (await proxy.env.MODELS.get(headKeys(done.headId!).model))!.arrayBuffer(),
    );
    const manifest = HeadManifestSchema.parse(
      JSON.parse(
        new TextDecoder().decode(
          await (await proxy.env.MODELS.get(headKeys(done.headId!).manifest))!.arrayBuffer(),
        ),
      ),
    );
    await proxy.dispose();
    expect(manifest.id2label).toEqual({ '0': 'ants', '1': 'bees' });
    expect(manifest.input).toEqual({ name: 'embedding', dim: 1280 });
    const session = await ort.InferenceSession.create(onnx);
    expect(session.inputNames).toEqual(['embedding']);
    expect(session.outputNames).toEqual(['logits', 'probabilities']);
    const out = await session.run({
      embedding: new ort.Tensor('float32', new Float32Array(2 * 1280).fill(0.1), [2, 1280]),
    });
    const probs = out.probabilities!.data as Float32Array;
    expect(probs[0]! + probs[1]!).toBeCloseTo(1, 5);
  });

  it('keeps its lease with heartbeats through a job longer than the lease', async () => {
    // A 5 s lease (heartbeat every ~1.7 s) against a head that trains for several seconds.
    const submitted = await submit({
      epochs: 20,
      head: { type: 'mlp', hiddenUnits: 1024, dropout: 0.2 },
      augmentation: { views: 2 },
    });
    const started = Date.now();
    await runWorker({
      leaseSeconds: 5,
      until: async () => ['succeeded', 'failed'].includes((await job(submitted.id)).status),
    });
    const done = await job(submitted.id);
    expect(Date.now() - started).toBeGreaterThan(5_000);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, lastError: null });
  });

  it('fails a job for good, naming the image, when a photo cannot be decoded', async () => {
    // A real dataset with one training JPEG whose Huffman table is garbage: its header is
    // whole (so the upload takes it), and the decoder on a preprocessing thread refuses it.
    const zip = await smallZip((name, data) =>
      name === `train/bees/${firstBee}` ? corruptHuffmanTable(data) : data,
    );
    const upload = await api<{ id: string }>('/v1/datasets', {
      method: 'POST',
      headers: { 'content-type': 'application/zip' },
      body: new Uint8Array(zip),
    });
    expect(upload.status, JSON.stringify(upload.body)).toBe(201);
    const res = await api<JobView>('/v1/fine-tunes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ datasetId: upload.body.id, epochs: 2, maxAttempts: 3 }),
    });
    expect(res.status).toBe(201);
    await runWorker({
      leaseSeconds: 30,
      until: async () => ['succeeded', 'failed'].includes((await job(res.body.id)).status),
    });
    const done = await job(res.body.id);
    // Permanent: one attempt, not three.
    expect(done).toMatchObject({ status: 'failed', attempts: 1 });
    expect(done.lastError).toContain(`train/bees/${firstBee}`);
    expect(done.lastError).toMatch(/cannot be decoded/);
  });

  it('completes a job on the next worker after the first one is killed mid-job', async () => {
    const submitted = await submit({
      epochs: 40,
      head: { type: 'mlp', hiddenUnits: 512, dropout: 0.2 },
      maxAttempts: 3,
    });
    const child = spawn('npx', ['tsx', 'src/gpu-worker/main.ts'], {
      env: {
        ...process.env,
        HEADSTART_EDGE_URL: edge.url,
        HEADSTART_WORKER_TOKEN: edge.workerToken,
        HEADSTART_CACHE_DIR: cacheDir,
        HEADSTART_PROVIDER: 'cpu',
        HEADSTART_LEASE_SECONDS: '5',
        HEADSTART_WORKER_ID: 'doomed',
      },
      stdio: 'ignore',
      detached: true,
    });
    await waitFor(
      async () => ((await job(submitted.id)).history.length >= 1 ? true : undefined),
      60_000,
    );
    process.kill(-child.pid!, 'SIGKILL');
    // The lease runs out (5 s), the coordinator's alarm requeues the job, and another worker takes it.
    await runWorker({
      leaseSeconds: 30,
      until: async () => (await job(submitted.id)).status === 'succeeded',
    });
    const done = await job(submitted.id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(done.lastError).toMatch(/stopped sending heartbeats/);
  });
});
