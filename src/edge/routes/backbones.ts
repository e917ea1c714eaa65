// A tenant's own backbones: import an ONNX model with its card (checked, trial-run in the edge's
// own onnxruntime-web, stored in R2 under the tenant), list them beside the catalogue, delete
// them once nothing uses them. Jobs, heads and /v1/classify name them like catalogue backbones.
import { z, type RouteConfig } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { CardError, parseBackboneCard, type BackboneCard } from '../../shared/backbone-card.js';
import {
  BACKBONES,
  findBackbone,
  IMAGENET_LABELS,
  backboneKeys,
  tenantBackboneOf,
  tenantBackbonesPrefix,
} from '../../shared/backbones.js';
import { BackboneManifestSchema, type BackboneManifest } from '../../shared/manifest.js';
import {
  BackboneImportError,
  MAX_BACKBONE_BYTES,
  importOnnxBackbone,
  syntheticTrialImages,
} from '../../shared/onnx-import.js';
import { rateLimit, requireTenant } from '../auth/middleware.js';
import {
  evictBackboneSession,
  forgetBackboneRefs,
  getBackboneManifest,
  listBackboneManifests,
  listTenantBackboneManifests,
  resolveBackboneRef,
} from '../classification/model-store.js';
import { createEdgeSession } from '../classification/onnx-backend.js';
import {
  API_KEY_SECURITY as security,
  docJson as json,
  docProblem as problem,
} from '../docs/openapi.js';
import type { AppEnv } from '../env.js';
import { ModelSummarySchema, modelSummary } from './models.js';
import { ApiError } from '../errors.js';
import { readBodyLimited } from '../http/body.js';
import { coordinatorOf } from '../jobs/shards.js';

/** Backbones one tenant may keep (each up to 32 MB in R2). */
export const MAX_BACKBONES_PER_TENANT = 10;
/** Room for the card and the multipart framing beside the model. */
const CARD_MAX_BYTES = 256 * 1024;
/** The largest request POST /v1/backbones reads. */
export const BACKBONE_UPLOAD_MAX_BYTES = MAX_BACKBONE_BYTES + CARD_MAX_BYTES;

/** A backbone as listed: as GET /v1/models shows it, with its name and whose it is. */
const BackboneSummarySchema = ModelSummarySchema.extend({
  name: z.string().openapi({ description: 'what you call it in jobs and /v1/classify' }),
  owner: z.enum(['catalogue', 'tenant']),
});

function summary(m: BackboneManifest): z.infer<typeof BackboneSummarySchema> {
  const owned = tenantBackboneOf(m.id);
  return { ...modelSummary(m), name: owned?.name ?? m.id, owner: owned ? 'tenant' : 'catalogue' };
}

/**
 * One import at a time per isolate: an import holds the model two or three times over (the
 * upload, the rewritten graph, the trial session) and the isolate has 128 MB for everything.
 */
let importing: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(work: () => Promise<T>): Promise<T> {
  const run = importing.then(work, work);
  importing = run.catch(() => undefined);
  return run;
}

/** The 1000 ImageNet names, from a catalogue backbone that ships them. */
async function imagenetLabels(bucket: R2Bucket): Promise<string[]> {
  for (const spec of BACKBONES) {
    if (!('labels' in spec) || spec.labels.sha256 !== IMAGENET_LABELS.sha256) continue;
    const manifest = await getBackboneManifest(bucket, spec.id).catch(() => undefined);
    if (!manifest?.id2label) continue;
    return Object.entries(manifest.id2label)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([, label]) => label);
  }
  throw new ApiError(
    'model_unavailable',
    'no catalogue backbone with the ImageNet names is published here; list the labels in card.outputs.labels',
  );
}

/** The form's `model` bytes and parsed `card` (a JSON string or a .json file). */
async function readUpload(request: Request): Promise<{ bytes: Uint8Array; card: BackboneCard }> {
  const contentType = request.headers.get('content-type') ?? '';
  if (!contentType.toLowerCase().startsWith('multipart/form-data'))
    throw new ApiError(
      'unsupported_media_type',
      'send multipart/form-data with a "model" file (the .onnx) and a "card" field (its JSON card)',
      'header.content-type',
    );
  let body: Uint8Array | undefined;
  try {
    body = await readBodyLimited(request, BACKBONE_UPLOAD_MAX_BYTES);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'body_too_large')
      throw new ApiError(
        'model_too_large',
        `a backbone is at most ${MAX_BACKBONE_BYTES} bytes (the edge isolate has 128 MB for everything)`,
        'form.model',
      );
    throw err;
  }
  const form = await new Response(body, { headers: { 'content-type': contentType } })
    .formData()
    .catch(() => {
      throw new ApiError('invalid_request', 'the multipart body could not be parsed', 'body');
    });
  body = undefined;
  const model = form.get('model');
  if (!(model instanceof File))
    throw new ApiError('invalid_request', 'the form needs a "model" file: the .onnx', 'form.model');
  if (model.size > MAX_BACKBONE_BYTES)
    throw new ApiError(
      'model_too_large',
      `${model.size} bytes is over the ${MAX_BACKBONE_BYTES}-byte limit for a backbone`,
      'form.model',
    );
  const cardField = form.get('card');
  if (cardField === null)
    throw new ApiError(
      'invalid_request',
      'the form needs a "card" field: the JSON card',
      'form.card',
    );
  const cardText = typeof cardField === 'string' ? cardField : await cardField.text();
  if (cardText.length > CARD_MAX_BYTES)
    throw new ApiError('invalid_request', `the card is over ${CARD_MAX_BYTES} bytes`, 'form.card');
  let card: BackboneCard;
  try {
    card = parseBackboneCard(JSON.parse(cardText));
  } catch (err) {
    if (err instanceof CardError)
      throw new ApiError('invalid_request', err.message, `form.${err.field}`);
    throw new ApiError('invalid_request', 'the card is not valid JSON', 'form.card');
  }
  return { bytes: new Uint8Array(await model.arrayBuffer()), card };
}

