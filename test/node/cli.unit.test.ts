// The headstart CLI's parts without an edge: arguments → job specs, grids and JSON lines,
// configuration precedence, output formats, the zip stream, and the HTTP retry rules against a
// small local server.
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { JOB_PRESETS, resolveFineTuneSpec, type FineTuneSpec } from '../../src/shared/jobs.js';
import { crc32 } from '../../src/shared/zip-store.js';
import { MOBILENET_PREPROCESSING } from '../../src/shared/manifest.js';
import { MAX_BACKBONE_BYTES } from '../../src/shared/onnx-import.js';
import { findCommand, parseCommand } from '../../src/cli/args.js';
import { HeadstartClient, ROUTES, type JobView } from '../../src/cli/client.js';
import { readBackboneUpload } from '../../src/cli/commands/backbones.js';
import { chunkPhotos } from '../../src/cli/commands/classify.js';
import { resolveConfig } from '../../src/cli/config.js';
import { ApiProblemError, UnreachableError, UsageError } from '../../src/cli/errors.js';
import { formatRows, renderConfusion, renderTable, toCsv } from '../../src/cli/format.js';
import { expandGrid, parseGrid, parseJobLines } from '../../src/cli/grid.js';
import { backoffMs, DEFAULT_RETRY, retryAfterMs } from '../../src/cli/http.js';
import { imageFolderZip, scanImageFolder } from '../../src/cli/image-folder.js';
import { compareRows } from '../../src/cli/job-summary.js';
import { COMMANDS, main } from '../../src/cli/main.js';
import { SPEC_FIELDS, checkJobRequest, jobRequest, specDefault } from '../../src/cli/spec.js';
import { sseEvents } from '../../src/cli/sse.js';
import type { Terminal } from '../../src/cli/terminal.js';
import { tempDir } from '../support/temp.js';

const DS = 'ds_unitTest0001';
const at = (obj: unknown, p: readonly string[]): unknown =>
  p.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], obj);

function fakeTerminal() {
  const out: string[] = [];
  const err: string[] = [];
  const term: Terminal = {
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
    color: false,
    interactive: false,
    columns: 100,
    rows: 40,
  };
  return { term, out: () => out.join(''), err: () => err.join('') };
}

describe('arguments and job specs', () => {
  it('finds the command after global options and parses its options strictly', () => {
    const found = findCommand(COMMANDS, ['--url', 'http://x', 'heads', 'download', 'head_1', '-v']);
    expect(found.command?.name).toBe('heads download');
    expect(found.rest).toEqual(['--url', 'http://x', 'head_1', '-v']);
    const parsed = parseCommand(found.command!.options, found.rest);
    expect(parsed).toMatchObject({ positionals: ['head_1'], values: { verbose: true } });
    expect(() => parseCommand({}, ['--nope'])).toThrow(UsageError);
  });

  it('maps every flag to its spec field', () => {
    const sample = (f: (typeof SPEC_FIELDS)[number]) =>
      f.kind === 'choice'
        ? f.choices!.at(-1)!
        : f.kind === 'name'
          ? 'block_16'
          : f.kind === 'int'
            ? '3'
            : '0.25';
    for (const field of SPEC_FIELDS) {
      const needs =
        field.key === 'early-stopping-min-delta' ? { 'early-stopping-patience': '2' } : {};
      const request = jobRequest({ ...needs, [field.key]: sample(field) }, { dataset: DS });
      const expected =
        field.kind === 'choice' || field.kind === 'name' ? sample(field) : Number(sample(field));
      expect(at(request, field.path), field.key).toBe(expected);
    }
    const request = jobRequest(
      { lr: '3e-4', head: 'mlp', 'early-stopping-patience': '4', 'input-mode': 'squash' },
      { dataset: DS, preset: 'lesson' },
    );
    checkJobRequest(request);
    const spec = resolveFineTuneSpec(request);
    expect(spec.success && spec.data).toMatchObject({
      optimizer: { lr: 3e-4 },
      head: { type: 'mlp', dropout: JOB_PRESETS.lesson.head.dropout, hiddenUnits: 256 },
      earlyStopping: { patience: 4, minDelta: 0 },
      inputMode: 'squash',
      augmentation: JOB_PRESETS.lesson.augmentation,
    });
  });

  it('refuses bad values naming the flag, and shows the presets’ defaults in the help', () => {
    expect(() => jobRequest({ epochs: '2.5' }, { dataset: DS })).toThrow(
      '--epochs expects a whole number',
    );
    expect(() => jobRequest({ head: 'cnn' }, { dataset: DS })).toThrow(
      '--head must be one of linear, mlp',
    );
    expect(() => checkJobRequest(jobRequest({ lr: '5' }, { dataset: DS }))).toThrow(/^--lr: /);
    expect(() => checkJobRequest({ datasetId: 'nope' })).toThrow(/^--dataset: /);
    const lr = SPEC_FIELDS.find((f) => f.key === 'lr')!;
    expect(specDefault(lr)).toBe(
      `default ${JOB_PRESETS.headstart.optimizer.lr}; lesson ${JOB_PRESETS.lesson.optimizer.lr}`,
    );
  });

  it('expands a grid into its cartesian product, first axis slowest', () => {
    const axes = parseGrid(['lr=1e-3,3e-4', 'dropout=0.2,0.5', 'head=mlp']);
    const jobs = expandGrid({ datasetId: DS, epochs: 8 }, axes);
    expect(jobs.map((j) => j.params)).toEqual([
      { lr: 1e-3, dropout: 0.2, head: 'mlp' },
      { lr: 1e-3, dropout: 0.5, head: 'mlp' },
      { lr: 3e-4, dropout: 0.2, head: 'mlp' },
      { lr: 3e-4, dropout: 0.5, head: 'mlp' },
    ]);
    expect(jobs[3]!.request).toMatchObject({
      epochs: 8,
      optimizer: { lr: 3e-4 },
      head: { type: 'mlp', dropout: 0.5, hiddenUnits: 256 },
    });
    for (const j of jobs) checkJobRequest(j.request);
    expect(() => parseGrid(['momentum=0.9'])).toThrow('unknown grid key "momentum"');
    expect(() => parseGrid(['lr='])).toThrow('needs values');
    expect(() => parseGrid(['epochs=5,x'])).toThrow('--grid epochs expects a number');
  });

  it('reads JSON lines, skipping blanks and comments, naming the bad line', () => {
    const text = `# sweep\n{"optimizer":{"lr":0.001}}\n\n{"datasetId":"${DS}","epochs":5}\n`;
    expect(parseJobLines(text, { dataset: DS })).toEqual([
      { datasetId: DS, optimizer: { lr: 0.001 } },
      { datasetId: DS, epochs: 5 },
    ]);
    expect(() => parseJobLines('{"epochs":5}\n{oops', { dataset: DS })).toThrow(
      /^line 2: not JSON/,
    );
    expect(() => parseJobLines('\n\n[1]', { dataset: DS })).toThrow(
      /^line 3: expected a JSON object/,
    );
    expect(() => parseJobLines('{"epochs":0}', { dataset: DS })).toThrow(/^line 1: --epochs: /);
    expect(() => parseJobLines('# nothing\n')).toThrow('no jobs');
  });

  it('refuses a sweep whose key is both fixed and in the grid, before any request', async () => {
    const t = fakeTerminal();
    const argv = ['finetune', 'sweep', '--dataset', DS, '--lr', '1e-3', '--grid', 'lr=1e-3,3e-4'];
    expect(await main([...argv, '--url', 'http://127.0.0.1:9', '--key', 'k'], t.term)).toBe(2);
    expect(t.err()).toBe('headstart: --lr is both fixed and in the grid\n');
  });
});

