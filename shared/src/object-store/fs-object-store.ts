import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BatonError, ObjectExistsError, RetryableError, ValidationError } from '../errors';
import {
  ObjectCreatedEvents,
  type EventedObjectStore,
  type ObjectCreatedFilter,
  type ObjectCreatedListener,
} from './object-created-events';
import {
  checkHeadBytes,
  countedBody,
  type BodyStream,
  type ListPage,
  type ObjectHead,
  type PutOptions,
  type PutStreamOptions,
} from './port';

export type { ObjectCreatedFilter, ObjectCreatedListener } from './object-created-events';

/**
 * An object store on the local filesystem, the embedded default.
 *
 * - `{root}/{bucket}/{key}.o` holds an object, so `a/b` and `a/b/c` can both exist, as on S3.
 * - Writes are atomic: a temporary file, then `rename` (replace) or `link` (create only if
 *   absent: `link` fails with EEXIST, so exactly one of two racing creators wins). A reader never
 *   sees a half-written object, and a conditional create never leaves a partial one behind.
 * - Durable: outside `derivedBuckets`, the file and its folder are synced before a put resolves,
 *   so a power cut loses nothing acknowledged (docs/benchmarks.md has the cost).
 * - After each successful put it emits an S3-shaped `ObjectCreated:Put` event (URL-encoded key)
 *   to the listeners whose bucket and prefix/suffix filter match, asynchronously.
 */

export interface FsObjectStoreOptions {
  /**
   * Buckets whose objects the pipeline derives again when they are lost (stubs from the audience,
   * rendered messages from the stubs): written without `fsync`, so a power cut may lose or
   * truncate their latest writes. Every other bucket (definitions, the ledger) is synced, file and
   * folder, before a put resolves: what a put acknowledged survives a power cut.
   */
  derivedBuckets?: readonly string[];
}

/** Folders remembered as made, at most (about 100 bytes each): past it the memory starts afresh. */
const FOLDERS_REMEMBERED = 100_000;

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,62}$/;
const SUFFIX = '.o';

export class FsObjectStore implements EventedObjectStore {
  private readonly events = new ObjectCreatedEvents();
  /** Folders known to exist: each is made once, not before every write. */
  private readonly folders = new Set<string>();
  private readonly tmpDir: string;
  /** Temp names: unique to this store (two stores, even two processes, may share a root), then a counter. */
  private readonly tmpPrefix = `${process.pid.toString(36)}-${randomBytes(4).toString('hex')}-`;
  private tmpSeq = 0;
  private readonly derived: ReadonlySet<string>;

  constructor(
    private readonly root: string,
    options: FsObjectStoreOptions = {},
  ) {
    this.tmpDir = path.join(root, '.tmp');
    this.derived = new Set(options.derivedBuckets ?? []);
  }

  /** Subscribe to S3-shaped events; returns the unsubscribe function. */
  onObjectCreated(filter: ObjectCreatedFilter, listener: ObjectCreatedListener): () => void {
    return this.events.subscribe(filter, listener);
  }

  async get(bucket: string, key: string): Promise<string | undefined> {
    try {
      return await fs.readFile(this.pathOf(bucket, key), 'utf8');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw unavailable(err, 'get', bucket, key);
    }
  }