export const backbonesRoutes = new Hono<AppEnv>()
  .use('*', requireTenant)
  .get('/', async (c) => {
    const [catalogue, own] = await Promise.all([
      listBackboneManifests(c.env.MODELS),
      listTenantBackboneManifests(c.env.MODELS, c.get('tenantId')),
    ]);
    return c.json({
      backbones: [...catalogue, ...own].map(summary),
    });
  })
  .get('/:name', async (c) => {
    const name = c.req.param('name');
    const ref = await resolveBackboneRef(c.env.MODELS, c.get('tenantId'), name);
    const manifest = ref
      ? await getBackboneManifest(c.env.MODELS, ref, 'path.name').catch(() => undefined)
      : undefined;
    if (!ref || !manifest) throw new ApiError('not_found', `no backbone "${name}"`, 'path.name');
    return c.json({ ...manifest, name: tenantBackboneOf(ref)?.name ?? ref });
  })
  .post(
    '/',
    rateLimit((env) => env.SUBMIT_LIMITER, 60),
    async (c) => {
      const tenantId = c.get('tenantId');
      const manifest = await oneAtATime(async () => {
        const { bytes, card } = await readUpload(c.req.raw);
        const owned = await c.env.MODELS.list({
          prefix: tenantBackbonesPrefix(tenantId),
          delimiter: '/',
        });
        if (owned.delimitedPrefixes.length >= MAX_BACKBONES_PER_TENANT)
          throw new ApiError(
            'conflict',
            `you have ${owned.delimitedPrefixes.length} backbones, the most one tenant keeps; delete one first (DELETE /v1/backbones/{name})`,
            'form.model',
          );
        if (findBackbone(card.id) || (await c.env.MODELS.head(backboneKeys(card.id).manifest)))
          throw new ApiError(
            'backbone_exists',
            `"${card.id}" is a catalogue backbone's id; give yours another`,
            'form.card.id',
          );
        const ref = `${tenantId}/${card.id}`;
        const keys = backboneKeys(ref);
        if (await c.env.MODELS.head(keys.manifest))
          throw new ApiError(
            'backbone_exists',
            `you already have a backbone "${card.id}"; delete it first (DELETE /v1/backbones/${card.id}) or choose another id`,
            'form.card.id',
          );
        const labels =
          card.outputs.labels === 'imagenet'
            ? await imagenetLabels(c.env.MODELS)
            : card.outputs.labels;
        let imported: { onnx: Uint8Array; manifest: BackboneManifest };
        try {
          imported = await importOnnxBackbone({
            bytes,
            card,
            ...(labels ? { labels } : {}),
            photos: syntheticTrialImages(),
            runtime: createEdgeSession,
            id: ref,
          });
        } catch (err) {
          if (err instanceof BackboneImportError)
            throw new ApiError(err.code, err.message, `form.${err.field}`);
          // Anything else the importer trips on is still about this file: a clear 422, logged.
          console.error('backbone import failed', err);
          throw new ApiError(
            'invalid_model',
            `the model could not be imported: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`,
            'form.model',
          );
        }
        // The model first, the manifest last: a backbone exists once its manifest does.
        const meta = { customMetadata: { tenantId } };
        await c.env.MODELS.put(keys.model, imported.onnx, {
          ...meta,
          httpMetadata: { contentType: 'application/octet-stream' },
        });
        try {
          await c.env.MODELS.put(keys.manifest, JSON.stringify(imported.manifest), {
            ...meta,
            httpMetadata: { contentType: 'application/json' },
          });
        } catch (err) {
          await c.env.MODELS.delete(keys.model).catch(() => undefined);
          throw err;
        }
        return imported.manifest;
      });
      forgetBackboneRefs(tenantId);
      return c.json({ ...manifest, name: tenantBackboneOf(manifest.id)!.name }, 201, {
        location: `/v1/backbones/${tenantBackboneOf(manifest.id)!.name}`,
      });
    },
  )
  .delete('/:name', async (c) => {
    const tenantId = c.get('tenantId');
    const name = c.req.param('name');
    const ref = await resolveBackboneRef(c.env.MODELS, tenantId, name);
    if (!ref) throw new ApiError('not_found', `no backbone "${name}"`, 'path.name');
    if (!tenantBackboneOf(ref))
      throw new ApiError(
        'forbidden',
        `"${name}" is a catalogue backbone: it cannot be deleted`,
        'path.name',
      );
    const keys = backboneKeys(ref);
    const submitted = await c.env.DB.prepare(
      'SELECT id, spec_json FROM jobs WHERE tenant_id = ? AND spec_json LIKE ?',
    )
      .bind(tenantId, `%${JSON.stringify(ref)}%`)
      .all<{ id: string; spec_json: string }>();
    const onIt = submitted.results
      .filter((r) => (JSON.parse(r.spec_json) as { backbone?: string }).backbone === ref)
      .map((r) => r.id);
    const users = await coordinatorOf(c.env, tenantId).backboneUsers(tenantId, ref, onIt);
    if (users.heads.length > 0 || users.jobs.length > 0)
      throw new ApiError(
        'backbone_in_use',
        `"${name}" is still used by ${[
          ...(users.heads.length > 0
            ? [
                `heads ${users.heads.join(', ')} (delete them, and the aliases pointing at them, first)`,
              ]
            : []),
          ...(users.jobs.length > 0 ? [`unfinished jobs ${users.jobs.join(', ')}`] : []),
        ].join(' and ')}`,
        'path.name',
      );
    // The manifest first: from then on nothing can start using it.
    await c.env.MODELS.delete(keys.manifest);
    await c.env.MODELS.delete(keys.model);
    evictBackboneSession(ref);
    forgetBackboneRefs(tenantId);
    return c.body(null, 204);
  });