describe('configuration', () => {
  it('takes each setting from flags, then env, then the config file, then local.json', async () => {
    const home = await tempDir('cli-home');
    const cwd = path.join(home, 'project', 'sub');
    await mkdir(path.join(home, 'project', '.headstart'), { recursive: true });
    await mkdir(cwd, { recursive: true });
    const local = { url: 'http://127.0.0.1:8787', apiKey: 'local-key' };
    await writeFile(path.join(home, 'project', '.headstart', 'local.json'), JSON.stringify(local));
    const resolve = (flags = {}, env = {}, configFile?: string) =>
      resolveConfig({ flags, env, cwd, home, configFile });
    expect(resolve()).toMatchObject({ url: local.url, apiKey: 'local-key', keySource: 'local' });
    await mkdir(path.join(home, '.config', 'headstart'), { recursive: true });
    await writeFile(
      path.join(home, '.config', 'headstart', 'config.json'),
      JSON.stringify({ url: 'https://cfg.example', apiKey: 'cfg-key' }),
    );
    expect(resolve()).toMatchObject({
      url: 'https://cfg.example',
      apiKey: 'cfg-key',
      urlSource: 'config',
    });
    const env = { HEADSTART_URL: 'https://env.example/', HEADSTART_API_KEY: 'env-key' };
    expect(resolve({}, env)).toMatchObject({ url: 'https://env.example', apiKey: 'env-key' });
    expect(resolve({ url: 'https://flag.example', key: 'flag-key' }, env)).toMatchObject({
      url: 'https://flag.example',
      apiKey: 'flag-key',
      urlSource: 'flag',
      keySource: 'flag',
    });
    // The local system's key never travels to another edge.
    const other = await tempDir('cli-other');
    expect(
      resolveConfig({ flags: { url: 'https://x.example' }, env: {}, cwd, home: other }),
    ).toMatchObject({ apiKey: undefined });
    expect(() => resolve({}, {}, path.join(home, 'missing.json'))).toThrow(UsageError);
  });

  it('takes the admin token in the same order, the local one only for the local edge', async () => {
    const home = await tempDir('cli-admin-home');
    await mkdir(path.join(home, '.headstart'), { recursive: true });
    const local = { url: 'http://127.0.0.1:8787', apiKey: 'k', adminToken: 'local-admin' };
    await writeFile(path.join(home, '.headstart', 'local.json'), JSON.stringify(local));
    const resolve = (flags = {}, env = {}) =>
      resolveConfig({ flags, env, cwd: home, home: path.join(home, 'nohome') });
    expect(resolve().adminToken).toBe('local-admin');
    expect(resolve({}, { HEADSTART_ADMIN_TOKEN: 'env-admin' }).adminToken).toBe('env-admin');
    expect(
      resolve({ adminToken: 'flag-admin' }, { HEADSTART_ADMIN_TOKEN: 'env-admin' }).adminToken,
    ).toBe('flag-admin');
    expect(resolve({ url: 'https://prod.example' }).adminToken).toBeUndefined();
  });

  it('runs as the npm bin straight after npm ci (the bundle when built, else the sources)', () => {
    const help = execFileSync(process.execPath, ['bin/headstart.mjs', '--help'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    expect(help).toContain('Usage: headstart <command> [options]');
    expect(help).toContain('admin worker-tokens issue');
  });

  it('finds three-word admin commands and refuses one without an admin token before any request', async () => {
    const found = findCommand(COMMANDS, [
      'admin',
      'worker-tokens',
      'issue',
      'gpu-1',
      '--secret-only',
    ]);
    expect(found.command?.name).toBe('admin worker-tokens issue');
    expect(parseCommand(found.command!.options, found.rest)).toMatchObject({
      positionals: ['gpu-1'],
      values: { 'secret-only': true },
    });
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const config = path.join(await tempDir('cli-admin-none'), 'config.json');
    await writeFile(config, '{}');
    const { term, err } = fakeTerminal();
    try {
      const code = await main(
        ['admin', 'tenants', 'list', '--url', url, '--key', 'hs_key_x', '--config', config],
        term,
      );
      expect(code).toBe(2);
      expect(err()).toMatch(/admin token/i);
      expect(requests).toEqual([]);
    } finally {
      server.close();
    }
  });
});

describe('output', () => {
  it('aligns tables (numbers right), quotes CSV, prints JSON as given', () => {
    expect(
      renderTable(
        ['file', 'score'],
        [
          ['a.jpg', '0.91'],
          ['bb.png', '0.5'],
        ],
      ),
    ).toBe('file    score\na.jpg    0.91\nbb.png    0.5\n');
    expect(
      toCsv(
        ['file', 'label'],
        [
          ['a,"b".jpg', 'daisy'],
          ['c.jpg', null],
        ],
      ),
    ).toBe('file,label\n"a,""b"".jpg",daisy\nc.jpg,\n');
    expect(JSON.parse(formatRows('json', ['a'], [[1]], { json: [{ a: 1 }] }))).toEqual([{ a: 1 }]);
  });

  it('draws the confusion matrix with rows as true classes and each recall', () => {
    expect(
      renderConfusion(
        ['ants', 'bees'],
        [
          [60, 10],
          [5, 78],
        ],
      ),
    ).toBe(
      [
        'true \\ predicted  ants  bees  recall',
        'ants                60    10   0.857',
        'bees                 5    78   0.940',
        '',
      ].join('\n'),
    );
  });

  it('compares a batch: the differing hyperparameters, best accuracy first', () => {
    const spec = (lr: number) => {
      const r = resolveFineTuneSpec({ datasetId: DS, optimizer: { lr } });
      if (!r.success) throw r.error;
      return r.data;
    };
    const job = (id: string, s: FineTuneSpec, acc: number | null): JobView => ({
      id,
      status: acc === null ? 'failed' : 'succeeded',
      datasetId: DS,
      batchId: 'batch_1',
      spec: s,
      attempts: 1,
      maxAttempts: 3,
      progress: null,
      history: [],
      metrics: acc === null ? null : { valAccuracy: acc, bestEpoch: 2, epochsRun: 4 },
      lastError: acc === null ? 'boom' : null,
      headId: null,
      cancelRequested: false,
      createdAt: '',
      updatedAt: '',
      startedAt: '2026-01-01T00:00:00Z',
      finishedAt: '2026-01-01T00:00:12.5Z',
    });
    const rows = compareRows([
      job('a', spec(1e-3), 0.8),
      job('b', spec(3e-3), null),
      job('c', spec(3e-3), 0.9),
    ]);
    expect(rows.map((r) => [r.jobId, r.hyperparameters, r.valAccuracy, r.seconds])).toEqual([
      ['c', { lr: 3e-3 }, 0.9, 12.5],
      ['a', { lr: 1e-3 }, 0.8, 12.5],
      ['b', { lr: 3e-3 }, null, 12.5],
    ]);
  });

  it('cuts classification into requests of at most 16 photos and the body limit', () => {
    const photos = Array.from({ length: 40 }, (_, i) => ({ i, size: i === 20 ? 9e6 : 2e6 }));
    // 2 MB photos: 12 fit in 24 MiB; the 9 MB one closes its request early.
    expect(chunkPhotos(photos).map((c) => c.length)).toEqual([12, 9, 12, 7]);
    expect(chunkPhotos(photos.map((p) => ({ ...p, size: 10 }))).map((c) => c.length)).toEqual([
      16, 16, 8,
    ]);
  });

  it('lists its routes as OpenAPI templates', () => {
    expect(ROUTES.length).toBe(new Set(ROUTES.map((r) => `${r.method} ${r.path}`)).size);
    for (const r of ROUTES)
      expect(r.path).toMatch(/^\/(admin\/)?v1\/[a-z-]+(\/(\{[a-z][A-Za-z]*\}|[a-z-]+))*$/);
  });

  it('parses server-sent events across chunk boundaries', async () => {
    const chunks = [
      'event: job\nda',
      'ta: {"a":1}\n\n: comment\n\nevent: end\r\n',
      'data: {}\r\n\r\n',
    ];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const t of chunks) c.enqueue(new TextEncoder().encode(t));
        c.close();
      },
    });
    const events = [];
    for await (const e of sseEvents(body)) events.push([e.event, e.data]);
    expect(events).toEqual([
      ['job', '{"a":1}'],
      ['end', '{}'],
    ]);
  });
});

