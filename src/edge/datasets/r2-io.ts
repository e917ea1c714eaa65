// R2 plumbing for ingestion: an archive read through range requests with a read-ahead window,
// and image writes kept in flight a few at a time, within a byte budget.
import type { RandomAccessSource } from './zip.js';

/** Bytes fetched per range request when reading ahead (small entries share one request). */
const WINDOW_BYTES = 1024 * 1024;
const MAX_PUTS_IN_FLIGHT = 4;
/** Bytes of image data held by writes still in flight. */
const MAX_PUT_BYTES_IN_FLIGHT = 16 * 1024 * 1024;

/**
 * The object at `key` as a ranged source, pinned to its current etag (a replaced archive fails
 * the read rather than mixing two uploads). Reads that fit the last 1 MiB window are served from
 * it, so entries read in archive order cost about one request per MiB.
 *
 * @example
 * const archive = await bucket.head(key);
 * const entries = await openZip(r2Source(bucket, key, archive!), limits);
 */
export function r2Source(bucket: R2Bucket, key: string, object: R2Object): RandomAccessSource {
  let window = { offset: 0, bytes: new Uint8Array(0) };
  const fetchRange = async (offset: number, length: number) => {
    const part = await bucket.get(key, {
      range: { offset, length },
      onlyIf: { etagMatches: object.etag },
    });
    if (!part || !('arrayBuffer' in part)) throw new Error(`archive ${key} changed while read`);
    return new Uint8Array(await part.arrayBuffer());
  };
  return {
    size: object.size,
    async read(offset, length) {
      const start = offset - window.offset;
      if (start >= 0 && start + length <= window.bytes.length)
        return window.bytes.slice(start, start + length);
      if (length >= WINDOW_BYTES) return fetchRange(offset, length);
      window = {
        offset,
        bytes: await fetchRange(offset, Math.min(WINDOW_BYTES, object.size - offset)),
      };
      return window.bytes.slice(0, length);
    },
  };
}

/**
 * Object writes that overlap with the reading of the next entries. `put` waits while too many
 * writes or bytes are in flight; `flush` waits for all and reports the first failure; `settle`
 * waits for all and ignores failures (before cleaning up after an error).
 *
 * @example
 * const writes = new PutPipeline(bucket);
 * await writes.put(key, bytes, { httpMetadata: { contentType: 'image/jpeg' } });
 * await writes.flush();
 */
export class PutPipeline {
  private readonly inFlight = new Set<Promise<void>>();
  private bytesInFlight = 0;
  private failure: Error | undefined;

  constructor(private readonly bucket: R2Bucket) {}

  async put(key: string, bytes: Uint8Array, options: R2PutOptions): Promise<void> {
    while (
      this.inFlight.size >= MAX_PUTS_IN_FLIGHT ||
      (this.inFlight.size > 0 && this.bytesInFlight + bytes.byteLength > MAX_PUT_BYTES_IN_FLIGHT)
    )
      await Promise.race(this.inFlight);
    this.throwIfFailed();
    this.bytesInFlight += bytes.byteLength;
    const write: Promise<void> = this.bucket.put(key, bytes, options).then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= error instanceof Error ? error : new Error(String(error));
      },
    );
    const tracked = write.finally(() => {
      this.inFlight.delete(tracked);
      this.bytesInFlight -= bytes.byteLength;
    });
    this.inFlight.add(tracked);
  }

  async flush(): Promise<void> {
    await this.settle();
    this.throwIfFailed();
  }

  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
