// The heads API: a tenant's trained heads (list, details with metrics and confusion matrix,
// per-image evaluation, download, delete) and aliases that pin a name such as "production".
import { z, type RouteConfig } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { backboneKeys } from '../../shared/backbones.js';
import {
  AliasNameSchema,
  AliasViewSchema,
  HeadEvaluationSchema,
  HeadIdSchema,
  HeadSummarySchema,
  HeadManifestSchema,
  headKeys,
  type HeadManifest,
  type HeadSummary,
} from '../../shared/heads.js';
import { storedZip } from '../../shared/zip-store.js';
import { requireTenant } from '../auth/middleware.js';
import { evictHead } from '../classification/head-store.js';
import { forgetResolved } from '../classification/resolve.js';
import { getBackboneManifest } from '../classification/model-store.js';
import type { AppEnv, Env } from '../env.js';
import { ApiError } from '../errors.js';
import { readJson } from '../http/json.js';
import { withGraphOutputs } from '../../shared/onnx-outputs.js';
import { CursorSchema, nextCursorOf } from '../http/cursor.js';
import { parseInput } from '../http/validate.js';
import { settle } from '../jobs/coordinator.js';
import { forgetImmutable } from '../classification/location-cache.js';
import { coordinatorOf } from '../jobs/shards.js';
import {
  docProblem as problem,
  docJson as json,
  API_KEY_SECURITY as security,
} from '../docs/openapi.js';

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  /** Opaque cursor from the previous page (`nextCursor`). */
  cursor: CursorSchema.optional(),
});

const DownloadQuery = z.object({
  /** One file instead of the zip. */
  file: z.enum(['model.onnx', 'manifest.json']).optional(),
  /** Also put the backbone's ONNX in the zip, so the download runs on its own. */
  backbone: z.enum(['true', 'false']).default('false'),
});

const AliasBody = z.object({ headId: HeadIdSchema });

/** A live head of the tenant, or a 404 naming the path. */
async function headOf(env: Env, tenantId: string, id: string): Promise<HeadSummary> {
  const headId = parseInput(HeadIdSchema, id, 'path.id');
  const head = await coordinatorOf(env, tenantId).getHead(tenantId, headId);
  if (!head) throw new ApiError('not_found', `no head ${headId}`, 'path.id');
  return head;
}

async function readObject(bucket: R2Bucket, key: string, what: string): Promise<Uint8Array> {
  const object = await bucket.get(key);
  if (!object) throw new ApiError('model_unavailable', `the ${what} is missing from storage`);
  return new Uint8Array(await object.arrayBuffer());
}

async function manifestOf(bucket: R2Bucket, headId: string): Promise<HeadManifest> {
  const bytes = await readObject(bucket, headKeys(headId).manifest, `manifest of ${headId}`);
  return HeadManifestSchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
}

