// Model catalogue routes: which backbones this edge can run, with their manifests.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { tenantBackboneOf } from '../../shared/backbones.js';
import { ApiError } from '../errors.js';
import { BackboneManifestSchema, type BackboneManifest } from '../../shared/manifest.js';
import { getBackboneManifest, listBackboneManifests } from '../classification/model-store.js';
import { measurementsOf } from '../classification/measured.js';
import type { AppEnv } from '../env.js';
import { docProblem as problem } from '../docs/openapi.js';

const nullableNumber = z.number().nullable();
const MeasuredSchema = z
  .object({
    edgeInferenceMs: nullableNumber.openapi({
      description: 'inference per image in onnxruntime-web inside workerd (batch 1, median), ms',
    }),
    nodeInferenceMs: nullableNumber.openapi({
      description: 'the same in onnxruntime-node (the worker) on one thread, ms',
    }),
    referenceAccuracy: z
      .object({ hymenoptera_data: nullableNumber, flower_photos_subset: nullableNumber })
      .openapi({
        description:
          'validation accuracy of the default job (feature extraction) on the shared datasets',
      }),
    measuredOn: z.string().nullable(),
  })
  .nullable()
  .openapi({
    description:
      'what our benchmarks measured for a catalogue backbone (null for one imported later)',
  });

export const ModelSummarySchema = BackboneManifestSchema.omit({ id2label: true }).extend({
  numLabels: z
    .number()
    .int()
    .openapi({ description: 'classes of the backbone’s own classifier (0 = embedder only)' }),
  measured: MeasuredSchema,
});

/** The public view of a manifest: everything but the full label table (its size is given). */
export function modelSummary(m: BackboneManifest): z.infer<typeof ModelSummarySchema> {
  const { id2label, ...rest } = m;
  return {
    ...rest,
    numLabels: id2label ? Object.keys(id2label).length : 0,
    measured: measurementsOf(m.id),
  };
}

/** The catalogue's 429 (CATALOGUE_LIMITER in wrangler.toml, applied in app.ts). */
const TOO_MANY =
  'Too many catalogue requests from this client address (300 a minute, key or not); see Retry-After';

export const modelsRoutes = new OpenAPIHono<AppEnv>()
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['models'],
      summary: 'List the backbones this edge can run',
      responses: {
        200: {
          description: 'Backbone manifests, label tables summarised as numLabels',
          content: {
            'application/json': { schema: z.object({ models: z.array(ModelSummarySchema) }) },
          },
        },
        429: problem(TOO_MANY),
      },
    }),
    async (c) =>
      c.json({ models: (await listBackboneManifests(c.env.MODELS)).map(modelSummary) }, 200),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['models'],
      summary: 'One backbone manifest, with its labels',
      request: { params: z.object({ id: z.string().openapi({ example: 'mobilenet-v1-0.25' }) }) },
      responses: {
        200: {
          description: 'The manifest',
          content: { 'application/json': { schema: BackboneManifestSchema } },
        },
        404: problem('No such model'),
        429: problem(TOO_MANY),
      },
    }),
    async (c) => {
      // The public catalogue only: a tenant's own backbone is read through /v1/backbones.
      const id = c.req.param('id');
      if (tenantBackboneOf(id))
        throw new ApiError(
          'not_found',
          `no model named "${id}"; GET /v1/models lists them`,
          'path.id',
        );
      return c.json(await getBackboneManifest(c.env.MODELS, id, 'path.id'), 200);
    },
  );
