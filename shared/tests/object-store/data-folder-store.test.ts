import { createHash } from 'node:crypto';
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keys } from '../../src/keys';
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

  it("stores a campaign's stubs, claims and outcomes compressed against the first of each kind, and reads them back", async () => {
    // Prepare: 2,000 recipients' stubs (about 270 bytes each), claims and outcomes, as the pipeline writes them.
    const store = openDataFolderStore(dir) as LmdbObjectStore;
    const ref = { customerId: 'acme', campaignId: 'c-mx57lcso-3094ac48fb' };
    const ids = Array.from({ length: 2_000 }, (_, i) => createHash('md5').update(String(i)).digest('hex'));
    const stub = (id: string, i: number) =>
      JSON.stringify({
        version: 1,
        ...ref,
        recipientId: id,
        email: `reader${i}@example.com`,
        fields: { first_name: `Reader${i}`, city: 'Zürich' },
        line: i + 2,
      });
    const claim = (i: number) =>
      JSON.stringify({ version: 1, leaseId: 'l-cee21d2a488e9c58', at: new Date(1e12 + i).toISOString(), token: `t-${i}` });
    const outcome = (id: string) =>
      JSON.stringify({ version: 1, recipientId: id, status: 'sent', providerId: `<${id}@mg.example.com>`, leaseId: 'l-1' });

    // Act
    await Promise.all(ids.map((id, i) => store.put('stubs', keys.stub({ ...ref, recipientId: id }), stub(id, i), { ifNoneMatch: '*' })));
    await Promise.all(ids.map((id, i) => store.put('campaigns', keys.claim({ ...ref, recipientId: id }), claim(i), { ifNoneMatch: '*' })));
    await Promise.all(ids.map((id) => store.put('campaigns', keys.outcome({ ...ref, recipientId: id }), outcome(id))));
    await store.close();
    const again = openDataFolderStore(dir) as LmdbObjectStore;

    // Assess: every record reads back as written; each file holds well under its records' text.
    expect(await again.get('stubs', keys.stub({ ...ref, recipientId: ids[1234]! }))).toBe(stub(ids[1234]!, 1234));
    expect(await again.get('campaigns', keys.claim({ ...ref, recipientId: ids[7]! }))).toBe(claim(7));
    expect(await again.get('campaigns', keys.outcome({ ...ref, recipientId: ids[1999]! }))).toBe(outcome(ids[1999]!));
    expect((await again.getHead('stubs', keys.stub({ ...ref, recipientId: ids[5]! }), 12))?.bytes.toString()).toBe(
      stub(ids[5]!, 5).slice(0, 12),
    );
    expect((await again.list('stubs', keys.stubsPrefix(ref), { limit: 5_000 })).keys).toHaveLength(2_000);
    // The same records in a store that compresses none of them (bodies under 1 KB): the files are well under its.
    const plainDir = path.join(dir, 'plain');
    const plain = new LmdbObjectStore({
      path: path.join(plainDir, 'store'),
      derived: { path: path.join(plainDir, 'derived'), buckets: ['stubs'] },
    });
    await Promise.all(ids.map((id, i) => plain.put('stubs', keys.stub({ ...ref, recipientId: id }), stub(id, i))));
    await Promise.all(ids.map((id, i) => plain.put('campaigns', keys.claim({ ...ref, recipientId: id }), claim(i))));
    await Promise.all(ids.map((id) => plain.put('campaigns', keys.outcome({ ...ref, recipientId: id }), outcome(id))));
    await plain.close();
    const size = async (...at: string[]) => (await fs.stat(path.join(...at, 'data.mdb'))).size;
    expect(await size(dir, 'derived')).toBeLessThan(0.75 * (await size(plainDir, 'derived')));
    expect(await size(dir, 'store')).toBeLessThan(0.9 * (await size(plainDir, 'store')));
    await again.close();
  });
});
