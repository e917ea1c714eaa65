// POST /v1/classify: one photo in, ImageNet labels out.
import { OpenAPIHono, z } from '@hono/zod-openapi';
import {
  CLASSIFY_LIMITS,
  ClassifyParamsSchema,
  ClassifyResponseSchema,
  IMAGE_MEDIA_TYPES,
  ProblemSchema,
} from '../../shared/api.js';
import { classifyImage } from '../classification/classifier.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { readBodyLimited } from '../http/body.js';
import { parseInput } from '../http/validate.js';
import { DEFAULT_CLASSIFIER } from '../../shared/backbones.js';

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
  const model = parsed.model ?? c.env.DEFAULT_CLASSIFIER ?? DEFAULT_CLASSIFIER;
  const keepAlive = (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise);
  const result = await classifyImage({ bucket: c.env.MODELS, keepAlive }, bytes, {
    model,
    topK: parsed.topK,
    imageField: field,
    modelField: `${location}.model`,
  });
  return c.json(result, 200);
});

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

// Documented by hand: the body is read by the handler (with a size cap), not by a validator.
classifyRoutes.openAPIRegistry.registerPath({
  method: 'post',
  path: '/',
  tags: ['classification'],
  summary: 'Classify a photo with ImageNet labels',
  description: `Send the image as the raw body (${IMAGE_MEDIA_TYPES.join(', ')}) or as the \`image\` field of a multipart form. Bodies over ${CLASSIFY_LIMITS.maxBodyBytes / 1024 / 1024} MB and images declaring more than ${CLASSIFY_LIMITS.maxPixels / 1e6} megapixels are refused before decoding. EXIF orientation is honoured.`,
  request: {
    query: z.object({
      model: z
        .string()
        .optional()
        .openapi({
          description: `backbone id (default ${DEFAULT_CLASSIFIER})`,
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
      description: 'Top-k labels, best first',
      content: { 'application/json': { schema: ClassifyResponseSchema } },
    },
    400: problem('Bad parameter (for example topK out of 1–20)'),
    404: problem('Unknown model'),
    413: problem('Body over 10 MB, or image over 40 megapixels'),
    415: problem('Not a JPEG, PNG or WebP image'),
    422: problem('Corrupt or truncated image, or a model without a classifier'),
  },
});
