import {
  ObjectExistsError,
  checkHeadBytes,
  collectBody,
  headOf,
  type BodyStream,
  type ListPage,
  type ObjectHead,
  type ObjectStore,
  type PutOptions,
  type PutStreamOptions,
} from '@baton/shared';
import type { Random } from './random';
import type { Vanishing } from './vanishing';
import type { VirtualClock } from './virtual-clock';
import type { WorkerProfile } from './worker-profile';

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

  async getHead(bucket: string, key: string, maxBytes: number): Promise<ObjectHead | undefined> {
    checkHeadBytes(maxBytes);
    const text = this.bucket(bucket).objects.get(key);
    return text === undefined ? undefined : headOf(Buffer.from(text, 'utf8'), maxBytes);
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

  async putStream(bucket: string, key: string, body: BodyStream, options: PutStreamOptions = {}): Promise<{ bytes: number }> {
    const bytes = await collectBody(body, { bucket, key }, options);
    this.putNow(bucket, key, bytes.toString('utf8'), options);
    return { bytes: bytes.length };
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

/**
 * One worker's view of the store: every request costs a lognormal latency (times the worker's
 * slowness) on the virtual clock and takes effect when it ends; a worker that vanished makes no
 * more requests, and those in progress never answer.
 */
export class WorkerObjectStore implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    private readonly clock: VirtualClock,
    private readonly rnd: Random,
    private readonly profile: WorkerProfile,
    private readonly vanishing: Vanishing,
  ) {}

  get(bucket: string, key: string): Promise<string | undefined> {
    return this.request(() => this.inner.get(bucket, key));
  }

  getHead(bucket: string, key: string, maxBytes: number): Promise<ObjectHead | undefined> {
    return this.request(() => this.inner.getHead(bucket, key, maxBytes));
  }

  put(bucket: string, key: string, body: string, options?: PutOptions): Promise<void> {
    return this.request(() => this.inner.put(bucket, key, body, options));
  }

  putStream(bucket: string, key: string, body: BodyStream, options?: PutStreamOptions): Promise<{ bytes: number }> {
    return this.request(() => this.inner.putStream(bucket, key, body, options));
  }

  delete(bucket: string, key: string): Promise<void> {
    return this.request(() => this.inner.delete(bucket, key));
  }

  list(bucket: string, prefix: string, options?: { startAfter?: string; limit?: number }): Promise<ListPage> {
    return this.request(() => this.inner.list(bucket, prefix, options));
  }

  private request<T>(op: () => Promise<T>): Promise<T> {
    const { medianMs, sigma } = this.profile.storeMs;
    const ms = this.rnd.lognormal(medianMs, sigma) * this.profile.slowness;
    return this.vanishing.guard(() => this.clock.sleep(ms).then(() => (this.vanishing.vanished ? new Promise<T>(() => {}) : op())));
  }
}
