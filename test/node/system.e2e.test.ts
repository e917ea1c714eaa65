// The whole system as `npm start` runs it — wrangler dev with local R2, Queue, Durable Object and
// D1, plus one worker on CPU — driven only through the public API: upload hymenoptera as a zip,
// fine-tune the default job while following its server-sent events, then classify every
// validation image at the edge with the new head and compare with what the worker reported.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '../../src/shared/jobs.js';
import type { HeadEvaluation } from '../../src/shared/heads.js';
import { DATASETS_DIR, TEST_CACHE } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

interface Local {
  url: string;
  docsUrl: string;
  apiKey: string;
}
interface Predictions {
  model: string;
  head?: { id: string; backbone: string };
  predictions: { label: string; index: number; score: number }[];
}

let system: ChildProcess;
let local: Local;
let localFile: string;
let stateDir: string;
const output: string[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (system.exitCode !== null) throw new Error(`npm start exited:\n${output.join('')}`);
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function api<T>(route: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${local.url}${route}`, {
    ...init,
    headers: { authorization: `Bearer ${local.apiKey}`, ...init.headers },
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** Follows GET /v1/fine-tunes/{id}/events until the `end` event; returns the job events. */
async function followEvents(jobId: string): Promise<JobView[]> {
  const res = await fetch(`${local.url}/v1/fine-tunes/${jobId}/events`, {
    headers: { authorization: `Bearer ${local.apiKey}`, accept: 'text/event-stream' },
  });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const jobs: JobView[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let at;
    while ((at = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (event === 'job') jobs.push(JSON.parse(data) as JobView);
      if (event === 'end') {
        await reader.cancel();
        return jobs;
      }
    }
  }
  throw new Error('the event stream ended without an end event');
}

async function submit(spec: Record<string, unknown>): Promise<JobView> {
  const res = await api<JobView>('/v1/fine-tunes', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** Every validation image of hymenoptera, in a stable order. */
async function valImages(): Promise<
  { path: string; label: string; bytes: Uint8Array<ArrayBuffer> }[]
> {
  const out = [];
  for (const label of ['ants', 'bees']) {
    const dir = path.join(DATASETS_DIR, 'hymenoptera_data', 'val', label);
    for (const file of (await readdir(dir)).sort())
      out.push({
        path: `val/${label}/${file}`,
        label,
        bytes: await readFile(path.join(dir, file)),
      });
  }
  return out;
}

/** Classifies images through POST /v1/classify/batch, 16 at a time. */
async function classifyAll(
  images: { bytes: Uint8Array<ArrayBuffer> }[],
  model: string,
): Promise<Predictions[][]> {
  const answers: Predictions[][] = [];
  for (let i = 0; i < images.length; i += 16) {
    const form = new FormData();
    form.set('model', model);
    form.set('topK', '20');
    for (const [j, image] of images.slice(i, i + 16).entries())
      form.append('images', new File([image.bytes], `${i + j}.jpg`, { type: 'image/jpeg' }));
    const res = await api<{ results: { status: number; results: Predictions[] }[] }>(
      '/v1/classify/batch',
      { method: 'POST', body: form },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    for (const r of res.body.results) {
      expect(r.status, JSON.stringify(r)).toBe(200);
      answers.push(r.results);
    }
  }
  return answers;
}

const probabilitiesOf = (p: Predictions, labels: readonly string[]) =>
  labels.map((l) => p.predictions.find((q) => q.label === l)!.score);

beforeAll(async () => {
  stateDir = await tempDir('system-state');
  const dir = await tempDir('system');
  localFile = path.join(dir, 'local.json');
  const port = await freePort();
  system = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    env: {
      ...process.env,
      HEADSTART_PORT: String(port),
      HEADSTART_STATE_DIR: stateDir,
      HEADSTART_LOCAL_FILE: localFile,
      HEADSTART_CACHE_DIR: path.join(dir, 'worker-cache'),
      HEADSTART_WORKER_ID: 'system-test-worker',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  system.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  system.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  local = await waitFor(
    'the local file',
    async () => JSON.parse(await readFile(localFile, 'utf8')) as Local,
    180_000,
  );
}, 200_000);

afterAll(async () => {
  if (system && system.exitCode === null) {
    system.kill('SIGINT');
    await new Promise((r) => system.once('exit', r));
  }
});

describe('the whole system, as npm start runs it', () => {
  let headA: string;
  let headB: string;
  let images: Awaited<ReturnType<typeof valImages>>;

  it('prints and writes the URL, docs URL and a working key', () => {
    expect(local.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(local.docsUrl).toBe(`${local.url}/docs`);
    expect(local.apiKey).toMatch(/^hs_key_/);
    const printed = output.join('');
    expect(printed).toContain(local.url);
    expect(printed).toContain(local.apiKey);
  });

  it('fine-tunes hymenoptera and classifies its validation set at the edge like the worker did', async () => {
    const zip = await readFile(path.join(TEST_CACHE, 'datasets', 'hymenoptera.zip'));
    const upload = await api<{ id: string; classes: string[]; imageCount: { val: number } }>(
      '/v1/datasets',
      { method: 'POST', headers: { 'content-type': 'application/zip' }, body: zip },
    );
    expect(upload.status, JSON.stringify(upload.body)).toBe(201);
    expect(upload.body.classes).toEqual(['ants', 'bees']);
    const datasetId = upload.body.id;

    const job = await submit({ datasetId });
    const events = await followEvents(job.id);
    const last = events.at(-1)!;
    expect(last.status, `${last.lastError}\n${output.join('')}`).toBe('succeeded');
    // Progress arrived epoch by epoch while it trained.
    const epochsSeen = new Set(events.map((e) => e.history.length));
    expect(epochsSeen.size).toBeGreaterThan(2);
    headA = last.headId!;
    const reported = Number(last.metrics!.valAccuracy);
    expect(reported).toBeGreaterThan(0.85);

    const evaluation = (await api<HeadEvaluation>(`/v1/heads/${headA}/evaluation`)).body;
    images = await valImages();
    expect(evaluation.images).toHaveLength(images.length);
    expect(upload.body.imageCount.val).toBe(images.length);
    const bySha = new Map(evaluation.images.map((e) => [e.sha256, e]));
    const answers = await classifyAll(images, headA);
    let correct = 0;
    let worst = 0;
    for (const [i, image] of images.entries()) {
      const edge = answers[i]![0]!;
      expect(edge.head!.id).toBe(headA);
      if (edge.predictions[0]!.label === image.label) correct++;
      const worker = bySha.get(createHash('sha256').update(image.bytes).digest('hex'))!;
      expect(worker, image.path).toBeDefined();
      const got = probabilitiesOf(edge, evaluation.classes);
      for (const [k, p] of worker.probabilities.entries())
        worst = Math.max(worst, Math.abs(p - got[k]!));
    }
    const edgeAccuracy = correct / images.length;
    console.log(
      `edge accuracy ${edgeAccuracy.toFixed(4)} (${correct}/${images.length}), worker reported ${reported.toFixed(4)}; largest probability difference ${worst.toExponential(2)}`,
    );
    expect(Math.abs(correct - Math.round(reported * images.length))).toBeLessThanOrEqual(1);
    expect(worst).toBeLessThan(1e-3);

    // A second head on the same data and input mode: cached embeddings, a different learning rate.
    const second = await submit({
      datasetId,
      optimizer: { lr: 1e-3 },
      inputMode: last.metrics!.inputMode,
      epochs: 10,
    });
    const secondEvents = await followEvents(second.id);
    expect(secondEvents.at(-1)!.status).toBe('succeeded');
    headB = secondEvents.at(-1)!.headId!;
    expect(headB).not.toBe(headA);
  }, 600_000);

  it('answers both heads from one backbone pass, follows a moved alias, and 404s a deleted head', async () => {
    const photo = images.find((i) => i.label === 'bees')!.bytes;
    const classify = (model: string) =>
      api<Predictions & { backbonePasses: number; results?: Predictions[] }>(
        `/v1/classify?model=${model}&topK=2`,
        { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: photo },
      );
    const both = await classify(`${headA},${headB}`);
    expect(both.status, JSON.stringify(both.body)).toBe(200);
    expect(both.body.backbonePasses).toBe(1);
    expect(both.body.results!.map((r) => r.head!.id)).toEqual([headA, headB]);
    expect(both.body.results![0]!.predictions).toEqual((await classify(headA)).body.predictions);
    expect(both.body.results![1]!.predictions).toEqual((await classify(headB)).body.predictions);

    const pin = (headId: string) =>
      api(`/v1/aliases/production`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ headId }),
      });
    expect((await pin(headA)).status).toBe(200);
    expect((await classify('production')).body.head!.id).toBe(headA);
    expect((await pin(headB)).status).toBe(200);
    expect((await classify('production')).body.head!.id).toBe(headB);

    const listed = await api<{ heads: { id: string; aliases: string[] }[] }>('/v1/heads');
    expect(listed.body.heads.map((h) => h.id).sort()).toEqual([headA, headB].sort());
    expect((await api(`/v1/heads/${headB}`, { method: 'DELETE' })).status).toBe(409);
    await pin(headA);
    expect((await api(`/v1/heads/${headB}`, { method: 'DELETE' })).status).toBe(204);
    const gone = await classify(headB);
    expect(gone.status).toBe(404);
    expect((await classify('production')).body.head!.id).toBe(headA);
  }, 120_000);

  it('stops everything it started on Ctrl-C', async () => {
    system.kill('SIGINT');
    const code = await new Promise<number | null>((r) => system.once('exit', r));
    expect(code).toBe(0);
    await expect(fetch(`${local.url}/healthz`)).rejects.toThrow();
    // No process started for this run (they all carry its state directory or local file) is left.
    const leftovers: string[] = [];
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (environ.includes(localFile) || cmdline.includes(stateDir))
        leftovers.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
    }
    expect(leftovers).toEqual([]);
  }, 60_000);
});
