/**
 * The object-store port: the slice of S3 that Baton uses. Adapters: `fs-object-store` (one
 * machine, the embedded default) and `s3-object-store` (AWS, MinIO, LocalStack).
 */
export interface PutOptions {
  /** `'*'`: create only if absent (S3 `If-None-Match: *`); a loser gets `ObjectExistsError`. */
  ifNoneMatch?: '*';
  contentType?: string;
}

export interface ListPage {
  keys: string[];
  /** Pass back as `startAfter` for the next page; absent on the last page. */
  nextStartAfter?: string;
}

export interface ObjectStore {
  /** The object's body, or `undefined` when there is none. */
  get(bucket: string, key: string): Promise<string | undefined>;
  /** A body given as bytes is stored as it is (UTF-8 text): a large upload need not become a string first. */
  put(bucket: string, key: string, body: string | Uint8Array, options?: PutOptions): Promise<void>;
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
