// A least-recently-used cache bounded by the total size of its values (bytes, for example).

/**
 * Keeps values while their sizes add up to at most `limit`; adding beyond that evicts the least
 * recently used entries. A value's size may be set after insertion (when a load finishes).
 *
 * @example
 * const lru = new SizedLru<string>(100);
 * lru.set('a', 'x', 60);
 * lru.set('b', 'y', 60); // evicts 'a'
 */
export class SizedLru<V> {
  /** Insertion order is recency order: a read moves its entry to the end. */
  private readonly entries = new Map<string, { value: V; size: number }>();
  private total = 0;

  /**
   * @param onEvict called with each entry pushed out by the limit (not for `delete`): where a
   *   value holds something that must be freed, such as a wasm session.
   */
  constructor(
    private max: number,
    private readonly onEvict?: (key: string, value: V) => void,
  ) {}

  get limit(): number {
    return this.max;
  }

  /** Changes the bound, evicting the least recently used entries until the total fits. */
  setLimit(limit: number): void {
    this.max = limit;
    this.evict('');
  }

  /** The value of `key` without making it the most recently used. */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, size = 0): void {
    this.delete(key);
    this.entries.set(key, { value, size });
    this.total += size;
    this.evict(key);
  }

  /** Records the size of an entry already present (no-op when it was evicted meanwhile). */
  resize(key: string, size: number): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.total += size - entry.size;
    entry.size = size;
    this.evict(key);
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.total -= entry.size;
    return this.entries.delete(key);
  }

  /** Current keys, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  get size(): number {
    return this.total;
  }

  /** Evicts the oldest entries (never `keep`) until the total fits the limit. */
  private evict(keep: string): void {
    for (const [key] of this.entries) {
      if (this.total <= this.max) return;
      if (key === keep) continue;
      const { value } = this.entries.get(key)!;
      this.delete(key);
      this.onEvict?.(key, value);
    }
  }
}
