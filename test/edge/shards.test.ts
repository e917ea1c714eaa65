// Coordinator shards and the job directory inside workerd, with the real local Durable Objects,
// Queue and D1: tenants spread over COORDINATOR_SHARDS shards (4 in wrangler.toml), a worker
// finds work in any shard through the directory, job-id routes reach the right shard, and a
// lost report to the directory is healed by the sweep.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  countersSnapshot,
  countingEnv,
  resetCounters,
} from '../../src/edge/diagnostics/counters.js';
import {
  coordinatorOf,
  directoryOf,
  FALLBACK_SWEEP_MS,
  leaseAcrossShards,
  setLastSweep,
  shardCount,
  shardIdOf,
  shardName,
  shardNames,
} from '../../src/edge/jobs/shards.js';
import { newId } from '../../src/shared/secrets.js';
import { seedBackbone } from './fixtures.js';
import { backboneManifest, completionForm } from './heads-helpers.js';
import {
  asGrant,
  asJob,
  call,
  dataset,
  eventually,
  freshState,
  lease,
  tenant,
  workerToken,
} from './jobs-helpers.js';

const V2 = 'mobilenet-v2-0.35';

beforeEach(async () => {
  await freshState();
  await seedBackbone(V2);
  resetCounters();
});

/** Tenants until two of them live in different shards. */
async function tenantsOnTwoShards() {
  const first = await tenant('first');
  for (let i = 0; i < 40; i++) {
    const other = await tenant(`other-${i}`);
    if (shardName(other.tenantId, 4) !== shardName(first.tenantId, 4)) return [first, other];
  }
  throw new Error('forty tenants all hashed to one shard');
}

async function submitted(apiKey: string, tenantId: string) {
  const res = await call('/v1/fine-tunes', {
    key: apiKey,
    json: { datasetId: await dataset(tenantId), epochs: 2 },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return asJob(res);
}

describe('shard placement', () => {
  it('runs the suite with the shards wrangler.toml declares', () => {
    expect(shardCount(env)).toBe(4);
    expect(shardNames(env)).toEqual(['shard-0', 'shard-1', 'shard-2', 'shard-3']);
  });

  it('places a tenant in one shard for good, and spreads tenants evenly', () => {
    expect(shardName('ten_abc', 1)).toBe('global');
    expect(shardName('ten_abc', 4)).toBe(shardName('ten_abc', 4));
    const per = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const name = shardName(newId('ten'), 4);
      per.set(name, (per.get(name) ?? 0) + 1);
    }
    expect([...per.keys()].sort()).toEqual(['shard-0', 'shard-1', 'shard-2', 'shard-3']);
    for (const n of per.values()) expect(n / 2000).toBeGreaterThan(0.2);
    for (const n of per.values()) expect(n / 2000).toBeLessThan(0.3);
    // Ids whose characters differ only in their high bits spread too (the shard is the low bits).
    const structured = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const name = shardName(`ten_${String(i * 4).padStart(8, '0')}`, 4);
      structured.set(name, (structured.get(name) ?? 0) + 1);
    }
    for (const n of structured.values()) expect(n / 2000).toBeGreaterThan(0.2);
    expect(structured.size).toBe(4);
  });

  it('reads a bad COORDINATOR_SHARDS as one shard', () => {
    for (const bad of ['0', '-2', '2.5', 'four', '65'])
      expect(shardCount({ COORDINATOR_SHARDS: bad })).toBe(1);
    expect(shardCount({})).toBe(1);
    expect(shardCount({ COORDINATOR_SHARDS: '64' })).toBe(64);
  });
});

describe('jobs across shards', () => {
  it("keeps each tenant's jobs in its shard, and a worker trains both through job-id routes", async () => {
    const [a, b] = await tenantsOnTwoShards();
    const worker = await workerToken();
    const jobA = await submitted(a!.apiKey, a!.tenantId);
    const jobB = await submitted(b!.apiKey, b!.tenantId);
    // The queue consumer registers each job in its tenant's shard, and nowhere else.
    await eventually(async () => {
      const [sa, sb] = await Promise.all([
        coordinatorOf(env, a!.tenantId).stats(),
        coordinatorOf(env, b!.tenantId).stats(),
      ]);
      return sa.queued === 1 && sb.queued === 1 ? true : undefined;
    });
    expect(await coordinatorOf(env, a!.tenantId).get(jobB.id, b!.tenantId)).toBeUndefined();

    const grants = [];
    for (let i = 0; i < 2; i++) {
      const res = await lease(worker, { waitSeconds: 2 });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      grants.push(asGrant(res));
    }
    expect(grants.map((g) => g.jobId).sort()).toEqual([jobA.id, jobB.id].sort());
    expect((await lease(worker, { waitSeconds: 0 })).status).toBe(204);

    const manifest = await backboneManifest(V2);
    for (const grant of grants) {
      const beat = await call(`/internal/v1/jobs/${grant.jobId}/heartbeat`, {
        key: worker,
        json: { leaseToken: grant.leaseToken },
      });
      expect(beat.status, JSON.stringify(beat.body)).toBe(200);
      const done = await call(`/internal/v1/jobs/${grant.jobId}/complete`, {
        key: worker,
        body: completionForm(grant.leaseToken, manifest, {
          labels: ['a', 'b'],
          seed: 1,
          metrics: { valAccuracy: 0.9 },
        }).form,
      });
      expect(done.status, JSON.stringify(done.body)).toBe(200);
    }
    for (const [t, job] of [
      [a!, jobA],
      [b!, jobB],
    ] as const) {
      const view = asJob(await call(`/v1/fine-tunes/${job.id}`, { key: t.apiKey }));
      expect(view.status).toBe('succeeded');
      const heads = (await call('/v1/heads', { key: t.apiKey })).body as { heads: unknown[] };
      expect(heads.heads).toHaveLength(1);
    }
    // With nothing running, no shard keeps an alarm that would wake it for nothing.
    for (const t of [a!, b!]) {
      const alarm = await runInDurableObject(
        env.COORDINATOR.get(shardIdOf(env, t.tenantId)),
        (_, state) => state.storage.getAlarm(),
      );
      expect(alarm).toBeNull();
    }
    // An id no shard knows is a 404 naming the path, whatever shard it would hash to.
    const unknown = await call(`/internal/v1/jobs/job_doesNotExist01/heartbeat`, {
      key: worker,
      json: { leaseToken: grants[0]!.leaseToken },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ field: 'path.id' });
  });
});

