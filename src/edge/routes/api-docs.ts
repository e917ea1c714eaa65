// The dataset, fine-tune and batch routes in the OpenAPI document. Their handlers read bodies
// themselves (streamed archives, size-capped JSON), so they are described here rather than by
// validators; a test checks every documented path is routed and every client route documented.
import { z, type RouteConfig } from '@hono/zod-openapi';
import {
  DATASET_SPLITS,
  DatasetImageSchema,
  DatasetManifestSchema,
} from '../../shared/datasets.js';
import {
  BatchComparisonRowSchema,
  FineTuneSpecSchema,
  JOB_STATUSES,
  JobViewSchema,
} from '../../shared/jobs.js';
import {
  docProblem as problem,
  docJson as json,
  API_KEY_SECURITY as security,
} from '../docs/openapi.js';

const id = z.object({ id: z.string() });

/** What an upload or GET /v1/datasets/{id} answers: the manifest without its image list. */
const DatasetReportSchema = DatasetManifestSchema.omit({ images: true, tenant: true }).extend({
  name: z.string(),
  imageCount: z.object({ train: z.number().int(), val: z.number().int() }),
});

/** Any subset of the spec, with an optional preset (the rest is filled in). */
const JobRequestSchema = FineTuneSpecSchema.partial()
  .extend({ preset: z.enum(['headstart', 'lesson']).optional() })
  .openapi({ description: 'Only datasetId is required; docs/api.md lists every default.' });

const idempotencyKey = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .openapi({ description: 'Repeat a submission safely: the same key answers the same job(s)' }),
});

