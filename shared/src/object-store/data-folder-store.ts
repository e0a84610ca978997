import { existsSync } from 'node:fs';
import path from 'node:path';
import { keys, parseKey } from '../keys';
import { FsObjectStore } from './fs-object-store';
import { LmdbObjectStore } from './lmdb-object-store';

export type DataFolderStore = LmdbObjectStore | FsObjectStore;
export type DataFolderStoreKind = 'lmdb' | 'fs';

/** The buckets of a local data folder (one store holds them all). */
export const DATA_FOLDER_BUCKETS = { campaigns: 'campaigns', stubs: 'stubs', rendered: 'rendered' } as const;

/**
 * Which store a data folder holds: `kind` when given (`BATON_STORE`); otherwise LMDB (in
 * `{dataDir}/store`), unless the folder holds only a filesystem store (`{dataDir}/objects`,
 * made before LMDB was the default), which it keeps. The one home of that rule: Baton and the
 * CLI's store copy open a folder the same way.
 */
export function dataFolderStoreKind(dataDir: string, kind?: DataFolderStoreKind): DataFolderStoreKind {
  if (kind !== undefined) return kind;
  return existsSync(path.join(dataDir, 'objects')) && !existsSync(path.join(dataDir, 'store')) ? 'fs' : 'lmdb';
}

/**
 * The object store of a local data folder (see `dataFolderStoreKind`). LMDB keeps the
 * `campaigns` bucket (definitions, the ledger) in `{dataDir}/store` and stubs and rendered
 * messages, which are derived again when lost, in `{dataDir}/derived`: a claim's or an outcome's
 * write then waits for a flush of ledger pages only, and a stub or rendered message is
 * acknowledged at its commit (as the filesystem store skips their fsync). A folder whose `store`
 * was made before (everything in it, no `derived`) is kept as it is.
 */
export function openDataFolderStore(dataDir: string, kind?: DataFolderStoreKind): DataFolderStore {
  if (dataFolderStoreKind(dataDir, kind) === 'lmdb') {
    const store = path.join(dataDir, 'store');
    const derived = path.join(dataDir, 'derived');
    const split = existsSync(derived) || !existsSync(store);
    return new LmdbObjectStore({
      path: store,
      dictionaryScope: renderedCampaign,
      ...(split ? { derived: { path: derived, buckets: [DATA_FOLDER_BUCKETS.stubs, DATA_FOLDER_BUCKETS.rendered] } } : {}),
    });
  }
  // Stubs and rendered messages are derived again when lost (the conductor re-drives them): they
  // skip fsync. Definitions and the ledger are synced before a write is acknowledged.
  return new FsObjectStore(path.join(dataDir, 'objects'), {
    derivedBuckets: [DATA_FOLDER_BUCKETS.stubs, DATA_FOLDER_BUCKETS.rendered],
  });
}

/** A campaign's rendered messages differ only in their merge fields: the LMDB store compresses them against one another. */
function renderedCampaign(bucket: string, key: string): string | undefined {
  if (bucket !== DATA_FOLDER_BUCKETS.rendered) return undefined;
  try {
    return keys.renderedPrefix(parseKey.rendered(key));
  } catch {
    return undefined; // not a rendered message's key: stored as it is
  }
}