/** The README that travels with a downloaded head. */
function downloadReadme(head: HeadSummary, manifest: HeadManifest, withBackbone: boolean): string {
  const p = manifest.preprocessing;
  const shape = manifest.input.shape ?? [manifest.input.dim];
  const tail = manifest.input.shape !== undefined;
  const resize =
    p.resize.mode === 'squash'
      ? `resize the whole image to ${p.crop.width}×${p.crop.height} (aspect ratio not kept)`
      : `resize so the shorter side is ${p.resize.shortestEdge} px, then take the centre ${p.crop.width}×${p.crop.height}`;
  return [
    `# ${head.id}`,
    '',
    tail
      ? `A classifier trained by Headstart (job ${head.jobId}) by fine-tuning the top of the backbone`
      : `A classifier head trained by Headstart (job ${head.jobId}) on embeddings of the backbone`,
    `\`${manifest.backbone.id}\` (weights fingerprint ${manifest.backbone.fingerprint}).` +
      (tail
        ? ` It holds the trained blocks from \`${manifest.input.name}\` on plus the classifier.`
        : ''),
    '',
    `Classes: ${head.labels.join(', ')}.`,
    `Validation accuracy: ${head.metrics.valAccuracy ?? 'n/a'}.`,
    '',
    '## Files',
    '',
    '- `model.onnx`: the head. Input `' +
      `${manifest.input.name}\` float32 [batch, ${shape.join(', ')}]; outputs \`logits\` and \`probabilities\` [batch, ${head.labels.length}].`,
    '- `manifest.json`: labels (`id2label`), preprocessing, metrics and hyperparameters.',
    withBackbone
      ? `- \`backbone.onnx\`: ${manifest.backbone.id}${tail ? ' (with the cut tensor as an extra output)' : ''}. Input NCHW float32 [batch, 3, ${p.crop.height}, ${p.crop.width}]; output \`${manifest.input.name}\` feeds the head.`
      : `- The backbone is not included: download it with \`?backbone=true\`, or convert ${manifest.backbone.id} with Headstart's \`npm run models:import\`.`,
    '',
    '## Running it anywhere onnxruntime runs',
    '',
    `1. Decode the image to RGB (composite any alpha over white; honour EXIF orientation).`,
    `2. ${resize}, with a triangle (bilinear, antialiased) filter.`,
    `3. Scale values by ${p.rescaleFactor}, subtract mean ${JSON.stringify(p.image_mean)}, divide by std ${JSON.stringify(p.image_std)}; lay out as NCHW.`,
    `4. Run the backbone, feed its \`${manifest.input.name}\` output to \`model.onnx\`, read \`probabilities\`.`,
    '',
  ].join('\n');
}

export const headsRoutes = new Hono<AppEnv>()
  .use('*', requireTenant)
  .get('/', async (c) => {
    const q = parseInput(ListQuery, c.req.query(), 'query');
    const heads = await coordinatorOf(c.env, c.get('tenantId')).listHeads(c.get('tenantId'), {
      ...(q.cursor ? { before: q.cursor } : {}),
      limit: q.limit,
    });
    return c.json({ heads, nextCursor: nextCursorOf(heads, q.limit) });
  })
  .get('/:id', async (c) => {
    const head = await headOf(c.env, c.get('tenantId'), c.req.param('id'));
    const manifest = await manifestOf(c.env.MODELS, head.id);
    const confusion = manifest.metrics.confusion;
    return c.json({
      ...head,
      confusion: Array.isArray(confusion) ? { labels: head.labels, matrix: confusion } : null,
      manifest,
    });
  })
  .get('/:id/evaluation', async (c) => {
    const head = await headOf(c.env, c.get('tenantId'), c.req.param('id'));
    const object = await c.env.MODELS.get(headKeys(head.id).evaluation);
    if (!object)
      throw new ApiError('not_found', `${head.id} was stored without per-image predictions`);
    return new Response(object.body, { headers: { 'content-type': 'application/json' } });
  })
  .get('/:id/download', async (c) => {
    const q = parseInput(DownloadQuery, c.req.query(), 'query');
    const head = await headOf(c.env, c.get('tenantId'), c.req.param('id'));
    const keys = headKeys(head.id);
    if (q.file) {
      const bytes = await readObject(
        c.env.MODELS,
        q.file === 'model.onnx' ? keys.model : keys.manifest,
        `${q.file} of ${head.id}`,
      );
      return new Response(bytes, {
        headers: {
          'content-type': q.file === 'model.onnx' ? 'application/octet-stream' : 'application/json',
          'content-disposition': `attachment; filename="${head.id}-${q.file}"`,
        },
      });
    }
    const [model, manifestBytes] = await Promise.all([
      readObject(c.env.MODELS, keys.model, `model of ${head.id}`),
      readObject(c.env.MODELS, keys.manifest, `manifest of ${head.id}`),
    ]);
    const manifest = HeadManifestSchema.parse(JSON.parse(new TextDecoder().decode(manifestBytes)));
    const withBackbone = q.backbone === 'true';
    // A fine-tuned head starts inside the backbone: the bundled backbone outputs that tensor too.
    const cut = manifest.input.shape === undefined ? [] : [manifest.input.name];
    const files = [
      { name: 'model.onnx', data: model },
      { name: 'manifest.json', data: manifestBytes },
      {
        name: 'README.md',
        data: new TextEncoder().encode(downloadReadme(head, manifest, withBackbone)),
      },
    ];
    if (withBackbone) {
      const backbone = await getBackboneManifest(c.env.MODELS, manifest.backbone.id);
      files.push({
        name: 'backbone.onnx',
        data: withGraphOutputs(
          await readObject(
            c.env.MODELS,
            backboneKeys(backbone.id).model,
            `backbone ${backbone.id}`,
          ),
          cut.filter((name) => name !== backbone.onnx.input.name),
        ),
      });
    }
    return new Response(storedZip(files), {
      headers: {
        'content-type': 'application/zip',
        'content-disposition': `attachment; filename="${head.id}.zip"`,
      },
    });
  })
  .delete('/:id', async (c) => {
    const headId = parseInput(HeadIdSchema, c.req.param('id'), 'path.id');
    // The coordinator first (listings and aliases stop at once), then the files (a head id
    // resolves from R2, so new resolutions stop here; isolates that remember the head stop within
    // RESOLVE_SECONDS, this one now), then this location's cached copies; a retried delete of a
    // head already marked deleted still removes what is left.
    settle(await coordinatorOf(c.env, c.get('tenantId')).deleteHead(c.get('tenantId'), headId));
    const keys = headKeys(headId);
    await c.env.MODELS.delete([keys.model, keys.manifest, keys.evaluation]);
    await forgetImmutable([keys.model, keys.manifest]);
    forgetResolved(c.get('tenantId'), { headId });
    evictHead(headId);
    return c.body(null, 204);
  });

