// `npm start`: the whole system on its embedded defaults — backbones imported into the local R2,
// then `wrangler dev` serving the edge. Ctrl-C stops everything it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { getPlatformProxy } from 'wrangler';
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

async function importModels(): Promise<void> {
  const proxy = await getPlatformProxy<{ MODELS: ModelBucket }>({
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
  await importModels();
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
  await mkdir('.headstart', { recursive: true });
  const local = { url: URL_BASE, docsUrl: `${URL_BASE}/docs` };
  await writeFile('.headstart/local.json', `${JSON.stringify(local, null, 2)}\n`);
  console.log(
    [
      '',
      'Headstart is running locally.',
      `  edge:  ${local.url}`,
      `  docs:  ${local.docsUrl}`,
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
