// `npm start`: the whole system on its embedded defaults — the local D1 schema, backbones in the
// local R2, a development API key, `wrangler dev` serving the edge, and one worker (on CPU)
// taking its jobs. Prints the URL, the docs URL and the key, and writes them to
// .headstart/local.json for scripts. Ctrl-C stops everything it started.
//
// Environment (all optional): HEADSTART_PORT (8787), HEADSTART_STATE_DIR (.wrangler/state),
// HEADSTART_LOCAL_FILE (.headstart/local.json), HEADSTART_INSPECTOR_PORT (a free one),
// HEADSTART_MODELS_SOURCE (../shared/models or a
// URL), and the worker's own HEADSTART_* settings, passed through.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { stripVTControlCharacters } from 'node:util';
import { z } from 'zod';
import { openStorageProxy } from './lib/storage-proxy.js';
import { hashSecret } from '../src/shared/secrets.js';
import {
  createAdminToken,
  createTenant,
  createWorkerToken,
  type D1Like,
} from '../src/shared/tenants.js';
import { DEFAULT_OUT, DEFAULT_SOURCE, importBackbones, type ModelBucket } from './models/import.js';

const PORT = Number(process.env.HEADSTART_PORT ?? '8787');
const HOST = '127.0.0.1';
const URL_BASE = `http://${HOST}:${PORT}`;
const STATE_DIR = process.env.HEADSTART_STATE_DIR ?? '.wrangler/state';
const LOCAL_FILE = process.env.HEADSTART_LOCAL_FILE ?? '.headstart/local.json';
const QUIET_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
};

/** Children run in their own process groups, so stopping one also stops what it spawned. */
const children = new Set<ChildProcess>();
let stopping = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopAll(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  const running = [...children];
  // The worker first: it releases its lease while the edge can still answer.
  const order = [
    ...running.filter((c) => c !== edgeProcess),
    ...(edgeProcess ? [edgeProcess] : []),
  ];
  for (const child of order) {
    killGroup(child, 'SIGTERM');
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
/** Ctrl-C (SIGINT) and SIGTERM stop everything. Installed after wrangler's local proxy is gone,
 * replacing the exit hooks it registers (they would end this process before its children). */
function handleSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => {
      console.log(`[start] ${signal}: stopping the worker and the edge`);
      void stopAll(0);
    });
  }
}
handleSignals();

/**
 * wrangler's request log lines for the worker's own traffic (long polls every 20 s, heartbeats,
 * dataset pages) when they succeeded: noise to a person reading the console. Errors stay.
 */
const ROUTINE_LINE = /\[wrangler:info\] (GET|POST|PUT) \/internal\/v1\/\S+ 2\d\d /;

function start(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { hideLine?: (line: string) => boolean } = {},
): ChildProcess {
  const child = spawn(command, args, {
    stdio: ['ignore', opts.hideLine ? 'pipe' : 'inherit', 'inherit'],
    env: { ...process.env, ...QUIET_ENV, ...env },
    detached: true,
  });
  if (opts.hideLine && child.stdout) {
    const hide = opts.hideLine;
    // Line by line (wrangler colours its lines, so match on the text without escapes).
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      if (!hide(stripVTControlCharacters(line))) process.stdout.write(`${line}\n`);
    });
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const LocalCredentials = z.object({
  apiKey: z.string(),
  workerToken: z.string(),
  adminToken: z.string(),
});

/** Reuses the development key and worker token while they are still in the local D1. */
async function devCredentials(db: D1Like): Promise<z.infer<typeof LocalCredentials>> {
  try {
    const saved = LocalCredentials.parse(JSON.parse(await readFile(LOCAL_FILE, 'utf8')));
    const key = await db
      .prepare('SELECT 1 AS ok FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL')
      .bind(await hashSecret(saved.apiKey))
      .first();
    const worker = await db
      .prepare('SELECT 1 AS ok FROM worker_tokens WHERE token_hash = ? AND revoked_at IS NULL')
      .bind(await hashSecret(saved.workerToken))
      .first();
    const admin = await db
      .prepare('SELECT 1 AS ok FROM admin_tokens WHERE token_hash = ? AND revoked_at IS NULL')
      .bind(await hashSecret(saved.adminToken))
      .first();
    if (key && worker && admin) return saved;
  } catch {
    // no usable saved credentials: make new ones
  }
  const { apiKey } = await createTenant(db, { name: 'local-dev', keyName: 'npm start' });
  return {
    apiKey,
    workerToken: await createWorkerToken(db, 'local-worker'),
    adminToken: (await createAdminToken(db, 'npm start')).token,
  };
}

