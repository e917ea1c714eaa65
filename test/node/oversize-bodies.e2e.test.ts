// Streamed (chunked) bodies over each route's limit, sent over real HTTP to a running `wrangler
// dev` edge: every body-reading route answers a complete 413 problem+json, and the edge keeps
// serving — the next normal request succeeds, also after 8 oversize streams at once. (Cancelling
// a half-read body used to leave the connection broken: the next request got wrangler's
// "503 Your worker restarted mid-request".)
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { CLASSIFY_LIMITS } from '../../src/shared/api.js';
import { DEFAULT_DATASET_LIMITS } from '../../src/shared/datasets.js';
import { MAX_HEAD_BYTES } from '../../src/shared/heads.js';
import { MAX_JSON_BYTES } from '../../src/edge/http/json.js';
import { DATASETS_DIR, MODELS_SOURCE, TEST_CACHE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const MiB = 1024 * 1024;
const BEE = path.join(DATASETS_DIR, 'hymenoptera_data', 'val', 'bees', '10870992_eebeeb3a12.jpg');

let edge: LocalEdge;
let datasetId: string;
/** A job this test holds the lease of (no worker runs here), for the worker routes. */
let held: { jobId: string; leaseToken: string };
let photo: Uint8Array<ArrayBuffer>;

interface Route {
  readonly method: 'POST' | 'PUT';
  readonly path: () => string;
  readonly type: string;
  readonly limit: number;
  readonly code: string;
  readonly credential: 'key' | 'worker' | 'none';
  readonly headers?: () => Record<string, string>;
}

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'multipart/form-data; boundary=headstart-test';

/** Every route that reads a request body, with its limit and the code its refusal carries. */
const ROUTES: Record<string, Route> = {
  'POST /v1/classify': {
    method: 'POST',
    path: () => '/v1/classify',
    type: 'image/jpeg',
    limit: CLASSIFY_LIMITS.maxBodyBytes,
    code: 'body_too_large',
    credential: 'key',
  },
  'POST /v1/classify (multipart)': {
    method: 'POST',
    path: () => '/v1/classify',
    type: FORM_TYPE,
    limit: CLASSIFY_LIMITS.maxBodyBytes,
    code: 'body_too_large',
    credential: 'none',
  },
  'POST /v1/classify/batch': {
    method: 'POST',
    path: () => '/v1/classify/batch',
    type: FORM_TYPE,
    limit: CLASSIFY_LIMITS.maxBatchBodyBytes,
    code: 'body_too_large',
    credential: 'key',
  },
  'POST /v1/datasets': {
    method: 'POST',
    path: () => '/v1/datasets',
    type: 'application/zip',
    limit: DEFAULT_DATASET_LIMITS.maxArchiveBytes,
    code: 'archive_too_large',
    credential: 'key',
  },
  'POST /v1/datasets/{id}/images': {
    method: 'POST',
    path: () => `/v1/datasets/${datasetId}/images`,
    type: FORM_TYPE,
    limit: DEFAULT_DATASET_LIMITS.maxImageBytes + 64 * 1024,
    code: 'body_too_large',
    credential: 'key',
  },
  'POST /v1/fine-tunes': {
    method: 'POST',
    path: () => '/v1/fine-tunes',
    type: JSON_TYPE,
    limit: MAX_JSON_BYTES,
    code: 'body_too_large',
    credential: 'key',
  },
  'POST /v1/fine-tunes/batch': {
    method: 'POST',
    path: () => '/v1/fine-tunes/batch',
    type: JSON_TYPE,
    limit: MAX_JSON_BYTES,
    code: 'body_too_large',
    credential: 'key',
  },
  'PUT /v1/aliases/{name}': {
    method: 'PUT',
    path: () => '/v1/aliases/production',
    type: JSON_TYPE,
    limit: MAX_JSON_BYTES,
    code: 'body_too_large',
    credential: 'key',
  },
  'POST /v1/lessons/{id}/quiz': {
    method: 'POST',
    path: () => '/v1/lessons/cv-transfer-learning/quiz',
    type: JSON_TYPE,
    limit: MAX_JSON_BYTES,
    code: 'body_too_large',
    credential: 'none',
  },
  'POST /internal/v1/leases': {
    method: 'POST',
    path: () => '/internal/v1/leases',
    type: JSON_TYPE,
    limit: MAX_JSON_BYTES,
    code: 'body_too_large',
    credential: 'worker',
  },
  'POST /internal/v1/jobs/{id}/heartbeat': {
    method: 'POST',
    path: () => `/internal/v1/jobs/${held.jobId}/heartbeat`,
    type: JSON_TYPE,
    limit: MAX_JSON_BYTES,
    code: 'body_too_large',
    credential: 'worker',
  },
  'POST /internal/v1/jobs/{id}/progress': {
    method: 'POST',
    path: () => `/internal/v1/jobs/${held.jobId}/progress`,
    type: JSON_TYPE,
    limit: MAX_JSON_BYTES,
    code: 'body_too_large',
    credential: 'worker',
  },
  'POST /internal/v1/jobs/{id}/fail': {
    method: 'POST',
    path: () => `/internal/v1/jobs/${held.jobId}/fail`,
    type: JSON_TYPE,
    limit: MAX_JSON_BYTES,
    code: 'body_too_large',
    credential: 'worker',
  },
  'POST /internal/v1/jobs/{id}/dataset/images': {
    method: 'POST',
    path: () => `/internal/v1/jobs/${held.jobId}/dataset/images`,
    type: JSON_TYPE,
    limit: MAX_JSON_BYTES,
    code: 'body_too_large',
    credential: 'worker',
    // The lease is checked before the body is read.
    headers: () => ({ 'x-lease-token': held.leaseToken }),
  },
  'POST /internal/v1/jobs/{id}/complete': {
    method: 'POST',
    path: () => `/internal/v1/jobs/${held.jobId}/complete`,
    type: FORM_TYPE,
    limit: MAX_HEAD_BYTES,
    code: 'body_too_large',
    credential: 'worker',
  },
};

/** `bytes` bytes in 64 KiB chunks, with no length known up front: sent chunked. */
function chunkedBody(bytes: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(0x7b); // "{{{…": neither JSON nor an image
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const part = chunk.subarray(0, Math.min(chunk.length, bytes - sent));
      sent += part.length;
      controller.enqueue(part);
    },
  });
}

