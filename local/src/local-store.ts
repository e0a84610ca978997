import type { Buckets } from '@baton/shared';
import { DATA_FOLDER_BUCKETS, openDataFolderStore, type DataFolderStore } from '@baton/shared/data-folder-store';
import { LmdbObjectStore } from '@baton/shared/lmdb-object-store';

export const LOCAL_BUCKETS: Buckets = DATA_FOLDER_BUCKETS;

/** The one-machine stand-in for S3: either embedded store, both with S3-shaped events. */
export type LocalStore = DataFolderStore;

/**
 * The data folder's object store (the rule is `dataFolderStoreKind` in shared: LMDB in
 * `{dataDir}/store` by default, one file per object under `{dataDir}/objects` with
 * `BATON_STORE=fs` or in a folder made before LMDB was the default). docs/benchmarks.md says why
 * LMDB. Several may be open on one folder at once (the conductor's and each function thread's).
 */
export function openLocalStore(dataDir: string, kind: 'lmdb' | 'fs' | undefined): LocalStore {
  return openDataFolderStore(dataDir, kind);
}

export function kindOf(store: LocalStore): 'lmdb' | 'fs' {
  return store instanceof LmdbObjectStore ? 'lmdb' : 'fs';
}

/**
 * How retention removes a swept scope's compression dictionary (a copy of its first rendered
 * message) from this store: the LMDB store keeps one per campaign's rendered messages, the
 * filesystem store none.
 */
export function dictionaryDropOf(store: LocalStore): ((bucket: string, scope: string) => Promise<boolean>) | undefined {
  return store instanceof LmdbObjectStore ? (bucket, scope) => store.dropDictionary(bucket, scope) : undefined;
}