/** A stored zip's entry names and CRCs, read from its central directory. */
function zipEntries(zip: Uint8Array): { name: string; crc: number; data: Uint8Array }[] {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const end = zip.length - 22;
  expect(v.getUint32(end, true)).toBe(0x06054b50);
  const out = [];
  for (let p = v.getUint32(end + 16, true), n = v.getUint16(end + 8, true); n > 0; n--) {
    const nameLen = v.getUint16(p + 28, true);
    const local = v.getUint32(p + 42, true);
    const size = v.getUint32(p + 20, true);
    const start = local + 30 + v.getUint16(local + 26, true);
    out.push({
      name: new TextDecoder().decode(zip.subarray(p + 46, p + 46 + nameLen)),
      crc: v.getUint32(p + 16, true),
      data: zip.subarray(start, start + size),
    });
    p += 46 + nameLen;
  }
  return out;
}

describe('ImageFolder directories', () => {
  const jpeg = (n: number) => new Uint8Array([0xff, 0xd8, n, 0xff, 0xd9]);
  async function folder(files: Record<string, Uint8Array | string>) {
    const dir = await tempDir('cli-folder');
    for (const [name, data] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), data);
    }
    return dir;
  }

  it('zips images only, in order, with exact length and CRCs', async () => {
    const dir = await folder({
      'wrap/train/ants/a.jpg': jpeg(1),
      'wrap/train/ants/b.JPG': jpeg(2),
      'wrap/train/ants/notes.txt': 'x',
      'wrap/train/bees/c.png': jpeg(3),
      'wrap/train/bees/d.webp': jpeg(4),
      'wrap/val/bees/e.jpeg': jpeg(5),
      'wrap/LICENSE.txt': 'x',
    });
    const scanned = await scanImageFolder(dir);
    expect(scanned).toMatchObject({ classes: ['ants', 'bees'], hasVal: true, skipped: 2 });
    const progress: number[] = [];
    const zip = imageFolderZip(scanned.images, (p) => progress.push(p.images));
    const bytes = new Uint8Array(await new Response(zip.stream()).arrayBuffer());
    expect(bytes.length).toBe(zip.bytes);
    const entries = zipEntries(bytes);
    expect(entries.map((e) => e.name)).toEqual([
      'train/ants/a.jpg',
      'train/ants/b.JPG',
      'train/bees/c.png',
      'train/bees/d.webp',
      'val/bees/e.jpeg',
    ]);
    for (const e of entries) expect(e.crc).toBe(crc32(e.data));
    expect(progress.at(-1)).toBe(5);
  });

  it('sends the very same bytes on every try, however late the retry', async () => {
    const dir = await folder({
      'train/a/1.jpg': jpeg(1),
      'train/a/2.jpg': jpeg(2),
      'train/b/3.jpg': jpeg(3),
      'train/b/4.jpg': jpeg(4),
    });
    const images = (await scanImageFolder(dir)).images;
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-12-07T10:00:01Z'));
      const zip = imageFolderZip(images);
      const first = new Uint8Array(await new Response(zip.stream()).arrayBuffer());
      // DOS times have a 2-second resolution: a retry 3 s later would have other bytes.
      vi.setSystemTime(new Date('2026-12-07T10:00:04Z'));
      const retry = new Uint8Array(await new Response(zip.stream()).arrayBuffer());
      expect(Buffer.from(retry).equals(Buffer.from(first))).toBe(true);
      // A new archive (a new upload) may carry the new time.
      const later = new Uint8Array(
        await new Response(imageFolderZip(images).stream()).arrayBuffer(),
      );
      expect(Buffer.from(later).equals(Buffer.from(first))).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('names what is wrong with a bad layout', async () => {
    const cases: [Record<string, Uint8Array>, RegExp][] = [
      [{ 'images/cat/a.jpg': jpeg(1) }, /has no train\/ folder/],
      [
        { 'train/a.jpg': jpeg(1), 'train/b/c.jpg': jpeg(2) },
        /train\/a\.jpg is not inside a class folder/,
      ],
      [
        { 'train/a/1.jpg': jpeg(1), 'train/a/2.jpg': jpeg(2), 'train/b/1.jpg': jpeg(3) },
        /train\/b has 1 image/,
      ],
      [{ 'train/a/1.jpg': jpeg(1) }, /train\/ has 1 class folder/],
      [
        {
          'train/a/1.jpg': jpeg(1),
          'train/a/2.jpg': jpeg(2),
          'train/b/1.jpg': jpeg(3),
          'train/b/2.jpg': jpeg(4),
          'val/c/1.jpg': jpeg(5),
        },
        /val\/c is not a class of train\//,
      ],
    ];
    for (const [files, message] of cases)
      await expect(scanImageFolder(await folder(files))).rejects.toThrow(message);
  });
});

