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
      dictionaryScope: campaignScope,
      ...(split ? { derived: { path: derived, buckets: [DATA_FOLDER_BUCKETS.stubs, DATA_FOLDER_BUCKETS.rendered] } } : {}),
    });
  }
  // Stubs and rendered messages are derived again when lost (the conductor re-drives them): they
  // skip fsync. Definitions and the ledger are synced before a write is acknowledged.
  return new FsObjectStore(path.join(dataDir, 'objects'), {
    derivedBuckets: [DATA_FOLDER_BUCKETS.stubs, DATA_FOLDER_BUCKETS.rendered],
  });
}

/**
 * Which records of a campaign are alike, so that the LMDB store deflates each against the first of
 * its kind: the rendered messages (9 KB of HTML that differ in their merge fields: about 230
 * bytes each), the stubs (the same JSON with another address: 270 bytes to about 60) and, in the
 * ledger, the claims and the outcomes (120 and 210 bytes to about 65 and 80). A recipient's records
 * are most of the database, and LMDB keeps every page of it that a read touched mapped: smaller
 * records are a smaller file and fewer mapped pages.
 */
function campaignScope(bucket: string, key: string): string | undefined {
  try {
    if (bucket === DATA_FOLDER_BUCKETS.rendered) return keys.renderedPrefix(parseKey.rendered(key));
    if (bucket === DATA_FOLDER_BUCKETS.stubs) return keys.stubsPrefix(parseKey.stub(key));
    if (bucket === DATA_FOLDER_BUCKETS.campaigns && key.startsWith('ledger/')) {
      const ref = parseKey.ledger(key);
      return key.startsWith(keys.claimsPrefix(ref)) ? keys.claimsPrefix(ref) : keys.outcomesPrefix(ref);
    }
  } catch {
    // not a per-recipient record's key (a delivery, say): stored as it is
  }
  return undefined;
}
