// The headstart CLI as a user runs it (a child process) against a real local system: a private
// edge and an in-process worker. Upload flower photos, sweep four jobs as one batch, watch and
// compare them, download the best head, classify photos with it by id and by alias; and the
// three ways a run fails with one line on stderr.
import { spawn } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/cli/client.js';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { DATASETS_DIR, MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { startInProcessWorker, type InProcessWorker } from '../support/worker.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CLI = path.join(ROOT, 'src', 'cli', 'main.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const FLOWERS = path.join(DATASETS_DIR, 'flower_photos_subset');
const CLASSES = ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips'];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

let edge: LocalEdge | undefined;
let worker: InProcessWorker | undefined;
let home: string;
/** Wall time of each CLI command, printed at the end. */
const timings: string[] = [];

/**
 * `node --import tsx src/cli/main.ts …args`, asynchronously (the in-process worker keeps
 * training meanwhile), with only the environment given: no outer HEADSTART_* or config.
 */
function cli(
  args: readonly string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<Run> {
  const env = opts.env ?? { HEADSTART_URL: edge!.url, HEADSTART_API_KEY: edge!.apiKey };
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const run = {
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
      };
      timings.push(`${(run.ms / 1000).toFixed(1).padStart(6)} s  headstart ${args.join(' ')}`);
      resolve(run);
    });
  });
}

const explain = (run: Run) =>
  `exit ${run.code} after ${run.ms} ms\n--- stdout\n${run.stdout.slice(-3000)}\n--- stderr\n${run.stderr.slice(-3000)}\n--- worker\n${(worker?.logs ?? []).slice(-20).join('\n')}`;

async function ok(args: readonly string[], timeoutMs?: number): Promise<Run> {
  const run = await cli(args, { timeoutMs });
  expect(run.code, explain(run)).toBe(0);
  expect(run.stdout, 'no ANSI escapes when piped').not.toContain('\x1b[');
  return run;
}

beforeAll(async () => {
  home = await tempDir('cli-e2e-home');
  const stateDir = await tempDir('cli-e2e-edge');
  const cacheDir = await tempDir('cli-e2e-worker');
  edge = await startLocalEdge(stateDir, { modelsSource: MODELS_SOURCE, modelsOut: TEST_MODELS });
  const health = await fetch(`${edge.url}/healthz`, { signal: AbortSignal.timeout(20_000) });
  expect(health.ok, `the local edge at ${edge.url} does not answer /healthz`).toBe(true);
  worker = await startInProcessWorker(edge, { workerId: 'cli-e2e-worker', cacheDir });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  await edge?.stop();
  console.log(`CLI commands against the local system:\n${timings.join('\n')}`);
}, 30_000);