describe('HTTP: retries, problems, unreachable edges', () => {
  type Handler = (req: IncomingMessage, res: ServerResponse) => void;
  async function serve(handlers: Handler[]) {
    const seen: IncomingMessage[] = [];
    const server = createServer((req, res) => {
      seen.push(req);
      req.resume();
      req.on('end', () => (handlers[seen.length - 1] ?? handlers.at(-1)!)(req, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, seen, close: () => new Promise((r) => server.close(r)) };
  }
  const json =
    (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
    (_req, res) =>
      res
        .writeHead(status, { 'content-type': 'application/json', ...headers })
        .end(JSON.stringify(body));
  const aliases = json(200, { aliases: [{ name: 'prod', headId: 'head_1', updatedAt: 'now' }] });
  const client = (url: string, sleeps: number[]) =>
    new HeadstartClient({
      baseUrl: url,
      apiKey: 'k',
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      random: () => 1,
    });

  it('waits as Retry-After says on 429, then succeeds', async () => {
    const s = await serve([json(429, { detail: 'slow down' }, { 'retry-after': '1' }), aliases]);
    const sleeps: number[] = [];
    expect(await client(s.url, sleeps).listAliases()).toHaveLength(1);
    expect(sleeps).toEqual([1000]);
    expect(s.seen.map((r) => r.headers.authorization)).toEqual(['Bearer k', 'Bearer k']);
    await s.close();
  });

  it('backs off exponentially on 503 and keeps one Idempotency-Key per submission', async () => {
    const job = { batchId: 'batch_1', jobs: [] };
    const s = await serve([json(503, {}), json(503, {}), json(201, job)]);
    const sleeps: number[] = [];
    expect(await client(s.url, sleeps).submitBatch([{ datasetId: DS }], 'key-1')).toEqual(job);
    expect(sleeps).toEqual([DEFAULT_RETRY.baseMs, DEFAULT_RETRY.baseMs * 2]);
    expect(new Set(s.seen.map((r) => r.headers['idempotency-key']))).toEqual(new Set(['key-1']));
    await s.close();
    expect(backoffMs(10, DEFAULT_RETRY, () => 1)).toBe(DEFAULT_RETRY.capMs);
    expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
  });

  it('repeats an upload with the same Idempotency-Key after a 5xx, and waits out a 409 in progress', async () => {
    const report = {
      formatVersion: 1,
      id: 'ds_abcdefgh',
      createdAt: '2026-12-07T00:00:00.000Z',
      classes: ['a', 'b'],
      split: { source: 'archive' },
      counts: { train: { a: 2, b: 2 }, val: { a: 1, b: 1 } },
      rejected: [],
      ignored: 0,
      name: 'd',
      imageCount: { train: 4, val: 2 },
    };
    const inProgress = {
      type: 'about:blank',
      title: 'In progress',
      status: 409,
      detail: 'an upload with this Idempotency-Key is still being stored and checked',
      code: 'idempotency_in_progress',
      requestId: 'r1',
    };
    const s = await serve([
      json(503, {}),
      json(409, inProgress, { 'retry-after': '2' }),
      json(200, report, { 'idempotent-replayed': 'true' }),
    ]);
    const sleeps: number[] = [];
    const upload = client(s.url, sleeps).uploadDataset(
      { bytes: 1, body: () => new Blob([new Uint8Array(1)]).stream() },
      {},
      'upload-1',
    );
    expect((await upload).id).toBe(report.id);
    expect(s.seen).toHaveLength(3);
    expect(sleeps).toEqual([DEFAULT_RETRY.baseMs, 2000]);
    expect(new Set(s.seen.map((r) => r.headers['idempotency-key']))).toEqual(new Set(['upload-1']));
    await s.close();
  });

  it('does not repeat a 409 that has no Retry-After (a key used for other bytes)', async () => {
    const conflict = {
      type: 'about:blank',
      title: 'Conflict',
      status: 409,
      detail: 'this Idempotency-Key was used with a different archive',
      code: 'idempotency_conflict',
      requestId: 'r1',
    };
    const s = await serve([json(409, conflict)]);
    const upload = client(s.url, []).uploadDataset(
      { bytes: 1, body: () => new Blob([new Uint8Array(1)]).stream() },
      {},
      'upload-2',
    );
    await expect(upload).rejects.toThrow('different archive');
    expect(s.seen).toHaveLength(1);
    await s.close();
  });

  it('turns problem+json into one line, exit 1', async () => {
    const problem = {
      type: 'about:blank',
      title: 'Conflict',
      status: 409,
      detail: 'alias "prod" points at head_1',
      code: 'conflict',
      field: 'path.id',
      requestId: 'r1',
    };
    const s = await serve([json(409, problem)]);
    await expect(client(s.url, []).deleteHead('head_1')).rejects.toThrow(ApiProblemError);
    const t = fakeTerminal();
    expect(await main(['heads', 'delete', 'head_1', '--url', s.url, '--key', 'k'], t.term)).toBe(1);
    expect(t.err()).toBe('headstart: alias "prod" points at head_1 (conflict, path.id)\n');
    await s.close();
  });

  it('says it cannot reach a closed port, after retrying', async () => {
    const s = await serve([aliases]);
    await s.close();
    const sleeps: number[] = [];
    const error = await client(s.url, sleeps)
      .listAliases()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreachableError);
    expect((error as Error).message).toMatch(new RegExp(`^cannot reach ${s.url}: .*ECONNREFUSED`));
    expect(sleeps).toHaveLength(DEFAULT_RETRY.attempts - 1);
  });
});

describe('backbones import|list|delete', () => {
  interface Seen {
    readonly method: string;
    readonly url: string;
    readonly headers: IncomingMessage['headers'];
    readonly body: Buffer;
  }
  type Answer = { status: number; body?: unknown };
  /** A fake edge: records every request with its body, answers with `answer` (JSON, or nothing). */
  async function fakeEdge(answer: (req: Seen, n: number) => Answer) {
    const seen: Seen[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        seen.push(r);
        const a = answer(r, seen.length);
        if (a.body === undefined) res.writeHead(a.status).end();
        else
          res
            .writeHead(a.status, {
              'content-type': a.status < 300 ? 'application/json' : 'application/problem+json',
            })
            .end(JSON.stringify(a.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const run = async (argv: string[]) => {
      const t = fakeTerminal();
      const code = await main([...argv, '--url', url, '--key', 'k'], t.term);
      return { code, out: t.out(), err: t.err() };
    };
    return { seen, run, close: () => new Promise((r) => server.close(r)) };
  }
  /** The multipart form a request carried. */
  const formOf = (req: Seen) =>
    new Response(new Uint8Array(req.body), {
      headers: { 'content-type': req.headers['content-type'] ?? '' },
    }).formData();
  const problem = (status: number, code: string, detail: string, field?: string) => ({
    type: 'about:blank',
    title: 'Refused',
    status,
    detail,
    code,
    ...(field ? { field } : {}),
    requestId: 'r1',
  });

  const card = {
    id: 'my-mnv2',
    displayName: 'My MobileNetV2',
    licence: 'Apache-2.0',
    origin: 'https://example.com/my-mnv2.onnx',
    preprocessing: {
      resize: { shortestEdge: 256 },
      crop: { width: 224, height: 224 },
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.5, 0.5, 0.5],
    },
  };
  const modelBytes = new Uint8Array([8, 7, 18, 4, 116, 101, 115, 116, 0, 255]);
  async function backboneFolder(files: { card?: unknown; model?: Uint8Array | null } = {}) {
    const dir = await tempDir('cli-backbone');
    if (files.model !== null)
      await writeFile(path.join(dir, 'model.onnx'), files.model ?? modelBytes);
    const c = files.card ?? card;
    await writeFile(path.join(dir, 'backbone.json'), typeof c === 'string' ? c : JSON.stringify(c));
    return dir;
  }
  const TENANT = 'ten_AAAAAAAAAAAAAAAA';
  const manifest = (over: { quantized?: boolean; bytes?: number } = {}) => ({
    formatVersion: 1,
    kind: 'backbone',
    id: `${TENANT}/my-mnv2`,
    displayName: 'My MobileNetV2',
    fingerprint: 'a'.repeat(64),
    parameters: 2_257_984,
    source: { format: 'onnx', licence: 'Apache-2.0', origin: card.origin },
    onnx: {
      file: 'model.onnx',
      sha256: 'b'.repeat(64),
      bytes: over.bytes ?? 9_012_345,
      opset: 13,
      quantized: over.quantized ?? false,
      input: { name: 'input', shape: ['batch', 3, 224, 224] },
      outputs: { embedding: { name: 'pool', shape: ['batch', 1280] } },
    },
    inputSize: { width: 224, height: 224 },
    preprocessing: MOBILENET_PREPROCESSING,
    embeddingDim: 1280,
    blocks: [
      { name: 'stem', role: 'trunk', layers: [], parameters: 10, trainableParameters: 10 },
      {
        name: 'block_1',
        role: 'trunk',
        layers: [],
        parameters: 20,
        trainableParameters: 20,
        input: 't1',
      },
      {
        name: 'block_2',
        role: 'trunk',
        layers: [],
        parameters: 30,
        trainableParameters: 30,
        input: 't2',
      },
      {
        name: 'classifier',
        role: 'classifier',
        layers: [],
        parameters: 40,
        trainableParameters: 40,
        input: 't3',
      },
    ],
    converter: { name: 'onnx-import', version: '1.0.0' },
  });

  it('finds the commands and parses their options', () => {
    const imp = findCommand(COMMANDS, ['backbones', 'import', 'my-model', '--card', 'c.json']);
    expect(imp.command?.name).toBe('backbones import');
    expect(parseCommand(imp.command!.options, [...imp.rest, '--json'])).toMatchObject({
      positionals: ['my-model'],
      values: { card: 'c.json', json: true },
    });
    const list = findCommand(COMMANDS, ['-v', 'backbones', 'list', '--format', 'csv']);
    expect(list.command?.name).toBe('backbones list');
    expect(parseCommand(list.command!.options, list.rest).values).toMatchObject({
      format: 'csv',
      verbose: true,
    });
    const del = findCommand(COMMANDS, ['backbones', 'delete', 'my-mnv2']);
    expect(del.command?.name).toBe('backbones delete');
    expect(parseCommand(del.command!.options, del.rest).positionals).toEqual(['my-mnv2']);
    expect(() => parseCommand(list.command!.options, ['--json'])).toThrow(UsageError);
    for (const r of ['POST /v1/backbones', 'GET /v1/backbones', 'DELETE /v1/backbones/{name}'])
      expect(ROUTES.map((x) => `${x.method} ${x.path}`)).toContain(r);
  });

  it('refuses a bad card naming its field, and an .onnx without --card, before any request', async () => {
    const edge = await fakeEdge(() => ({ status: 500 }));
    try {
      const cases: [string[], RegExp][] = [
        [
          [await backboneFolder({ card: { ...card, displayName: '' } })],
          /backbone\.json: card\.displayName: /,
        ],
        [
          [await backboneFolder({ card: { ...card, outputs: { embeddings: 'pool' } } })],
          /backbone\.json: card\.outputs\.embeddings: /,
        ],
        [
          [await backboneFolder({ card: { ...card, outputs: { logits: 'logits' } } })],
          /card\.outputs\.labels: logits and labels go together/,
        ],
        [
          [await backboneFolder({ card: { ...card, id: 'mobilenet-v2-1.0' } })],
          /card\.id: "mobilenet-v2-1\.0" is a catalogue backbone's id/,
        ],
        [
          [await backboneFolder({ card: '{"id": "x",' })],
          /^headstart: card: cannot read .*backbone\.json as JSON/,
        ],
        [[await backboneFolder({ model: null })], /model\.onnx does not exist/],
      ];
      const onnxFile = path.join(await backboneFolder(), 'model.onnx');
      cases.push([[onnxFile], /an \.onnx file needs its card: --card/]);
      cases.push([
        [path.join(path.dirname(onnxFile), 'backbone.json')],
        /neither a folder nor an \.onnx file/,
      ]);
      for (const [args, message] of cases) {
        const r = await edge.run(['backbones', 'import', ...args]);
        expect(r.code, r.err).toBe(2);
        expect(r.err).toMatch(message);
        expect(r.err.trimEnd().split('\n'), r.err).toHaveLength(1);
      }
      expect(edge.seen).toEqual([]);
    } finally {
      await edge.close();
    }
  });

  it('refuses a model over 32 MB before uploading, and takes one of exactly 32 MB', async () => {
    const dir = await backboneFolder();
    const model = path.join(dir, 'model.onnx');
    await truncate(model, MAX_BACKBONE_BYTES);
    expect(await readBackboneUpload(dir, undefined)).toMatchObject({
      modelFile: model,
      modelBytes: MAX_BACKBONE_BYTES,
      cardFile: path.join(dir, 'backbone.json'),
      cardText: JSON.stringify(card),
    });
    await truncate(model, MAX_BACKBONE_BYTES + 1);
    const edge = await fakeEdge(() => ({ status: 500 }));
    try {
      const r = await edge.run(['backbones', 'import', dir]);
      expect(r.code).toBe(2);
      expect(r.err).toBe(
        `headstart: ${model} is ${MAX_BACKBONE_BYTES + 1} bytes, over the ${MAX_BACKBONE_BYTES}-byte (32 MiB) limit for a backbone (the edge isolate has 128 MB for everything)\n`,
      );
      expect(edge.seen).toEqual([]);
    } finally {
      await edge.close();
    }
  });

  it('uploads the model and its card as one form, prints a summary or the manifest', async () => {
    const edge = await fakeEdge(() => ({ status: 201, body: { ...manifest(), name: 'my-mnv2' } }));
    try {
      // A separate card beside an .onnx file elsewhere, as --card names it.
      const dir = await backboneFolder();
      const cardFile = path.join(await tempDir('cli-card'), 'card.json');
      const cardText = JSON.stringify(card, null, 2);
      await writeFile(cardFile, cardText);
      const r = await edge.run([
        'backbones',
        'import',
        path.join(dir, 'model.onnx'),
        '--card',
        cardFile,
      ]);
      expect(r.code, r.err).toBe(0);
      expect(edge.seen).toHaveLength(1);
      const req = edge.seen[0]!;
      expect([req.method, req.url, req.headers.authorization]).toEqual([
        'POST',
        '/v1/backbones',
        'Bearer k',
      ]);
      expect(req.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
      const form = await formOf(req);
      const model = form.get('model');
      expect(model).toBeInstanceOf(File);
      expect((model as File).name).toBe('model.onnx');
      expect(new Uint8Array(await (model as File).arrayBuffer())).toEqual(modelBytes);
      // Sent as a string field (multipart turns its line breaks into CRLF: still the same JSON).
      expect(typeof form.get('card')).toBe('string');
      expect(JSON.parse(form.get('card') as string)).toEqual(card);
      expect(r.out).toBe(
        [
          'Backbone my-mnv2 "My MobileNetV2"',
          '  embedding   1280',
          '  parameters  2,257,984',
          '  weights     9.0 MB, float (every strategy)',
          '  blocks      4 (2 where a fine-tune can start)',
          'Use it as --backbone my-mnv2 (finetune) and --model my-mnv2 (classify).',
          '',
        ].join('\n'),
      );
      const json = await edge.run(['backbones', 'import', dir, '--json']);
      expect(json.code, json.err).toBe(0);
      expect(JSON.parse(json.out)).toMatchObject({ name: 'my-mnv2', id: `${TENANT}/my-mnv2` });
      // The folder's own backbone.json went as the card.
      const second = await formOf(edge.seen[1]!);
      expect(second.get('card')).toBe(JSON.stringify(card));
      expect(new Uint8Array(await (second.get('model') as File).arrayBuffer())).toEqual(modelBytes);
    } finally {
      await edge.close();
    }
  });

  it('prints the edge’s refusal as one line, and never repeats an import', async () => {
    const refusal = problem(
      422,
      'unsupported_operator',
      'operator "Foo" is not supported',
      'form.model',
    );
    const edge = await fakeEdge((_req, n) =>
      n === 1 ? { status: 422, body: refusal } : { status: 503, body: {} },
    );
    try {
      const dir = await backboneFolder();
      const r = await edge.run(['backbones', 'import', dir]);
      expect(r.code).toBe(1);
      // A progress note, then the refusal on one line.
      expect(r.err.split('\n')).toEqual([
        expect.stringMatching(/^uploading .*model\.onnx \(0\.0 kB\) with its card/),
        'headstart: operator "Foo" is not supported (unsupported_operator, form.model)',
        '',
      ]);
      expect(r.out).toBe('');
      // A 5xx may come after the edge stored it: a second try would only say backbone_exists.
      const again = await edge.run(['backbones', 'import', dir]);
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/\nheadstart: POST \/v1\/backbones answered HTTP 503.*\n$/);
      expect(edge.seen).toHaveLength(2);
    } finally {
      await edge.close();
    }
  });

  it('lists the catalogue and the tenant’s backbones as a table or CSV', async () => {
    const { id2label: _none, ...rest } = { ...manifest(), id2label: undefined };
    const catalogue = {
      ...rest,
      id: 'mobilenet-v2-1.0',
      name: 'mobilenet-v2-1.0',
      owner: 'catalogue',
      numLabels: 1000,
      parameters: 3_538_984,
      onnx: { ...rest.onnx, bytes: 14_180_000 },
      measured: { edgeInferenceMs: 21.456, nodeInferenceMs: 9 },
    };
    const own = {
      ...manifest({ quantized: true, bytes: 3_950_000 }),
      name: 'my-mnv2',
      owner: 'tenant',
      numLabels: 0,
      measured: null,
    };
    const edge = await fakeEdge(() => ({ status: 200, body: { backbones: [catalogue, own] } }));
    try {
      const table = await edge.run(['backbones', 'list']);
      expect(table.code, table.err).toBe(0);
      expect(table.out).toBe(
        [
          'name              owner      embedding  parameters    MB  quantized  edge ms',
          'mobilenet-v2-1.0  catalogue       1280      3.54 M  14.2  no            21.5',
          'my-mnv2           tenant          1280      2.26 M   4.0  yes              -',
          '',
        ].join('\n'),
      );
      const csv = await edge.run(['backbones', 'list', '--format', 'csv']);
      expect(csv.out).toBe(
        [
          'name,owner,embedding,parameters,MB,quantized,edge ms',
          'mobilenet-v2-1.0,catalogue,1280,3538984,14.2,no,21.5',
          'my-mnv2,tenant,1280,2257984,4.0,yes,',
          '',
        ].join('\n'),
      );
      const json = await edge.run(['backbones', 'list', '--format', 'json']);
      expect((JSON.parse(json.out) as { name: string }[]).map((b) => b.name)).toEqual([
        'mobilenet-v2-1.0',
        'my-mnv2',
      ]);
      expect(edge.seen.map((r) => `${r.method} ${r.url}`)).toEqual(
        Array(3).fill('GET /v1/backbones'),
      );
    } finally {
      await edge.close();
    }
  });

  it('deletes a backbone, and reports one still in use as one line', async () => {
    const inUse = problem(
      409,
      'backbone_in_use',
      '"my-mnv2" is still used by heads head_1 (delete them, and the aliases pointing at them, first)',
      'path.name',
    );
    const edge = await fakeEdge((_req, n) =>
      n === 1 ? { status: 409, body: inUse } : { status: 204 },
    );
    try {
      const refused = await edge.run(['backbones', 'delete', 'my-mnv2']);
      expect(refused.code).toBe(1);
      expect(refused.err).toBe(
        'headstart: "my-mnv2" is still used by heads head_1 (delete them, and the aliases pointing at them, first) (backbone_in_use, path.name)\n',
      );
      const done = await edge.run(['backbones', 'delete', 'my-mnv2']);
      expect(done).toMatchObject({ code: 0, out: 'deleted backbone my-mnv2\n' });
      expect(edge.seen.map((r) => `${r.method} ${r.url}`)).toEqual([
        'DELETE /v1/backbones/my-mnv2',
        'DELETE /v1/backbones/my-mnv2',
      ]);
      expect((await edge.run(['backbones', 'delete'])).code).toBe(2);
    } finally {
      await edge.close();
    }
  });
});
