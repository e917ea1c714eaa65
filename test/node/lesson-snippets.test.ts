// Every ```bash block of the transfer-learning lesson, run as written and in order against a
// private local edge with an in-process worker: upload a small real ants-vs-bees folder, submit
// the job, follow its events to a trained head, classify with it. Ids travel from one block's
// output to the next block's environment exactly as the lesson tells the reader to carry them.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '../../src/shared/jobs.js';
import { codeBlocks, parseLesson, type CodeBlock } from '../../src/shared/lessons.js';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { DATASETS_DIR, MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { startInProcessWorker, type InProcessWorker } from '../support/worker.js';

const LESSON = 'cv-transfer-learning.md';
const LESSON_FILE = path.resolve(import.meta.dirname, '..', '..', 'lessons', LESSON);
const HYMENOPTERA = path.join(DATASETS_DIR, 'hymenoptera_data');
/** Photos per split and class copied into `my-photos/`. */
const SUBSET = { train: 15, val: 8 } as const;
/** Commands the blocks may call, with the apt package that provides each. */
const TOOLS: Readonly<Record<string, string>> = { curl: 'curl', zip: 'zip' };
/** Where an id printed by a block goes, by its prefix (the lesson's own variable names). */
const ID_VARIABLES: Readonly<Record<string, string>> = {
  ds_: 'DATASET_ID',
  job_: 'JOB_ID',
  head_: 'HEAD_ID',
};
const BLOCK_TIMEOUT_MS = 30_000;
/** The events stream stays open until the job ends. */
const EVENTS_TIMEOUT_MS = 90_000;

/** The photo files the blocks send with `@name`, and what each one is. */
function photoFixtures(valBees: readonly string[]): Record<string, string> {
  const inSubset = new Set(valBees.slice(0, SUBSET.val));
  return {
    // The README's bee (top ImageNet label "bee").
    'bee.jpg': path.join(HYMENOPTERA, 'val', 'bees', '10870992_eebeeb3a12.jpg'),
    // A validation bee that is not in the uploaded dataset.
    'mystery.jpg': path.join(
      HYMENOPTERA,
      'val',
      'bees',
      valBees.find((f) => !inSubset.has(f))!,
    ),
  };
}

// --- the lesson's blocks -----------------------------------------------------------------------

interface Block extends CodeBlock {
  /** 1-based line of the opening fence in the lesson file. */
  readonly fileLine: number;
}

const source = readFileSync(LESSON_FILE, 'utf8');
const lesson = parseLesson(source);
const bodyBlocks = codeBlocks(lesson.body).filter((b) => b.lang === 'bash');
// The same blocks scanned in the whole file give their line numbers there (the frontmatter has
// no fences, so the order and the code are the same).
const fileBlocks = codeBlocks(source).filter((b) => b.lang === 'bash');
const blocks: Block[] = bodyBlocks.map((b, i) => ({ ...b, fileLine: fileBlocks[i]?.line ?? 0 }));
const title = (b: Block) => `${LESSON}:${b.fileLine} ${b.code.split('\n')[0]!.slice(0, 70)}`;

/** `$NAME` / `${NAME}` the block reads and does not assign itself. */
function variablesRead(code: string): string[] {
  const assigned = new Set(
    [...code.matchAll(/(?:^|[;&|(]\s*)(?:export\s+)?([A-Za-z_]\w*)=/gm)].map((m) => m[1]!),
  );
  const read = [...code.matchAll(/\$\{?([A-Za-z_]\w*)/g)].map((m) => m[1]!);
  return [...new Set(read)].filter((v) => !assigned.has(v));
}

/** Files sent with curl's `@file` (`--data-binary @x`, `-F image=@x`), `@-` (stdin) excluded. */
function filesSent(code: string): string[] {
  const refs = [...code.matchAll(/(?<=[\s=])@(["']?)([^\s"';|&<>)]+)\1/g)].map((m) => m[2]!);
  return [...new Set(refs)].filter((f) => f !== '-');
}

/** The block names `file` other than as `@file`: a command in it (zip, cp, …) writes it. */
const mentionsWithoutAt = (code: string, file: string) =>
  code
    .split(/\s+/)
    .some(
      (word) => !word.includes('@') && path.basename(word.replace(/^["']|["']$/g, '')) === file,
    );

const usesTool = (code: string, tool: string) =>
  new RegExp(`(^|[;&|(\\s])${tool}(\\s|$)`, 'm').test(code);

function missingTools(): string[] {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const found = (tool: string) =>
    dirs.some((dir) => {
      try {
        accessSync(path.join(dir, tool), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  return Object.keys(TOOLS).filter(
    (tool) => blocks.some((b) => usesTool(b.code, tool)) && !found(tool),
  );
}

// --- running a block ---------------------------------------------------------------------------

interface Run {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * `bash -euo pipefail -c code`, asynchronously (the in-process worker keeps running meanwhile),
 * killed with its whole process group after `timeoutMs`.
 */
function runBash(code: string, opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }) {
  return new Promise<Run>((resolve, reject) => {
    const started = Date.now();
    const child = spawn('bash', ['-euo', 'pipefail', '-c', code], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        signal,
        timedOut,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
      });
    });
  });
}

interface SseEvent {
  readonly event: string;
  readonly data: string;
}

const looksLikeSse = (text: string) => /^(event|data|id|retry):/m.test(text.trimStart());

function parseSse(text: string): SseEvent[] {
  return (
    text
      .replace(/\r\n?/g, '\n')
      .split(/\n\n+/)
      .map((chunk) => chunk.split('\n').filter((l) => l !== '' && !l.startsWith(':')))
      // A block without data (`retry:`, or only comments) dispatches no event, as the spec says.
      .filter((lines) => lines.some((l) => l.startsWith('data:')))
      .map((lines) => {
        const field = (name: string) =>
          lines.filter((l) => l.startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).trim());
        return { event: field('event')[0] ?? 'message', data: field('data').join('\n') };
      })
  );
}

/** A problem+json answer (RFC 9457) has a `code`. */
function problemOf(value: unknown): string | null {
  if (typeof value === 'object' && value !== null && 'code' in value)
    return JSON.stringify(value).slice(0, 600);
  return null;
}

/** `typeof` each field of an object (or 'missing' when there is no object). */
function typesOf(value: unknown, keys: readonly string[]): string[] {
  if (typeof value !== 'object' || value === null) return keys.map(() => 'missing');
  return keys.map((k) => typeof (value as Record<string, unknown>)[k]);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${what} is not JSON:\n${text.slice(0, 1000)}`);
  }
}

// --- the test ----------------------------------------------------------------------------------

let edge: LocalEdge | undefined;
let workDir: string;
let worker: InProcessWorker | undefined;
/** Variables the reader has exported by now: the two from `npm start`, then the ids. */
const vars: Record<string, string> = {};
let classes: string[] = [];

async function preparePhotos(dir: string): Promise<void> {
  for (const split of ['train', 'val'] as const) {
    for (const label of classes) {
      const from = path.join(HYMENOPTERA, split, label);
      const to = path.join(dir, 'my-photos', split, label);
      await mkdir(to, { recursive: true });
      const files = (await readdir(from))
        .filter((f) => f.endsWith('.jpg'))
        .sort()
        .slice(0, SUBSET[split]);
      for (const f of files) await copyFile(path.join(from, f), path.join(to, f));
    }
  }
  const valBees = (await readdir(path.join(HYMENOPTERA, 'val', 'bees')))
    .filter((f) => f.endsWith('.jpg'))
    .sort();
  for (const [name, file] of Object.entries(photoFixtures(valBees)))
    await copyFile(file, path.join(dir, name));
}

beforeAll(async () => {
  const missing = missingTools();
  if (missing.length > 0)
    throw new Error(
      `the lesson's bash blocks call ${missing.join(' and ')}, not installed here: ` +
        `apt-get install -y ${missing.map((t) => TOOLS[t]).join(' ')}`,
    );
  classes = (await readdir(path.join(HYMENOPTERA, 'train'), { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  workDir = await tempDir('lesson');
  await preparePhotos(workDir);
  const stateDir = await tempDir('lesson-edge');
  const cacheDir = await tempDir('lesson-worker');
  edge = await startLocalEdge(stateDir, { modelsSource: MODELS_SOURCE, modelsOut: TEST_MODELS });
  // A build error in the edge (printed above by wrangler) leaves requests hanging: fail fast.
  const health = await fetch(`${edge.url}/healthz`, { signal: AbortSignal.timeout(20_000) }).catch(
    (err: unknown) => err as Error,
  );
  if (health instanceof Error || !health.ok)
    throw new Error(
      `the local edge at ${edge.url} does not answer /healthz ` +
        `(${health instanceof Error ? health.message : health.status}); see wrangler's output above`,
    );
  vars.HEADSTART_URL = edge.url;
  vars.HEADSTART_API_KEY = edge.apiKey;
  worker = await startInProcessWorker(edge, { workerId: 'lesson-worker', cacheDir });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  await edge?.stop();
}, 30_000);

/** Checks what a block printed, by what it called, and exports the ids it printed. */
function checkOutput(block: Block, stdout: string): void {
  const code = block.code;
  if (looksLikeSse(stdout)) {
    const events = parseSse(stdout);
    for (const e of events) {
      const problem = problemOf(parseJson(e.data, `the data of a "${e.event}" event`));
      expect(problem, `a "${e.event}" event is a problem`).toBeNull();
    }
    const jobs = events.filter((e) => e.event === 'job');
    expect(jobs.length, `no "job" event in:\n${stdout.slice(0, 1000)}`).toBeGreaterThan(0);
    const job = JSON.parse(jobs.at(-1)!.data) as JobView;
    expect(job.id).toBe(vars.JOB_ID);
    expect(
      job.status,
      `job ended ${job.status}: ${job.lastError}\n${(worker?.logs ?? []).join('\n')}`,
    ).toBe('succeeded');
    // What the lesson says the stream carries.
    expect(events.at(-1)).toMatchObject({ event: 'end' });
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ status: 'succeeded' });
    expect(
      typesOf(job.progress, ['trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy', 'lr']),
      'progress: training and validation loss and accuracy, learning rate',
    ).toEqual(['number', 'number', 'number', 'number', 'number']);
    expect(job.history.length).toBeGreaterThan(0);
    // One `epoch` event per epoch of the attempt that succeeded, as the lesson says.
    const epochs = events
      .filter((e) => e.event === 'epoch')
      .map((e) => JSON.parse(e.data) as { attempt: number; epoch: number })
      .filter((e) => e.attempt === job.attempts)
      .map((e) => e.epoch);
    expect(epochs).toEqual(job.history.map((h) => h.epoch));
    expect(typesOf(job.metrics, ['valAccuracy', 'bestEpoch', 'inputMode'])).toEqual([
      'number',
      'number',
      'string',
    ]);
    expect(['crop', 'squash']).toContain(job.metrics!.inputMode);
    expect(job.headId).toMatch(/^head_/);
    vars.HEAD_ID = job.headId!;
    return;
  }

  const body = parseJson(stdout, 'the output') as Record<string, unknown>;
  expect(problemOf(body), 'the answer is a problem').toBeNull();
  const id = typeof body.id === 'string' ? body.id : '';
  const prefix = Object.keys(ID_VARIABLES).find((p) => id.startsWith(p));
  if (prefix) vars[ID_VARIABLES[prefix]!] = id;

  if (/\/v1\/datasets\b/.test(code)) {
    expect(id, 'the upload prints the dataset').toMatch(/^ds_/);
    const counts = (split: keyof typeof SUBSET) =>
      Object.fromEntries(classes.map((c) => [c, SUBSET[split]]));
    expect(body).toMatchObject({
      classes,
      counts: { train: counts('train'), val: counts('val') },
      rejected: [],
    });
  } else if (/\/v1\/fine-tunes"?\s*$/m.test(code)) {
    expect(id, 'the submission prints the job').toMatch(/^job_/);
    expect(body).toMatchObject({
      status: 'queued',
      datasetId: vars.DATASET_ID,
      spec: { datasetId: vars.DATASET_ID },
    });
  } else if (/\/v1\/classify\b/.test(code)) {
    const predictions = body.predictions as { label: string; score: number }[];
    expect(Array.isArray(predictions), 'classify prints predictions').toBe(true);
    const labels = predictions.map((p) => p.label);
    const topK = /[?&]topK=(\d+)/.exec(code);
    if (topK) expect(predictions).toHaveLength(Number(topK[1]));
    if (code.includes('$HEAD_ID')) {
      expect(new Set(labels), 'a head answers with the dataset classes').toEqual(new Set(classes));
      expect(body.head).toMatchObject({ id: vars.HEAD_ID });
      expect(typesOf(body.head, ['backbone'])).toEqual(['string']);
    } else {
      // The backbone's ImageNet classifier, on a bee.
      expect(body.head).toBeUndefined();
      expect(labels).toContain('bee');
    }
  } else {
    throw new Error(`no check for what ${title(block)} calls; add one to this test`);
  }
}

describe(`${LESSON}: every bash block, run as written against the local system`, () => {
  it('has bash blocks', () => {
    expect(blocks.length).toBeGreaterThan(0);
    expect(fileBlocks.map((b) => b.code)).toEqual(blocks.map((b) => b.code));
  });

  for (const [index, block] of blocks.entries()) {
    const sse = /(^|\s)-N(\s|$)/.test(block.code) || /\/events\b/.test(block.code);
    const timeoutMs = sse ? EVENTS_TIMEOUT_MS : BLOCK_TIMEOUT_MS;
    it(
      title(block),
      async () => {
        for (const name of variablesRead(block.code))
          expect(
            vars[name],
            `${title(block)} reads $${name}, which neither \`npm start\` nor an earlier block's ` +
              `output provides (defined so far: ${Object.keys(vars).join(', ')})`,
          ).toBeDefined();
        const provided = await readdir(workDir);
        for (const file of filesSent(block.code)) {
          const created = blocks
            .slice(0, index + 1)
            .some((b) => mentionsWithoutAt(b.code, path.basename(file)));
          expect(
            provided.includes(file) || created,
            `${title(block)} sends @${file}, which no block of the lesson creates and this ` +
              'test does not provide (see photoFixtures)',
          ).toBe(true);
        }

        const run = await runBash(block.code, {
          cwd: workDir,
          // Only what the reader has exported: no outer ids, proxies or ~/.curlrc.
          env: { PATH: process.env.PATH, HOME: workDir, LANG: 'C.UTF-8', ...vars },
          timeoutMs,
        });
        const report = `after ${run.ms} ms\n--- stdout\n${run.stdout.slice(0, 2000)}\n--- stderr\n${run.stderr.slice(-2000)}`;
        expect(run.timedOut, `${title(block)} still running after ${timeoutMs} ms; ${report}`).toBe(
          false,
        );
        expect(run.exitCode, `${title(block)} failed; ${report}`).toBe(0);
        checkOutput(block, run.stdout);
      },
      timeoutMs + 10_000,
    );
  }
});
