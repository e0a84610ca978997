import { ObjectExistsError } from '../errors';
import {
  checkHeadBytes,
  collectBody,
  headOf,
  type BodyStream,
  type ListPage,
  type ObjectHead,
  type ObjectStore,
  type PutOptions,
  type PutStreamOptions,
} from './port';

/** An in-memory object store for unit tests of the cores: same semantics as the real adapters. */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, string>();
  /** Every call, in order, so tests can assert what was (not) done. */
  readonly calls: { op: 'get' | 'getHead' | 'put' | 'delete' | 'list'; bucket: string; key: string }[] = [];

  async get(bucket: string, key: string): Promise<string | undefined> {
    this.calls.push({ op: 'get', bucket, key });
    return this.objects.get(`${bucket}/${key}`);
  }

  async getHead(bucket: string, key: string, maxBytes: number): Promise<ObjectHead | undefined> {
    checkHeadBytes(maxBytes);
    this.calls.push({ op: 'getHead', bucket, key });
    const text = this.objects.get(`${bucket}/${key}`);
    return text === undefined ? undefined : headOf(Buffer.from(text, 'utf8'), maxBytes);
  }

  async put(bucket: string, key: string, body: string | Uint8Array, options: PutOptions = {}): Promise<void> {
    this.calls.push({ op: 'put', bucket, key });
    const id = `${bucket}/${key}`;
    if (options.ifNoneMatch === '*' && this.objects.has(id)) throw new ObjectExistsError(bucket, key);
    this.objects.set(id, typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  }

  async putStream(bucket: string, key: string, body: BodyStream, options: PutStreamOptions = {}): Promise<{ bytes: number }> {
    const bytes = await collectBody(body, { bucket, key }, options);
    await this.put(bucket, key, bytes, options);
    return { bytes: bytes.length };
  }

  async delete(bucket: string, key: string): Promise<void> {
    this.calls.push({ op: 'delete', bucket, key });
    this.objects.delete(`${bucket}/${key}`);
  }

  async list(bucket: string, prefix: string, options: { startAfter?: string; limit?: number } = {}): Promise<ListPage> {
    this.calls.push({ op: 'list', bucket, key: prefix });
    const limit = options.limit ?? 1000;
    const keys = [...this.objects.keys()]
      .filter((id) => id.startsWith(`${bucket}/`))
      .map((id) => id.slice(bucket.length + 1))
      .filter((k) => k.startsWith(prefix) && (options.startAfter === undefined || k > options.startAfter))
      .sort();
    const page = keys.slice(0, limit);
    return keys.length > limit ? { keys: page, nextStartAfter: page[page.length - 1] } : { keys: page };
  }
}
