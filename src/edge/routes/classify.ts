// POST /v1/classify (one photo, one or more models) and POST /v1/classify/batch (several photos).
import { OpenAPIHono, z } from '@hono/zod-openapi';
import {
  CLASSIFY_LIMITS,
  ClassifyParamsSchema,
  ClassifyResponseSchema,
  IMAGE_MEDIA_TYPES,
  BatchClassifyResponseSchema,
  MultiClassifyResponseSchema,
  type BatchClassifyResponse,
} from '../../shared/api.js';
import type { Context } from 'hono';
import { optionalTenant } from '../auth/middleware.js';
import { classifyImage, prepareModels, type PreparedModels } from '../classification/classifier.js';
import { resolveModels } from '../classification/resolve.js';
import type { AppEnv } from '../env.js';
import { ApiError, type ErrorCode } from '../errors.js';
import { readBodyLimited } from '../http/body.js';
import { parseInput } from '../http/validate.js';
import { DEFAULT_CLASSIFIER } from '../../shared/backbones.js';
import { docProblem as problem } from '../docs/openapi.js';

const RAW_TYPES = new Set<string>([...IMAGE_MEDIA_TYPES, 'application/octet-stream']);

/** The image bytes and the parameters, from a raw body or a multipart form. */
async function readClassifyRequest(request: Request, query: Record<string, string>) {
  const contentType = (request.headers.get('content-type') ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  if (contentType === 'multipart/form-data') {
    const body = await readBodyLimited(request, CLASSIFY_LIMITS.maxBodyBytes);
    let form: FormData;
    try {
      form = await new Response(body, {
        headers: { 'content-type': request.headers.get('content-type')! },
      }).formData();
    } catch {
      throw new ApiError('invalid_request', 'the multipart body could not be parsed', 'body');
    }
    const image = form.get('image');
    if (!(image instanceof File))
      throw new ApiError('invalid_request', 'the form needs an "image" file field', 'form.image');
    const fields: Record<string, string> = {};
    for (const name of ['model', 'topK']) {
      const value = form.get(name);
      if (typeof value === 'string') fields[name] = value;
    }
    return {
      bytes: new Uint8Array(await image.arrayBuffer()),
      params: { ...fields, ...query },
      field: 'form.image',
    };
  }
  if (RAW_TYPES.has(contentType)) {
    return {
      bytes: await readBodyLimited(request, CLASSIFY_LIMITS.maxBodyBytes),
      params: query,
      field: 'body',
    };
  }
  throw new ApiError(
    'unsupported_media_type',
    `send the image as ${IMAGE_MEDIA_TYPES.join(', ')} or as the "image" field of multipart/form-data${contentType ? `, not ${contentType}` : ''}`,
    'header.content-type',
  );
}

/** Resolves the request's models and returns the loader classifyImage calls after inspection. */
async function modelsOf(
  c: Context<AppEnv>,
  refs: readonly string[] | undefined,
  field: string,
): Promise<{ load: () => Promise<PreparedModels>; single: boolean; release: () => void }> {
  const tenantId = await optionalTenant(c);
  const names = refs ?? [c.env.DEFAULT_CLASSIFIER ?? DEFAULT_CLASSIFIER];
  const targets = await resolveModels(c.env, names, tenantId, field);
  const deps = {
    bucket: c.env.MODELS,
    keepAlive: (p: Promise<unknown>) => c.executionCtx.waitUntil(p),
  };
  let loading: Promise<PreparedModels> | undefined;
  return {
    load: () => (loading ??= prepareModels(deps, targets, field)),
    single: names.length === 1,
    // The request is done with the backbone sessions (a failed load has released them itself).
    release: () =>
      void loading?.then(
        (p) => p.release(),
        () => undefined,
      ),
  };
}

export const classifyRoutes = new OpenAPIHono<AppEnv>();

classifyRoutes.post('/', async (c) => {
  const query = parseInput(ClassifyParamsSchema.partial(), c.req.query(), 'query');
  const { bytes, params, field } = await readClassifyRequest(c.req.raw, c.req.query());
  const location = field === 'body' || 'model' in query ? 'query' : 'form';
  const parsed = parseInput(
    ClassifyParamsSchema,
    { ...query, ...params },
    field === 'body' ? 'query' : 'form',
  );
  const { load, single, release } = await modelsOf(c, parsed.model, `${location}.model`);
  try {
    const { results, ...rest } = await classifyImage(bytes, {
      load,
      topK: parsed.topK,
      imageField: field,
    });
    return c.json(single ? { ...results[0]!, ...rest } : { results, ...rest }, 200);
  } finally {
    release();
  }
});

classifyRoutes.post('/batch', async (c) => {
  const contentType = c.req.header('content-type') ?? '';
  if (!contentType.toLowerCase().startsWith('multipart/form-data'))
    throw new ApiError(
      'unsupported_media_type',
      'send the images as "images" file fields of multipart/form-data',
      'header.content-type',
    );
  const body = await readBodyLimited(c.req.raw, CLASSIFY_LIMITS.maxBatchBodyBytes);
  const form = await new Response(body, { headers: { 'content-type': contentType } })
    .formData()
    .catch(() => {
      throw new ApiError('invalid_request', 'the multipart body could not be parsed', 'body');
    });
  const files = form.getAll('images');
  if (files.length === 0 || !files.every((f) => f instanceof File))
    throw new ApiError(
      'invalid_request',
      'the form needs one or more "images" file fields',
      'form.images',
    );
  if (files.length > CLASSIFY_LIMITS.maxBatchImages)
    throw new ApiError(
      'invalid_request',
      `${files.length} images; one batch takes at most ${CLASSIFY_LIMITS.maxBatchImages}`,
      'form.images',
    );
  const fields: Record<string, string> = {};
  for (const name of ['model', 'topK']) {
    const value = form.get(name);
    if (typeof value === 'string') fields[name] = value;
  }
  const parsed = parseInput(ClassifyParamsSchema, { ...fields, ...c.req.query() }, 'form');
  const { load, release } = await modelsOf(c, parsed.model, 'form.model');
  const started = performance.now();
  const results: BatchClassifyResponse['results'] = [];
  try {
    for (const [index, file] of files.entries()) {
      const filename = file.name || null;
      try {
        const bytes = new Uint8Array(await file.arrayBuffer());
        if (bytes.byteLength > CLASSIFY_LIMITS.maxBodyBytes)
          throw new ApiError(
            'body_too_large',
            `the image is ${bytes.byteLength} bytes; the limit is ${CLASSIFY_LIMITS.maxBodyBytes}`,
            `form.images[${index}]`,
          );
        const answer = await classifyImage(bytes, {
          load,
          topK: parsed.topK,
          imageField: `form.images[${index}]`,
        });
        results.push({ index, filename, status: 200, ...answer });
      } catch (err) {
        // Bad images fail alone; a model that cannot load fails the request.
        if (!(err instanceof ApiError) || IMAGE_ERRORS.has(err.code) === false) throw err;
        results.push({
          index,
          filename,
          status: err.status,
          error: {
            code: err.code,
            detail: err.message,
            ...(err.field ? { field: err.field } : {}),
          },
        });
      }
    }
  } finally {
    release();
  }
  const succeeded = results.filter((r) => r.status === 200).length;
  return c.json(
    {
      results,
      succeeded,
      failed: results.length - succeeded,
      totalMs: Math.round((performance.now() - started) * 100) / 100,
    } satisfies BatchClassifyResponse,
    200,
  );
});

/** Errors that belong to one image of a batch rather than to the request. */
const IMAGE_ERRORS = new Set<ErrorCode>([
  'invalid_image',
  'image_too_large',
  'body_too_large',
  'unsupported_media_type',
]);

// Documented by hand: the body is read by the handler (with a size cap), not by a validator.
classifyRoutes.openAPIRegistry.registerPath({
  method: 'post',
  path: '/',
  tags: ['classification'],
  summary: 'Classify a photo with a backbone’s ImageNet classifier or your trained heads',
  description: `Send the image as the raw body (${IMAGE_MEDIA_TYPES.join(', ')}) or as the \`image\` field of a multipart form. Bodies over ${CLASSIFY_LIMITS.maxBodyBytes / 1024 / 1024} MB and images declaring more than ${CLASSIFY_LIMITS.maxPixels / 1e6} megapixels are refused before decoding. EXIF orientation is honoured.`,
  request: {
    query: z.object({
      model: z
        .string()
        .optional()
        .openapi({
          description: `A backbone id (default ${DEFAULT_CLASSIFIER}), a head id (head_…) or an alias; or up to ${CLASSIFY_LIMITS.maxModels} of them separated by commas, answered as \`results\` with one backbone pass per backbone and preprocessing. Heads and aliases need the API key of their tenant.`,
          example: DEFAULT_CLASSIFIER,
        }),
      topK: z
        .number()
        .int()
        .min(1)
        .max(CLASSIFY_LIMITS.maxTopK)
        .optional()
        .openapi({ description: 'how many labels (default 5)', example: 5 }),
    }),
    body: {
      required: true,
      content: {
        ...Object.fromEntries(
          IMAGE_MEDIA_TYPES.map((t) => [t, { schema: z.string().openapi({ format: 'binary' }) }]),
        ),
        'multipart/form-data': {
          schema: z.object({
            image: z.string().openapi({ format: 'binary' }),
            model: z.string().optional(),
            topK: z.string().optional(),
          }),
        },
      },
    },
  },
  responses: {
    200: {
      description:
        'Top-k labels, best first: at the top level for one model, under `results` for several',
      content: {
        'application/json': {
          schema: z.union([ClassifyResponseSchema, MultiClassifyResponseSchema]),
        },
      },
    },
    401: problem('A head or alias named without a valid API key'),
    400: problem('Bad parameter (for example topK out of 1–20)'),
    404: problem('Unknown model, head or alias'),
    413: problem('Body over 10 MB, or image over 40 megapixels'),
    415: problem('Not a JPEG, PNG or WebP image'),
    422: problem('Corrupt or truncated image, or a model without a classifier'),
  },
});

classifyRoutes.openAPIRegistry.registerPath({
  method: 'post',
  path: '/batch',
  tags: ['classification'],
  summary: `Classify up to ${CLASSIFY_LIMITS.maxBatchImages} photos in one request`,
  description: `A multipart form with one \`images\` file field per photo (at most ${CLASSIFY_LIMITS.maxBatchImages}, ${CLASSIFY_LIMITS.maxBatchBodyBytes / 1024 / 1024} MB in all), and optional \`model\` and \`topK\` fields as for POST /v1/classify. Each image gets its own entry, in upload order: status 200 with \`results\`, or its own 4xx \`error\` (a corrupt or unsupported image fails alone). Model errors fail the whole request.`,
  request: {
    body: {
      required: true,
      content: {
        'multipart/form-data': {
          schema: z.object({
            images: z.array(z.string().openapi({ format: 'binary' })),
            model: z.string().optional(),
            topK: z.string().optional(),
          }),
        },
      },
    },
  },
  responses: {
    200: {
      description: 'One entry per image',
      content: { 'application/json': { schema: BatchClassifyResponseSchema } },
    },
    400: problem('No images, too many images, or a bad parameter'),
    401: problem('A head or alias named without a valid API key'),
    404: problem('Unknown model, head or alias'),
    413: problem('Body over the batch limit'),
    415: problem('Not multipart/form-data'),
  },
});
