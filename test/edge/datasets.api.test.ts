// The datasets API in workerd with the real local D1 and R2: upload, report, add, list, delete,
// tenant isolation, and refusals that leave nothing behind.
import { SELF } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/shared/fingerprint.js';
import { fixtureBytes } from './fixtures.js';
import { listKeys } from './datasets-helpers.js';
import { asJob, call, freshState, problemOf, tenant } from './jobs-helpers.js';

beforeEach(freshState);

interface Report {
  id: string;
  name: string;
  classes: string[];
  counts: { train: Record<string, number>; val: Record<string, number> };
  imageCount: { train: number; val: number };
  rejected: { path: string; reason: string }[];
  split: { source: string };
}

const upload = async (key: string, archive: string, query = '') =>
  call(`/v1/datasets${query}`, {
    key,
    body: await fixtureBytes(`datasets/${archive}`),
    headers: { 'content-type': 'application/zip' },
  });

describe('POST /v1/datasets', () => {
  it('ingests the hymenoptera zip and reports counts and the rejected placeholder GIF', async () => {
    const { apiKey } = await tenant();
    const res = await upload(apiKey, 'hymenoptera.zip', '?name=ants-vs-bees');
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(201);
    const report = res.body as Report;
    expect(report).toMatchObject({
      name: 'ants-vs-bees',
      classes: ['ants', 'bees'],
      counts: { train: { ants: 123, bees: 121 }, val: { ants: 70, bees: 83 } },
      imageCount: { train: 244, val: 153 },
      split: { source: 'archive' },
    });
    // The placeholder GIF is the only image refused; the dataset's MANIFEST.tsv sits outside the layout.
    expect(report.rejected.map((r) => [r.path, r.reason])).toEqual([
      ['hymenoptera_data/MANIFEST.tsv', 'outside_layout'],
      ['hymenoptera_data/train/ants/imageNotFound.gif', 'unsupported_format'],
    ]);
    expect(report).not.toHaveProperty('images');
    expect(report).not.toHaveProperty('tenant');

    const again = await call(`/v1/datasets/${report.id}`, { key: apiKey });
    expect((again.body as Report).counts).toEqual(report.counts);
    const list = (await call('/v1/datasets', { key: apiKey })).body as {
      datasets: { id: string; imageCount: number }[];
    };
    expect(list.datasets).toEqual([expect.objectContaining({ id: report.id, imageCount: 397 })]);

    // The dataset is usable by a fine-tune job straight away.
    const job = await call('/v1/fine-tunes', { key: apiKey, json: { datasetId: report.id } });
    expect(asJob(job).status).toBe('queued');
  });

  it('refuses a zip bomb with 413 and leaves no record and no object behind', async () => {
    const { apiKey } = await tenant();
    const res = await upload(apiKey, 'bomb.zip');
    expect(res.status).toBe(413);
    expect(problemOf(res)).toMatchObject({ code: 'archive_too_large', field: 'archive' });
    expect(await listKeys()).toEqual([]);
    expect(
      (await env.DB.prepare('SELECT COUNT(*) AS n FROM datasets').first<{ n: number }>())!.n,
    ).toBe(0);
  });

  it('refuses what is not a zip, streamed or not', async () => {
    const { apiKey } = await tenant();
    expect(problemOf(await upload(apiKey, 'not-a-zip.zip')).code).toBe('invalid_archive');
    const wrongType = await call('/v1/datasets', {
      key: apiKey,
      body: 'x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(problemOf(wrongType)).toMatchObject({
      code: 'unsupported_media_type',
      field: 'header.content-type',
    });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([0x50, 0x4b]));
        controller.close();
      },
    });
    const noLength = await call('/v1/datasets', {
      key: apiKey,
      body: stream,
      headers: { 'content-type': 'application/zip' },
    });
    expect(problemOf(noLength)).toMatchObject({ code: 'invalid_archive', field: 'archive' });
    expect(await listKeys()).toEqual([]);
  });

  it('needs an API key', async () => {
    expect(
      (await call('/v1/datasets', { body: 'x', headers: { 'content-type': 'application/zip' } }))
        .status,
    ).toBe(401);
  });
});