export const aliasesRoutes = new Hono<AppEnv>()
  .use('*', requireTenant)
  .get('/', async (c) =>
    c.json({
      aliases: await coordinatorOf(c.env, c.get('tenantId')).listAliases(c.get('tenantId')),
    }),
  )
  .get('/:name', async (c) => {
    const name = parseInput(AliasNameSchema, c.req.param('name'), 'path.name');
    const alias = (
      await coordinatorOf(c.env, c.get('tenantId')).listAliases(c.get('tenantId'))
    ).find((a) => a.name === name);
    if (!alias) throw new ApiError('not_found', `no alias ${name}`, 'path.name');
    return c.json(alias);
  })
  .put('/:name', async (c) => {
    const name = parseInput(AliasNameSchema, c.req.param('name'), 'path.name');
    const { headId } = parseInput(AliasBody, await readJson(c.req.raw), 'body');
    const backboneNamed = await getBackboneManifest(c.env.MODELS, name).then(
      () => true,
      () => false,
    );
    if (backboneNamed)
      throw new ApiError('conflict', `"${name}" is a backbone id; pick another alias`, 'path.name');
    const result = await coordinatorOf(c.env, c.get('tenantId')).setAlias(
      c.get('tenantId'),
      name,
      headId,
    );
    if (!result.ok) throw new ApiError('not_found', result.message, 'body.headId');
    forgetResolved(c.get('tenantId'), { alias: name });
    return c.json(result.value, 200);
  })
  .delete('/:name', async (c) => {
    const name = parseInput(AliasNameSchema, c.req.param('name'), 'path.name');
    const result = await coordinatorOf(c.env, c.get('tenantId')).deleteAlias(
      c.get('tenantId'),
      name,
    );
    if (!result.ok) throw new ApiError('not_found', result.message, 'path.name');
    forgetResolved(c.get('tenantId'), { alias: name });
    return c.body(null, 204);
  });

