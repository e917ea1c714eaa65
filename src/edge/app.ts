// The edge application: middleware, route groups, the API reference, and the single error formatter.
import { OpenAPIHono } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import { finishDocument } from './docs/finish.js';
import { renderDocsPage } from './docs/render.js';
import type { AppEnv } from './env.js';
import { ApiError, problem, problemResponse } from './errors.js';
import { classifyRoutes } from './routes/classify.js';
import { modelsRoutes } from './routes/models.js';
import { datasetsRoutes } from './routes/datasets.js';
import { diagnosticsRoutes } from './routes/diagnostics.js';
import { internalRoutes } from './routes/internal.js';
import { batchesRoutes, jobsRoutes } from './routes/jobs.js';
import { rateLimit } from './auth/middleware.js';
import { embedRoutes } from './routes/embed.js';
import { lessonPages, lessonsApi } from './routes/lessons.js';
import { JOBS_API_DOCS } from './routes/api-docs.js';
import { BACKBONES_API_DOCS, backbonesRoutes } from './routes/backbones.js';
import { HEADS_API_DOCS, aliasesRoutes, headsRoutes } from './routes/heads.js';
import { adminRoutes } from './routes/admin.js';
import { ADMIN_API_DOCS, KEYS_API_DOCS } from './routes/admin-docs.js';
import { keysRoutes } from './routes/keys.js';
import { countingEnv, routeKey } from './diagnostics/counters.js';
import { homeRoutes } from './routes/home.js';
import { consoleRoutes } from './routes/console.js';

export const app = new OpenAPIHono<AppEnv>();

app.use('*', async (c, next) => {
  c.set('requestId', c.req.header('cf-ray') ?? crypto.randomUUID());
  // Diagnostics on: this request's Durable Object and D1 calls are counted by route.
  if (c.env.DIAGNOSTICS === 'true' && !c.req.path.startsWith('/internal/diagnostics/'))
    c.env = countingEnv(c.env, routeKey(c.req.method, c.req.path));
  await next();
  c.header('x-request-id', c.get('requestId'));
});
// The public API is meant to be called from any origin; writes are protected by keys, not CORS.
app.use(
  '/v1/*',
  cors({ origin: '*', exposeHeaders: ['x-request-id', 'retry-after'], maxAge: 86400 }),
);

app.get('/healthz', (c) => c.json({ ok: true }));
// The public catalogue reads every manifest from R2 per list and checks no credential: limited
// per client address. '/v1/models/*' matches '/v1/models' too (one token per request).
app.use(
  '/v1/models/*',
  rateLimit((env) => env.CATALOGUE_LIMITER, 60, 'address'),
);
app.route('/v1/models', modelsRoutes);
const classifyLimit = rateLimit((env) => env.CLASSIFY_LIMITER, 60);
// '/v1/classify/*' also matches '/v1/classify' itself: one registration, so a request costs one
// token of its key's limit, not two.
app.use('/v1/classify/*', classifyLimit);
app.use('/v1/lessons/:id/quiz', classifyLimit);
app.route('/v1/classify', classifyRoutes);
app.route('/v1/datasets', datasetsRoutes);
app.route('/v1/fine-tunes', jobsRoutes);
app.route('/v1/batches', batchesRoutes);
app.route('/v1/heads', headsRoutes);
app.route('/v1/backbones', backbonesRoutes);
app.route('/v1/aliases', aliasesRoutes);
app.route('/v1/keys', keysRoutes);
app.route('/v1/lessons', lessonsApi);
app.route('/lessons', lessonPages);
app.route('/', homeRoutes);
app.route('/', consoleRoutes);
app.route('/', embedRoutes);
app.route('/internal/v1', internalRoutes);
app.route('/admin/v1', adminRoutes);
app.route('/internal/diagnostics', diagnosticsRoutes);

const OPENAPI_CONFIG = {
  openapi: '3.1.0',
  info: {
    title: 'Headstart API',
    version: '0.1.0',
    description:
      'Transfer learning for computer vision at the edge. Errors are `application/problem+json` (RFC 9457) with a stable `code` and the `field` at fault.',
  },
};
app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
  type: 'http',
  scheme: 'bearer',
  description: 'An API key, hs_key_… (npm start prints one)',
});
app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
  type: 'http',
  scheme: 'bearer',
  description:
    'An admin token, hs_admin_… (npm run provision prints the first; npm start writes one to .headstart/local.json). Accepted by /admin/v1 only.',
});
for (const route of [
  ...JOBS_API_DOCS,
  ...HEADS_API_DOCS,
  ...BACKBONES_API_DOCS,
  ...KEYS_API_DOCS,
  ...ADMIN_API_DOCS,
])
  app.openAPIRegistry.registerPath(route);
/** The document as served: generated once per isolate, finished per origin. */
let generated: ReturnType<typeof app.getOpenAPI31Document> | undefined;
const openApiDocument = (url: string) =>
  finishDocument((generated ??= app.getOpenAPI31Document(OPENAPI_CONFIG)), new URL(url).origin);
app.get('/openapi.json', (c) => c.json(openApiDocument(c.req.url)));
app.get('/docs', (c) => c.html(renderDocsPage(openApiDocument(c.req.url))));

app.notFound((c) =>
  problemResponse(
    problem(
      'not_found',
      `no route for ${c.req.method} ${new URL(c.req.url).pathname}`,
      c.get('requestId'),
    ),
  ),
);

app.onError((err, c) => {
  const requestId = c.get('requestId');
  if (err instanceof ApiError) {
    return problemResponse(problem(err.code, err.message, requestId, err.field), err.headers);
  }
  console.error(`request ${requestId} failed`, err);
  return problemResponse(
    problem('internal', 'something went wrong on our side; quote the request id', requestId),
  );
});
