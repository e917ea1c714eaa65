// Parses request parts with zod and turns the first issue into a 400 naming the field.
import type { z } from 'zod';
import { ApiError } from '../errors.js';

/**
 * @example
 * const params = parseInput(ClassifyParamsSchema, c.req.query(), 'query'); // bad topK → 400, field "query.topK"
 */
export function parseInput<T extends z.ZodType>(
  schema: T,
  value: unknown,
  location: string,
): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join('.');
  throw new ApiError(
    'invalid_request',
    issue?.message ?? 'invalid input',
    path ? `${location}.${path}` : location,
  );
}
