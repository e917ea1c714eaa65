// A private local edge for tests and benchmarks: its own state directory, the D1 schema, the
// backbones in its R2, a tenant key and a worker token, served by wrangler's dev server.
import { execFileSync } from 'node:child_process';
import { getPlatformProxy, unstable_startWorker } from 'wrangler';
import { createTenant, createWorkerToken, type D1Like } from '../../src/shared/tenants.js';
import { importBackbones, type ModelBucket } from '../models/import.js';

export interface LocalEdge {
  readonly url: string;
  readonly apiKey: string;
  readonly workerToken: string;
  /** Stops the dev server (state stays in `stateDir`). */
  stop(): Promise<void>;
}

/** Applies migrations and seeds the state directory; returns fresh credentials. */
export async function prepareState(
  stateDir: string,
  opts: { modelsSource: string; modelsOut: string },
) {
  execFileSync(
    'npx',
    ['wrangler', 'd1', 'migrations', 'apply', 'headstart', '--local', '--persist-to', stateDir],
    {
      stdio: 'ignore',
      env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
    },
  );
  const proxy = await getPlatformProxy<{ MODELS: ModelBucket; DB: D1Like }>({
    configPath: 'wrangler.toml',
    persist: { path: `${stateDir}/v3` },
  });
  try {
    await importBackbones({
      source: opts.modelsSource,
      out: opts.modelsOut,
      bucket: proxy.env.MODELS,
    });
    const { apiKey } = await createTenant(proxy.env.DB, { name: 'local', keyName: 'local' });
    const workerToken = await createWorkerToken(proxy.env.DB, 'local-worker');
    return { apiKey, workerToken };
  } finally {
    await proxy.dispose();
  }
}

/**
 * Starts the edge from wrangler.toml on a free port over `stateDir`.
 *
 * @example
 * const edge = await startLocalEdge(dir, { modelsSource: '../shared/models', modelsOut: 'models' });
 * await fetch(`${edge.url}/healthz`);
 * await edge.stop();
 */
export async function startLocalEdge(
  stateDir: string,
  opts: { modelsSource: string; modelsOut: string },
): Promise<LocalEdge> {
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
  process.env.WRANGLER_SEND_METRICS ??= 'false';
  const credentials = await prepareState(stateDir, opts);
  const worker = await unstable_startWorker({
    config: 'wrangler.toml',
    dev: {
      persist: stateDir,
      server: { hostname: '127.0.0.1', port: 0 },
      inspector: false,
      logLevel: 'warn',
      watch: false,
    },
  });
  const url = (await worker.url).href.replace(/\/$/, '');
  return { url, ...credentials, stop: () => worker.dispose() };
}
