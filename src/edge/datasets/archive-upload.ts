// A dataset archive from the request body into R2, streamed and hashed on the way: with a
// Content-Length as one object, without one (chunked) as an R2 multipart upload. Never more than
// one part in memory, and a body over the limit is drained before its 413.
import { toHex } from '../../shared/bytes.js';
import { ApiError } from '../errors.js';
import { discardRest } from '../http/body.js';

/**
 * Bytes per part of a chunked upload. R2 wants every part but the last to have one size, and at
 * least 5 MiB.
 */
export const ARCHIVE_PART_BYTES = 8 * 1024 * 1024;

/** What was stored: its size and its sha256 (the identity an Idempotency-Key replay compares). */
export interface StoredArchive {
  readonly bytes: number;
  readonly sha256: string;
}

/** Where the body's bytes go: one object of known length, or the parts of a multipart upload. */
interface ArchiveSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

const CONTENT_TYPE = { httpMetadata: { contentType: 'application/zip' } };

function fixedLengthSink(bucket: R2Bucket, key: string, length: number): ArchiveSink {
  // R2 needs the length up front; FixedLengthStream also errors if the client sends more or less.
  const { readable, writable } = new FixedLengthStream(length);
  const put = bucket.put(key, readable, CONTENT_TYPE);
  // Observed at close; a failure meanwhile surfaces as a failed write.
  put.catch(() => undefined);
  const writer = writable.getWriter();
  return {
    write: (chunk) => writer.write(chunk),
    async close() {
      await writer.close();
      await put;
    },
    async abort() {
      await writer.abort().catch(() => undefined);
      await put.catch(() => undefined);
    },
  };
}

function multipartSink(bucket: R2Bucket, key: string): ArchiveSink {
  const upload = bucket.createMultipartUpload(key, CONTENT_TYPE);
  const parts: R2UploadedPart[] = [];
  let part = new Uint8Array(ARCHIVE_PART_BYTES);
  let filled = 0;
  const flush = async () => {
    parts.push(await (await upload).uploadPart(parts.length + 1, part.subarray(0, filled)));
    part = new Uint8Array(ARCHIVE_PART_BYTES);
    filled = 0;
  };
  return {
    async write(chunk) {
      for (let at = 0; at < chunk.byteLength;) {
        const n = Math.min(chunk.byteLength - at, ARCHIVE_PART_BYTES - filled);
        part.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === ARCHIVE_PART_BYTES) await flush();
      }
    },
    async close() {
      if (filled > 0 || parts.length === 0) await flush();
      await (await upload).complete(parts);
    },
    async abort() {
      await (await upload).abort().catch(() => undefined);
    },
  };
}

/**
 * Reads the body chunk by chunk into `sink` (if any) and a sha256, refusing more than `maxBytes`
 * (by Content-Length before reading, or while streaming) with 413 `archive_too_large`. On any
 * failure the rest of the body is drained (see `discardRest`) and the sink aborted.
 */
async function pumpBody(
  request: Request,
  maxBytes: number,
  sink: (declared: number | undefined) => ArchiveSink | undefined,
): Promise<StoredArchive> {
  const tooLarge = () =>
    new ApiError('archive_too_large', `the archive is larger than ${maxBytes} bytes`, 'body');
  const header = request.headers.get('content-length');
  const declared = header === null ? undefined : Number(header);
  if (declared !== undefined && declared > maxBytes) throw tooLarge();
  if (!request.body || declared === 0)
    throw new ApiError('invalid_request', 'the request has no body', 'body');
  const target = sink(declared);
  const digest = new crypto.DigestStream('SHA-256');
  const hashing = digest.getWriter();
  const reader = request.body.getReader();
  let total = 0;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      const chunk = next.value as unknown;
      if (!(chunk instanceof Uint8Array))
        throw new ApiError('invalid_request', 'the request body is not binary', 'body');
      total += chunk.byteLength;
      if (total > maxBytes) throw tooLarge();
      await hashing.write(chunk);
      await target?.write(chunk);
    }
    await target?.close();
    await hashing.close();
    return { bytes: total, sha256: toHex(new Uint8Array(await digest.digest)) };
  } catch (err) {
    await discardRest(reader, total);
    await target?.abort();
    if (err instanceof ApiError) throw err;
    throw new ApiError(
      'invalid_request',
      declared === undefined
        ? 'the upload could not be stored'
        : 'the upload ended before Content-Length bytes arrived',
      'body',
    );
  }
}

/**
 * Streams the request body into R2 at `key` and hashes it, refusing more than `maxBytes` with
 * 413 `archive_too_large`. With a Content-Length the archive is one put; a chunked body goes up
 * as a multipart upload. A failed upload leaves nothing at `key`.
 *
 * @example
 * const { bytes, sha256 } = await storeArchive(env.DATASETS, keys.archive, c.req.raw, 100 << 20);
 */
export async function storeArchive(
  bucket: R2Bucket,
  key: string,
  request: Request,
  maxBytes: number,
): Promise<StoredArchive> {
  try {
    return await pumpBody(request, maxBytes, (declared) =>
      declared === undefined ? multipartSink(bucket, key) : fixedLengthSink(bucket, key, declared),
    );
  } catch (err) {
    await bucket.delete(key);
    throw err;
  }
}

/**
 * The size and sha256 of a request body of at most `maxBytes`, read and dropped chunk by chunk
 * (an Idempotency-Key replay compares bytes without storing them again).
 *
 * @example
 * const { sha256 } = await hashBody(c.req.raw, 100 << 20);
 */
export function hashBody(request: Request, maxBytes: number): Promise<StoredArchive> {
  return pumpBody(request, maxBytes, () => undefined);
}
