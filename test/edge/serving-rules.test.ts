// The classification path without a global object on it, in workerd with the real local D1, R2
// and coordinator: an isolate remembers key verdicts and head/alias resolutions for a bounded
// time (KEY_VERDICT_SECONDS and RESOLVE_SECONDS, 1 s in the test config), so steady traffic
// makes no Durable Object call and almost no D1 query; a change made through the API is seen at
// once by the isolate that made it, and a change it did not see (made elsewhere) within the bound.
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { app } from '../../src/edge/app.js';
import { cachedKeyHolder, forgetKeyVerdicts } from '../../src/edge/auth/verdicts.js';
import { heldHere } from '../../src/edge/classification/location-cache.js';
import { forgetResolved, resolveModels } from '../../src/edge/classification/resolve.js';
import { countersSnapshot, resetCounters } from '../../src/edge/diagnostics/counters.js';
import { ROSTER_REFRESH_MS, rosterNeedsWrite } from '../../src/edge/jobs/roster.js';
import { coordinatorOf } from '../../src/edge/jobs/shards.js';
import { hashSecret } from '../../src/shared/secrets.js';
import type { D1Like } from '../../src/shared/tenants.js';
import { headKeys } from '../../src/shared/heads.js';
import { fixtureBytes, seedBackbone } from './fixtures.js';
import { makeHead } from './heads-helpers.js';
import { call, freshState, problemOf, tenant, workerToken } from './jobs-helpers.js';

const V2 = 'mobilenet-v2-0.35';
/** The test config's bounds (vitest.edge.config.ts), plus a margin. */
const BOUND_MS = 1000 + 300;

beforeEach(async () => {
  await freshState();
  await seedBackbone(V2);
});

async function setup() {
  const { apiKey, tenantId } = await tenant();
  const worker = await workerToken();
  const make = (seed: number) =>
    makeHead({ apiKey, tenantId, worker, backbone: V2, labels: ['ants', 'bees'], seed });
  return { apiKey, tenantId, make };
}

