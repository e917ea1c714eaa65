// Sessions an isolate keeps loaded (backbones, heads): an LRU bounded by bytes whose evicted
// sessions are freed once no request holds them. wasm memory never shrinks, so what bounds the
// isolate is the most ever loaded at once; a freed session's memory is reused by the next load.
import { SizedLru } from '../../shared/lru.js';
import { ApiError } from '../errors.js';

/** A value held for one request: call `release` when the request is done with it. */
export interface Lease<T> {
  readonly value: T;
  readonly release: () => void;
}

interface Entry<T> {
  readonly load: Promise<T>;
  /** Requests holding the value now: a retired entry is freed when this reaches 0. */
  users: number;
  retired: boolean;
}

export interface LeasedCacheOptions<T> {
  /** What one loaded value weighs against the bound (its model bytes). */
  readonly sizeOf: (value: T) => number;
  /** Frees a value's session (runs once, after its last lease is released). */
  readonly free: (value: T) => void | Promise<void>;
  /** A load still running after this long fails its waiting requests (503) and is forgotten. */
  readonly timeoutMs: number;
  /** The 503's message for a stuck load of `key`. */
  readonly timeoutMessage: (key: string) => string;
}

/**
 * Loads each key once per isolate and lends it to requests. Concurrent first requests share one
 * load; a failed or stuck load is forgotten so the next request tries again; an entry evicted
 * (by the byte bound, or by `evict`) while requests hold it is freed after the last `release`.
 *
 * @example
 * const heads = new LeasedCache<LoadedHead>(32 << 20, { sizeOf: (h) => h.bytes, free: (h) => h.session.release(), … });
 * const { value, release } = await heads.acquire(id, () => loadHead(bucket, id), ctx.waitUntil.bind(ctx));
 * try { await value.session.run(feeds); } finally { release(); }
 */
export class LeasedCache<T> {
  private readonly entries: SizedLru<Entry<T>>;

  constructor(
    limitBytes: number,
    private readonly options: LeasedCacheOptions<T>,
  ) {
    this.entries = new SizedLru<Entry<T>>(limitBytes, (_, entry) => this.retire(entry));
  }

  private retire(entry: Entry<T>): void {
    entry.retired = true;
    if (entry.users === 0)
      void entry.load
        .then(
          (value) => this.options.free(value),
          () => undefined, // a load that failed has nothing to free
        )
        .catch((err: unknown) => console.error('freeing a session failed', err));
  }

  /**
   * Holds `key`'s value for a request, loading it with `load` when this isolate has none.
   * `keepAlive` (the request's `waitUntil`) keeps a new load running after the request that
   * started it has answered; otherwise workerd cancels its I/O and every request sharing the
   * load waits forever.
   */
  async acquire(
    key: string,
    load: () => Promise<T>,
    keepAlive?: (promise: Promise<unknown>) => void,
  ): Promise<Lease<T>> {
    let entry = this.entries.get(key);
    if (!entry) {
      const created: Entry<T> = { load: load(), users: 0, retired: false };
      entry = created;
      this.entries.set(key, created, 0);
      created.load.then(
        (value) => this.entries.resize(key, this.options.sizeOf(value)),
        () => {
          if (this.entries.peek(key) === created) this.entries.delete(key);
        },
      );
      keepAlive?.(created.load.catch(() => undefined));
    }
    const held = entry;
    held.users++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      held.users--;
      if (held.retired) this.retire(held);
    };
    let timer: ReturnType<typeof setTimeout> | null = null;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (this.entries.peek(key) === held) {
          this.entries.delete(key);
          held.retired = true;
        }
        reject(new ApiError('model_unavailable', this.options.timeoutMessage(key)));
      }, this.options.timeoutMs);
    });
    try {
      return { value: await Promise.race([held.load, timeout]), release };
    } catch (err) {
      release();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Forgets `key` (the next request loads it again); its session is freed once unheld. */
  evict(key: string): void {
    const entry = this.entries.peek(key);
    if (!entry) return;
    this.entries.delete(key);
    this.retire(entry);
  }

  /** The keys loaded now, least recently used first, with their bytes and the bound. */
  stats(): { keys: string[]; bytes: number; limitBytes: number } {
    return { keys: this.entries.keys(), bytes: this.entries.size, limitBytes: this.entries.limit };
  }

  /** Sets the bound (tests), evicting what no longer fits. */
  setLimit(bytes: number): void {
    this.entries.setLimit(bytes);
  }
}
