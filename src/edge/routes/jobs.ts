// Public fine-tune job routes: submit (one or a batch), read, list, follow, cancel.
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { FINAL_STATUSES, JOB_STATUSES, compareJobs } from '../../shared/jobs.js';
import { rateLimit, requireTenant } from '../auth/middleware.js';
import type { AppEnv } from '../env.js';
import { CursorSchema, nextCursorOf } from '../http/cursor.js';
import { parseInput } from '../http/validate.js';
import { readJson } from '../http/json.js';
import { cancelJob, getBatch, getJob, jobDeps, submitBatch, submitJob } from '../jobs/service.js';

const IdempotencyKey = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
  .optional();

const idempotencyKey = (header: string | undefined) =>
  parseInput(IdempotencyKey, header, 'header.idempotency-key');

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
        jobDeps(c.env),
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
        jobDeps(c.env),
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
    const deps = jobDeps(c.env);
    const jobs = await deps.coordinator.list(c.get('tenantId'), {
      ...(q.status ? { status: q.status } : {}),
      ...(q.batchId ? { batchId: q.batchId } : {}),
      ...(q.cursor ? { before: q.cursor } : {}),
      limit: q.limit,
    });
    return c.json({ jobs, nextCursor: nextCursorOf(jobs, q.limit) });
  })
  .get('/:id', async (c) =>
    c.json(await getJob(jobDeps(c.env), c.get('tenantId'), c.req.param('id'))),
  )
  .post('/:id/cancel', async (c) =>
    c.json(await cancelJob(jobDeps(c.env), c.get('tenantId'), c.req.param('id'))),
  )
  .get('/:id/events', async (c) => {
    const deps = jobDeps(c.env);
    const tenantId = c.get('tenantId');
    const jobId = c.req.param('id');
    let job = await getJob(deps, tenantId, jobId);
    return streamSSE(c, async (stream) => {
      let sent = '';
      const deadline = Date.now() + 10 * 60_000;
      for (;;) {
        const state = `${job.status}|${job.history.length}|${job.updatedAt}`;
        if (state !== sent) {
          sent = state;
          await stream.writeSSE({ event: 'job', id: job.updatedAt, data: JSON.stringify(job) });
        }
        if (FINAL_STATUSES.has(job.status) || Date.now() > deadline || stream.aborted) break;
        await stream.sleep(1000);
        job = await getJob(deps, tenantId, jobId);
      }
      await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: job.status }) });
    });
  });

export const batchesRoutes = new Hono<AppEnv>().use('*', requireTenant).get('/:id', async (c) => {
  const batch = await getBatch(jobDeps(c.env), c.get('tenantId'), c.req.param('id'));
  const counts = Object.fromEntries(
    JOB_STATUSES.map((s) => [s, batch.jobs.filter((j) => j.status === s).length]),
  );
  return c.json({ ...batch, counts, comparison: compareJobs(batch.jobs) });
});