async function classify(model: string, key: string) {
  return call(`/v1/classify?model=${model}`, {
    key,
    headers: { 'content-type': 'image/jpeg' },
    body: await fixtureBytes('parity/photo-0.jpg'),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('API keys', () => {
  it('a key revoked through the API stops working at once', async () => {
    const { apiKey } = await tenant();
    expect((await call('/v1/heads', { key: apiKey })).status).toBe(200);
    const keys = (await call('/v1/keys', { key: apiKey })).body as { keys: { id: string }[] };
    const revoked = await call(`/v1/keys/${keys.keys[0]!.id}?confirm=last-key`, {
      key: apiKey,
      method: 'DELETE',
    });
    expect(revoked.status).toBe(204);
    expect((await call('/v1/heads', { key: apiKey })).status).toBe(401);
  });

  it('a key revoked where this isolate did not see it stops working within KEY_VERDICT_SECONDS', async () => {
    const { apiKey } = await tenant();
    expect((await call('/v1/heads', { key: apiKey })).status).toBe(200);
    // Revoked in D1 directly, as an operator's tool or another location's isolate would.
    await env.DB.prepare('UPDATE api_keys SET revoked_at = ? WHERE key_hash = ?')
      .bind(new Date().toISOString(), await hashSecret(apiKey))
      .run();
    expect((await call('/v1/heads', { key: apiKey })).status).toBe(200); // remembered
    await sleep(BOUND_MS);
    const after = await call('/v1/heads', { key: apiKey });
    expect(after.status).toBe(401);
    expect(problemOf(after).code).toBe('unauthorized');
  });

  it('a lookup under way while this isolate revokes the key is answered once, not remembered', async () => {
    const { apiKey } = await tenant();
    const ttl = 60_000;
    // D1 answers before the revocation but the answer arrives after it.
    let arrive!: () => void;
    const late = new Promise<void>((resolve) => (arrive = resolve));
    const slow: D1Like = {
      batch: (statements) => env.DB.batch(statements as D1PreparedStatement[]),
      prepare: (sql) => {
        const bound = (values: unknown[]) => {
          const statement = env.DB.prepare(sql).bind(...values);
          return {
            bind: (...more: unknown[]) => bound([...values, ...more]),
            run: () => statement.run(),
            all: <T>() => statement.all<T>(),
            first: async <T>() => {
              const row = await statement.first<T>();
              await late;
              return row;
            },
          };
        };
        return bound([]);
      },
    };
    const before = cachedKeyHolder(slow, apiKey, ttl);
    const joined = cachedKeyHolder(env.DB, apiKey, ttl); // shares the lookup under way
    await sleep(50);
    // What DELETE /v1/keys/{id} does in this isolate, while the lookup is still under way.
    const hash = await hashSecret(apiKey);
    const { id: keyId } = (await env.DB.prepare('SELECT id FROM api_keys WHERE key_hash = ?')
      .bind(hash)
      .first<{ id: string }>())!;
    await env.DB.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?')
      .bind(new Date().toISOString(), keyId)
      .run();
    forgetKeyVerdicts({ keyId });
    arrive();
    expect(await before).toBeDefined(); // what D1 said when asked
    expect(await joined).toBeDefined();
    expect(await cachedKeyHolder(env.DB, apiKey, ttl)).toBeUndefined();
  });
});

describe('worker tokens', () => {
  it('a token revoked where this isolate did not see it stops working within KEY_VERDICT_SECONDS', async () => {
    const token = await workerToken();
    const lease = () => call('/internal/v1/leases', { key: token, json: { waitSeconds: 0 } });
    expect((await lease()).status).toBe(204);
    await env.DB.prepare('UPDATE worker_tokens SET revoked_at = ? WHERE token_hash = ?')
      .bind(new Date().toISOString(), await hashSecret(token))
      .run();
    expect((await lease()).status).toBe(204); // remembered
    await sleep(BOUND_MS);
    const after = await lease();
    expect(after.status).toBe(401);
    expect(problemOf(after).code).toBe('unauthorized');
  });

  it("an idle worker's polls cost no D1 query once the isolate remembers its token and report", async () => {
    const token = await workerToken();
    const poll = (jobsHeld: number, bounds: Record<string, string>) =>
      app.fetch(
        new Request('https://edge.test/internal/v1/leases', {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ workerId: 'idle-pod', waitSeconds: 0, jobsHeld }),
        }),
        { ...env, DIAGNOSTICS: 'true', ...bounds },
        createExecutionContext(),
      );
    const d1For = async (jobsHeld: number, bounds: Record<string, string>, n: number) => {
      resetCounters();
      for (let i = 0; i < n; i++) expect((await poll(jobsHeld, bounds)).status).toBe(204);
      return countersSnapshot().routes['POST /internal/v1/leases']!.d1;
    };
    const remembering = { KEY_VERDICT_SECONDS: '60' };
    // Without the verdict memory, each poll checks the token in D1.
    expect(await d1For(0, { KEY_VERDICT_SECONDS: '0' }, 10)).toBeGreaterThanOrEqual(10);
    await d1For(0, remembering, 1); // the token's verdict, remembered from here on
    expect(await d1For(0, remembering, 10)).toBe(0);
    // A changed report is written at once, then remembered in its turn.
    expect(await d1For(1, remembering, 1)).toBe(1);
    expect(await d1For(1, remembering, 10)).toBe(0);
    const seen = await env.DB.prepare('SELECT jobs_held FROM workers WHERE worker_id = ?')
      .bind('idle-pod')
      .first<{ jobs_held: number }>();
    expect(seen?.jobs_held).toBe(1);
  });

  it('an unchanged report is written again once it is ROSTER_REFRESH_MS old', () => {
    const t0 = 1_000_000;
    expect(rosterNeedsWrite('pod-r', ['t', 'cpu', 0], t0)).toBe(true);
    expect(rosterNeedsWrite('pod-r', ['t', 'cpu', 0], t0 + ROSTER_REFRESH_MS - 1)).toBe(false);
    expect(rosterNeedsWrite('pod-r', ['t', 'cpu', 0], t0 + ROSTER_REFRESH_MS)).toBe(true);
    expect(rosterNeedsWrite('pod-r', ['t', 'cuda', 0], t0 + ROSTER_REFRESH_MS + 1)).toBe(true);
  });
});

describe('heads and aliases', () => {
  it('a head deleted through the API stops answering at once', async () => {
    const { apiKey, make } = await setup();
    const head = await make(1);
    expect((await classify(head.headId, apiKey)).status).toBe(200);
    // Loading it left its files in this location's cache (stored after the answer).
    const model = headKeys(head.headId).model;
    for (let i = 0; i < 50 && !(await heldHere(model)); i++) await sleep(20);
    expect(await heldHere(model)).toBe(true);
    expect((await call(`/v1/heads/${head.headId}`, { key: apiKey, method: 'DELETE' })).status).toBe(
      204,
    );
    expect(await heldHere(model)).toBe(false);
    const gone = await classify(head.headId, apiKey);
    expect(gone.status).toBe(404);
    expect(problemOf(gone)).toMatchObject({ code: 'not_found', field: 'query.model' });
  });

  it('a head deleted where this isolate did not see it stops answering within RESOLVE_SECONDS', async () => {
    const { apiKey, tenantId, make } = await setup();
    const head = await make(1);
    expect((await classify(head.headId, apiKey)).status).toBe(200);
    // What DELETE /v1/heads/{id} does, done behind this isolate's back.
    expect((await coordinatorOf(env, tenantId).deleteHead(tenantId, head.headId)).ok).toBe(true);
    const keys = headKeys(head.headId);
    await env.MODELS.delete([keys.model, keys.manifest, keys.evaluation]);
    expect((await classify(head.headId, apiKey)).status).toBe(200); // remembered, still loaded
    await sleep(BOUND_MS);
    const gone = await classify(head.headId, apiKey);
    expect(gone.status).toBe(404);
    expect(problemOf(gone).code).toBe('not_found');
  });

  it('a lookup under way while this isolate deletes the head is answered once, not remembered', async () => {
    const { tenantId, make } = await setup();
    const head = await make(1);
    let arrive!: () => void;
    const late = new Promise<void>((resolve) => (arrive = resolve));
    // R2 answers before the deletion but the answer arrives after it.
    const slowModels = new Proxy(env.MODELS, {
      get(target, prop) {
        if (prop === 'head')
          return async (key: string) => {
            const object = await target.head(key);
            await late;
            return object;
          };
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
    const remembering = { ...env, RESOLVE_SECONDS: '60' };
    const before = resolveModels(
      { ...remembering, MODELS: slowModels },
      [head.headId],
      tenantId,
      'query.model',
    );
    await sleep(50);
    // What DELETE /v1/heads/{id} does in this isolate, while the lookup is still under way.
    expect((await coordinatorOf(env, tenantId).deleteHead(tenantId, head.headId)).ok).toBe(true);
    const keys = headKeys(head.headId);
    await env.MODELS.delete([keys.model, keys.manifest, keys.evaluation]);
    forgetResolved(tenantId, { headId: head.headId });
    arrive();
    expect(await before).toMatchObject([{ kind: 'head', headId: head.headId }]);
    await expect(
      resolveModels(remembering, [head.headId], tenantId, 'query.model'),
    ).rejects.toMatchObject({ code: 'not_found' });
  });

  it('an alias moved where this isolate did not see it follows within RESOLVE_SECONDS', async () => {
    const { apiKey, tenantId, make } = await setup();
    const a = await make(1);
    const b = await make(2);
    const put = (headId: string) =>
      call('/v1/aliases/production', { key: apiKey, method: 'PUT', json: { headId } });
    expect((await put(a.headId)).status).toBe(200);
    const headOf = async () =>
      ((await classify('production', apiKey)).body as { head: { id: string } }).head.id;
    expect(await headOf()).toBe(a.headId);
    // Through the API: seen at once.
    expect((await put(b.headId)).status).toBe(200);
    expect(await headOf()).toBe(b.headId);
    // Behind this isolate's back: the old answer until the bound, then the new one.
    expect((await coordinatorOf(env, tenantId).setAlias(tenantId, 'production', a.headId)).ok).toBe(
      true,
    );
    expect(await headOf()).toBe(b.headId);
    await sleep(BOUND_MS);
    expect(await headOf()).toBe(a.headId);
  });
});

describe('calls per classification', () => {
  /** Classifies `n` times through the app with these bounds; the counters for those requests. */
  async function counted(model: string, key: string, n: number, bounds: Record<string, string>) {
    const photo = await fixtureBytes('parity/photo-0.jpg');
    const request = () =>
      new Request(`https://edge.test/v1/classify?model=${model}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
        body: photo,
      });
    const withBounds = { ...env, DIAGNOSTICS: 'true', ...bounds };
    // What earlier requests remembered under the test config's 1 s bounds expires first.
    await sleep(BOUND_MS);
    // One request first, so the counts below are the steady state.
    const warm = createExecutionContext();
    expect((await app.fetch(request(), withBounds, warm)).status).toBe(200);
    await waitOnExecutionContext(warm);
    resetCounters();
    const contexts: ExecutionContext[] = [];
    for (let i = 0; i < n; i++) {
      const ctx = createExecutionContext();
      contexts.push(ctx);
      const res = await app.fetch(request(), withBounds, ctx);
      expect(res.status).toBe(200);
    }
    // Then whatever the requests left to run after their answers (usage writes).
    for (const ctx of contexts) await waitOnExecutionContext(ctx);
    return countersSnapshot().routes['POST /v1/classify']!;
  }

  it('makes no Durable Object call for a head id, and none for an alias with at most one batched D1 write for ten requests once the isolate remembers', async () => {
    const { apiKey, make } = await setup();
    const head = await make(1);
    expect(
      (
        await call('/v1/aliases/production', {
          key: apiKey,
          method: 'PUT',
          json: { headId: head.headId },
        })
      ).status,
    ).toBe(200);
    // Usage counts gather for 5 s: the ten requests below fit in one flush.
    const remembering = {
      KEY_VERDICT_SECONDS: '60',
      RESOLVE_SECONDS: '60',
      USAGE_FLUSH_SECONDS: '5',
    };
    const forgetting = { KEY_VERDICT_SECONDS: '0', RESOLVE_SECONDS: '0', USAGE_FLUSH_SECONDS: '0' };
    for (const model of [head.headId, 'production']) {
      const before = await counted(model, apiKey, 10, forgetting);
      // A head id resolves from R2 alone; an alias asks the coordinator each time.
      expect(before).toMatchObject({
        requests: 10,
        durableObject: model === head.headId ? 0 : 10,
      });
      // A key check and a usage write each time.
      expect(before.d1).toBeGreaterThanOrEqual(20);
      const after = await counted(model, apiKey, 10, remembering);
      expect(after).toMatchObject({ requests: 10, durableObject: 0 });
      expect(after.d1).toBeLessThanOrEqual(1); // one batched usage write for all ten
    }
  });
});