/** Schema, backbones and credentials in the local state that `wrangler dev` will use. */
async function prepareLocalState(): Promise<z.infer<typeof LocalCredentials>> {
  console.log(`[start] applying the D1 schema in ${STATE_DIR}`);
  execFileSync(
    'npx',
    ['wrangler', 'd1', 'migrations', 'apply', 'headstart', '--local', '--persist-to', STATE_DIR],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...QUIET_ENV, CI: 'true' } },
  );
  const proxy = await openStorageProxy<{ MODELS: ModelBucket; DB: D1Like }>(
    path.join(STATE_DIR, 'v3'),
  );
  try {
    await importBackbones({
      source: DEFAULT_SOURCE,
      out: DEFAULT_OUT,
      bucket: proxy.env.MODELS,
      log: (line) => console.log(`[models] ${line}`),
    });
    return await devCredentials(proxy.env.DB);
  } finally {
    await proxy.dispose();
  }
}

/** A TCP port free on the loopback interface right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) throw new Error('stopped before the edge was up');
    try {
      if ((await fetch(`${URL_BASE}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the edge did not answer ${URL_BASE}/healthz within ${timeoutMs / 1000} s`);
}

let edgeProcess: ChildProcess | undefined;

/** One worker on this edge; restarted (at most 5 times a minute) if it dies on its own. */
function startWorker(workerToken: string, restarts: number[] = []): void {
  const worker = start(process.execPath, ['--import', 'tsx', 'src/gpu-worker/main.ts'], {
    HEADSTART_EDGE_URL: URL_BASE,
    HEADSTART_WORKER_TOKEN: workerToken,
    HEADSTART_WORKER_ID: process.env.HEADSTART_WORKER_ID ?? 'local-worker',
  });
  worker.once('exit', (code, signal) => {
    if (stopping) return;
    const now = Date.now();
    const recent = [...restarts.filter((t) => now - t < 60_000), now];
    console.error(`[start] the worker exited (${signal ?? `code ${code}`})`);
    if (recent.length > 5) {
      console.error('[start] the worker keeps failing; not restarting it (see its log above)');
      return;
    }
    setTimeout(() => {
      if (!stopping) startWorker(workerToken, recent);
    }, 2_000);
  });
}

async function main(): Promise<void> {
  const credentials = await prepareLocalState();
  handleSignals();
  edgeProcess = start(
    process.execPath,
    [
      'node_modules/wrangler/bin/wrangler.js',
      'dev',
      '--ip',
      HOST,
      '--port',
      String(PORT),
      '--persist-to',
      STATE_DIR,
      // wrangler's default devtools port is 9229 for every dev server: a second one on the
      // machine (another checkout, a test) then fails to start. A free port of our own instead.
      '--inspector-port',
      String(process.env.HEADSTART_INSPECTOR_PORT ?? (await freePort())),
      '--show-interactive-dev-session=false',
    ],
    {},
    { hideLine: (line) => ROUTINE_LINE.test(line) },
  );
  edgeProcess.once('exit', (code) => {
    if (stopping) return;
    console.error(`[start] wrangler dev exited with code ${code}; stopping`);
    void stopAll(code || 1);
  });
  await waitForHealth(90_000);
  startWorker(credentials.workerToken);
  await mkdir(path.dirname(LOCAL_FILE), { recursive: true });
  const local = { url: URL_BASE, docsUrl: `${URL_BASE}/docs`, ...credentials };
  await writeFile(LOCAL_FILE, `${JSON.stringify(local, null, 2)}\n`, { mode: 0o600 });
  console.log(
    [
      '',
      'Headstart is running locally.',
      `  edge:     ${local.url}`,
      `  console:  ${local.url}/console (sign in with the key below)`,
      `  docs:     ${local.docsUrl}`,
      `  key:      ${local.apiKey}`,
      `  (also in ${LOCAL_FILE}, with an admin token for headstart admin …)`,
      `  try:      curl -H 'content-type: image/jpeg' --data-binary @photo.jpg ${local.url}/v1/classify`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  console.error(`npm start failed: ${err instanceof Error ? err.message : String(err)}`);
  void stopAll(1);
});
