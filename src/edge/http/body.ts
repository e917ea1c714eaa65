// Request bodies read with a hard size cap, whatever the client declares, and a refused body read
// to its end before the answer goes out.
import { concatBytes } from '../../shared/bytes.js';
import { ApiError } from '../errors.js';

/**
 * Most bytes of a refused body that are read and thrown away before the stream is cancelled.
 * Cloudflare's front door refuses bodies over 100 MB (500 MB on Enterprise plans) before a
 * Worker sees them, so in production every refused body is drained; past this, only a local
 * `wrangler dev` ever sees the stream cancelled.
 */
export const DRAIN_MAX_BYTES = 128 * 1024 * 1024;
/** Longest a refused body is drained for: a client trickling bytes cannot hold the answer back. */
export const DRAIN_MAX_MS = 30_000;

/**
 * Reads what is left of a refused request body and discards it (bounded by DRAIN_MAX_BYTES and
 * DRAIN_MAX_MS), then releases the stream.
 *
 * Why not cancel at once: cancelling a request body that was read part of the way leaves workerd's
 * connection in a state the next request on it fails with (wrangler dev answers it "503 Your
 * worker restarted mid-request"), while a body that is drained, or never touched, is fine.
 * Draining costs time on the wire, not memory: each chunk is dropped as it arrives.
 *
 * @example
 * if (total > max) { await discardRest(reader, total); throw tooLarge(); }
 */
export async function discardRest(
  reader: ReadableStreamDefaultReader<unknown>,
  alreadyRead = 0,
): Promise<void> {
  let total = alreadyRead;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), DRAIN_MAX_MS);
  });
  try {
    while (total <= DRAIN_MAX_BYTES) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === 'timeout') break;
      if (next.done) return;
      total += next.value instanceof Uint8Array ? next.value.byteLength : 0;
    }
    await reader.cancel().catch(() => undefined);
  } catch {
    // The client went away while we drained: nothing is left to protect.
  } finally {
    if (timer !== null) clearTimeout(timer);
    reader.releaseLock();
  }
}

/**
 * Reads the whole body, refusing it with 413 as soon as it passes `maxBytes` (checked against
 * Content-Length first, then while streaming, so a lying or missing header cannot get past). A
 * streamed body over the limit is drained (`discardRest`) before the 413 goes out, so the
 * connection stays usable for the client's next request.
 *
 * @example
 * const bytes = await readBodyLimited(c.req.raw, 10 * 1024 * 1024);
 */
export async function readBodyLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new ApiError('body_too_large', `the request body is larger than ${maxBytes} bytes`, 'body');
  const declared = Number(request.headers.get('content-length') ?? 'NaN');
  // Refused unread: the runtime discards a body nobody touched.
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  if (!request.body) throw new ApiError('invalid_request', 'the request has no body', 'body');
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const result: { done: boolean; value?: unknown } = await reader.read();
    if (result.done) break;
    const value = result.value;
    if (!(value instanceof Uint8Array)) {
      await discardRest(reader, total);
      throw new ApiError('invalid_request', 'the request body is not binary', 'body');
    }
    total += value.byteLength;
    if (total > maxBytes) {
      chunks.length = 0;
      await discardRest(reader, total);
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (total === 0) throw new ApiError('invalid_request', 'the request body is empty', 'body');
  return concatBytes(chunks);
}
