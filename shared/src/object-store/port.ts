import { BodyTooLargeError, ValidationError } from '../errors';

/**
 * The object-store port: the slice of S3 that Baton uses. Adapters: `fs-object-store` (one
 * machine, the embedded default) and `s3-object-store` (AWS, MinIO, LocalStack).
 */
export interface PutOptions {
  /** `'*'`: create only if absent (S3 `If-None-Match: *`); a loser gets `ObjectExistsError`. */
  ifNoneMatch?: '*';
  contentType?: string;
}

/** A body that streams in (a request's file part): its bytes arrive once, in order. */
export type BodyStream = AsyncIterable<Uint8Array>;

export interface PutStreamOptions extends PutOptions {
  /**
   * The most bytes the body may have: one byte more and the put fails with `BodyTooLargeError`,
   * leaving no object (nor a partial one) behind. Counted as the bytes arrive.
   */
  maxBytes?: number;
  /**
   * The body's exact length when the sender said it (a request's Content-Length): lets S3 take it
   * as one PutObject. A body that turns out longer or shorter fails the put, leaving no object.
   */
  contentLength?: number;
}

export interface ListPage {
  keys: string[];
  /** Pass back as `startAfter` for the next page; absent on the last page. */
  nextStartAfter?: string;
}

/** The start of an object (a ranged read) and the whole object's size. */
export interface ObjectHead {
  /** Its first bytes, as many as asked for (all of them when it is shorter). */
  bytes: Uint8Array;
  /** The whole object's size in bytes: `bytes` is all of it when they are equal. */
  size: number;
}

export interface ObjectStore {
  /** The object's body, or `undefined` when there is none. */
  get(bucket: string, key: string): Promise<string | undefined>;
  /**
   * The object's first `maxBytes` bytes (at least 1) and its size, or `undefined` when there is
   * none: a ranged read (S3 `Range: bytes=0-…`), so a large object's header is checked without
   * reading it whole. A multi-byte character may be cut at the end.
   */
  getHead(bucket: string, key: string, maxBytes: number): Promise<ObjectHead | undefined>;
  /** A body given as bytes is stored as it is (UTF-8 text): a large upload need not become a string first. */
  put(bucket: string, key: string, body: string | Uint8Array, options?: PutOptions): Promise<void>;
  /**
   * Stores a body as it streams in, never holding it whole where the adapter can help it (the
   * filesystem writes it as it comes, S3 sends it on, LMDB keeps one value per object and so
   * collects it): a large upload costs a chunk of memory, not its size. Resolves with the bytes
   * stored once the object is in place; if the body fails (its own error, or over `maxBytes`),
   * the put fails with that error and nothing is stored.
   */
  putStream(bucket: string, key: string, body: BodyStream, options?: PutStreamOptions): Promise<{ bytes: number }>;
  delete(bucket: string, key: string): Promise<void>;
  /** Keys under `prefix` in lexicographic order, after `startAfter`, at most `limit` (default 1000). */
  list(bucket: string, prefix: string, options?: { startAfter?: string; limit?: number }): Promise<ListPage>;
}

/** Every key under a prefix, page by page. */
export async function* listAll(store: ObjectStore, bucket: string, prefix: string, pageSize = 1000): AsyncGenerator<string> {
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.list(bucket, prefix, { startAfter, limit: pageSize });
    yield* page.keys;
    if (page.nextStartAfter === undefined) return;
    startAfter = page.nextStartAfter;
  }
}

/**
 * The body's chunks, counted: past `maxBytes` it throws `BodyTooLargeError` (naming the object),
 * and a body that ends off `contentLength` throws too. Each chunk is passed on only once the next
 * one (or the body's end) has come, so the last bytes are never handed to the store before the
 * whole body is known to be good: a store that sends as it reads (S3 with a Content-Length) can
 * never complete an object from a body that then turns out too long or cut short. What each
 * adapter's `putStream` reads its body through.
 */
export async function* countedBody(
  body: BodyStream,
  where: { bucket: string; key: string },
  options: Pick<PutStreamOptions, 'maxBytes' | 'contentLength'>,
  counted: BodyCount = { bytes: 0, failed: false },
): AsyncGenerator<Uint8Array> {
  const { maxBytes, contentLength } = options;
  try {
    let held: Uint8Array | undefined;
    for await (const chunk of body) {
      counted.bytes += chunk.byteLength;
      if (maxBytes !== undefined && counted.bytes > maxBytes) throw new BodyTooLargeError(maxBytes, `${where.bucket}/${where.key}`);
      if (contentLength !== undefined && counted.bytes > contentLength) throw lengthMismatch(where, contentLength, 'more');
      if (held !== undefined) yield held;
      held = chunk;
    }
    if (contentLength !== undefined && counted.bytes !== contentLength) throw lengthMismatch(where, contentLength, 'fewer');
    if (held !== undefined) yield held;
  } catch (err) {
    counted.failed = true;
    counted.error = err;
    throw err;
  }
}

/** What `countedBody` saw: the bytes so far, and whether the body (not the store) failed, so the store's error is not named for it. */
export interface BodyCount {
  bytes: number;
  failed: boolean;
  error?: unknown;
}

function lengthMismatch(where: { bucket: string; key: string }, contentLength: number, what: 'more' | 'fewer'): ValidationError {
  return new ValidationError('BODY_LENGTH_MISMATCH', [
    { where: `${where.bucket}/${where.key}`, message: `the body has ${what} bytes than the ${contentLength} its length said` },
  ]);
}

/** Every chunk of a body, bounded as `countedBody` bounds it, as one buffer (for stores that keep an object as one value). */
export async function collectBody(
  body: BodyStream,
  where: { bucket: string; key: string },
  options: Pick<PutStreamOptions, 'maxBytes' | 'contentLength'>,
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of countedBody(body, where, options)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Refuses a head length that is not a positive whole number (a bug in the caller). */
export function checkHeadBytes(maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
    throw new RangeError(`getHead: maxBytes must be a whole number of at least 1 (got ${maxBytes})`);
}

/** An object kept whole in memory (a stored value), as `getHead` answers for it. */
export function headOf(whole: Uint8Array, maxBytes: number): ObjectHead {
  checkHeadBytes(maxBytes);
  return { bytes: whole.subarray(0, maxBytes), size: whole.byteLength };
}
