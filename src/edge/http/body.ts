// Request bodies read with a hard size cap, whatever the client declares.
import { concatBytes } from '../../shared/bytes.js';
import { ApiError } from '../errors.js';

/**
 * Reads the whole body, refusing it with 413 as soon as it passes `maxBytes` (checked against
 * Content-Length first, then while streaming, so a lying or missing header cannot get past).
 *
 * @example
 * const bytes = await readBodyLimited(c.req.raw, 10 * 1024 * 1024);
 */
export async function readBodyLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new ApiError('body_too_large', `the request body is larger than ${maxBytes} bytes`, 'body');
  const declared = Number(request.headers.get('content-length') ?? 'NaN');
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  if (!request.body) throw new ApiError('invalid_request', 'the request has no body', 'body');
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const result: { done: boolean; value?: unknown } = await reader.read();
    if (result.done) break;
    const value = result.value;
    if (!(value instanceof Uint8Array))
      throw new ApiError('invalid_request', 'the request body is not binary', 'body');
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (total === 0) throw new ApiError('invalid_request', 'the request body is empty', 'body');
  return concatBytes(chunks);
}
