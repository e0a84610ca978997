import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectExistsError } from '../../src/errors';
import { LmdbObjectStore } from '../../src/object-store/lmdb-object-store';
import { decodeS3EventKey, s3Event, type S3Event } from '../../src/schemas';
import { describeLedgerContract } from '../ledger-contract';
import { describeObjectStoreContract } from './object-store-contract';

let dir: string;
let opened: LmdbObjectStore[] = [];

async function freshStore(): Promise<LmdbObjectStore> {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'baton-lmdb-'));
  const store = new LmdbObjectStore({ path: dir });
  opened.push(store);
  return store;
}

async function removeStore(): Promise<void> {
  await Promise.all(opened.map((s) => s.close()));
  opened = [];
  await fs.rm(dir, { recursive: true, force: true });
}

describeObjectStoreContract('LmdbObjectStore', freshStore, removeStore);
describeLedgerContract('LmdbObjectStore', freshStore, removeStore);

describe('LmdbObjectStore', () => {
  let store: LmdbObjectStore;

  beforeEach(async () => {
    store = await freshStore();
  });
  afterEach(removeStore);

  it('lets exactly one of many racing conditional creates win', async () => {
    // Act
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.put('bkt', 'claim', `lease-${i}`, { ifNoneMatch: '*' })),
    );

    // Assess
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.every((r) => (r as PromiseRejectedResult).reason instanceof ObjectExistsError)).toBe(true);
    expect(await store.get('bkt', 'claim')).toMatch(/^lease-\d+$/);
  });

  it('keeps what was put across a reopen, large bodies (stored compressed) included', async () => {
    // Prepare
    const big = `<p>${'Hello reader, '.repeat(2_000)}</p>`;
    await store.put('bkt', 'rendered/a', big);
    await store.put('bkt', 'small', 'x');
    await store.close();
    opened = [];

    // Act
    const again = new LmdbObjectStore({ path: dir });
    opened.push(again);

    // Assess
    expect(await again.get('bkt', 'rendered/a')).toBe(big);
    expect(await again.get('bkt', 'small')).toBe('x');
  });

  it('emits an S3-shaped ObjectCreated:Put after the put resolves, and none for a losing create', async () => {
    // Prepare
    const events: S3Event[] = [];
    store.onObjectCreated({ bucket: 'stubs', prefix: 'stubs/' }, (e) => events.push(e));
    await store.put('stubs', 'stubs/a b+c', 'one', { ifNoneMatch: '*' });
    await store.put('stubs', 'stubs/a b+c', 'two', { ifNoneMatch: '*' }).catch(() => undefined);
    await store.put('stubs', 'other/x', 'ignored');

    // Act
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(events).toHaveLength(1);
    const record = s3Event.parse(events[0]).Records[0]!;
    expect(record.s3.object.key).toBe('stubs/a+b%2Bc');
    expect(decodeS3EventKey(record.s3.object.key)).toBe('stubs/a b+c');
  });

  it('refuses an empty key, a NUL and a bad bucket name with a clear error', async () => {
    await expect(store.put('bkt', '', 'x')).rejects.toMatchObject({ code: 'KEY_INVALID' });
    await expect(store.get('bkt', 'a\u0000b')).rejects.toMatchObject({ code: 'KEY_INVALID' });
    await expect(store.get('Bad_Bucket', 'k')).rejects.toMatchObject({ code: 'BUCKET_INVALID' });
  });
});