export const JOBS_API_DOCS: RouteConfig[] = [
  {
    method: 'post',
    path: '/v1/datasets',
    tags: ['datasets'],
    security,
    summary: 'Upload an ImageFolder zip (train/<class>/…, optional val/<class>/…)',
    description:
      'The body is the zip, with a Content-Length or streamed (chunked). With an Idempotency-Key, ' +
      'a retry of the same bytes answers the first upload’s dataset (200, `idempotent-replayed: ' +
      'true`); other bytes get 409 `idempotency_conflict`; a retry that arrives while the first ' +
      'upload is still being ingested gets 409 `idempotency_in_progress` with Retry-After.',
    request: {
      headers: idempotencyKey,
      query: z.object({
        name: z.string().optional(),
        seed: z.number().int().optional(),
        valFraction: z.number().optional(),
      }),
      body: {
        required: true,
        content: { 'application/zip': { schema: z.string().openapi({ format: 'binary' }) } },
      },
    },
    responses: {
      201: json('The validation report (counts, rejected files and why)', DatasetReportSchema),
      200: json(
        'A replay of an earlier upload with the same Idempotency-Key and bytes',
        DatasetReportSchema,
      ),
      409: problem(
        'The Idempotency-Key was used for other bytes, or its first upload is still running (Retry-After)',
      ),
      413: problem('Archive over the limits (size, entries, inflated size, ratio)'),
      415: problem('Not application/zip'),
      422: problem('Not a readable archive, or not a usable dataset'),
    },
  },
  {
    method: 'get',
    path: '/v1/datasets',
    tags: ['datasets'],
    security,
    summary: 'Your datasets, newest first',
    description:
      'A page of `limit` (1–100, default 50) ready datasets. Pass `nextCursor` back as `cursor` for the next, older page; it is null on the last page.',
    request: {
      query: z.object({ limit: z.number().int().optional(), cursor: z.string().optional() }),
    },
    responses: {
      200: json(
        'Datasets',
        z.object({
          datasets: z.array(
            z.object({
              id: z.string(),
              name: z.string(),
              imageCount: z.number(),
              classCount: z.number(),
              createdAt: z.string(),
            }),
          ),
          nextCursor: z.string().nullable(),
        }),
      ),
      400: problem('A bad `limit` or `cursor` (named in `field`)'),
    },
  },
  {
    method: 'get',
    path: '/v1/datasets/{id}',
    tags: ['datasets'],
    security,
    summary: 'One dataset’s report',
    request: { params: id },
    responses: { 200: json('The report', DatasetReportSchema), 404: problem('No such dataset') },
  },
  {
    method: 'get',
    path: '/v1/datasets/{id}/images',
    tags: ['datasets'],
    security,
    summary:
      'A page of a dataset’s images (one split, optionally one class), in the dataset’s order',
    request: {
      params: id,
      query: z.object({
        split: z.enum(DATASET_SPLITS).optional().openapi({ description: 'Default: train' }),
        label: z.string().optional().openapi({ description: 'Only this class' }),
        limit: z.number().int().min(1).max(100).optional().openapi({ description: 'Default: 12' }),
        offset: z.number().int().min(0).optional(),
      }),
    },
    responses: {
      200: json(
        'The images (fetch each one from /v1/datasets/{id}/images/{sha256}) and how many match',
        z.object({
          images: z.array(
            DatasetImageSchema.omit({ orientation: true }).extend({
              split: z.enum(DATASET_SPLITS),
            }),
          ),
          total: z.number().int(),
        }),
      ),
      400: problem('A bad split, class, limit or offset (named in `field`)'),
      404: problem('No such dataset'),
    },
  },
  {
    method: 'get',
    path: '/v1/datasets/{id}/images/{sha256}',
    tags: ['datasets'],
    security,
    summary: 'One image of a dataset, as it was uploaded',
    request: { params: z.object({ id: z.string(), sha256: z.string() }) },
    responses: {
      200: {
        description: 'The image (image/jpeg, image/png or image/webp); cacheable privately',
        content: { 'image/*': { schema: z.string().openapi({ format: 'binary' }) } },
      },
      400: problem('Not a sha256'),
      404: problem('No such dataset, or it holds no such image'),
    },
  },
  {
    method: 'delete',
    path: '/v1/datasets/{id}',
    tags: ['datasets'],
    security,
    summary: 'Delete a dataset and its files',
    request: { params: id },
    responses: { 204: { description: 'Deleted' }, 404: problem('No such dataset') },
  },
  {
    method: 'post',
    path: '/v1/fine-tunes',
    tags: ['fine-tunes'],
    security,
    summary: 'Submit a fine-tune job',
    request: {
      headers: idempotencyKey,
      body: { required: true, content: { 'application/json': { schema: JobRequestSchema } } },
    },
    responses: {
      201: json('The job, with its fully resolved spec', JobViewSchema),
      200: json('A replay of an earlier submission with the same Idempotency-Key', JobViewSchema),
      400: problem('A bad field (named in `field`)'),
      409: problem('The Idempotency-Key was used for a different request'),
      422: problem('A strategy that is not available yet'),
      429: problem('Too many submissions; see Retry-After'),
    },
  },
  {
    method: 'post',
    path: '/v1/fine-tunes/batch',
    tags: ['fine-tunes'],
    security,
    summary: 'Submit several jobs as one batch',
    request: {
      headers: idempotencyKey,
      body: {
        required: true,
        content: {
          'application/json': { schema: z.object({ jobs: z.array(JobRequestSchema).min(1) }) },
        },
      },
    },
    responses: {
      201: json('The batch', z.object({ batchId: z.string(), jobs: z.array(JobViewSchema) })),
      400: problem('A bad job (its index is in `field`)'),
    },
  },
  {
    method: 'get',
    path: '/v1/fine-tunes',
    tags: ['fine-tunes'],
    security,
    summary: 'Your jobs, newest first',
    request: {
      query: z.object({
        status: z.enum(JOB_STATUSES).optional(),
        batchId: z.string().optional(),
        limit: z.number().int().optional(),
        cursor: z.string().optional(),
      }),
    },
    responses: {
      200: json(
        'Jobs',
        z.object({ jobs: z.array(JobViewSchema), nextCursor: z.string().nullable() }),
      ),
    },
  },
  {
    method: 'get',
    path: '/v1/fine-tunes/{id}',
    tags: ['fine-tunes'],
    security,
    summary: 'One job: status, progress, history, metrics, headId',
    request: { params: id },
    responses: { 200: json('The job', JobViewSchema), 404: problem('No such job') },
  },
  {
    method: 'get',
    path: '/v1/fine-tunes/{id}/events',
    tags: ['fine-tunes'],
    security,
    summary: 'The job as server-sent events: `epoch` per epoch, `job` on every change, then `end`',
    description:
      'One `epoch` event per epoch of every attempt, in order; its `id` is the epoch’s number in ' +
      'the job’s log (`seq`): reconnect with `Last-Event-ID` (or `?lastEventId=`) to resume after ' +
      'it, missing and repeating nothing. A `job` event carries the whole job whenever it changes. ' +
      'While nothing happens a `: heartbeat` comment line is sent every 15 s ' +
      '(EVENTS_HEARTBEAT_SECONDS), so proxies keep the stream open. A stream ends with `end` when ' +
      'the job is final, or after ten minutes (reconnect).',
    request: {
      params: id,
      headers: z.object({
        'last-event-id': z
          .string()
          .regex(/^\d{1,9}$/)
          .optional(),
      }),
      query: z.object({
        lastEventId: z
          .string()
          .regex(/^\d{1,9}$/)
          .optional(),
      }),
    },
    responses: {
      200: {
        description: 'text/event-stream',
        content: { 'text/event-stream': { schema: z.string() } },
      },
      400: problem('A Last-Event-ID that is not an epoch seq'),
      404: problem('No such job'),
    },
  },
  {
    method: 'post',
    path: '/v1/fine-tunes/{id}/cancel',
    tags: ['fine-tunes'],
    security,
    summary: 'Cancel a job (at once when queued, at its next heartbeat when running)',
    request: { params: id },
    responses: {
      200: json('The job', JobViewSchema),
      404: problem('No such job'),
      409: problem('The job has already ended'),
    },
  },
  {
    method: 'get',
    path: '/v1/batches/{id}',
    tags: ['fine-tunes'],
    security,
    summary: 'A batch: its jobs, how many are in each state, and the jobs compared side by side',
    request: { params: id },
    responses: {
      200: json(
        'The batch',
        z.object({
          batchId: z.string(),
          jobs: z.array(JobViewSchema),
          counts: z.record(z.string(), z.number()),
          comparison: z.array(BatchComparisonRowSchema),
        }),
      ),
      404: problem('No such batch'),
    },
  },
];
