// The edge application: middleware, route groups, and the single error formatter.
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { ZodError } from 'zod';
import { ApiError, problem, problemResponse } from './errors.js';
import type { AppEnv } from './env.js';
import { modelsRoutes } from './routes/models.js';

export const app = new Hono<AppEnv>();

app.use('*', async (c, next) => {
  c.set('requestId', c.req.header('cf-ray') ?? crypto.randomUUID());
  await next();
  c.header('x-request-id', c.get('requestId'));
});
// The public API is meant to be called from any origin; writes are protected by keys, not CORS.
app.use('/v1/*', cors({ origin: '*', exposeHeaders: ['x-request-id'], maxAge: 86400 }));

app.get('/healthz', (c) => c.json({ ok: true }));
app.route('/v1/models', modelsRoutes);

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
  if (err instanceof ApiError)
    return problemResponse(problem(err.code, err.message, requestId, err.field));
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const field = issue?.path.join('.');
    return problemResponse(
      problem('bad_request', issue?.message ?? 'invalid request', requestId, field || undefined),
    );
  }
  console.error(`request ${requestId} failed`, err);
  return problemResponse(
    problem('internal', 'something went wrong on our side; quote the request id', requestId),
  );
});