describe('the job directory', () => {
  it('learns when a shard has work and when it is empty again', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    const shard = shardName(tenantId, 4);
    await submitted(apiKey, tenantId);
    const listed = await eventually(async () => {
      const { shards } = await directoryOf(env).stats();
      return shards.find((s) => s.name === shard && s.hasWork);
    });
    expect(listed.seq).toBeGreaterThan(0);
    expect((await lease(worker, { waitSeconds: 2 })).status).toBe(200);
    await eventually(async () => {
      const { shards } = await directoryOf(env).stats();
      return shards.find((s) => s.name === shard)?.hasWork === false ? true : undefined;
    });
  });

  it('keeps the newest report when an older one arrives late', async () => {
    const directory = directoryOf(env);
    expect(await directory.report('shard-1', true, 5)).toEqual({ applied: true });
    expect(await directory.report('shard-1', false, 4)).toEqual({ applied: false });
    expect(await directory.waitForWork(0)).toEqual(['shard-1']);
    expect(await directory.report('shard-1', false, 6)).toEqual({ applied: true });
    expect(await directory.waitForWork(0)).toEqual([]);
  });

  it('wakes a waiting lease as soon as a job is queued in any shard', async () => {
    const { apiKey, tenantId } = await tenant();
    const worker = await workerToken();
    // Sweep first, so the wait below is the directory's.
    expect((await lease(worker, { waitSeconds: 0 })).status).toBe(204);
    const started = Date.now();
    const waiting = lease(worker, { waitSeconds: 10 });
    await new Promise((r) => setTimeout(r, 300));
    const job = await submitted(apiKey, tenantId);
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(asGrant(res).jobId).toBe(job.id);
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('asks one object, not every shard, when there is no work', async () => {
    const counted = countingEnv(env, 'lease');
    setLastSweep(0);
    expect(await leaseAcrossShards(counted, 'w', { waitSeconds: 0 })).toBeNull();
    // The first call of an isolate sweeps: every shard once, then the directory.
    expect(countersSnapshot().routes.lease!.objects).toEqual({
      'shard-0': 1,
      'shard-1': 1,
      'shard-2': 1,
      'shard-3': 1,
      directory: 1,
    });
    resetCounters();
    const again = countingEnv(env, 'lease');
    for (let i = 0; i < 5; i++)
      expect(await leaseAcrossShards(again, 'w', { waitSeconds: 0 })).toBeNull();
    expect(countersSnapshot().routes.lease!.objects).toEqual({ directory: 5 });
  });

  it('still leases when the directory fails: every shard is asked, and an idle poll still waits', async () => {
    const { apiKey, tenantId } = await tenant();
    const job = await submitted(apiKey, tenantId);
    await eventually(async () =>
      (await coordinatorOf(env, tenantId).stats()).queued === 1 ? true : undefined,
    );
    const failing = {
      waitForWork: () => Promise.reject(new Error('directory overloaded')),
    };
    const broken = {
      ...env,
      JOB_DIRECTORY: { idFromName: () => ({}), get: () => failing },
    } as unknown as typeof env;
    setLastSweep(Date.now()); // not a sweep round: the directory would be asked first
    const grant = await leaseAcrossShards(broken, 'w', { waitSeconds: 0 });
    expect(grant?.jobId).toBe(job.id);
    // Nothing left: the poll waits out its time, asking the shards every FALLBACK_SWEEP_MS.
    const started = Date.now();
    expect(await leaseAcrossShards(broken, 'w', { waitSeconds: 3 })).toBeNull();
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(2_900);
    expect(waited).toBeLessThan(3_000 + FALLBACK_SWEEP_MS);
  });

  it('finds work whose report to the directory was lost, at the next sweep', async () => {
    const { apiKey, tenantId } = await tenant();
    const shard = shardName(tenantId, 4);
    const job = await submitted(apiKey, tenantId);
    await eventually(async () =>
      (await coordinatorOf(env, tenantId).stats()).queued === 1 ? true : undefined,
    );
    // The directory is told, with a report number from the future, that the shard is empty:
    // the shard's own reports are now older and ignored, as if they had been lost.
    await directoryOf(env).report(shard, false, Number.MAX_SAFE_INTEGER);
    expect((await directoryOf(env).waitForWork(0)).includes(shard)).toBe(false);
    setLastSweep(Date.now());
    expect(await leaseAcrossShards(env, 'w', { waitSeconds: 0 })).toBeNull();
    setLastSweep(0);
    const grant = await leaseAcrossShards(env, 'w', { waitSeconds: 0 });
    expect(grant?.jobId).toBe(job.id);
    // The shard's state is unchanged by any of this: the job is running, once.
    const inside = await runInDurableObject(
      env.COORDINATOR.get(shardIdOf(env, tenantId)),
      (_, state) =>
        state.storage.sql
          .exec<{ status: string; attempts: number }>('SELECT status, attempts FROM jobs')
          .toArray(),
    );
    expect(inside).toEqual([{ status: 'running', attempts: 1 }]);
  });
});
