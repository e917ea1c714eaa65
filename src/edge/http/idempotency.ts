// The Idempotency-Key request header: one definition for every route that creates something.
import { z } from 'zod';
import { parseInput } from './validate.js';

const IdempotencyKeySchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
  .optional();

/**
 * The request's Idempotency-Key, checked (400 naming `header.idempotency-key` when malformed).
 *
 * @example
 * const key = idempotencyKey(c.req.header('idempotency-key')); // string | undefined
 */
export const idempotencyKey = (header: string | undefined): string | undefined =>
  parseInput(IdempotencyKeySchema, header, 'header.idempotency-key');
