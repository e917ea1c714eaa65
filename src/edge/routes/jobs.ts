// Public fine-tune job routes: submit (one or a batch), read, list, follow, cancel.
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { JOB_STATUSES, compareJobs } from '../../shared/jobs.js';
import { rateLimit, requireTenant } from '../auth/middleware.js';
import type { AppEnv } from '../env.js';
import { CursorSchema, nextCursorOf } from '../http/cursor.js';
import { idempotencyKey } from '../http/idempotency.js';
import { parseInput } from '../http/validate.js';
import { readJson } from '../http/json.js';
import { followJob, heartbeatMsOf, lastEventId } from '../jobs/events.js';
import { cancelJob, getBatch, getJob, jobDeps, submitBatch, submitJob } from '../jobs/service.js';

const ListQuery = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  batchId: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  /** Opaque cursor from the previous page (`nextCursor`). */
  cursor: CursorSchema.optional(),
});

export const jobsRoutes = new Hono<AppEnv>()
  .use('*', requireTenant)
  .post(
    '/',
    rateLimit((env) => env.SUBMIT_LIMITER, 60),
    async (c) => {
      const key = idempotencyKey(c.req.header('idempotency-key'));
      const { job, replayed } = await submitJob(
        jobDeps(c.env, c.get('tenantId')),
        c.get('tenantId'),
        await readJson(c.req.raw),
        { idempotencyKey: key },
      );
      if (replayed) c.header('idempotent-replayed', 'true');
      return c.json(job, replayed ? 200 : 201);
    },
  )
  .post(
    '/batch',
    rateLimit((env) => env.SUBMIT_LIMITER, 60),
    async (c) => {
      const key = idempotencyKey(c.req.header('idempotency-key'));
      const result = await submitBatch(
        jobDeps(c.env, c.get('tenantId')),
        c.get('tenantId'),
        await readJson(c.req.raw),
        { idempotencyKey: key },
      );
      if (result.replayed) c.header('idempotent-replayed', 'true');
      return c.json({ batchId: result.batchId, jobs: result.jobs }, result.replayed ? 200 : 201);
    },
  )
  .get('/', async (c) => {
    const q = parseInput(ListQuery, c.req.query(), 'query');
    const deps = jobDeps(c.env, c.get('tenantId'));
    const jobs = await deps.coordinator.list(c.get('tenantId'), {
      ...(q.status ? { status: q.status } : {}),
      ...(q.batchId ? { batchId: q.batchId } : {}),
      ...(q.cursor ? { before: q.cursor } : {}),
      limit: q.limit,
    });
    return c.json({ jobs, nextCursor: nextCursorOf(jobs, q.limit) });
  })
  .get('/:id', async (c) =>
    c.json(await getJob(jobDeps(c.env, c.get('tenantId')), c.get('tenantId'), c.req.param('id'))),
  )
  .post('/:id/cancel', async (c) =>
    c.json(
      await cancelJob(jobDeps(c.env, c.get('tenantId')), c.get('tenantId'), c.req.param('id')),
    ),
  )
  .get('/:id/events', async (c) => {
    const deps = jobDeps(c.env, c.get('tenantId'));
    const tenantId = c.get('tenantId');
    const jobId = c.req.param('id');
    const resumeAfter = lastEventId(c.req.header('last-event-id'), c.req.query('lastEventId'));
    const heartbeatMs = heartbeatMsOf(c.env);
    // Before the stream starts, so an unknown job is a plain 404.
    const first = await getJob(deps, tenantId, jobId);
    return streamSSE(c, (stream) =>
      followJob(stream, {
        first,
        afterSeq: resumeAfter,
        heartbeatMs,
        watch: (opts) => deps.coordinator.watch(jobId, tenantId, opts),
        read: () => getJob(deps, tenantId, jobId),
      }),
    );
  });

export const batchesRoutes = new Hono<AppEnv>().use('*', requireTenant).get('/:id', async (c) => {
  const batch = await getBatch(
    jobDeps(c.env, c.get('tenantId')),
    c.get('tenantId'),
    c.req.param('id'),
  );
  const counts = Object.fromEntries(
    JOB_STATUSES.map((s) => [s, batch.jobs.filter((j) => j.status === s).length]),
  );
  return c.json({ ...batch, counts, comparison: compareJobs(batch.jobs) });
});