describe('a stored dataset', () => {
  it('takes single labelled images, deduplicated', async () => {
    const { apiKey } = await tenant();
    const { id } = (await upload(apiKey, 'noval.zip')).body as Report;
    const form = () => {
      const f = new FormData();
      f.set('image', new File([new Uint8Array(0)], 'x'));
      return f;
    };
    const add = async (label: string, bytes: Uint8Array) => {
      const f = form();
      f.set('image', new File([bytes], 'photo.jpg', { type: 'image/jpeg' }));
      f.set('label', label);
      return call(`/v1/datasets/${id}/images`, { key: apiKey, body: f });
    };
    // The training photos of bees as listed (the manifest is read through a per-isolate cache).
    const bees = async () =>
      (await call(`/v1/datasets/${id}/images?label=bees&limit=100`, { key: apiKey })).body as {
        images: { path: string }[];
        total: number;
      };
    const before = (await bees()).total;
    const bee = await fixtureBytes('images/bee.jpg');
    const first = await add('bees', bee);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ added: true });
    const listed = await bees();
    expect(listed.total).toBe(before + 1);
    expect(listed.images.at(-1)?.path).toBe('upload');
    const second = await add('bees', bee);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ added: false });
    expect((await bees()).total).toBe(before + 1);
    const bad = await add('../escape', bee);
    expect(problemOf(bad)).toMatchObject({ code: 'invalid_request', field: 'form.label' });
    const gif = await add('bees', await fixtureBytes('images/bee.gif'));
    expect(problemOf(gif)).toMatchObject({ code: 'unsupported_media_type', field: 'form.image' });
  });

  it('is invisible to another tenant and is deleted with everything it stored', async () => {
    const a = await tenant('a');
    const b = await tenant('b');
    const { id } = (await upload(a.apiKey, 'noval.zip')).body as Report;
    expect((await call(`/v1/datasets/${id}`, { key: b.apiKey })).status).toBe(404);
    expect((await call(`/v1/datasets/${id}`, { key: b.apiKey, method: 'DELETE' })).status).toBe(
      404,
    );
    expect(
      ((await call('/v1/datasets', { key: b.apiKey })).body as { datasets: unknown[] }).datasets,
    ).toEqual([]);
    expect((await listKeys(`datasets/${id}/`)).length).toBeGreaterThan(2);

    expect((await call(`/v1/datasets/${id}`, { key: a.apiKey, method: 'DELETE' })).status).toBe(
      204,
    );
    expect((await call(`/v1/datasets/${id}`, { key: a.apiKey })).status).toBe(404);
    expect(await listKeys(`datasets/${id}/`)).toEqual([]);
  });

  it('lists its images a page at a time and serves each as uploaded, to its tenant only', async () => {
    const a = await tenant('a');
    const b = await tenant('b');
    const report = (await upload(a.apiKey, 'noval.zip')).body as Report;
    const id = report.id;
    type Page = {
      images: {
        sha256: string;
        path: string;
        label: string;
        split: string;
        bytes: number;
        format: string;
      }[];
      total: number;
    };
    const page = async (query: string, key = a.apiKey) =>
      call(`/v1/datasets/${id}/images${query}`, { key });
    const first = (await page('?limit=2')).body as Page;
    expect(first.total).toBe(report.imageCount.train);
    expect(first.images).toHaveLength(2);
    expect(first.images.every((image) => image.split === 'train')).toBe(true);
    const second = (await page('?limit=2&offset=1')).body as Page;
    expect(second.images[0]).toEqual(first.images[1]);
    const label = report.classes[1]!;
    const ofClass = (await page(`?split=train&label=${label}&limit=100`)).body as Page;
    expect(ofClass.total).toBe(report.counts.train[label]);
    expect(ofClass.images.map((image) => image.label)).toEqual(
      Array<string>(ofClass.total).fill(label),
    );
    // One image: the stored bytes, whose hash is its name.
    const image = first.images[0]!;
    const bytesOf = (key: string, sha256 = image.sha256) =>
      SELF.fetch(`https://edge.test/v1/datasets/${id}/images/${sha256}`, {
        headers: { authorization: `Bearer ${key}` },
      });
    const res = await bytesOf(a.apiKey);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(`image/${image.format}`);
    expect(res.headers.get('cache-control')).toContain('private');
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.byteLength).toBe(image.bytes);
    expect(await sha256Hex(bytes)).toBe(image.sha256);
    // Another tenant sees neither; bad input names its field.
    expect((await page('', b.apiKey)).status).toBe(404);
    const foreign = await bytesOf(b.apiKey);
    expect(foreign.status).toBe(404);
    await foreign.body?.cancel();
    for (const [query, field] of [
      ['?split=test', 'query.split'],
      [`?label=${'nope'}`, 'query.label'],
      ['?limit=0', 'query.limit'],
      ['?limit=101', 'query.limit'],
      ['?offset=-1', 'query.offset'],
      ['?colour=blue', 'query'],
    ] as const) {
      const refused = await page(query);
      expect(refused.status, query).toBe(400);
      expect(problemOf(refused).field, query).toBe(field);
    }
    const notSha = await call(`/v1/datasets/${id}/images/not-a-sha`, { key: a.apiKey });
    expect(problemOf(notSha)).toMatchObject({ code: 'invalid_request', field: 'path.sha256' });
    const absent = await call(`/v1/datasets/${id}/images/${'0'.repeat(64)}`, { key: a.apiKey });
    expect(absent.status).toBe(404);
    expect(problemOf(absent).field).toBe('path.sha256');
    // Gone with its dataset.
    expect((await call(`/v1/datasets/${id}`, { key: a.apiKey, method: 'DELETE' })).status).toBe(
      204,
    );
    const gone = await bytesOf(a.apiKey);
    expect(gone.status).toBe(404);
    await gone.body?.cancel();
  });

  it('answers a malformed id with 400 naming the path', async () => {
    const { apiKey } = await tenant();
    expect(problemOf(await call('/v1/datasets/..%2Fescape', { key: apiKey }))).toMatchObject({
      code: 'invalid_request',
      field: 'path.id',
    });
  });
});

