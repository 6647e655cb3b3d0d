/**
 * A memo bounded by size and age: at most `maxEntries` entries, each forgotten `ttlMs` after it
 * was stored (never, with no ttl), the least recently used dropped first when full. Every cache
 * in a long-running process whose keys come from requests (credentials, principals, certificates,
 * CSRs) is one of these, so a flood of distinct requests costs at most `maxEntries` entries
 * (docs/benchmarks.md lists them with their bounds).
 *
 * A Map keeps insertion order; a hit re-inserts its key, so the first key is the least recently
 * used one, and eviction and expiry sweeps are O(1) per entry dropped.
 */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, { value: V; expires: number }>();

  constructor(
    readonly maxEntries: number,
    private readonly ttlMs = Infinity,
    private readonly now: () => number = Date.now,
  ) {
    if (!(maxEntries >= 1)) throw new RangeError('a bounded cache needs room for one entry at least');
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.map.delete(key);
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  set(key: K, value: V, ttlMs = this.ttlMs): this {
    const now = this.now();
    this.map.delete(key);
    this.sweep(now);
    while (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value as K);
    this.map.set(key, { value, expires: now + ttlMs });
    return this;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  /** Entries whose value matches, dropped (e.g. every cached sign-in of one account). */
  deleteWhere(match: (value: V, key: K) => boolean): void {
    for (const [k, e] of this.map) if (match(e.value, k)) this.map.delete(k);
  }

  /**
   * Drops expired entries from the least recently used end, stopping at the first live one: with
   * one ttl for all entries that end is also the oldest, so what stays is live. Entries given a
   * longer ttl may hold expired ones behind them until they are reached or evicted — still within
   * maxEntries.
   */
  private sweep(now: number): void {
    for (const [k, e] of this.map) {
      if (e.expires > now) return;
      this.map.delete(k);
    }
  }
}
