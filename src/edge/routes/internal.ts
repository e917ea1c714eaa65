// The worker-facing API: lease, heartbeat, progress, complete, fail — and read-only access to
// the dataset of a job the caller currently holds. Worker tokens only; nothing else reaches here.
import { Hono } from 'hono';
import { z } from 'zod';
import { BACKBONE_REF_PATTERN, backboneKeys, tenantBackboneOf } from '../../shared/backbones.js';
import { concatBytes } from '../../shared/bytes.js';
import { MAX_IMAGES_PER_REQUEST, MISSING_IMAGE, datasetKeys } from '../../shared/datasets.js';
import { sha256Hex } from '../../shared/fingerprint.js';
import {
  MAX_HEAD_BYTES,
  HeadEvaluationSchema,
  HeadManifestSchema,
  headIncompatibility,
  headKeys,
} from '../../shared/heads.js';
import { getBackboneManifest } from '../classification/model-store.js';
import { EpochMetricsSchema } from '../../shared/jobs.js';
import { requireWorker } from '../auth/middleware.js';
import type { AppEnv, Env } from '../env.js';
import { ApiError } from '../errors.js';
import { readBodyLimited } from '../http/body.js';
import { parseJsonText, readJson } from '../http/json.js';
import { parseInput } from '../http/validate.js';
import { settle } from '../jobs/coordinator.js';
import { coordinatorOfJob, leaseAcrossShards } from '../jobs/shards.js';
import { forgetRosterWrite, rosterNeedsWrite } from '../jobs/roster.js';

const LeaseRequest = z.object({
  workerId: z.string().min(1).max(128).optional(),
  waitSeconds: z.number().min(0).max(25).default(20),
  leaseSeconds: z.number().int().min(1).max(600).optional(),
  /** What the worker runs on (`cuda`, `cpu`), for the admin API's list of workers. */
  provider: z.string().min(1).max(32).optional(),
  /** Jobs it holds right now. */
  jobsHeld: z.number().int().min(0).max(1000).optional(),
});
const TokenBody = z.object({ leaseToken: z.uuid() });
const FailBody = TokenBody.extend({ message: z.string().min(1).max(2000), retryable: z.boolean() });
const ProgressBody = TokenBody.extend({ metrics: EpochMetricsSchema });
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const ImagesRequest = z
  .object({
    sha256: z
      .array(Sha256)
      .min(1)
      .max(MAX_IMAGES_PER_REQUEST)
      .refine((l) => new Set(l).size === l.length, 'list each image once'),
  })
  .strict();

/**
 * Streams `keys` as [4-byte big-endian length][bytes] records in order, `MISSING_IMAGE` as the
 * length of an absent object. One R2 read is open at a time (plus the next, started early), so
 * the isolate never holds more than two images however large the request.
 */
function streamImages(bucket: R2Bucket, keys: readonly string[]): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const header = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    return b;
  };
  void (async () => {
    const get = (key: string) => {
      const pending = bucket.get(key);
      pending.catch(() => undefined); // awaited in turn below; this only silences the early start
      return pending;
    };
    let next = keys[0] === undefined ? undefined : get(keys[0]);
    try {
      for (let i = 0; i < keys.length; i++) {
        const object = await next!;
        next = i + 1 < keys.length ? get(keys[i + 1]!) : undefined;
        const writer = writable.getWriter();
        await writer.write(header(object ? object.size : MISSING_IMAGE));
        writer.releaseLock();
        if (object) await object.body.pipeTo(writable, { preventClose: true });
      }
      await writable.close();
    } catch (err) {
      await writable.abort(err).catch(() => undefined);
    }
  })();
  return readable;
}

/** An optional JSON form field, validated; absent → undefined. */
function parseOptionalJson<T extends z.ZodType>(
  schema: T,
  value: File | string | null,
  field: string,
): z.infer<T> | undefined {
  if (value === null) return undefined;
  if (typeof value !== 'string')
    throw new ApiError('invalid_request', 'send this field as JSON text, not a file', field);
  return parseInput(schema, parseJsonText(value, field), field);
}

/** The dataset of a job the caller holds (its lease token in the x-lease-token header). */
async function heldDatasetId(env: AppEnv['Bindings'], jobId: string, header: string | undefined) {
  const lease = settle(
    await (await coordinatorOfJob(env, jobId)).checkLease(jobId, leaseTokenHeader(header)),
    'header.x-lease-token',
  );
  return lease.datasetId;
}

function leaseTokenHeader(header: string | undefined): string {
  return parseInput(
    z.uuid('send the lease token in the x-lease-token header'),
    header,
    'header.x-lease-token',
  );
}

