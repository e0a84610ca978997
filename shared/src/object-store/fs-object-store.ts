import { randomBytes, createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BatonError, ObjectExistsError, RetryableError, ValidationError } from '../errors';
import { encodeS3EventKey, type S3Event } from '../schemas';
import type { ListPage, ObjectStore, PutOptions } from './port';

/**
 * An object store on the local filesystem, the embedded default.
 *
 * - `{root}/{bucket}/{key}.o` holds an object, so `a/b` and `a/b/c` can both exist, as on S3.
 * - Writes are atomic: a temporary file, then `rename` (replace) or `link` (create only if
 *   absent: `link` fails with EEXIST, so exactly one of two racing creators wins).
 * - After each successful put it emits an S3-shaped `ObjectCreated:Put` event (URL-encoded key)
 *   to the listeners whose bucket and prefix/suffix filter match, asynchronously.
 */

export interface ObjectCreatedFilter {
  bucket: string;
  prefix?: string;
  suffix?: string;
}
export type ObjectCreatedListener = (event: S3Event) => void;

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,62}$/;
const SUFFIX = '.o';

export class FsObjectStore implements ObjectStore {
  private readonly listeners: { filter: ObjectCreatedFilter; listener: ObjectCreatedListener }[] = [];

  constructor(private readonly root: string) {}

  /** Subscribe to S3-shaped events; returns the unsubscribe function. */
  onObjectCreated(filter: ObjectCreatedFilter, listener: ObjectCreatedListener): () => void {
    const entry = { filter, listener };
    this.listeners.push(entry);
    return () => {
      const i = this.listeners.indexOf(entry);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  async get(bucket: string, key: string): Promise<string | undefined> {
    try {
      return await fs.readFile(this.pathOf(bucket, key), 'utf8');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw unavailable(err, 'get', bucket, key);
    }
  }

  async put(bucket: string, key: string, body: string | Uint8Array, options: PutOptions = {}): Promise<void> {
    const dest = this.pathOf(bucket, key);
    const tmpDir = path.join(this.root, '.tmp');
    const tmp = path.join(tmpDir, randomBytes(12).toString('hex'));
    try {
      await makeFolders(tmpDir);
      await makeFolders(path.dirname(dest));
      await fs.writeFile(tmp, body, 'utf8');
      if (options.ifNoneMatch === '*') await linkIfAbsent(tmp, dest, bucket, key);
      else await fs.rename(tmp, dest);
    } catch (err) {
      throw unavailable(err, 'put', bucket, key);
    } finally {
      // On every path, a full disk included: no temp file is left behind.
      await fs.rm(tmp, { force: true }).catch(() => undefined);
    }
    this.emit(bucket, key, body);
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

  private emit(bucket: string, key: string, body: string | Uint8Array): void {
    const matching = this.listeners.filter(
      ({ filter }) => filter.bucket === bucket && key.startsWith(filter.prefix ?? '') && key.endsWith(filter.suffix ?? ''),
    );
    if (matching.length === 0) return;
    const event: S3Event = {
      Records: [
        {
          eventSource: 'aws:s3',
          eventName: 'ObjectCreated:Put',
          eventTime: new Date().toISOString(),
          s3: {
            bucket: { name: bucket },
            object: {
              key: encodeS3EventKey(key),
              size: Buffer.byteLength(body),
              eTag: createHash('md5').update(body).digest('hex'),
            },
          },
        },
      ],
    };
    for (const { listener } of matching) setImmediate(() => listener(event));
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

/** Create-if-absent: a hard link fails with EEXIST when the key exists, and only then is it "exists". */
async function linkIfAbsent(tmp: string, dest: string, bucket: string, key: string): Promise<void> {
  try {
    await fs.link(tmp, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ObjectExistsError(bucket, key);
    throw err;
  }
}
