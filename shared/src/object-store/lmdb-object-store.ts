import { open, type Database, type RootDatabase } from 'lmdb';
import { BatonError, ObjectExistsError, RetryableError, ValidationError } from '../errors';
import {
  ObjectCreatedEvents,
  type EventedObjectStore,
  type ObjectCreatedFilter,
  type ObjectCreatedListener,
} from './object-created-events';
import { collectBody, type BodyStream, type ListPage, type PutOptions, type PutStreamOptions } from './port';

/**
 * The object-store port over LMDB (the `lmdb` package, prebuilt binaries from the registry): one
 * memory-mapped file under `path`, one named database per bucket, keys in byte order.
 *
 * - Reads are synchronous lookups in the map (microseconds, no thread hop); writes are queued
 *   and committed together, one transaction and one disk flush per batch.
 * - Durable: a put resolves only once its transaction is flushed to disk, so a power cut loses
 *   nothing a put acknowledged; a crash never leaves a partial object (LMDB is copy-on-write).
 * - Conditional create (`ifNoneMatch: '*'`) is checked inside the write transaction: of two
 *   racing creators, in this process or another one, exactly one wins.
 * - Bodies over 1 KB are stored LZ4-compressed: a rendered email takes a quarter of its size.
 * - Emits S3-shaped `ObjectCreated:Put` events after each put, as the filesystem store does.
 */
export interface LmdbObjectStoreOptions {
  /** The folder holding the database (`data.mdb`, `lock.mdb`). */
  path: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,62}$/;
/** S3's limit; LMDB's own is about 1,978 bytes. */
const MAX_KEY_BYTES = 1024;
const MAX_BUCKETS = 32;
/**
 * Address space reserved for the map up front (the file still grows only as pages are written; past
 * it lmdb grows the map itself: 16 GiB holds about 3,000,000 recipients).
 * Growing it from lmdb's small default remaps it several times on the way, and every old mapping's
 * pages stayed resident: 308 MB of file-backed RSS for a 20,000-recipient run, 162 MB with this.
 */
const MAP_BYTES = 16 * 1024 ** 3;

export class LmdbObjectStore implements EventedObjectStore {
  private readonly events = new ObjectCreatedEvents();
  private readonly root: RootDatabase;
  private readonly buckets = new Map<string, Database<string, string>>();

  constructor(options: LmdbObjectStoreOptions) {
    try {
      this.root = open({ path: options.path, maxDbs: MAX_BUCKETS, compression: true, mapSize: MAP_BYTES });
    } catch (err) {
      throw new RetryableError('STORE_UNAVAILABLE', `the local store at ${options.path} cannot be opened: ${reasonOf(err)}`, {
        cause: err,
      });
    }
  }

  onObjectCreated(filter: ObjectCreatedFilter, listener: ObjectCreatedListener): () => void {
    return this.events.subscribe(filter, listener);
  }

  async get(bucket: string, key: string): Promise<string | undefined> {
    checkKey(key);
    try {
      return this.db(bucket).get(key);
    } catch (err) {
      throw unavailable(err, 'get', bucket, key);
    }
  }

  async put(bucket: string, key: string, bytesOrText: string | Uint8Array, options: PutOptions = {}): Promise<void> {
    checkKey(key);
    // Stored as text (every object is UTF-8: JSON, CSV, rendered messages), read back as text.
    const body = typeof bytesOrText === 'string' ? bytesOrText : Buffer.from(bytesOrText).toString('utf8');
    try {
      const db = this.db(bucket);
      if (options.ifNoneMatch === '*') {
        const created = await db.ifNoExists(key, () => {
          void db.put(key, body);
        });
        if (!created) throw new ObjectExistsError(bucket, key);
      } else {
        await db.put(key, body);
      }
    } catch (err) {
      throw unavailable(err, 'put', bucket, key);
    }
    this.events.emit(bucket, key, body);
  }

  /**
   * LMDB keeps an object as one value, written in one transaction: the body is collected (bounded
   * by `maxBytes`) and stored once it has all come. The filesystem store writes it as it comes.
   */
  async putStream(bucket: string, key: string, body: BodyStream, options: PutStreamOptions = {}): Promise<{ bytes: number }> {
    checkKey(key);
    const bytes = await collectBody(body, { bucket, key }, options);
    await this.put(bucket, key, bytes, options);
    return { bytes: bytes.length };
  }

  async delete(bucket: string, key: string): Promise<void> {
    checkKey(key);
    try {
      await this.db(bucket).remove(key);
    } catch (err) {
      throw unavailable(err, 'delete', bucket, key);
    }
  }

  async list(bucket: string, prefix: string, options: { startAfter?: string; limit?: number } = {}): Promise<ListPage> {
    const limit = options.limit ?? 1000;
    const { startAfter } = options;
    const start = startAfter !== undefined && startAfter > prefix ? startAfter : prefix;
    const keys: string[] = [];
    let more = false;
    try {
      for (const key of this.db(bucket).getKeys({ start })) {
        if (!key.startsWith(prefix)) break;
        if (startAfter !== undefined && key <= startAfter) continue;
        if (keys.length === limit) {
          more = true;
          break;
        }
        keys.push(key);
      }
    } catch (err) {
      throw unavailable(err, 'list', bucket, prefix);
    }
    return more ? { keys, nextStartAfter: keys[keys.length - 1] } : { keys };
  }

  /** Waits for queued writes, then closes the database. */
  async close(): Promise<void> {
    await this.root.close();
  }

  private db(bucket: string): Database<string, string> {
    let db = this.buckets.get(bucket);
    if (db === undefined) {
      if (!BUCKET.test(bucket)) {
        throw new ValidationError('BUCKET_INVALID', [{ where: 'bucket', message: `malformed bucket name ${JSON.stringify(bucket)}` }]);
      }
      db = this.root.openDB<string, string>(bucket, { encoding: 'string', compression: true });
      this.buckets.set(bucket, db);
    }
    return db;
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || Buffer.byteLength(key) > MAX_KEY_BYTES || key.includes('\u0000')) {
    throw new ValidationError('KEY_INVALID', [
      {
        where: 'key',
        message: `${JSON.stringify(String(key).slice(0, 200))} cannot be stored (empty, NUL, or over ${MAX_KEY_BYTES} bytes)`,
      },
    ]);
  }
}

function reasonOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
}

/** A database error (a full disk, a permission) as the port's retryable error, naming the object. */
function unavailable(err: unknown, op: string, bucket: string, key: string): Error {
  if (err instanceof BatonError) return err;
  return new RetryableError('STORE_UNAVAILABLE', `the local store could not ${op} ${bucket}/${key}: ${reasonOf(err)}`, { cause: err });
}
