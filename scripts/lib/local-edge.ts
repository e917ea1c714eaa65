// A private local edge for tests and benchmarks: its own state directory, the D1 schema, the
// backbones in its R2, a tenant key and a worker token, served by wrangler's dev server.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { unstable_startWorker } from 'wrangler';
import { openStorageProxy } from './storage-proxy.js';
import {
  createAdminToken,
  createTenant,
  createWorkerToken,
  type D1Like,
} from '../../src/shared/tenants.js';
import { importBackbones, type ModelBucket } from '../models/import.js';

export interface LocalEdge {
  readonly url: string;
  readonly apiKey: string;
  readonly workerToken: string;
  /** An admin token (the admin API). */
  readonly adminToken: string;
  /** API keys of the extra tenants asked for (`extraTenants`), one tenant each; empty by default. */
  readonly extraApiKeys: readonly string[];
  /** Stops the dev server (state stays in `stateDir`). */
  stop(): Promise<void>;
  /** Stops it and starts a new one over the same state: a fresh isolate (its URL may change). */
  restart(): Promise<LocalEdge>;
}

export interface LocalEdgeOptions {
  modelsSource: string;
  modelsOut: string;
  /** More tenants to create besides the first, each with its own API key (default 0). */
  extraTenants?: number;
  /**
   * Serve a bundle built once at start (as `wrangler deploy` builds it) instead of the sources:
   * the dev server rebuilds and restarts on every source edit, answering in-flight POSTs with
   * 503, which a long benchmark in a busy checkout must not measure (default false).
   */
  frozen?: boolean;
  /** Extra plain-text vars for the Worker (for example `{ DIAGNOSTICS: 'true' }`). */
  vars?: Record<string, string>;
}

/** Applies migrations and seeds the state directory; returns fresh credentials. */
export async function prepareState(stateDir: string, opts: LocalEdgeOptions) {
  execFileSync(
    'npx',
    ['wrangler', 'd1', 'migrations', 'apply', 'headstart', '--local', '--persist-to', stateDir],
    {
      stdio: 'ignore',
      env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
    },
  );
  const proxy = await openStorageProxy<{ MODELS: ModelBucket; DB: D1Like }>(`${stateDir}/v3`);
  try {
    await importBackbones({
      source: opts.modelsSource,
      out: opts.modelsOut,
      bucket: proxy.env.MODELS,
    });
    const { apiKey } = await createTenant(proxy.env.DB, { name: 'local', keyName: 'local' });
    const workerToken = await createWorkerToken(proxy.env.DB, 'local-worker');
    const adminToken = (await createAdminToken(proxy.env.DB, 'local')).token;
    const extraApiKeys: string[] = [];
    for (let i = 1; i <= (opts.extraTenants ?? 0); i++) {
      const tenant = await createTenant(proxy.env.DB, { name: `local-${i}`, keyName: 'local' });
      extraApiKeys.push(tenant.apiKey);
    }
    return { apiKey, workerToken, adminToken, extraApiKeys };
  } finally {
    await proxy.dispose();
  }
}

/** Bundles the Worker into `outDir` as `wrangler deploy` would; returns the entry module. */
function buildBundle(outDir: string): string {
  execFileSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', outDir], {
    stdio: 'ignore',
    env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
  });
  // Not modules: the source map, and a README the Text rule for *.md would pick up.
  for (const name of ['README.md', 'index.js.map'])
    rmSync(path.join(outDir, name), { force: true });
  return path.join(outDir, 'index.js');
}

/**
 * Starts the edge from wrangler.toml on a free port over `stateDir`.
 *
 * @example
 * const edge = await startLocalEdge(dir, { modelsSource: '../shared/models', modelsOut: 'models' });
 * await fetch(`${edge.url}/healthz`);
 * await edge.stop();
 */
export async function startLocalEdge(stateDir: string, opts: LocalEdgeOptions): Promise<LocalEdge> {
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
  process.env.WRANGLER_SEND_METRICS ??= 'false';
  const credentials = await prepareState(stateDir, opts);
  const bundle = opts.frozen ? buildBundle(path.join(stateDir, 'bundle')) : undefined;
  if (opts.frozen) process.env.WRANGLER_CI_DISABLE_CONFIG_WATCHING ??= 'true';
  const serve = async (): Promise<LocalEdge> => {
    const worker = await unstable_startWorker({
      config: 'wrangler.toml',
      ...(bundle ? { entrypoint: bundle, build: { bundle: false } } : {}),
      ...(opts.vars
        ? {
            bindings: Object.fromEntries(
              Object.entries(opts.vars).map(([k, value]) => [k, { type: 'plain_text', value }]),
            ),
          }
        : {}),
      dev: {
        persist: stateDir,
        server: { hostname: '127.0.0.1', port: 0 },
        inspector: false,
        logLevel: 'warn',
        watch: false,
      },
    });
    const url = (await worker.url).href.replace(/\/$/, '');
    return {
      url,
      ...credentials,
      stop: () => worker.dispose(),
      restart: async () => {
        await worker.dispose();
        return serve();
      },
    };
  };
  return serve();
}
