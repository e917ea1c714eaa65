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
import type { JobEpochEvent, JobView } from '../../src/shared/jobs.js';
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

/** Follows GET /v1/fine-tunes/{id}/events until the `end` event. */
async function followEvents(jobId: string): Promise<{ jobs: JobView[]; epochs: JobEpochEvent[] }> {
  const res = await fetch(`${local.url}/v1/fine-tunes/${jobId}/events`, {
    headers: { authorization: `Bearer ${local.apiKey}`, accept: 'text/event-stream' },
  });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const jobs: JobView[] = [];
  const epochs: JobEpochEvent[] = [];
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
      if (event === 'epoch') {
        const epoch = JSON.parse(data) as JobEpochEvent;
        expect(/^id: (.*)$/m.exec(block)?.[1]).toBe(String(epoch.seq));
        epochs.push(epoch);
      }
      if (event === 'end') {
        await reader.cancel();
        return { jobs, epochs };
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
  // As a terminal runs it: `npm start` leading its own process group, so Ctrl-C can be sent to
  // the whole group (npm, the shell, node) the way a terminal sends it.
  system = spawn('npm', ['start', '--silent'], {
    detached: true,
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

/** Ctrl-C as a terminal sends it: SIGINT to every process of the foreground group. */
function ctrlC(): void {
  process.kill(-system.pid!, 'SIGINT');
}

afterAll(async () => {
  if (system && system.exitCode === null && system.signalCode === null) {
    ctrlC();
    await new Promise((r) => system.once('exit', r));
  }
});

/** A job followed to its end: what its event stream carried. */
interface Followed {
  job: JobView;
  jobs: JobView[];
  epochs: JobEpochEvent[];
}

async function train(spec: Record<string, unknown>): Promise<Followed> {
  const job = await submit(spec);
  const { jobs, epochs } = await followEvents(job.id);
  const last = jobs.at(-1)!;
  if (last.status !== 'succeeded')
    throw new Error(`job ${job.id} ended ${last.status}: ${last.lastError}\n${output.join('')}`);
  return { job: last, jobs, epochs };
}

// Shared, lazily built fixtures: each test awaits what it needs, so a failure to train is
// reported as that failure by every test that needed the head, not as an undefined further on.
let datasetPromise: Promise<{ id: string; imageCount: { val: number } }> | undefined;
let firstPromise: Promise<Followed> | undefined;
let secondPromise: Promise<Followed> | undefined;

const uploaded = () =>
  (datasetPromise ??= (async () => {
    const zip = await readFile(path.join(TEST_CACHE, 'datasets', 'hymenoptera.zip'));
    const upload = await api<{ id: string; classes: string[]; imageCount: { val: number } }>(
      '/v1/datasets',
      { method: 'POST', headers: { 'content-type': 'application/zip' }, body: zip },
    );
    if (upload.status !== 201) throw new Error(`upload: ${JSON.stringify(upload.body)}`);
    expect(upload.body.classes).toEqual(['ants', 'bees']);
    return upload.body;
  })());
const firstHead = () =>
  (firstPromise ??= uploaded().then((dataset) => train({ datasetId: dataset.id })));
// A second head on the same data and input mode: cached embeddings, a different learning rate.
const secondHead = () =>
  (secondPromise ??= firstHead().then((first) =>
    train({
      datasetId: first.job.datasetId,
      optimizer: { lr: 1e-3 },
      inputMode: first.job.metrics!.inputMode,
      epochs: 10,
    }),
  ));

describe('the whole system, as npm start runs it', () => {
  it('prints and writes the URL, docs URL and a working key', () => {
    expect(local.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(local.docsUrl).toBe(`${local.url}/docs`);
    expect(local.apiKey).toMatch(/^hs_key_/);
    const printed = output.join('');
    expect(printed).toContain(local.url);
    expect(printed).toContain(local.apiKey);
  });

  it('fine-tunes hymenoptera, streaming every epoch of the attempt once, numbered', async () => {
    const { job, epochs } = await firstHead();
    const epochsRun = Number(job.metrics!.epochsRun);
    expect(job.history).toHaveLength(epochsRun);
    // The attempt that succeeded: each of its epochs once, in order, whatever the machine's speed.
    const final = epochs.filter((e) => e.attempt === job.attempts);
    expect(final.map((e) => e.epoch)).toEqual(Array.from({ length: epochsRun }, (_, i) => i + 1));
    expect(final.map((e) => e.valAccuracy)).toEqual(job.history.map((h) => h.valAccuracy));
    const seqs = epochs.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(Number(job.metrics!.valAccuracy)).toBeGreaterThan(0.85);
  }, 600_000);

  it('classifies the validation set at the edge as the worker did', async () => {
    const { job } = await firstHead();
    const headA = job.headId!;
    const reported = Number(job.metrics!.valAccuracy);
    const evaluation = (await api<HeadEvaluation>(`/v1/heads/${headA}/evaluation`)).body;
    const images = await valImages();
    expect(evaluation.images).toHaveLength(images.length);
    expect((await uploaded()).imageCount.val).toBe(images.length);
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
  }, 600_000);

  it('answers both heads from one backbone pass, follows a moved alias, and 404s a deleted head', async () => {
    const headA = (await firstHead()).job.headId!;
    const headB = (await secondHead()).job.headId!;
    expect(headB).not.toBe(headA);
    const photo = (await valImages()).find((i) => i.label === 'bees')!.bytes;
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
  }, 600_000);

  it('stops everything it started on Ctrl-C, with a job running', async () => {
    // A job that must compute fresh embeddings (another seed, more views), caught while it runs.
    const running = await submit({
      datasetId: (await uploaded()).id,
      seed: 7,
      augmentation: { preset: 'lesson', views: 3 },
    });
    await waitFor(
      'the job to start',
      async () =>
        (await api<JobView>(`/v1/fine-tunes/${running.id}`)).body.status === 'running'
          ? true
          : undefined,
      120_000,
    );
    const exited = new Promise<string>((r) =>
      system.once('exit', (code, signal) => r(signal ?? `code ${code}`)),
    );
    ctrlC();
    // npm re-raises the signal its script stopped on, as shells expect of a Ctrl-C.
    expect(['code 0', 'SIGINT']).toContain(await exited);
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
    // What it printed is for a person: no false alarm about the coordinator, and none of the
    // worker's routine traffic (long polls, heartbeats, dataset pages), while the job ran.
    const printed = output.join('');
    expect(printed).toContain('[worker]');
    expect(printed).not.toMatch(/will not work in local development|no such Durable Object class/);
    expect(printed).not.toMatch(/\/internal\/v1\/\S+ 2\d\d /);
    // The port is free again: something can listen on it.
    const port = Number(new URL(local.url).port);
    await new Promise<void>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
    });
  }, 120_000);
});
