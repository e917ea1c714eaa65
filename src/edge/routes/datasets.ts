// Dataset routes: upload a zip in ImageFolder layout (idempotently with a key), add single
// images, read, list, look at its images (a page of them, one image's bytes), delete.
// Records (ownership, status, counts) live in D1; archives, images and manifests in R2.
import { Hono } from 'hono';
import { z } from 'zod';
import {
  ClassNameSchema,
  DATASET_SPLITS,
  DEFAULT_DATASET_LIMITS,
  datasetKeys,
  Sha256Schema,
  type DatasetManifest,
} from '../../shared/datasets.js';
import { rateLimit, requireTenant } from '../auth/middleware.js';
import {
  addImage,
  cachedDatasetManifest,
  deleteDataset,
  parseDatasetId,
} from '../datasets/store.js';
import { IMAGE_CONTENT_TYPES } from '../datasets/entries.js';
import { uploadDataset } from '../datasets/upload.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { readBodyLimited } from '../http/body.js';
import { CursorSchema, nextCursorOf } from '../http/cursor.js';
import { idempotencyKey } from '../http/idempotency.js';
import { parseInput } from '../http/validate.js';

const ARCHIVE_TYPES = new Set([
  'application/zip',
  'application/x-zip-compressed',
  'application/octet-stream',
]);

const UploadQuery = z.object({
  name: z.string().min(1).max(200).optional(),
  seed: z.coerce
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  valFraction: z.coerce.number().gt(0).lt(1).optional(),
});

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  /** Opaque cursor from the previous page (`nextCursor`). */
  cursor: CursorSchema.optional(),
});

/** The latest time an ISO string in D1 can hold (later cursors read as "before everything"). */
const MAX_ISO_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** Most images one page of GET /v1/datasets/{id}/images lists. */
export const MAX_IMAGES_PAGE = 100;

