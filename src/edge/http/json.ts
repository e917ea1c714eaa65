// JSON request bodies: size-capped, depth-capped, parse errors as 400s naming the body.
import { ApiError } from '../errors.js';
import { readBodyLimited } from './body.js';

/** Largest JSON body the API accepts (a batch of 100 job specs fits easily). */
export const MAX_JSON_BYTES = 256 * 1024;
const MAX_DEPTH = 32;

/** Whether any value sits deeper than `limit` levels (iterative: no recursion to exhaust). */
function tooDeep(root: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [value, level] = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (level >= limit) return true;
    for (const child of Object.values(value)) stack.push([child, level + 1]);
  }
  return false;
}

/**
 * Reads a JSON body (Content-Type application/json), refusing oversized, malformed or deeply
 * nested documents with 4xx problems.
 *
 * @example
 * const body = await readJson(c.req.raw);
 */
export async function readJson(request: Request, maxBytes = MAX_JSON_BYTES): Promise<unknown> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(
      'unsupported_media_type',
      'send the body as application/json',
      'header.content-type',
    );
  }
  const bytes = await readBodyLimited(request, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch (err) {
    throw new ApiError(
      'invalid_request',
      `the body is not valid JSON (${err instanceof Error ? err.message : 'parse error'})`,
      'body',
    );
  }
  if (tooDeep(value, MAX_DEPTH))
    throw new ApiError(
      'invalid_request',
      `the JSON is nested deeper than ${MAX_DEPTH} levels`,
      'body',
    );
  return value;
}
