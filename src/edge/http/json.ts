// JSON from requests: size-capped, depth-capped, no `__proto__` keys, errors as 400s naming the
// body or form field.
import { ApiError } from '../errors.js';
import { readBodyLimited } from './body.js';

/** Largest JSON body the API accepts (a batch of 100 job specs fits easily). */
export const MAX_JSON_BYTES = 256 * 1024;
const MAX_DEPTH = 32;

/**
 * The first hazard in a parsed document: a value deeper than `limit` levels, or a `__proto__`
 * key (which every later object copy or zod record would silently drop or turn into a
 * prototype). Iterative: no recursion to exhaust.
 */
function hazardOf(root: unknown, limit: number): { message: string; path: string[] } | undefined {
  if (root === null || typeof root !== 'object') return undefined;
  const stack: [object, string[]][] = [[root, []]];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (path.length >= limit)
      return { message: `the JSON is nested deeper than ${limit} levels`, path: [] };
    const entries: [string, unknown][] = Object.entries(value);
    for (const [key, child] of entries) {
      if (key === '__proto__')
        return { message: 'a "__proto__" key is not allowed', path: [...path, key] };
      // Only containers are visited: scalars can neither nest nor hold keys.
      if (child !== null && typeof child === 'object') stack.push([child, [...path, key]]);
    }
  }
  return undefined;
}

/**
 * Parses JSON text that arrived in a request (a body, or a form field), refusing malformed,
 * deeply nested documents and `__proto__` keys with 400s naming `field` (and the key's path).
 *
 * @example
 * parseJsonText('{"a":{"__proto__":1}}', 'form.manifest'); // 400, field form.manifest.a.__proto__
 */
export function parseJsonText(text: string, field: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError(
      'invalid_request',
      `the ${field === 'body' ? 'body' : 'field'} is not valid JSON (${err instanceof Error ? err.message : 'parse error'})`,
      field,
    );
  }
  const hazard = hazardOf(value, MAX_DEPTH);
  if (hazard)
    throw new ApiError('invalid_request', hazard.message, [field, ...hazard.path].join('.'));
  return value;
}

/**
 * Reads a JSON body (Content-Type application/json), refusing oversized, malformed or deeply
 * nested documents and `__proto__` keys with 4xx problems.
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
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError('invalid_request', 'the body is not valid UTF-8', 'body');
  }
  return parseJsonText(text, 'body');
}