const headId = z.object({ id: HeadIdSchema });
const aliasName = z.object({ name: AliasNameSchema });

/** The heads and aliases routes in the OpenAPI document (they are plain Hono handlers). */
export const HEADS_API_DOCS: RouteConfig[] = [
  {
    method: 'get',
    path: '/v1/heads',
    tags: ['heads'],
    security,
    summary: 'Your trained heads, newest first',
    request: { query: ListQuery },
    responses: {
      200: json(
        'Heads with their headline metrics and aliases',
        z.object({ heads: z.array(HeadSummarySchema), nextCursor: z.string().nullable() }),
      ),
      401: problem('No or bad API key'),
    },
  },
  {
    method: 'get',
    path: '/v1/heads/{id}',
    tags: ['heads'],
    security,
    summary: 'One head: metrics, confusion matrix and its full manifest',
    request: { params: headId },
    responses: {
      200: json(
        'The head',
        HeadSummarySchema.extend({
          confusion: z
            .object({ labels: z.array(z.string()), matrix: z.array(z.array(z.number())) })
            .nullable(),
          // The manifest's metrics are free-form JSON (recursive), summarised for the document.
          manifest: z.record(z.string(), z.unknown()).openapi({
            description:
              'the head manifest: backbone, input, preprocessing, id2label, metrics, hyperparameters',
          }),
        }),
      ),
      404: problem('No such head for this key'),
    },
  },
  {
    method: 'get',
    path: '/v1/heads/{id}/evaluation',
    tags: ['heads'],
    security,
    summary: 'The worker’s probabilities for every validation image',
    request: { params: headId },
    responses: {
      200: json('Per-image predictions', HeadEvaluationSchema),
      404: problem('No such head, or stored without predictions'),
    },
  },
  {
    method: 'get',
    path: '/v1/heads/{id}/download',
    tags: ['heads'],
    security,
    summary: 'The head as a zip (model.onnx, manifest.json, README.md), or one file',
    request: { params: headId, query: DownloadQuery },
    responses: {
      200: {
        description: 'application/zip, or the one file asked for',
        content: { 'application/zip': { schema: z.string().openapi({ format: 'binary' }) } },
      },
      404: problem('No such head for this key'),
    },
  },
  {
    method: 'delete',
    path: '/v1/heads/{id}',
    tags: ['heads'],
    security,
    summary: 'Delete a head (not while an alias points at it)',
    request: { params: headId },
    responses: {
      204: { description: 'Deleted' },
      404: problem('No such head for this key'),
      409: problem('An alias points at the head'),
    },
  },
  {
    method: 'get',
    path: '/v1/aliases',
    tags: ['heads'],
    security,
    summary: 'Your aliases',
    responses: { 200: json('Aliases', z.object({ aliases: z.array(AliasViewSchema) })) },
  },
  {
    method: 'get',
    path: '/v1/aliases/{name}',
    tags: ['heads'],
    security,
    summary: 'One alias',
    request: { params: aliasName },
    responses: { 200: json('The alias', AliasViewSchema), 404: problem('No such alias') },
  },
  {
    method: 'put',
    path: '/v1/aliases/{name}',
    tags: ['heads'],
    security,
    summary: 'Point an alias at a head (create or move)',
    request: {
      params: aliasName,
      body: { content: { 'application/json': { schema: AliasBody } }, required: true },
    },
    responses: {
      200: json('The alias', AliasViewSchema),
      400: problem('Bad alias name or head id'),
      404: problem('No such head for this key'),
      409: problem('The name is a backbone id'),
    },
  },
  {
    method: 'delete',
    path: '/v1/aliases/{name}',
    tags: ['heads'],
    security,
    summary: 'Drop an alias (the head stays)',
    request: { params: aliasName },
    responses: { 204: { description: 'Deleted' }, 404: problem('No such alias') },
  },
];