describe('headstart against a local system', () => {
  let datasetId = '';
  let batchId = '';
  let bestHead = '';
  let photos = '';

  it('calls only routes of the OpenAPI document', async () => {
    const doc = (await (await fetch(`${edge!.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    for (const r of ROUTES)
      expect(doc.paths[r.path]?.[r.method.toLowerCase()], `${r.method} ${r.path}`).toBeDefined();
  });

  it('uploads an ImageFolder directory and prints the validation report', async () => {
    const run = await ok(['datasets', 'upload', FLOWERS, '--name', 'flowers']);
    datasetId = /Dataset (ds_[\w-]+) "flowers": 5 classes/.exec(run.stdout)?.[1] ?? '';
    expect(datasetId, run.stdout).not.toBe('');
    for (const c of CLASSES) expect(run.stdout).toMatch(new RegExp(`^${c}\\s+\\d+\\s+50$`, 'm'));
    expect(run.stdout).toMatch(/^total\s+\d{3}\s+250$/m);
    // The subset holds two byte-identical photos: the report names them.
    expect(run.stdout).toMatch(/Rejected \d+ file\(s\):[\s\S]*duplicate/);
  }, 60_000);

  it('sweeps four jobs as one batch and watches them to the end', async () => {
    const sweep = await ok([
      'finetune',
      'sweep',
      '--dataset',
      datasetId,
      '--epochs',
      '8',
      '--grid',
      'lr=3e-3,1e-3',
      '--grid',
      'dropout=0.2,0.5',
    ]);
    batchId = /^Batch (batch_[\w-]+): 4 job\(s\)$/m.exec(sweep.stdout)?.[1] ?? '';
    expect(batchId, sweep.stdout).not.toBe('');
    const jobLines = sweep.stdout.split('\n').filter((l) => l.startsWith('job_'));
    expect(jobLines.map((l) => l.split(/\s+/).slice(1))).toEqual([
      ['0.003', '0.2'],
      ['0.003', '0.5'],
      ['0.001', '0.2'],
      ['0.001', '0.5'],
    ]);

    const watch = await ok(['jobs', 'watch', batchId], 170_000);
    expect(watch.stdout.match(/^job_\S+\s+succeeded\s+val acc 0\.\d{3}/gm)).toHaveLength(4);
    expect(watch.stdout).toMatch(/Confusion matrix of head_[0-9a-f]{32} \(best of the batch/);
    expect(watch.stdout).toMatch(
      new RegExp(`true \\\\ predicted\\s+${CLASSES.join('\\s+')}\\s+recall`),
    );
    expect(watch.stderr, 'plain progress lines, no bars when piped').toMatch(/epoch 8\/8/);
    expect(watch.stderr).not.toContain('\x1b[');
  }, 180_000);

  it('compares the batch as a table, JSON and CSV, best first', async () => {
    const table = await ok(['jobs', 'compare', batchId]);
    console.log(`headstart jobs compare ${batchId}\n${table.stdout}`);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^job\s+status\s+lr\s+dropout\s+val acc\s+best\/epochs\s+time\s+head$/,
    );
    expect(lines.slice(1)).toHaveLength(4);
    for (const l of lines.slice(1))
      expect(l).toMatch(/^job_\S+\s+succeeded\s+0\.00[13]\s+0\.[25]\s+0\.\d{3}\s+\d\/8\s/);

    const json = JSON.parse(
      (await ok(['jobs', 'compare', batchId, '--format', 'json'])).stdout,
    ) as {
      jobId: string;
      valAccuracy: number;
      headId: string;
      hyperparameters: { lr: number; dropout: number };
    }[];
    expect(json).toHaveLength(4);
    const accuracies = json.map((r) => r.valAccuracy);
    expect(accuracies).toEqual([...accuracies].sort((a, b) => b - a));
    expect(accuracies[0]).toBeGreaterThan(0.7);
    expect(
      new Set(json.map((r) => `${r.hyperparameters.lr}/${r.hyperparameters.dropout}`)).size,
    ).toBe(4);
    bestHead = json[0]!.headId;

    const csv = (await ok(['jobs', 'compare', batchId, '--format', 'csv'])).stdout
      .trim()
      .split('\n');
    expect(csv[0]).toBe('job,status,lr,dropout,val acc,best epoch,epochs run,seconds,head');
    expect(csv.slice(1).map((l) => l.split(',')[0])).toEqual(json.map((r) => r.jobId));
  }, 60_000);

  it('downloads the best head as a zip with model.onnx', async () => {
    const out = path.join(home, 'best.zip');
    const run = await ok(['heads', 'download', bestHead, '--out', out]);
    expect(run.stdout).toContain(out);
    const zip = await readFile(out);
    expect(zip.subarray(0, 4)).toEqual(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    // Entry names sit in the local headers and the central directory of a stored zip.
    expect(zip.includes(Buffer.from('model.onnx'))).toBe(true);
    expect(zip.includes(Buffer.from('manifest.json'))).toBe(true);
    expect((await stat(out)).size).toBeGreaterThan(1000);
  }, 30_000);

  it('classifies a folder of photos with the head, as JSON, CSV and a table', async () => {
    photos = path.join(home, 'photos');
    await mkdir(photos, { recursive: true });
    for (const c of CLASSES) {
      const files = (await readdir(path.join(FLOWERS, 'val', c))).sort().slice(0, 2);
      for (const f of files)
        await copyFile(path.join(FLOWERS, 'val', c, f), path.join(photos, `${c}-${f}`));
    }
    const json = JSON.parse(
      (await ok(['classify', photos, '--model', bestHead, '--format', 'json', '--top-k', '2']))
        .stdout,
    ) as {
      file: string;
      status: number;
      results: {
        model: string;
        head?: { id: string };
        predictions: { label: string; score: number }[];
      }[];
    }[];
    expect(json).toHaveLength(10);
    for (const r of json) {
      expect(r.status).toBe(200);
      expect(r.results[0]!.model).toBe(bestHead);
      expect(r.results[0]!.predictions).toHaveLength(2);
      for (const p of r.results[0]!.predictions) expect(CLASSES).toContain(p.label);
    }
    const correct = json.filter((r) =>
      path.basename(r.file).startsWith(r.results[0]!.predictions[0]!.label),
    );
    expect(correct.length).toBeGreaterThanOrEqual(6);

    const csv = (await ok(['classify', photos, '--model', bestHead, '--format', 'csv'])).stdout
      .trim()
      .split('\n');
    expect(csv[0]).toBe('file,model,label,score,error');
    expect(csv).toHaveLength(11);
    for (const l of csv.slice(1)) expect(CLASSES).toContain(l.split(',')[2]);

    const table = (await ok(['classify', photos, '--model', bestHead])).stdout.trim().split('\n');
    expect(table[0]).toMatch(/^file\s+model\s+label\s+score$/);
    expect(table).toHaveLength(11);
  }, 60_000);

  it('pins an alias and classifies by it', async () => {
    expect((await ok(['aliases', 'set', 'production', bestHead])).stdout).toBe(
      `production → ${bestHead}\n`,
    );
    expect((await ok(['aliases', 'list'])).stdout).toMatch(
      new RegExp(`^production\\s+${bestHead}`, 'm'),
    );
    const json = JSON.parse(
      (await ok(['classify', photos, '--model', 'production', '--format', 'json'])).stdout,
    ) as {
      results: { model: string; head?: { id: string }; predictions: { label: string }[] }[];
    }[];
    expect(json).toHaveLength(10);
    for (const r of json) {
      expect(r.results[0]).toMatchObject({ model: 'production', head: { id: bestHead } });
      expect(CLASSES).toContain(r.results[0]!.predictions[0]!.label);
    }
  }, 30_000);
});

describe('headstart failures: one line on stderr, non-zero exit', () => {
  const oneLine = (run: Run) => {
    expect(run.code, explain(run)).not.toBe(0);
    expect(run.stderr.split('\n').filter(Boolean), run.stderr).toHaveLength(1);
    expect(run.stderr).toMatch(/^headstart: /);
    return run.stderr;
  };

  it('refuses a directory without train/ before uploading', async () => {
    const dir = path.join(home, 'not-a-dataset', 'cats');
    await mkdir(dir, { recursive: true });
    await copyFile(
      path.join(FLOWERS, 'val', 'daisy', (await readdir(path.join(FLOWERS, 'val', 'daisy')))[0]!),
      path.join(dir, 'a.jpg'),
    );
    const run = await cli(['datasets', 'upload', path.dirname(dir)]);
    expect(oneLine(run)).toMatch(/has no train\/ folder/);
    expect(run.code).toBe(2);
  });

  it('says there is no API key (no env, no config, no local system file)', async () => {
    const cwd = await tempDir('cli-e2e-nokey');
    const run = await cli(['heads', 'list'], { env: {}, cwd });
    expect(oneLine(run)).toMatch(/^headstart: no API key/);
    expect(run.code).toBe(2);
  });

  it('says it cannot reach an edge that is not there', async () => {
    const run = await cli(['heads', 'list', '--url', 'http://127.0.0.1:1']);
    expect(oneLine(run)).toMatch(/^headstart: cannot reach http:\/\/127\.0\.0\.1:1: /);
    expect(run.code).toBe(1);
  });

  it('retries an upload whose answer a dropped connection lost, making one dataset', async () => {
    // A small ImageFolder of its own: 3 train and 2 val photos per class.
    const folder = await tempDir('cli-e2e-retry');
    for (const [split, count] of [
      ['train', 3],
      ['val', 2],
    ] as const) {
      for (const label of ['ants', 'bees']) {
        const from = path.join(DATASETS_DIR, 'hymenoptera_data', split, label);
        await mkdir(path.join(folder, split, label), { recursive: true });
        const files = (await readdir(from)).filter((f) => f.endsWith('.jpg')).sort();
        for (const file of files.slice(0, count))
          await copyFile(path.join(from, file), path.join(folder, split, label, file));
      }
    }
    // A proxy that forwards the first upload whole, lets the edge answer it, and then cuts the
    // client's connection instead of passing the answer on: the upload happened, the CLI never
    // heard.
    const target = new URL(edge!.url);
    let cut = 0;
    const proxy = createNetServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      let head = '';
      let dropAnswer = false;
      client.on('data', (chunk: Buffer) => {
        if (head.length < 64) {
          head += chunk.toString('latin1');
          dropAnswer = cut === 0 && head.startsWith('POST /v1/datasets');
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (dropAnswer) {
          cut++;
          dropAnswer = false;
          client.resetAndDestroy();
          upstream.destroy();
          return;
        }
        client.write(chunk);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.end());
      upstream.on('close', () => client.end());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const run = await cli(['datasets', 'upload', folder, '--name', 'retried', '--verbose'], {
        env: { HEADSTART_URL: proxyUrl, HEADSTART_API_KEY: edge!.apiKey },
      });
      expect(run.code, explain(run)).toBe(0);
      expect(cut).toBe(1);
      expect(run.stderr).toMatch(/POST .*\/v1\/datasets.*\(try 2\)/);
      expect(run.stdout).toMatch(/Dataset ds_[\w-]+ "retried": 2 classes/);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
    const listed = (await (
      await fetch(`${edge!.url}/v1/datasets`, {
        headers: { authorization: `Bearer ${edge!.apiKey}` },
      })
    ).json()) as { datasets: { name: string }[] };
    expect(listed.datasets.filter((d) => d.name === 'retried')).toHaveLength(1);
  }, 60_000);
});
