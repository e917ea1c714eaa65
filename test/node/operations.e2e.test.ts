// Operating Headstart, end to end against a local system (a private edge, the CLI as a child
// process, and a worker started with a token the admin API issued): an operator creates a tenant;
// the tenant rotates its key; a worker token issued over the API leases and completes a job and
// shows up among the connected workers; revoking it and disabling the tenant take effect at once.
// And each credential works only where it belongs.
import { spawn } from 'node:child_process';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { DATASETS_DIR, MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { startInProcessWorker, type InProcessWorker } from '../support/worker.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CLI = path.join(ROOT, 'src', 'cli', 'main.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const HYMENOPTERA = path.join(DATASETS_DIR, 'hymenoptera_data');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let edge: LocalEdge | undefined;
let worker: InProcessWorker | undefined;
let home: string;

/** `headstart …args` with only the environment given (no outer HEADSTART_* or config file). */
function cli(args: readonly string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
      cwd: home,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        LANG: 'C.UTF-8',
        HEADSTART_URL: edge!.url,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

async function ok(args: readonly string[], env: Record<string, string>): Promise<string> {
  const run = await cli(args, env);
  expect(
    run.code,
    `headstart ${args.join(' ')}: exit ${run.code}\n${run.stdout}\n${run.stderr}\n${(worker?.logs ?? []).slice(-10).join('\n')}`,
  ).toBe(0);
  return run.stdout;
}

/** The admin token's environment, and a tenant key's. */
const asAdmin = () => ({ HEADSTART_ADMIN_TOKEN: edge!.adminToken });
const asTenant = (apiKey: string) => ({ HEADSTART_API_KEY: apiKey });

async function status(route: string, credential: string, init: RequestInit = {}) {
  const res = await fetch(`${edge!.url}${route}`, {
    ...init,
    headers: { authorization: `Bearer ${credential}`, ...init.headers },
  });
  const body = (await res.json().catch(() => null)) as { title?: string; detail?: string } | null;
  return { status: res.status, type: res.headers.get('content-type'), body };
}

/** A small two-class ImageFolder (12 + 12 training, 6 + 6 validation photos) from hymenoptera. */
async function smallDataset(): Promise<string> {
  const root = await tempDir('ops-e2e-dataset');
  for (const [split, count] of [
    ['train', 12],
    ['val', 6],
  ] as const) {
    for (const label of ['ants', 'bees']) {
      const from = path.join(HYMENOPTERA, split, label);
      const to = path.join(root, split, label);
      await mkdir(to, { recursive: true });
      const names = (await readdir(from)).filter((n) => n.endsWith('.jpg')).sort();
      for (const name of names.slice(0, count))
        await copyFile(path.join(from, name), path.join(to, name));
    }
  }
  return root;
}

beforeAll(async () => {
  home = await tempDir('ops-e2e-home');
  edge = await startLocalEdge(await tempDir('ops-e2e-edge'), {
    modelsSource: MODELS_SOURCE,
    modelsOut: TEST_MODELS,
  });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  await edge?.stop();
}, 30_000);

describe('operating a local system with the admin API and the CLI', () => {
  let firstKey = '';
  let secondKey = '';
  let tenantId = '';
  let workerTokenId = '';

  it('the admin token creates a tenant whose key works', async () => {
    const out = await ok(['admin', 'tenants', 'create', 'acme', '--key-name', 'first'], asAdmin());
    tenantId = /^tenant (ten_[\w-]+) "acme", key /m.exec(out)?.[1] ?? '';
    expect(tenantId, out).not.toBe('');
    expect(out).toContain('shown once');
    firstKey = out.trim().split('\n').at(-1)!;
    expect(firstKey).toMatch(/^hs_key_/);

    const list = JSON.parse(await ok(['keys', 'list', '--format', 'json'], asTenant(firstKey))) as {
      name: string;
      current: boolean;
    }[];
    expect(list.map((k) => [k.name, k.current])).toEqual([['first', true]]);
    const tenants = JSON.parse(
      await ok(['admin', 'tenants', 'list', '--format', 'json'], asAdmin()),
    ) as { id: string; name: string; activeKeys: number }[];
    expect(tenants.find((t) => t.id === tenantId)).toMatchObject({ name: 'acme', activeKeys: 1 });
  });

  it('the tenant creates a second key itself and revokes the first, refused on its next request', async () => {
    secondKey = (
      await ok(['keys', 'create', 'rotated', '--secret-only'], asTenant(firstKey))
    ).trim();
    expect(secondKey).toMatch(/^hs_key_[\w-]+$/);
    const keys = JSON.parse(
      await ok(['keys', 'list', '--format', 'json'], asTenant(secondKey)),
    ) as {
      id: string;
      name: string;
    }[];
    const first = keys.find((k) => k.name === 'first')!;
    expect((await status('/v1/datasets', firstKey)).status).toBe(200);
    await ok(['keys', 'revoke', first.id], asTenant(secondKey));

    const refused = await status('/v1/datasets', firstKey);
    expect(refused.status).toBe(401);
    expect(refused.type).toContain('application/problem+json');
    expect((await status('/v1/datasets', secondKey)).status).toBe(200);

    // The CLI says so in one line, and the last key stays unless asked twice.
    const denied = await cli(['datasets', 'list'], asTenant(firstKey));
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/401|revoked|not valid|unauthori[sz]ed/i);
    const second = keys.find((k) => k.name === 'rotated')!;
    const last = await cli(['keys', 'revoke', second.id], asTenant(secondKey));
    expect(last.code).not.toBe(0);
    expect(last.stderr).toMatch(/last/i);
    expect((await status('/v1/datasets', secondKey)).status).toBe(200);
  });

  it('a worker token issued by the admin API leases and completes a job, and the worker is listed', async () => {
    const issued = await ok(['admin', 'worker-tokens', 'issue', 'ops-e2e'], asAdmin());
    workerTokenId = /^(wtk_[\w-]+) "ops-e2e"/m.exec(issued)?.[1] ?? '';
    expect(workerTokenId, issued).not.toBe('');
    const token = issued.trim().split('\n').at(-1)!;
    expect(token).toMatch(/^hs_worker_/);
    worker = await startInProcessWorker(
      { url: edge!.url, workerToken: token },
      { workerId: 'ops-e2e-worker' },
    );

    const upload = await ok(
      ['datasets', 'upload', await smallDataset(), '--name', 'small'],
      asTenant(secondKey),
    );
    const datasetId = /Dataset (ds_[\w-]+) "small": 2 classes/.exec(upload)?.[1] ?? '';
    expect(datasetId, upload).not.toBe('');
    const jobId = (
      await ok(['finetune', 'submit', '--dataset', datasetId, '--epochs', '3'], asTenant(secondKey))
    ).trim();
    expect(jobId).toMatch(/^job_/);
    const watch = await ok(['jobs', 'watch', jobId], asTenant(secondKey));
    expect(watch).toMatch(/succeeded/);

    const workers = JSON.parse(await ok(['admin', 'workers', '--format', 'json'], asAdmin())) as {
      workerId: string;
      tokenName: string;
      provider: string | null;
      lastSeenAt: string;
    }[];
    const seen = workers.find((w) => w.workerId === 'ops-e2e-worker');
    expect(seen, JSON.stringify(workers)).toMatchObject({ tokenName: 'ops-e2e', provider: 'cpu' });
    expect(Date.now() - Date.parse(seen!.lastSeenAt)).toBeLessThan(5 * 60_000);

    const usage = JSON.parse(
      await ok(['admin', 'usage', tenantId, '--format', 'json'], asAdmin()),
    ) as { datasets: number; jobs: Record<string, number>; heads: number; requestsLastDay: number };
    expect(usage).toMatchObject({ datasets: 1, jobs: { succeeded: 1 }, heads: 1 });
    expect(usage.requestsLastDay).toBeGreaterThan(3);
  }, 240_000);

  it('a revoked worker token is refused on the worker’s next lease', async () => {
    await worker?.stop();
    worker = undefined;
    const token = (
      await ok(['admin', 'worker-tokens', 'issue', 'short-lived', '--secret-only'], asAdmin())
    ).trim();
    const lease = () =>
      status('/internal/v1/leases', token, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workerId: 'short-lived', waitSeconds: 0 }),
      });
    expect([200, 204]).toContain((await lease()).status);
    const tokens = JSON.parse(
      await ok(['admin', 'worker-tokens', 'list', '--format', 'json'], asAdmin()),
    ) as { id: string; name: string }[];
    const id = tokens.find((t) => t.name === 'short-lived')!.id;
    await ok(['admin', 'worker-tokens', 'revoke', id], asAdmin());
    expect((await lease()).status).toBe(401);
  });

  it('each credential works only where it belongs', async () => {
    const adminOnTenant = await status('/v1/datasets', edge!.adminToken);
    expect(adminOnTenant.status).toBe(401);
    expect(adminOnTenant.type).toContain('application/problem+json');
    const tenantOnAdmin = await status('/admin/v1/tenants', secondKey);
    expect(tenantOnAdmin.status).toBe(401);
    expect(tenantOnAdmin.type).toContain('application/problem+json');
    expect((await status('/admin/v1/tenants', edge!.workerToken)).status).toBe(401);
    expect((await status('/internal/v1/leases', edge!.adminToken, { method: 'POST' })).status).toBe(
      401,
    );
    // The CLI refuses an admin command without an admin token before sending anything.
    const noToken = await cli(['admin', 'tenants', 'list'], asTenant(secondKey));
    expect(noToken.code).not.toBe(0);
    expect(noToken.stderr).toMatch(/admin token/i);
  });

  it('disabling the tenant refuses its keys at once; enabling lets them back', async () => {
    await ok(['admin', 'tenants', 'disable', tenantId], asAdmin());
    const refused = await status('/v1/datasets', secondKey);
    expect(refused.status).toBe(401);
    expect(refused.type).toContain('application/problem+json');
    const enabled = await ok(['admin', 'tenants', 'enable', tenantId], asAdmin());
    expect(enabled).toContain(`enabled ${tenantId} "acme" (1 active key(s))`);
    expect((await status('/v1/datasets', secondKey)).status).toBe(200);
  });
});
