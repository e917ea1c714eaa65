// `npm start`: the whole system on its embedded defaults — the local D1 schema, backbones in the
// local R2, a development API key, `wrangler dev` serving the edge, and one worker taking its
// jobs. Ctrl-C stops everything.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { getPlatformProxy } from 'wrangler';
import { hashSecret } from '../src/shared/secrets.js';
import { createTenant, createWorkerToken, type D1Like } from '../src/shared/tenants.js';
import { DEFAULT_OUT, DEFAULT_SOURCE, importBackbones, type ModelBucket } from './models/import.js';

const PORT = Number(process.env.HEADSTART_PORT ?? '8787');
const HOST = '127.0.0.1';
const URL_BASE = `http://${HOST}:${PORT}`;
const STATE_DIR = '.wrangler/state';

const children: ChildProcess[] = [];
function stopAll(code: number): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  process.exitCode = code;
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

const LOCAL_FILE = '.headstart/local.json';
const LocalCredentials = z.object({ apiKey: z.string(), workerToken: z.string() });

/** Reuses the development key and worker token while they are still in the local D1. */
async function devCredentials(db: D1Like): Promise<z.infer<typeof LocalCredentials>> {
  try {
    const saved = LocalCredentials.parse(JSON.parse(await readFile(LOCAL_FILE, 'utf8')));
    const key = await db
      .prepare('SELECT 1 AS ok FROM api_keys WHERE key_hash = ?')
      .bind(await hashSecret(saved.apiKey))
      .first();
    const worker = await db
      .prepare('SELECT 1 AS ok FROM worker_tokens WHERE token_hash = ?')
      .bind(await hashSecret(saved.workerToken))
      .first();
    if (key && worker) return saved;
  } catch {
    // no usable saved credentials: make new ones
  }
  const { apiKey } = await createTenant(db, { name: 'local-dev', keyName: 'npm start' });
  return { apiKey, workerToken: await createWorkerToken(db, 'local-worker') };
}

/** Schema, backbones and credentials in the local state that `wrangler dev` will use. */
async function prepareLocalState(): Promise<z.infer<typeof LocalCredentials>> {
  execFileSync(
    'npx',
    ['wrangler', 'd1', 'migrations', 'apply', 'headstart', '--local', '--persist-to', STATE_DIR],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
    },
  );
  const proxy = await getPlatformProxy<{ MODELS: ModelBucket; DB: D1Like }>({
    configPath: 'wrangler.toml',
    persist: { path: `${STATE_DIR}/v3` },
  });
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

async function waitForHealth(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${URL_BASE}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the edge did not answer ${URL_BASE}/healthz within ${timeoutMs / 1000} s`);
}

async function main(): Promise<void> {
  const credentials = await prepareLocalState();
  const edge = spawn(
    'npx',
    [
      'wrangler',
      'dev',
      '--ip',
      HOST,
      '--port',
      String(PORT),
      '--persist-to',
      STATE_DIR,
      '--show-interactive-dev-session=false',
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
    },
  );
  children.push(edge);
  edge.on('exit', (code) => {
    if (code !== 0 && code !== null) console.error(`wrangler dev exited with code ${code}`);
    stopAll(code ?? 0);
  });
  await waitForHealth(60_000);
  // One GPU worker (on CPU locally) taking jobs from this edge.
  const worker = spawn('npx', ['tsx', 'src/gpu-worker/main.ts'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      HEADSTART_EDGE_URL: URL_BASE,
      HEADSTART_WORKER_TOKEN: credentials.workerToken,
      HEADSTART_WORKER_ID: 'local-worker',
    },
  });
  children.push(worker);
  worker.on('exit', (code) => {
    if (code !== 0 && code !== null) console.error(`the worker exited with code ${code}`);
  });
  await mkdir('.headstart', { recursive: true });
  const local = { url: URL_BASE, docsUrl: `${URL_BASE}/docs`, ...credentials };
  await writeFile(LOCAL_FILE, `${JSON.stringify(local, null, 2)}\n`, { mode: 0o600 });
  console.log(
    [
      '',
      'Headstart is running locally.',
      `  edge:  ${local.url}`,
      `  docs:  ${local.docsUrl}`,
      `  key:   ${local.apiKey}`,
      `  try:   curl -H 'content-type: image/jpeg' --data-binary @photo.jpg ${local.url}/v1/classify`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  console.error(`npm start failed: ${err instanceof Error ? err.message : String(err)}`);
  stopAll(1);
});
