// The admin API and a tenant's own keys inside workerd, with the real local D1 and Durable
// Object: credentials stay in their lanes, keys rotate and revoke at once, disabled tenants are
// shut out, usage is counted, workers report in, and every bad input is a 4xx problem.
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { createAdminToken } from '../../src/shared/tenants.js';
import {
  call,
  dataset,
  eventually,
  freshState,
  problemOf,
  tenant,
  workerToken,
} from './jobs-helpers.js';

let admin: string;

beforeEach(async () => {
  await freshState();
  admin = (await createAdminToken(env.DB, 'test-admin')).token;
});

interface NewTenant {
  tenant: { id: string; name: string; activeKeys: number; disabledAt: string | null };
  key: { id: string; apiKey: string };
}

async function newTenant(name = 'acme'): Promise<NewTenant> {
  const res = await call('/admin/v1/tenants', { key: admin, json: { name } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as NewTenant;
}

const works = async (key: string) => (await call('/v1/heads', { key })).status;

describe('the admin API', () => {
  it('creates a tenant whose first key works, lists it, and shows no secret twice', async () => {
    const created = await newTenant('acme');
    expect(created.tenant).toMatchObject({ name: 'acme', activeKeys: 1, disabledAt: null });
    expect(created.key.apiKey).toMatch(/^hs_key_/);
    expect(await works(created.key.apiKey)).toBe(200);
    const listed = await call('/admin/v1/tenants', { key: admin });
    expect(JSON.stringify(listed.body)).not.toContain(created.key.apiKey);
    expect((listed.body as { tenants: { id: string }[] }).tenants.map((t) => t.id)).toContain(
      created.tenant.id,
    );
    const keys = await call(`/admin/v1/tenants/${created.tenant.id}/keys`, { key: admin });
    expect(keys.body).toMatchObject({ keys: [{ id: created.key.id, revokedAt: null }] });
    expect(JSON.stringify(keys.body)).not.toContain('hs_key_');
  });

  it('issues and revokes a tenant’s keys; a revoked key is refused on its next request', async () => {
    const { tenant: t, key } = await newTenant();
    const issued = await call(`/admin/v1/tenants/${t.id}/keys`, {
      key: admin,
      json: { name: 'ci' },
    });
    expect(issued.status).toBe(201);
    const second = issued.body as { id: string; apiKey: string };
    expect(await works(second.apiKey)).toBe(200);
    const revoked = await call(`/admin/v1/tenants/${t.id}/keys/${key.id}`, {
      key: admin,
      method: 'DELETE',
    });
    expect(revoked.status).toBe(204);
    expect(await works(key.apiKey)).toBe(401);
    expect(await works(second.apiKey)).toBe(200);
    // A second revocation of the same key: it is no longer active.
    const again = await call(`/admin/v1/tenants/${t.id}/keys/${key.id}`, {
      key: admin,
      method: 'DELETE',
    });
    expect(problemOf(again)).toMatchObject({ code: 'not_found', field: 'path.keyId' });
  });

  it('disables a tenant (every key refused at once) and enables it again', async () => {
    const { tenant: t, key } = await newTenant();
    const disabled = await call(`/admin/v1/tenants/${t.id}/disable`, {
      key: admin,
      method: 'POST',
    });
    expect((disabled.body as { disabledAt: string | null }).disabledAt).not.toBeNull();
    expect(await works(key.apiKey)).toBe(401);
    expect(problemOf(await call('/v1/heads', { key: key.apiKey })).detail).toMatch(/disabled/);
    await call(`/admin/v1/tenants/${t.id}/enable`, { key: admin, method: 'POST' });
    expect(await works(key.apiKey)).toBe(200);
  });

  it('reports a tenant’s usage: datasets, jobs, heads and requests over the last day', async () => {
    const { tenant: t, key } = await newTenant();
    const other = await newTenant('other');
    await dataset(t.id);
    for (let i = 0; i < 3; i++) await works(key.apiKey);
    await works(other.key.apiKey);
    const usage = await eventually(async () => {
      const res = await call(`/admin/v1/tenants/${t.id}/usage`, { key: admin });
      const body = res.body as { requestsLastDay: number };
      return body.requestsLastDay >= 3 ? (res.body as Record<string, unknown>) : undefined;
    });
    expect(usage).toMatchObject({
      tenantId: t.id,
      datasets: 1,
      heads: 0,
      jobs: { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 },
      requestsLastDay: 3,
    });
    // The key's last use is recorded (to the hour).
    const keys = await call(`/admin/v1/tenants/${t.id}/keys`, { key: admin });
    expect((keys.body as { keys: { lastUsedAt: string | null }[] }).keys[0]!.lastUsedAt).toMatch(
      /T\d\d:00:00\.000Z$/,
    );
  });

  it('issues worker tokens that lease, lists the workers that report in, and revokes tokens', async () => {
    const issued = await call('/admin/v1/worker-tokens', { key: admin, json: { name: 'gpu-1' } });
    expect(issued.status).toBe(201);
    const { id, token } = issued.body as { id: string; token: string };
    const lease = await call('/internal/v1/leases', {
      key: token,
      json: { workerId: 'gpu-1-pod-a', waitSeconds: 0, provider: 'cuda', jobsHeld: 0 },
    });
    expect(lease.status).toBe(204);
    const workers = await call('/admin/v1/workers', { key: admin });
    expect(workers.body).toMatchObject({
      workers: [{ workerId: 'gpu-1-pod-a', tokenName: 'gpu-1', provider: 'cuda', jobsHeld: 0 }],
    });
    const tokens = await call('/admin/v1/worker-tokens', { key: admin });
    expect(JSON.stringify(tokens.body)).not.toContain(token);
    expect(
      (await call(`/admin/v1/worker-tokens/${id}`, { key: admin, method: 'DELETE' })).status,
    ).toBe(204);
    const refused = await call('/internal/v1/leases', { key: token, json: { waitSeconds: 0 } });
    expect(refused.status).toBe(401);
  });

  it('takes admin tokens only, and admin tokens work nowhere else', async () => {
    const { key } = await newTenant();
    const worker = await workerToken();
    for (const credential of [key.apiKey, worker, undefined]) {
      const res = await call('/admin/v1/tenants', credential ? { key: credential } : {});
      expect(res.status).toBe(401);
      expect(problemOf(res).field).toBe('header.authorization');
    }
    expect((await call('/v1/heads', { key: admin })).status).toBe(401);
    expect((await call('/v1/keys', { key: admin })).status).toBe(401);
    expect((await call('/internal/v1/leases', { key: admin, json: {} })).status).toBe(401);
  });

  it('answers every bad input with a 4xx problem naming the field', async () => {
    const { tenant: t } = await newTenant();
    const cases: [string, Parameters<typeof call>[1], number, string, string][] = [
      ['/admin/v1/tenants', { json: { name: '' } }, 400, 'invalid_request', 'body.name'],
      [
        '/admin/v1/tenants',
        { json: { name: 'x'.repeat(101) } },
        400,
        'invalid_request',
        'body.name',
      ],
      ['/admin/v1/tenants', { json: { name: 'a', extra: 1 } }, 400, 'invalid_request', 'body'],
      ['/admin/v1/tenants', { json: { name: 'line\nbreak' } }, 400, 'invalid_request', 'body.name'],
      [
        '/admin/v1/tenants',
        { body: 'name=a', headers: { 'content-type': 'text/plain' } },
        415,
        'unsupported_media_type',
        'header.content-type',
      ],
      ['/admin/v1/tenants/nope', {}, 400, 'invalid_request', 'path.id'],
      ['/admin/v1/tenants/ten_doesnotexist0', {}, 404, 'not_found', 'path.id'],
      [`/admin/v1/tenants/${t.id}/keys`, { json: {} }, 400, 'invalid_request', 'body.name'],
      [
        `/admin/v1/tenants/${t.id}/keys/bad`,
        { method: 'DELETE' },
        400,
        'invalid_request',
        'path.keyId',
      ],
      ['/admin/v1/worker-tokens/bad', { method: 'DELETE' }, 400, 'invalid_request', 'path.id'],
      [
        '/admin/v1/worker-tokens/wtk_doesnotexist0',
        { method: 'DELETE' },
        404,
        'not_found',
        'path.id',
      ],
      ['/admin/v1/worker-tokens', { json: { name: 42 } }, 400, 'invalid_request', 'body.name'],
    ];
    for (const [path, init, status, code, field] of cases) {
      const res = await call(path, { key: admin, ...init });
      expect(res.status, `${path} ${JSON.stringify(init)}`).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(problemOf(res), path).toMatchObject({ code, field });
    }
  });
});

describe('a tenant’s own keys (/v1/keys)', () => {
  it('rotates: creates a second key, revokes the first, which is refused on its next request', async () => {
    const { apiKey } = await tenant();
    const created = await call('/v1/keys', { key: apiKey, json: { name: 'rotated' } });
    expect(created.status).toBe(201);
    const second = created.body as { id: string; apiKey: string };
    const listed = await call('/v1/keys', { key: apiKey });
    const keys = (listed.body as { keys: { id: string; current: boolean }[] }).keys;
    expect(keys).toHaveLength(2);
    const first = keys.find((k) => k.current)!;
    expect(JSON.stringify(listed.body)).not.toContain('hs_key_');
    expect(
      (await call(`/v1/keys/${first.id}`, { key: second.apiKey, method: 'DELETE' })).status,
    ).toBe(204);
    expect(await works(apiKey)).toBe(401);
    expect(await works(second.apiKey)).toBe(200);
  });

  it('keeps the last active key unless told ?confirm=last-key, and sees no other tenant’s keys', async () => {
    const a = await tenant('a');
    const b = await tenant('b');
    const mine = (await call('/v1/keys', { key: a.apiKey })).body as { keys: { id: string }[] };
    const only = mine.keys[0]!.id;
    const refused = await call(`/v1/keys/${only}`, { key: a.apiKey, method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(problemOf(refused).detail).toMatch(/last active key/);
    // Another tenant cannot revoke it, nor see it.
    expect((await call(`/v1/keys/${only}`, { key: b.apiKey, method: 'DELETE' })).status).toBe(404);
    expect(JSON.stringify((await call('/v1/keys', { key: b.apiKey })).body)).not.toContain(only);
    const confirmed = await call(`/v1/keys/${only}?confirm=last-key`, {
      key: a.apiKey,
      method: 'DELETE',
    });
    expect(confirmed.status).toBe(204);
    expect(await works(a.apiKey)).toBe(401);
  });

  it('answers bad input with a 4xx problem naming the field', async () => {
    const { apiKey } = await tenant();
    const cases: [string, Parameters<typeof call>[1], string][] = [
      ['/v1/keys', { json: { name: '' } }, 'body.name'],
      ['/v1/keys', { json: { name: 'ok', admin: true } }, 'body'],
      ['/v1/keys/not-a-key', { method: 'DELETE' }, 'path.id'],
      ['/v1/keys/key_abcdefgh12?confirm=yes', { method: 'DELETE' }, 'query.confirm'],
    ];
    for (const [path, init, field] of cases) {
      const res = await call(path, { key: apiKey, ...init });
      expect(res.status, path).toBe(400);
      expect(problemOf(res), path).toMatchObject({ code: 'invalid_request', field });
    }
  });
});