const ImagesQuery = z
  .object({
    split: z.enum(DATASET_SPLITS).default('train'),
    label: ClassNameSchema.optional(),
    limit: z.coerce.number().int().min(1).max(MAX_IMAGES_PAGE).default(12),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

/** The report a client sees: everything but the per-image list. */
function report(manifest: DatasetManifest, name: string) {
  const { images, tenant: _tenant, ...rest } = manifest;
  return { ...rest, name, imageCount: { train: images.train.length, val: images.val.length } };
}

async function ownedDataset(
  db: D1Database,
  tenantId: string,
  id: string,
): Promise<{ name: string; status: string }> {
  const row = await db
    .prepare('SELECT name, status FROM datasets WHERE id = ? AND tenant_id = ?')
    .bind(parseDatasetId(id, 'path.id'), tenantId)
    .first<{ name: string; status: string }>();
  if (!row) throw new ApiError('not_found', `no dataset ${id}`, 'path.id');
  return row;
}

/** A dataset of the tenant's that has finished ingesting (404 or 409 otherwise). */
async function readyDataset(
  db: D1Database,
  tenantId: string,
  id: string,
): Promise<{ name: string }> {
  const record = await ownedDataset(db, tenantId, id);
  if (record.status !== 'ready')
    throw new ApiError('conflict', `dataset ${id} is still being ingested`, 'path.id');
  return record;
}

export const datasetsRoutes = new Hono<AppEnv>()
  .use('*', requireTenant)
  .post(
    '/',
    rateLimit((env) => env.SUBMIT_LIMITER, 60),
    async (c) => {
      const contentType = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (!ARCHIVE_TYPES.has(contentType)) {
        throw new ApiError(
          'unsupported_media_type',
          'send the dataset as application/zip',
          'header.content-type',
        );
      }
      const query = parseInput(UploadQuery, c.req.query(), 'query');
      const { manifest, name, replayed } = await uploadDataset(
        { db: c.env.DB, bucket: c.env.DATASETS },
        c.get('tenantId'),
        c.req.raw,
        { ...query, idempotencyKey: idempotencyKey(c.req.header('idempotency-key')) },
      );
      if (replayed) c.header('idempotent-replayed', 'true');
      return c.json(report(manifest, name), replayed ? 200 : 201);
    },
  )
  .get('/', async (c) => {
    const { limit, cursor } = parseInput(ListQuery, c.req.query(), 'query');
    // Keyset pagination as for jobs and heads: created_at is an ISO string (sorts as time), and
    // the id breaks ties between datasets created in the same millisecond.
    const at = new Date(Math.min(cursor?.at ?? MAX_ISO_MS, MAX_ISO_MS)).toISOString();
    const { results } = await c.env.DB.prepare(
      `SELECT id, name, image_count AS imageCount, class_count AS classCount, created_at AS createdAt
         FROM datasets WHERE tenant_id = ? AND status = 'ready'
           AND (created_at < ? OR (created_at = ? AND id < ?))
         ORDER BY created_at DESC, id DESC LIMIT ?`,
    )
      .bind(c.get('tenantId'), at, at, cursor?.id ?? '', limit)
      .all<{ id: string; createdAt: string }>();
    return c.json({ datasets: results, nextCursor: nextCursorOf(results, limit) });
  })
  .get('/:id', async (c) => {
    const id = c.req.param('id');
    const { name } = await readyDataset(c.env.DB, c.get('tenantId'), id);
    return c.json(report(await cachedDatasetManifest(c.env.DATASETS, id, 'path.id'), name));
  })
  .post(
    '/:id/images',
    rateLimit((env) => env.SUBMIT_LIMITER, 60),
    async (c) => {
      const id = c.req.param('id');
      await ownedDataset(c.env.DB, c.get('tenantId'), id);
      const contentType = c.req.header('content-type') ?? '';
      if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
        throw new ApiError(
          'unsupported_media_type',
          'send image, label and split as multipart/form-data',
          'header.content-type',
        );
      }
      const body = await readBodyLimited(
        c.req.raw,
        DEFAULT_DATASET_LIMITS.maxImageBytes + 64 * 1024,
      );
      const form = await new Response(body, { headers: { 'content-type': contentType } })
        .formData()
        .catch(() => {
          throw new ApiError('invalid_request', 'the multipart body could not be parsed', 'body');
        });
      const image = form.get('image');
      const label = form.get('label');
      const split = form.get('split') ?? 'train';
      if (!(image instanceof File))
        throw new ApiError('invalid_request', 'the form needs an "image" file field', 'form.image');
      if (typeof label !== 'string')
        throw new ApiError('invalid_request', 'the form needs a "label" field', 'form.label');
      if (typeof split !== 'string')
        throw new ApiError('invalid_request', '"split" must be train or val', 'form.split');
      const result = await addImage(c.env.DATASETS, id, {
        split,
        label,
        bytes: new Uint8Array(await image.arrayBuffer()),
      }).catch((err: unknown) => {
        // The store names plain fields; in this request they are form fields.
        if (err instanceof ApiError && err.field && !err.field.includes('.')) {
          throw new ApiError(
            err.code,
            err.message,
            `form.${err.field === 'body' ? 'image' : err.field}`,
            err.headers,
          );
        }
        throw err;
      });
      const total =
        Object.values(result.counts.train).reduce((a, b) => a + b, 0) +
        Object.values(result.counts.val).reduce((a, b) => a + b, 0);
      await c.env.DB.prepare('UPDATE datasets SET image_count = ?, class_count = ? WHERE id = ?')
        .bind(total, Object.keys(result.counts.train).length, id)
        .run();
      return c.json(result, result.added ? 201 : 200);
    },
  )
  .get('/:id/images', async (c) => {
    const id = c.req.param('id');
    const query = parseInput(ImagesQuery, c.req.query(), 'query');
    await readyDataset(c.env.DB, c.get('tenantId'), id);
    // Read once per class by the console's dataset page: parsed once per isolate while unchanged.
    const manifest = await cachedDatasetManifest(c.env.DATASETS, id, 'path.id');
    if (query.label !== undefined && !manifest.classes.includes(query.label))
      throw new ApiError(
        'invalid_request',
        `dataset ${id} has no class "${query.label}" (it has ${manifest.classes.join(', ')})`,
        'query.label',
      );
    const matching = manifest.images[query.split].filter(
      (image) => query.label === undefined || image.label === query.label,
    );
    const page = matching.slice(query.offset, query.offset + query.limit);
    return c.json({
      images: page.map(({ orientation: _orientation, ...image }) => ({
        ...image,
        split: query.split,
      })),
      total: matching.length,
    });
  })
  .get('/:id/images/:sha256', async (c) => {
    const id = c.req.param('id');
    const sha256 = parseInput(Sha256Schema, c.req.param('sha256'), 'path.sha256');
    await readyDataset(c.env.DB, c.get('tenantId'), id);
    // Images are stored under their dataset by content address: one found here is this dataset's.
    const object = await c.env.DATASETS.get(datasetKeys(id).image(sha256));
    if (!object)
      throw new ApiError('not_found', `dataset ${id} holds no image ${sha256}`, 'path.sha256');
    return new Response(object.body, {
      headers: {
        'content-type': object.httpMetadata?.contentType ?? IMAGE_CONTENT_TYPES.jpeg,
        'content-length': String(object.size),
        'cache-control': 'private, max-age=86400, immutable',
        'x-content-type-options': 'nosniff',
      },
    });
  })
  .delete('/:id', async (c) => {
    const id = c.req.param('id');
    await ownedDataset(c.env.DB, c.get('tenantId'), id);
    await deleteDataset(c.env.DATASETS, id);
    await c.env.DB.prepare('DELETE FROM datasets WHERE id = ?').bind(id).run();
    return c.body(null, 204);
  });
