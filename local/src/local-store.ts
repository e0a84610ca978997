import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Buckets } from '@baton/shared';
import { FsObjectStore } from '@baton/shared/fs-object-store';
import { LmdbObjectStore } from '@baton/shared/lmdb-object-store';

export const LOCAL_BUCKETS: Buckets = { campaigns: 'campaigns', stubs: 'stubs', rendered: 'rendered' };

/** The one-machine stand-in for S3: either embedded store, both with S3-shaped events. */
export type LocalStore = LmdbObjectStore | FsObjectStore;

/**
 * The data folder's object store: LMDB in `{dataDir}/store` (the default), or one file per
 * object under `{dataDir}/objects` (`BATON_STORE=fs`, or unset when that folder already exists:
 * a data folder made before the LMDB store keeps working). docs/benchmarks.md says why LMDB.
 * Several may be open on one folder at once (the conductor's and each function thread's).
 */
export function openLocalStore(dataDir: string, kind: 'lmdb' | 'fs' | undefined): LocalStore {
  const objects = path.join(dataDir, 'objects');
  // The filesystem store unless asked (or the folder already holds an LMDB store): in the kill -9
  // fault runs on LMDB, 1 of 5 had a sliding window over the cap, not yet explained (docs/benchmarks.md).
  const chosen = kind ?? (existsSync(path.join(dataDir, 'store')) && !existsSync(objects) ? 'lmdb' : 'fs');
  if (chosen === 'lmdb') return new LmdbObjectStore({ path: path.join(dataDir, 'store') });
  // Stubs and rendered messages are derived again when lost (the conductor re-drives them): they
  // skip fsync. Definitions and the ledger are synced before a write is acknowledged.
  return new FsObjectStore(objects, { derivedBuckets: [LOCAL_BUCKETS.stubs, LOCAL_BUCKETS.rendered] });
}

export function kindOf(store: LocalStore): 'lmdb' | 'fs' {
  return store instanceof LmdbObjectStore ? 'lmdb' : 'fs';
}