const nameParam = z.object({ name: z.string().openapi({ example: 'my-mnv2' }) });

/** The backbones routes in the OpenAPI document (they are plain Hono handlers). */
export const BACKBONES_API_DOCS: RouteConfig[] = [
  {
    method: 'get',
    path: '/v1/backbones',
    tags: ['backbones'],
    security,
    summary: 'The catalogue’s backbones and your own',
    responses: {
      200: json(
        'Catalogue backbones (with their measured figures) then yours',
        z.object({ backbones: z.array(BackboneSummarySchema) }),
      ),
      401: problem('No or bad API key'),
    },
  },
  {
    method: 'post',
    path: '/v1/backbones',
    tags: ['backbones'],
    security,
    summary: 'Import your own ONNX backbone',
    description:
      'A multipart form: `model`, the .onnx file (weights inside it, at most 32 MB), and `card`, its JSON card ' +
      '(id, displayName, licence, origin, input, preprocessing, outputs; see docs/backbones.md). The edge checks the ' +
      'graph against the card, finds the embedding when the card names none, makes the batch axis dynamic, ' +
      'discovers block cuts for fine-tuning, and runs the model once in its own onnxruntime-web before storing ' +
      'it. Nothing is stored when any check fails. Name it afterwards by its id, as `backbone` in jobs and ' +
      '`model` in /v1/classify.',
    request: {
      body: {
        content: {
          'multipart/form-data': {
            schema: z.object({
              model: z.string().openapi({ format: 'binary' }),
              card: z.string().openapi({ description: 'the JSON card' }),
            }),
          },
        },
      },
    },
    responses: {
      201: json('The stored backbone’s manifest', BackboneManifestSchema),
      400: problem('A card field is missing or wrong'),
      409: problem(
        'The id is a catalogue backbone’s or already yours, or you keep the most backbones a tenant may (10)',
      ),
      429: problem('Too many submissions for this key (shared with dataset uploads and jobs)'),
      413: problem('The model is over 32 MB'),
      415: problem('Not multipart/form-data'),
      422: problem(
        'Not ONNX or truncated, external data, an unsupported operator, a card that disagrees with the graph, or a failed trial run',
      ),
    },
  },
  {
    method: 'get',
    path: '/v1/backbones/{name}',
    tags: ['backbones'],
    security,
    summary: 'One backbone’s manifest (yours or the catalogue’s)',
    request: { params: nameParam },
    responses: {
      200: json('The manifest', BackboneManifestSchema),
      404: problem('No such backbone for this key'),
    },
  },
  {
    method: 'delete',
    path: '/v1/backbones/{name}',
    tags: ['backbones'],
    security,
    summary: 'Delete one of your backbones',
    request: { params: nameParam },
    responses: {
      204: { description: 'Deleted' },
      403: problem('A catalogue backbone'),
      404: problem('No such backbone for this key'),
      409: problem('A head (or an alias through it) or an unfinished job still uses it'),
    },
  },
];
