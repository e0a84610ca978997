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

/** The object store of a local data folder (see `dataFolderStoreKind`). */
export function openDataFolderStore(dataDir: string, kind?: DataFolderStoreKind): DataFolderStore {
  if (dataFolderStoreKind(dataDir, kind) === 'lmdb') {
    return new LmdbObjectStore({ path: path.join(dataDir, 'store'), dictionaryScope: renderedCampaign });
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
