// Small builders for the hand-written parts of the OpenAPI document.
import type { z } from '@hono/zod-openapi';
import { ProblemSchema } from '../../shared/api.js';

/** A documented error response (RFC 9457 problem+json). */
export const docProblem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

/** A documented JSON response. */
export const docJson = (description: string, schema: z.ZodType) => ({
  description,
  content: { 'application/json': { schema } },
});

/** Routes that need an API key (the `apiKey` bearer scheme registered in app.ts). */
export const API_KEY_SECURITY = [{ apiKey: [] }];