  /** Reads only the first `maxBytes` of the file (and its size from the open file, so the two agree). */
  async getHead(bucket: string, key: string, maxBytes: number): Promise<ObjectHead | undefined> {
    checkHeadBytes(maxBytes);
    let file: fs.FileHandle | undefined;
    try {
      file = await fs.open(this.pathOf(bucket, key), 'r');
      const { size } = await file.stat();
      const bytes = Buffer.alloc(Math.min(size, maxBytes));
      let read = 0;
      while (read < bytes.length) {
        const { bytesRead } = await file.read(bytes, read, bytes.length - read, read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      return { bytes: bytes.subarray(0, read), size };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw unavailable(err, 'read the head of', bucket, key);
    } finally {
      await file?.close();
    }
  }

  async put(bucket: string, key: string, body: string | Uint8Array, options: PutOptions = {}): Promise<void> {
    const dest = this.pathOf(bucket, key);
    const tmp = path.join(this.tmpDir, `${this.tmpPrefix}${(this.tmpSeq++).toString(36)}`);
    const durable = !this.derived.has(bucket);
    let placed = false;
    try {
      await this.ensureFolder(this.tmpDir);
      await writeTemp(tmp, body, durable);
      await this.place(tmp, dest, bucket, key, options.ifNoneMatch === '*');
      placed = true;
      if (durable) await syncFolder(path.dirname(dest));
    } catch (err) {
      throw unavailable(err, 'put', bucket, key);
    } finally {
      // On every path, a full disk included: no temp file is left behind. A rename consumed it.
      if (!placed || options.ifNoneMatch === '*') await fs.unlink(tmp).catch(() => undefined);
    }
    this.events.emit(bucket, key, body);
  }

  /**
   * Writes the body to the temp file chunk by chunk as it arrives (one chunk in memory at a time),
   * then places it as `put` does: a body that fails or runs over `maxBytes` leaves only the temp
   * file, which is removed. The event's size and ETag are counted on the way.
   */
  async putStream(bucket: string, key: string, body: BodyStream, options: PutStreamOptions = {}): Promise<{ bytes: number }> {
    const dest = this.pathOf(bucket, key);
    const tmp = path.join(this.tmpDir, `${this.tmpPrefix}${(this.tmpSeq++).toString(36)}`);
    const durable = !this.derived.has(bucket);
    const counted = { bytes: 0, failed: false };
    const md5 = createHash('md5');
    let placed = false;
    try {
      await this.ensureFolder(this.tmpDir);
      const handle = await fs.open(tmp, 'w');
      try {
        for await (const chunk of countedBody(body, { bucket, key }, options, counted)) {
          md5.update(chunk);
          await handle.write(chunk);
        }
        if (durable) await handle.sync();
      } finally {
        await handle.close();
      }
      await this.place(tmp, dest, bucket, key, options.ifNoneMatch === '*');
      placed = true;
      if (durable) await syncFolder(path.dirname(dest));
    } catch (err) {
      throw counted.failed ? err : unavailable(err, 'put', bucket, key);
    } finally {
      if (!placed || options.ifNoneMatch === '*') await fs.unlink(tmp).catch(() => undefined);
    }
    this.events.emitCreated(bucket, key, counted.bytes, md5.digest('hex'));
    return { bytes: counted.bytes };
  }

  /**
   * Moves the written temp file to its key: `rename` replaces, `link` creates only if absent
   * (it fails with EEXIST, so exactly one of two racing creators wins). The key's folder is made
   * once and remembered; if it went away meanwhile (removed by retention), it is made again.
   */
  private async place(tmp: string, dest: string, bucket: string, key: string, ifAbsent: boolean): Promise<void> {
    const folder = path.dirname(dest);
    await this.ensureFolder(folder);
    const move = () => (ifAbsent ? fs.link(tmp, dest) : fs.rename(tmp, dest));
    try {
      await move();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (ifAbsent && code === 'EEXIST') throw new ObjectExistsError(bucket, key);
      if (code !== 'ENOENT') throw err;
      this.folders.delete(folder);
      await this.ensureFolder(folder);
      try {
        await move();
      } catch (again) {
        if (ifAbsent && (again as NodeJS.ErrnoException).code === 'EEXIST') throw new ObjectExistsError(bucket, key);
        throw again;
      }
    }
  }

  /** `mkdir -p` once per folder: folders are never removed while the store runs, except empty ones by `delete`. */
  private async ensureFolder(dir: string): Promise<void> {
    if (this.folders.has(dir)) return;
    await makeFolders(dir);
    if (this.folders.size >= FOLDERS_REMEMBERED) this.folders.clear();
    this.folders.add(dir);
  }

  async delete(bucket: string, key: string): Promise<void> {
    try {
      await fs.rm(this.pathOf(bucket, key), { force: true });
    } catch (err) {
      throw unavailable(err, 'delete', bucket, key);
    }
  }

  async list(bucket: string, prefix: string, options: { startAfter?: string; limit?: number } = {}): Promise<ListPage> {
    const limit = options.limit ?? 1000;
    const bucketDir = this.bucketDir(bucket);
    // Start at the deepest folder the prefix names, and walk in key order (see `walk`), so a
    // page costs about its own size, not the size of the bucket.
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    if (base !== '') {
      const segments = base.slice(0, -1).split('/');
      // Climbing out of the bucket is refused; an empty segment just matches no key, as on S3.
      if (segments.some((seg) => seg === '.' || seg === '..') || /[\u0000\\]/.test(base)) checkKey(base + 'x');
      if (segments.some((seg) => seg === '')) return { keys: [] };
    }
    const found: string[] = [];
    await walk(
      path.join(bucketDir, ...base.split('/').filter(Boolean)),
      base,
      { prefix, startAfter: options.startAfter, want: limit + 1 },
      found,
    );
    const page = found.slice(0, limit);
    return found.length > limit ? { keys: page, nextStartAfter: page[page.length - 1] } : { keys: page };
  }

  private bucketDir(bucket: string): string {
    if (!BUCKET.test(bucket)) {
      throw new ValidationError('BUCKET_INVALID', [{ where: 'bucket', message: `malformed bucket name ${JSON.stringify(bucket)}` }]);
    }
    return path.join(this.root, bucket);
  }

  private pathOf(bucket: string, key: string): string {
    checkKey(key);
    return path.join(this.bucketDir(bucket), ...key.split('/')) + SUFFIX;
  }
}

/** Keys that would escape their bucket folder, or cannot be files, are refused outright. */
function checkKey(key: string): void {
  const segments = key.split('/');
  const bad =
    key.length === 0 ||
    key.length > 1024 ||
    /[\u0000\\]/.test(key) ||
    segments.some((s) => s === '' || s === '.' || s === '..' || Buffer.byteLength(s) > 250);
  if (bad) {
    throw new ValidationError('KEY_INVALID', [
      { where: 'key', message: `${JSON.stringify(key.slice(0, 200))} cannot be stored (empty, '.', '..' segment, NUL or backslash)` },
    ]);
  }
}

interface WalkQuery {
  prefix: string;
  startAfter: string | undefined;
  /** Stop once this many keys are found. */
  want: number;
}

/**
 * Appends keys under `dir` to `out` in S3's order (by code unit). Each folder's entries are
 * sorted by the key strings they stand for — a file `b.o` is `b`, a folder `b` is `b/…` — which
 * makes a depth-first walk visit keys in order, so it can stop at `want` keys and skip every
 * folder that lies wholly before `startAfter` or outside `prefix`.
 */
async function walk(dir: string, keyPrefix: string, q: WalkQuery, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  const ordered = entries
    .map((e) =>
      e.isDirectory()
        ? { key: `${keyPrefix}${e.name}/`, dir: e.name }
        : e.isFile() && e.name.endsWith(SUFFIX)
          ? { key: keyPrefix + e.name.slice(0, -SUFFIX.length) }
          : undefined,
    )
    .filter((e): e is { key: string; dir?: string } => e !== undefined)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const e of ordered) {
    if (out.length >= q.want) return;
    if (e.dir !== undefined) {
      const inPrefix = e.key.startsWith(q.prefix) || q.prefix.startsWith(e.key);
      // Every key below starts with e.key: all of them sort before startAfter when e.key does and is not its prefix.
      const beforeStart = q.startAfter !== undefined && e.key < q.startAfter && !q.startAfter.startsWith(e.key);
      if (inPrefix && !beforeStart) await walk(path.join(dir, e.dir), e.key, q, out);
    } else if (e.key.startsWith(q.prefix) && (q.startAfter === undefined || e.key > q.startAfter)) {
      out.push(e.key);
    }
  }
}

/**
 * `mkdir -p`. Node's recursive mkdir answers ENOENT when a folder cannot be made for another
 * reason (a read-only disk, EROFS; a permission), which would name the wrong fault: then the first
 * missing folder is made alone, and fails with the real reason.
 */
async function makeFolders(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    let missing = dir;
    while (path.dirname(missing) !== missing && !(await isFolder(path.dirname(missing)))) missing = path.dirname(missing);
    await fs.mkdir(missing).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    });
    // Nothing stood in the way after all (a folder removed meanwhile): once more, as it comes.
    await fs.mkdir(dir, { recursive: true });
  }
}

async function isFolder(dir: string): Promise<boolean> {
  try {
    return (await fs.stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A filesystem error (a full or read-only disk, a permission) as the port's retryable error, naming the object. */
function unavailable(err: unknown, op: string, bucket: string, key: string): Error {
  if (err instanceof BatonError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  return new RetryableError('STORE_UNAVAILABLE', `the local store could not ${op} ${bucket}/${key}: ${code}`, { cause: err });
}

/** Writes the temp file; with `durable`, its data is on disk before the promise resolves. */
async function writeTemp(tmp: string, body: string | Uint8Array, durable: boolean): Promise<void> {
  if (!durable) {
    await fs.writeFile(tmp, body);
    return;
  }
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a new or renamed entry in `dir` durable (POSIX: the folder itself must be synced). */
async function syncFolder(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