const BackboneRefSchema = z.string().regex(BACKBONE_REF_PATTERN, 'a backbone id');

/** A backbone's manifest or model, streamed from R2 to the worker. */
async function backboneFile(env: Env, ref: string, file: string): Promise<Response> {
  const id = parseInput(BackboneRefSchema, ref, 'path.id');
  const keys = backboneKeys(id);
  const object = await env.MODELS.get(file === 'manifest.json' ? keys.manifest : keys.model);
  if (!object) throw new ApiError('not_found', `no backbone ${id}`, 'path.id');
  return new Response(object.body, {
    headers: { 'content-type': object.httpMetadata?.contentType ?? 'application/octet-stream' },
  });
}

export const internalRoutes = new Hono<AppEnv>()
  .use('*', requireWorker)
  .post('/leases', async (c) => {
    const body = parseInput(LeaseRequest, await readJson(c.req.raw), 'body');
    const workerId = body.workerId ?? c.get('workerName');
    // A worker asking for work has reported in: the admin API lists it. An unchanged report is
    // written at most every ROSTER_REFRESH_MS per isolate (idle workers poll every 20 s).
    const report = [c.get('workerName'), body.provider ?? null, body.jobsHeld ?? 0] as const;
    if (rosterNeedsWrite(workerId, report)) {
      await c.env.DB.prepare(
        `INSERT INTO workers (worker_id, token_name, provider, jobs_held, last_seen_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (worker_id) DO UPDATE SET token_name = excluded.token_name, provider = excluded.provider,
           jobs_held = excluded.jobs_held, last_seen_at = excluded.last_seen_at`,
      )
        .bind(workerId, ...report, new Date().toISOString())
        .run()
        .catch((err: unknown) => {
          forgetRosterWrite(workerId);
          throw err;
        });
    }
    const grant = await leaseAcrossShards(c.env, workerId, {
      waitSeconds: body.waitSeconds,
      ...(body.leaseSeconds === undefined ? {} : { leaseSeconds: body.leaseSeconds }),
    });
    return grant ? c.json(grant, 200) : c.body(null, 204);
  })
  .get('/backbones/:id/:file{(?:manifest\\.json|model\\.onnx)}', (c) =>
    backboneFile(c.env, c.req.param('id'), c.req.param('file')),
  )
  // A tenant's own backbone, by its full reference `{tenantId}/{name}`.
  .get('/backbones/:owner{ten_[A-Za-z0-9_-]+}/:id/:file{(?:manifest\\.json|model\\.onnx)}', (c) =>
    backboneFile(c.env, `${c.req.param('owner')}/${c.req.param('id')}`, c.req.param('file')),
  )
  .post('/jobs/:id/heartbeat', async (c) => {
    const { leaseToken } = parseInput(TokenBody, await readJson(c.req.raw), 'body');
    return c.json(
      settle(
        await (
          await coordinatorOfJob(c.env, c.req.param('id'))
        ).heartbeat(c.req.param('id'), leaseToken),
      ),
    );
  })
  .post('/jobs/:id/progress', async (c) => {
    const { leaseToken, metrics } = parseInput(ProgressBody, await readJson(c.req.raw), 'body');
    return c.json(
      settle(
        await (
          await coordinatorOfJob(c.env, c.req.param('id'))
        ).progress(c.req.param('id'), leaseToken, metrics),
      ),
    );
  })
  .post('/jobs/:id/fail', async (c) => {
    const body = parseInput(FailBody, await readJson(c.req.raw), 'body');
    const job = settle(
      await (
        await coordinatorOfJob(c.env, c.req.param('id'))
      ).failAttempt(c.req.param('id'), body.leaseToken, {
        message: body.message,
        retryable: body.retryable,
      }),
    );
    return c.json(job);
  })
  .get('/jobs/:id/dataset', async (c) => {
    const keys = datasetKeys(
      await heldDatasetId(c.env, c.req.param('id'), c.req.header('x-lease-token')),
    );
    const object = await c.env.DATASETS.get(keys.manifest);
    if (!object)
      throw new ApiError('not_found', `the dataset of job ${c.req.param('id')} no longer exists`);
    return new Response(object.body, { headers: { 'content-type': 'application/json' } });
  })
  .get('/jobs/:id/dataset/images/:sha256', async (c) => {
    const keys = datasetKeys(
      await heldDatasetId(c.env, c.req.param('id'), c.req.header('x-lease-token')),
    );
    const sha = parseInput(Sha256, c.req.param('sha256'), 'path.sha256');
    const object = await c.env.DATASETS.get(keys.image(sha));
    if (!object)
      throw new ApiError('not_found', `image ${sha} is not in the job's dataset`, 'path.sha256');
    return new Response(object.body, { headers: { 'content-type': 'application/octet-stream' } });
  })
  .post('/jobs/:id/dataset/images', async (c) => {
    const keys = datasetKeys(
      await heldDatasetId(c.env, c.req.param('id'), c.req.header('x-lease-token')),
    );
    const { sha256 } = parseInput(ImagesRequest, await readJson(c.req.raw), 'body');
    return new Response(
      streamImages(
        c.env.DATASETS,
        sha256.map((sha) => keys.image(sha)),
      ),
      { headers: { 'content-type': 'application/octet-stream' } },
    );
  })
  .post('/jobs/:id/complete', async (c) => {
    const jobId = c.req.param('id');
    const coordinator = await coordinatorOfJob(c.env, jobId);
    const contentType = c.req.header('content-type') ?? '';
    if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
      throw new ApiError(
        'unsupported_media_type',
        'send leaseToken, manifest and head as multipart/form-data',
        'header.content-type',
      );
    }
    const body = await readBodyLimited(c.req.raw, MAX_HEAD_BYTES);
    const form = await new Response(body, { headers: { 'content-type': contentType } })
      .formData()
      .catch(() => {
        throw new ApiError('invalid_request', 'the multipart body could not be parsed', 'body');
      });
    const leaseToken = parseInput(z.uuid(), form.get('leaseToken'), 'form.leaseToken');
    const manifestText = form.get('manifest');
    const head = form.get('head');
    if (typeof manifestText !== 'string')
      throw new ApiError(
        'invalid_request',
        'the form needs a "manifest" JSON field',
        'form.manifest',
      );
    if (!(head instanceof File))
      throw new ApiError('invalid_request', 'the form needs a "head" file field', 'form.head');
    const manifest = parseInput(
      HeadManifestSchema,
      parseJsonText(manifestText, 'form.manifest'),
      'form.manifest',
    );
    const evaluation = parseOptionalJson(
      HeadEvaluationSchema,
      form.get('evaluation'),
      'form.evaluation',
    );
    // Only the current lease holder may store a head (checked before anything is written).
    const lease = settle(await coordinator.checkLease(jobId, leaseToken), 'form.leaseToken');
    const owner = tenantBackboneOf(manifest.backbone.id);
    if (owner && owner.tenantId !== lease.tenantId)
      throw new ApiError(
        'forbidden',
        `the head's backbone belongs to another tenant than job ${jobId}'s`,
        'form.manifest.backbone.id',
      );
    const backbone = await getBackboneManifest(
      c.env.MODELS,
      manifest.backbone.id,
      'form.manifest.backbone.id',
    );
    const incompatible = headIncompatibility(manifest, backbone);
    if (incompatible) throw new ApiError('unprocessable', incompatible, 'form.manifest');
    const labels = Object.keys(manifest.id2label).length;
    if (evaluation && evaluation.classes.length !== labels)
      throw new ApiError(
        'invalid_request',
        `the evaluation has ${evaluation.classes.length} classes, the head ${labels}`,
        'form.evaluation.classes',
      );
    const onnx = new Uint8Array(await head.arrayBuffer());
    const manifestBytes = new TextEncoder().encode(
      JSON.stringify({ ...manifest, jobId, tenantId: lease.tenantId }),
    );
    const headId = `head_${(await sha256Hex(concatBytes([onnx, manifestBytes]))).slice(0, 32)}`;
    const keys = headKeys(headId);
    const meta = { customMetadata: { tenantId: lease.tenantId, jobId } };
    await c.env.MODELS.put(keys.model, onnx, {
      ...meta,
      httpMetadata: { contentType: 'application/octet-stream' },
    });
    if (evaluation)
      await c.env.MODELS.put(keys.evaluation, JSON.stringify(evaluation), {
        ...meta,
        httpMetadata: { contentType: 'application/json' },
      });
    // The manifest goes last: a head is only loadable once all its files are there.
    await c.env.MODELS.put(keys.manifest, manifestBytes, {
      ...meta,
      httpMetadata: { contentType: 'application/json' },
    });
    const done = await coordinator.complete(jobId, leaseToken, {
      headId,
      metrics: manifest.metrics,
      head: {
        backboneId: backbone.id,
        labels: Object.entries(manifest.id2label)
          .sort(([a], [b]) => Number(a) - Number(b))
          .map(([, label]) => label),
        bytes: onnx.byteLength,
      },
    });
    if (!done.ok && !(await coordinator.headInUse(headId))) {
      // The lease ended between the check and the completion: leave no orphan head behind.
      await c.env.MODELS.delete([keys.model, keys.manifest, keys.evaluation]);
    }
    return c.json(settle(done, 'form.leaseToken'));
  });