describe('GET /v1/datasets', () => {
  /** A dataset row as an upload leaves it, created at `at` (ms). */
  const row = async (tenantId: string, id: string, at: number, status = 'ready') =>
    env.DB.prepare(
      'INSERT INTO datasets (id, tenant_id, name, status, image_count, class_count, created_at) VALUES (?, ?, ?, ?, 2, 2, ?)',
    )
      .bind(id, tenantId, id, status, new Date(at).toISOString())
      .run();

  it('pages newest first with a keyset cursor: every dataset once, same-millisecond ones too', async () => {
    const a = await tenant('a');
    const b = await tenant('b');
    const t = Date.parse('2026-11-01T12:00:00.000Z');
    // Two share a millisecond, and a page boundary falls between them (limit 2: ds_c | ds_b).
    await row(a.tenantId, 'ds_a', t);
    await row(a.tenantId, 'ds_b', t + 1);
    await row(a.tenantId, 'ds_c', t + 1);
    await row(a.tenantId, 'ds_d', t + 2);
    await row(a.tenantId, 'ds_e', t + 3);
    // Neither another tenant's dataset nor one still ingesting is listed.
    await row(b.tenantId, 'ds_other', t + 1);
    await row(a.tenantId, 'ds_ingesting', t + 1, 'ingesting');

    type Page = { datasets: { id: string; createdAt: string }[]; nextCursor: string | null };
    const pages: Page[] = [];
    let cursor: string | null = null;
    do {
      const res = await call(
        `/v1/datasets?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        { key: a.apiKey },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      pages.push(res.body as Page);
      cursor = (res.body as Page).nextCursor;
    } while (cursor !== null && pages.length < 10);

    expect(pages.map((p) => p.datasets.map((d) => d.id))).toEqual([
      ['ds_e', 'ds_d'],
      ['ds_c', 'ds_b'],
      ['ds_a'],
    ]);
    expect(pages.map((p) => p.nextCursor)).toEqual([`${t + 2}:ds_d`, `${t + 1}:ds_b`, null]);
    // A full last page still offers a cursor; the page after it is empty and ends the walk.
    const all = (await call('/v1/datasets?limit=5', { key: a.apiKey })).body as Page;
    expect(all.datasets.map((d) => d.id)).toEqual(['ds_e', 'ds_d', 'ds_c', 'ds_b', 'ds_a']);
    const after = (
      await call(`/v1/datasets?limit=5&cursor=${encodeURIComponent(all.nextCursor!)}`, {
        key: a.apiKey,
      })
    ).body as Page;
    expect(after).toEqual({ datasets: [], nextCursor: null });
    // A cursor past any date reads as "before everything", not as an error.
    const far = (await call('/v1/datasets?cursor=9999999999999999', { key: a.apiKey }))
      .body as Page;
    expect(far.datasets).toHaveLength(5);
  });

  it('refuses a malformed cursor or limit with a problem naming the field', async () => {
    const { apiKey } = await tenant();
    for (const [query, field] of [
      ['?cursor=yesterday', 'query.cursor'],
      ['?cursor=123:has%20space', 'query.cursor'],
      ['?cursor=', 'query.cursor'],
      ['?limit=0', 'query.limit'],
      ['?limit=101', 'query.limit'],
    ] as const) {
      const refused = await call(`/v1/datasets${query}`, { key: apiKey });
      expect(refused.status, query).toBe(400);
      expect(refused.headers.get('content-type'), query).toContain('application/problem+json');
      expect(problemOf(refused), query).toMatchObject({ code: 'invalid_request', field });
    }
  });
});

/** A body with no Content-Length: the bytes in chunks of `chunk`, as a streaming client sends them. */
function chunked(bytes: Uint8Array, chunk = 3 * 1024 * 1024 + 17): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

const datasetRows = async () =>
  (await env.DB.prepare('SELECT COUNT(*) AS n FROM datasets').first<{ n: number }>())!.n;

describe('POST /v1/datasets, streamed and retried', () => {
  it('takes an archive streamed without a Content-Length (stored in parts) like a declared one', async () => {
    const { apiKey } = await tenant();
    const zip = await fixtureBytes('datasets/hymenoptera.zip');
    const streamed = await call('/v1/datasets', {
      key: apiKey,
      body: chunked(zip),
      headers: { 'content-type': 'application/zip' },
    });
    expect(streamed.status, JSON.stringify(streamed.body).slice(0, 300)).toBe(201);
    const report = streamed.body as Report;
    expect(report.imageCount).toEqual({ train: 244, val: 153 });
    // The stored archive is the upload, byte for byte, however it arrived.
    const stored = await env.DATASETS.get(`datasets/${report.id}/archive.zip`);
    expect(stored!.size).toBe(zip.byteLength);
    expect(await sha256Hex(new Uint8Array(await stored!.arrayBuffer()))).toBe(await sha256Hex(zip));
  });

  it('answers a replay with the same key and bytes with the first dataset, once', async () => {
    const { apiKey } = await tenant();
    const headers = { 'content-type': 'application/zip', 'idempotency-key': 'nightly-42' };
    const body = await fixtureBytes('datasets/noval.zip');
    const first = await call('/v1/datasets?name=first', { key: apiKey, body, headers });
    expect(first.status).toBe(201);
    const replay = await call('/v1/datasets?name=second', { key: apiKey, body, headers });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    // Streamed the second time: still the same bytes, still the same dataset.
    const streamed = await call('/v1/datasets', {
      key: apiKey,
      body: chunked(body, 1000),
      headers,
    });
    expect((streamed.body as Report).id).toBe((first.body as Report).id);
    expect(await datasetRows()).toBe(1);
  });

  it('refuses the same key with other bytes (409), and lets another tenant use it', async () => {
    const a = await tenant('a');
    const b = await tenant('b');
    const headers = { 'content-type': 'application/zip', 'idempotency-key': 'k-1' };
    const noval = await fixtureBytes('datasets/noval.zip');
    expect((await call('/v1/datasets', { key: a.apiKey, body: noval, headers })).status).toBe(201);
    const keysBefore = await listKeys();
    const other = await call('/v1/datasets', {
      key: a.apiKey,
      body: await fixtureBytes('datasets/hymenoptera.zip'),
      headers,
    });
    expect(other.status).toBe(409);
    expect(problemOf(other)).toMatchObject({
      code: 'idempotency_conflict',
      field: 'header.idempotency-key',
    });
    expect(await listKeys()).toEqual(keysBefore);
    // Keys belong to a tenant.
    expect((await call('/v1/datasets', { key: b.apiKey, body: noval, headers })).status).toBe(201);
    expect(await datasetRows()).toBe(2);
  });

  it('makes one dataset of concurrent uploads with one key; the others are told to retry', async () => {
    const { apiKey } = await tenant();
    const headers = { 'content-type': 'application/zip', 'idempotency-key': 'same-time' };
    const body = await fixtureBytes('datasets/noval.zip');
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => call('/v1/datasets', { key: apiKey, body, headers })),
    );
    const created = answers.filter((a) => a.status === 201);
    expect(created).toHaveLength(1);
    for (const other of answers.filter((a) => a.status !== 201)) {
      if (other.status === 200) {
        expect((other.body as Report).id).toBe((created[0]!.body as Report).id);
      } else {
        expect(other.status).toBe(409);
        expect(problemOf(other).code).toBe('idempotency_in_progress');
        expect(Number(other.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    }
    expect(await datasetRows()).toBe(1);
    // Once it is done, a retry gets the dataset.
    const retried = await call('/v1/datasets', { key: apiKey, body, headers });
    expect(retried.status).toBe(200);
    expect((retried.body as Report).id).toBe((created[0]!.body as Report).id);
  });

  it('frees the key of a refused upload, so a corrected retry goes through', async () => {
    const { apiKey } = await tenant();
    const headers = { 'content-type': 'application/zip', 'idempotency-key': 'fix-and-retry' };
    const bad = await call('/v1/datasets', {
      key: apiKey,
      body: await fixtureBytes('datasets/bomb.zip'),
      headers,
    });
    expect(bad.status).toBe(413);
    expect(await datasetRows()).toBe(0);
    const good = await call('/v1/datasets', {
      key: apiKey,
      body: await fixtureBytes('datasets/noval.zip'),
      headers,
    });
    expect(good.status).toBe(201);
  });

  it('names a malformed key', async () => {
    const { apiKey } = await tenant();
    const res = await call('/v1/datasets', {
      key: apiKey,
      body: await fixtureBytes('datasets/noval.zip'),
      headers: { 'content-type': 'application/zip', 'idempotency-key': 'has space' },
    });
    expect(problemOf(res)).toMatchObject({
      code: 'invalid_request',
      field: 'header.idempotency-key',
    });
  });
});
