/**
 * A map of at most `max` entries that forgets the least recently used one first (a `Map` keeps
 * insertion order; a hit moves its entry to the end). For the caches a long-running process would
 * otherwise grow with every campaign it ever touched: compiled templates, compression dictionaries.
 */
export class RecentMap<K, V> {
  private readonly entries = new Map<K, V>();
  readonly max: number;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`a RecentMap holds at least one entry: ${max}`);
    this.max = max;
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  /** The value, leaving the order as it is. */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Sets the value as the most recently used; past `max` entries, forgets the least recently used. */
  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as K);
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
