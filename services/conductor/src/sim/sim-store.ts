import { ObjectExistsError, type ListPage, type ObjectStore, type PutOptions } from '@baton/shared';

/**
 * An in-memory object store for the simulation: the same semantics as the others (conditional
 * create, listing in key order after `startAfter`), but each bucket keeps its keys sorted so a
 * page costs a binary search, not a sort of 300,000 keys.
 */
export class SimObjectStore implements ObjectStore {
  private readonly buckets = new Map<string, { objects: Map<string, string>; sorted: string[] | undefined }>();

  async get(bucket: string, key: string): Promise<string | undefined> {
    return this.bucket(bucket).objects.get(key);
  }

  async put(bucket: string, key: string, body: string, options: PutOptions = {}): Promise<void> {
    this.putNow(bucket, key, body, options);
  }

  /** Synchronous, for setting up a scenario. */
  putNow(bucket: string, key: string, body: string, options: PutOptions = {}): void {
    const b = this.bucket(bucket);
    if (b.objects.has(key)) {
      if (options.ifNoneMatch === '*') throw new ObjectExistsError(bucket, key);
    } else {
      b.sorted = undefined;
    }
    b.objects.set(key, body);
  }

  async delete(bucket: string, key: string): Promise<void> {
    const b = this.bucket(bucket);
    if (b.objects.delete(key)) b.sorted = undefined;
  }

  async list(bucket: string, prefix: string, options: { startAfter?: string; limit?: number } = {}): Promise<ListPage> {
    const b = this.bucket(bucket);
    b.sorted ??= [...b.objects.keys()].sort();
    const sorted = b.sorted;
    const from = options.startAfter !== undefined && options.startAfter > prefix ? options.startAfter : prefix;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < from || sorted[mid] === options.startAfter) lo = mid + 1;
      else hi = mid;
    }
    const limit = options.limit ?? 1000;
    const keys: string[] = [];
    for (let i = lo; i < sorted.length && keys.length <= limit && sorted[i]!.startsWith(prefix); i++) keys.push(sorted[i]!);
    if (keys.length > limit) {
      keys.pop();
      return { keys, nextStartAfter: keys[keys.length - 1] };
    }
    return { keys };
  }

  private bucket(name: string) {
    let b = this.buckets.get(name);
    if (!b) {
      b = { objects: new Map(), sorted: undefined };
      this.buckets.set(name, b);
    }
    return b;
  }
}