function credentialOf(route: Route): Record<string, string> {
  if (route.credential === 'key') return { authorization: `Bearer ${edge.apiKey}` };
  if (route.credential === 'worker') return { authorization: `Bearer ${edge.workerToken}` };
  return {};
}

/** Sends `route` a chunked body 1 MiB over its limit; returns the status and the parsed body. */
async function sendOversize(
  route: Route,
): Promise<{ status: number; type: string; body: unknown }> {
  const init: RequestInit & { duplex: 'half' } = {
    method: route.method,
    headers: { 'content-type': route.type, ...credentialOf(route), ...route.headers?.() },
    body: chunkedBody(route.limit + MiB),
    duplex: 'half',
  };
  const res = await fetch(`${edge.url}${route.path()}`, init);
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: JSON.parse(text) as unknown,
  };
}

/** A normal classification of a real photo: what a client sends next. */
async function classifyPhoto(): Promise<number> {
  const res = await fetch(`${edge.url}/v1/classify`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg' },
    body: photo,
  });
  const body = (await res.json()) as { predictions?: unknown[] };
  expect(body.predictions?.length, JSON.stringify(body)).toBeGreaterThan(0);
  return res.status;
}

beforeAll(async () => {
  edge = await startLocalEdge(await tempDir('oversize-edge'), {
    modelsSource: MODELS_SOURCE,
    modelsOut: TEST_MODELS,
  });
  photo = new Uint8Array(await readFile(BEE));
  const upload = await fetch(`${edge.url}/v1/datasets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${edge.apiKey}`, 'content-type': 'application/zip' },
    body: new Uint8Array(await readFile(path.join(TEST_CACHE, 'datasets', 'noval.zip'))),
  });
  expect(upload.status).toBe(201);
  datasetId = ((await upload.json()) as { id: string }).id;
  const submitted = await fetch(`${edge.url}/v1/fine-tunes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${edge.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ datasetId }),
  });
  expect(submitted.status).toBe(201);
  for (let i = 0; i < 10 && !held; i++) {
    const lease = await fetch(`${edge.url}/internal/v1/leases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${edge.workerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ waitSeconds: 5 }),
    });
    if (lease.status === 200) held = (await lease.json()) as typeof held;
  }
  expect(held?.leaseToken).toBeTruthy();
  expect(await classifyPhoto()).toBe(200);
}, 180_000);

afterAll(async () => {
  await edge?.stop();
});

describe('a streamed body over the limit', () => {
  for (const [name, route] of Object.entries(ROUTES)) {
    it(`${name}: a complete 413 problem, and the edge keeps serving`, async () => {
      const refused = await sendOversize(route);
      expect(refused.status, JSON.stringify(refused.body)).toBe(413);
      expect(refused.type).toContain('application/problem+json');
      expect(refused.body).toMatchObject({ status: 413, code: route.code, field: 'body' });
      expect(await classifyPhoto()).toBe(200);
      expect(await classifyPhoto()).toBe(200);
    }, 120_000);
  }

  it('8 oversize streams at once beside normal requests: all 413, every normal one answered', async () => {
    const senders = [
      'POST /v1/classify',
      'POST /v1/classify/batch',
      'POST /v1/fine-tunes',
      'POST /v1/lessons/{id}/quiz',
      'POST /v1/classify',
      'POST /v1/datasets/{id}/images',
      'PUT /v1/aliases/{name}',
      'POST /internal/v1/leases',
    ].map((name) => sendOversize(ROUTES[name]!));
    const normal: Promise<number>[] = [];
    for (let i = 0; i < 8; i++) normal.push(classifyPhoto());
    const refused = await Promise.all(senders);
    expect(refused.map((r) => r.status)).toEqual(Array(8).fill(413));
    expect(await Promise.all(normal)).toEqual(Array(8).fill(200));
    for (let i = 0; i < 4; i++) expect(await classifyPhoto()).toBe(200);
  }, 180_000);
});
