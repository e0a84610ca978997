import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDataFolderStore } from '../../src/object-store/data-folder-store';
import { LmdbObjectStore } from '../../src/object-store/lmdb-object-store';

describe('openDataFolderStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'baton-folder-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('keeps stubs and rendered messages in an LMDB environment apart from the ledger in a new folder', async () => {
    // Act
    const store = openDataFolderStore(dir);
    await store.put('stubs', 'stubs/a.json', '{}');
    await store.put('campaigns', 'ledger/a', 'x');
    await (store as LmdbObjectStore).close();

    // Assess: another opener (a function thread, a restart) finds the same layout and both objects.
    expect(existsSync(path.join(dir, 'derived', 'data.mdb'))).toBe(true);
    const again = openDataFolderStore(dir) as LmdbObjectStore;
    expect(await again.get('stubs', 'stubs/a.json')).toBe('{}');
    expect(await again.get('campaigns', 'ledger/a')).toBe('x');
    await again.close();
  });

  it('keeps a folder whose store was made before the split in one environment, its stubs where they are', async () => {
    // Prepare: everything in `store`, as before.
    const before = new LmdbObjectStore({ path: path.join(dir, 'store') });
    await before.put('stubs', 'stubs/a.json', '{"old":true}');
    await before.close();

    // Act
    const store = openDataFolderStore(dir) as LmdbObjectStore;

    // Assess
    expect(await store.get('stubs', 'stubs/a.json')).toBe('{"old":true}');
    await store.close();
    expect(existsSync(path.join(dir, 'derived'))).toBe(false);
  });
});
