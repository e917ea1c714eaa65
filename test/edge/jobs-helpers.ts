// Shared setup for job tests: tenants with keys, worker tokens, datasets, and API calls.
import { SELF, applyD1Migrations, reset } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { newId } from '../../src/shared/secrets.js';
import { createTenant, createWorkerToken } from '../../src/shared/tenants.js';
import { DatasetManifestSchema, datasetKeys } from '../../src/shared/datasets.js';
import type { JobView, LeaseGrant } from '../../src/shared/jobs.js';
import { seedManifests } from './fixtures.js';

export async function tenant(name = 'acme') {
  return createTenant(env.DB, { name, keyName: 'test' });
}

export const workerToken = () => createWorkerToken(env.DB, 'test-worker');

/** A ready dataset owned by `tenantId`, with a manifest in R2 for the internal endpoints. */
export async function dataset(tenantId: string): Promise<string> {
  const id = newId('ds');
  await env.DB.prepare(
    "INSERT INTO datasets (id, tenant_id, name, status, image_count, class_count, created_at) VALUES (?, ?, 'test', 'ready', 2, 2, ?)",
  )
    .bind(id, tenantId, new Date().toISOString())
    .run();
  const manifest = DatasetManifestSchema.parse({
    formatVersion: 1,
    id,
    tenant: tenantId,
    createdAt: new Date().toISOString(),
    classes: ['a', 'b'],
    split: { source: 'archive' },
    images: { train: [], val: [] },
    counts: { train: { a: 0, b: 0 }, val: { a: 0, b: 0 } },
    rejected: [],
    ignored: 0,
  });
  await env.DATASETS.put(datasetKeys(id).manifest, JSON.stringify(manifest));
  return id;
}

export interface Call {
  status: number;
  headers: Headers;
  body: unknown;
}

export async function call(
  path: string,
  init: {
    method?: string;
    key?: string;
    json?: unknown;
    headers?: Record<string, string>;
    body?: BodyInit;
  } = {},
): Promise<Call> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  let body = init.body;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  }
  const res = await SELF.fetch(`https://edge.test${path}`, {
    method: init.method ?? (body ? 'POST' : 'GET'),
    headers,
    body,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (SSE, empty)
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export const asJob = (c: Call) => c.body as JobView;
export const asGrant = (c: Call) => c.body as LeaseGrant;
export const problemOf = (c: Call) => c.body as { code: string; field?: string; detail: string };

/** Polls until `check` returns a value (the queue consumer runs asynchronously). */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Leases the next job as a worker (waits up to `waitSeconds`). */
export async function lease(
  token: string,
  opts: { waitSeconds?: number; leaseSeconds?: number; workerId?: string; provider?: string } = {},
) {
  return call('/internal/v1/leases', {
    key: token,
    json: { waitSeconds: opts.waitSeconds ?? 5, ...opts },
  });
}

/**
 * Empties every binding, recreates the D1 schema and puts the catalogue's manifests back (as
 * models:import leaves them): each test builds its own data.
 */
export async function freshState(): Promise<void> {
  await reset();
  await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
  await seedManifests();
}

/** Leases the next job, polling until the queue consumer has registered one. */
export async function leaseOne(
  token: string,
  opts: { waitSeconds?: number; leaseSeconds?: number } = {},
) {
  return asGrant(
    await eventually(async () => {
      const res = await lease(token, opts);
      return res.status === 200 ? res : undefined;
    }),
  );
}
