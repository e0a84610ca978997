import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { open } from 'lmdb';
import { ObjectExistsError } from '../../src/errors';
import { CHUNK_BYTES, LmdbObjectStore } from '../../src/object-store/lmdb-object-store';
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

/** Every key of a bucket in one scope: the contract holds with every body deflated against a dictionary too. */
async function freshScopedStore(): Promise<LmdbObjectStore> {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'baton-lmdb-'));
  const store = new LmdbObjectStore({ path: dir, dictionaryScope: (bucket) => bucket });
  opened.push(store);
  return store;
}

/** The contract's bucket in the environment of derived buckets, whose writes resolve at the commit. */
async function freshDerivedStore(): Promise<LmdbObjectStore> {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'baton-lmdb-'));
  const store = new LmdbObjectStore({
    path: path.join(dir, 'store'),
    dictionaryScope: (bucket) => bucket,
    derived: { path: path.join(dir, 'derived'), buckets: ['contract-bucket'] },
  });
  opened.push(store);
  return store;
}

describeObjectStoreContract('LmdbObjectStore', freshStore, removeStore);
describeObjectStoreContract('LmdbObjectStore, derived buckets in an environment of their own', freshDerivedStore, removeStore);
describeObjectStoreContract('LmdbObjectStore with dictionaries', freshScopedStore, removeStore);
describeLedgerContract('LmdbObjectStore', freshStore, removeStore);

describe('LmdbObjectStore', () => {
  let store: LmdbObjectStore;

  beforeEach(async () => {
    store = await freshStore();
  });
  afterEach(removeStore);

  /** The pieces of large bodies in the store's file, counted once the store is closed. */
  async function piecesLeft(): Promise<number> {
    await removeStoreKeepingDir();
    const root = open({ path: dir, maxDbs: 32 });
    const count = root.openDB('_chunks', { encoding: 'binary' }).getKeysCount();
    await root.close();
    return count;
  }
  async function removeStoreKeepingDir(): Promise<void> {
    await Promise.all(opened.map((s) => s.close()));
    opened = [];
  }

  it('stores a body over CHUNK_BYTES in pieces: read whole and by its head, across a reopen', async () => {
    // Prepare: 3.5 pieces of CSV, not all ASCII.
    const row = 'ærøskøbing@example.com,Åse,Ærø\n';
    const csv = row.repeat(Math.ceil((3.5 * CHUNK_BYTES) / Buffer.byteLength(row)));

    // Act
    await store.put('campaigns', 'uploads/acme/big.csv', csv);
    const head = await store.getHead('campaigns', 'uploads/acme/big.csv', 100);
    await store.close();
    opened = [];
    const again = new LmdbObjectStore({ path: dir });
    opened.push(again);

    // Assess
    expect(head).toEqual({ bytes: Buffer.from(csv).subarray(0, 100), size: Buffer.byteLength(csv) });
    expect(await again.get('campaigns', 'uploads/acme/big.csv')).toBe(csv);
    expect((await again.getHead('campaigns', 'uploads/acme/big.csv', CHUNK_BYTES + 5))!.bytes).toEqual(
      Buffer.from(csv).subarray(0, CHUNK_BYTES + 5),
    );
    expect(await piecesLeft()).toBe(4);
  });

  it('leaves no pieces of a large body that was replaced, deleted, or lost a conditional create', async () => {
    // Prepare
    const big = (c: string) => c.repeat(2 * CHUNK_BYTES + 1);
    await store.put('campaigns', 'a', big('a'));
    await store.put('campaigns', 'b', big('b'));
    await store.put('campaigns', 'c', big('c'));

    // Act
    await store.put('campaigns', 'a', 'small now');
    await store.put('campaigns', 'b', big('B'));
    await store.delete('campaigns', 'c');
    const lost = await store.put('campaigns', 'b', big('x'), { ifNoneMatch: '*' }).catch((e: unknown) => e);

    // Assess
    expect(lost).toBeInstanceOf(ObjectExistsError);
    expect(await store.get('campaigns', 'a')).toBe('small now');
    expect(await store.get('campaigns', 'b')).toBe(big('B'));
    expect(await store.get('campaigns', 'c')).toBeUndefined();
    expect(await piecesLeft()).toBe(3);
  });

  it("leaves only the current value's pieces when writes of one large key overlap (a retried upload)", async () => {
    // Act
    const big = (c: string) => c.repeat(2 * CHUNK_BYTES + 1);
    await Promise.allSettled([
      store.put('campaigns', 'k', big('a')),
      store.put('campaigns', 'k', big('b')),
      store.put('campaigns', 'k', big('c'), { ifNoneMatch: '*' }),
      store.put('campaigns', 'k', 'small'),
      store.put('campaigns', 'k', big('d')),
    ]);

    // Assess: the last write wins, and only its 3 pieces are left.
    expect(await store.get('campaigns', 'k')).toBe(big('d'));
    expect(await piecesLeft()).toBe(3);
  });

  it('removes at the next open the pieces a crash left with no key naming them, and leaves those a writer may still be at', async () => {
    // Prepare: a live large body, then what crashes leave beside it (as the store writes its journal
    // in `_chunks`): pieces written two hours ago and a minute ago whose key never came, and
    // pieces a replaced value dropped.
    const big = 'x'.repeat(2 * CHUNK_BYTES + 1);
    await store.put('campaigns', 'live', big);
    await store.close();
    opened = [];
    const now = Date.parse('2026-12-02T12:00:00Z');
    const env = open({ path: dir, maxDbs: 32 });
    const chunks = env.openDB<Buffer, string>('_chunks', { encoding: 'binary' });
    const left = async (id: string, state: string, at: number, pieces: number) => {
      await chunks.put(`~pieces/${id}`, Buffer.from(JSON.stringify({ state, at })));
      for (let n = 0; n < pieces; n++) await chunks.put(`${id}/${n}`, Buffer.alloc(1000, n));
    };
    await left('a'.repeat(24), 'writing', now - 2 * 3600_000, 2);
    await left('b'.repeat(24), 'writing', now - 60_000, 3);
    await left('c'.repeat(24), 'dropped', now - 1_000, 2);
    await env.close();

    // Act
    const reopened = new LmdbObjectStore({ path: dir, now: () => now });
    opened.push(reopened);
    const swept = await reopened.swept;

    // Assess: the old and the dropped are gone; the live body (3 pieces) and the young ones (3, and their entry) stay.
    expect(swept).toBe(2);
    expect(await reopened.get('campaigns', 'live')).toBe(big);
    expect(await piecesLeft()).toBe(3 + 3 + 1);
  });

  /** Runs `first` before each of the store's key transactions (a large body's key), its pieces being in. */
  function beforeKeyWrites(s: LmdbObjectStore, first: () => Promise<void>): void {
    const transact = (s as unknown as { transact: (...a: unknown[]) => Promise<unknown> }).transact.bind(s);
    jest.spyOn(s as unknown as { transact: () => Promise<unknown> }, 'transact').mockImplementation(async (...args: unknown[]) => {
      await first();
      return transact(...args);
    });
  }

  /** Holds each store's key transactions until `count` are waiting, then lets them all go: both writers' pieces are in first. */
  function gateKeyWrites(stores: LmdbObjectStore[], count: number): void {
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let waiting = 0;
    for (const s of stores)
      beforeKeyWrites(s, () => {
        if (++waiting === count) release();
        return gate;
      });
  }

  it("leaves only the last value's pieces when two stores on one folder (as two processes) overwrite one large key at once", async () => {
    // Prepare
    const other = new LmdbObjectStore({ path: dir });
    opened.push(other);
    const big = (c: string) => c.repeat(2 * CHUNK_BYTES + 1);
    await store.put('campaigns', 'k', big('0'));
    gateKeyWrites([store, other], 2);

    // Act: neither store orders its writes after the other's, and both have written their pieces.
    await Promise.all([store.put('campaigns', 'k', big('a')), other.put('campaigns', 'k', big('b'))]);
    const last = await store.get('campaigns', 'k');

    // Assess: whichever won, only its 3 pieces are left, and no journal entry.
    expect([big('a'), big('b')]).toContain(last);
    expect(await piecesLeft()).toBe(3);
  });

  it('removes at the next open the pieces of a replaced value that a crash kept from being removed', async () => {
    // Prepare
    const big = (c: string) => c.repeat(2 * CHUNK_BYTES + 1);
    await store.put('campaigns', 'k', big('a'));
    jest
      .spyOn(store as unknown as { removePieces: () => Promise<void> }, 'removePieces')
      .mockRejectedValueOnce(new Error('the process ended here'));

    // Act: the key is replaced, and the old pieces are not removed.
    await expect(store.put('campaigns', 'k', 'small now')).rejects.toThrow();
    await store.close();
    opened = [];
    const reopened = new LmdbObjectStore({ path: dir });
    opened.push(reopened);

    // Assess
    expect(await reopened.swept).toBe(1);
    expect(await reopened.get('campaigns', 'k')).toBe('small now');
    expect(await piecesLeft()).toBe(0);
  });

  it('refuses to write a key naming pieces that another open swept meanwhile (a writer paused over an hour)', async () => {
    // Prepare: once the pieces are in, their journal entry goes, as a sweep elsewhere would take it.
    const big = 'x'.repeat(2 * CHUNK_BYTES + 1);
    await store.put('campaigns', 'k', 'before');
    const chunks = (store as unknown as { chunks: { getKeys: (r: object) => Iterable<string>; remove: (k: string) => Promise<boolean> } })
      .chunks;
    beforeKeyWrites(store, async () => {
      for (const key of [...chunks.getKeys({ start: '~pieces/', end: '~pieces0' })]) await chunks.remove(key);
    });

    // Act
    const err = await store.put('campaigns', 'k', big).catch((e: unknown) => e);

    // Assess: retryable, and the key unchanged.
    expect((err as { code?: string }).code).toBe('STORE_UNAVAILABLE');
    expect(await store.get('campaigns', 'k')).toBe('before');
  });

  it('reads back, as they came, plain bodies that start with the bytes that mark a list of pieces or a compressed body', async () => {
    // Prepare: Windows-1252 "þjóð" first (þ is 0xFE), 25 bytes of it, and a UTF-16LE byte-order mark (FF FE).
    const thorn = Buffer.from([0xfe, 0x6a, 0xf3, 0xf0, 0x2c, 0x65, 0x6d, 0x61, 0x69, 0x6c, 0x0a]);
    const exact = Buffer.concat([thorn, Buffer.alloc(14, 0x41)]);
    const utf16 = Buffer.from('\ufeffemail\na@example.com\n', 'utf16le');
    const bodies = { thorn, exact, utf16 };

    // Act
    for (const [key, body] of Object.entries(bodies)) await store.put('campaigns', key, body);

    // Assess
    for (const [key, body] of Object.entries(bodies)) {
      expect(await store.getHead('campaigns', key, 1_000)).toEqual({ bytes: body, size: body.length });
      expect(await store.get('campaigns', key)).toBe(body.toString('utf8'));
    }
  });

  it("lets another durable write through while a large body is written: one 40 MB value held the workers' claims behind its commit", async () => {
    // Act: a claim written just after a large upload began.
    const order: string[] = [];
    const upload = store.put('campaigns', 'uploads/acme/big.csv', 'x'.repeat(8 * CHUNK_BYTES)).then(() => order.push('upload'));
    await new Promise((r) => setImmediate(r));
    const claim = store.put('ledger', 'claims/c1/r1', '{}', { ifNoneMatch: '*' }).then(() => order.push('claim'));
    await Promise.all([upload, claim]);

    // Assess
    expect(order).toEqual(['claim', 'upload']);
  });

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

  it('stores alike bodies of one scope deflated against the first, and reads them back in another store with or without the scope', async () => {
    // Prepare: 300 "rendered messages" of 9 KB that differ in a name, in one scope.
    await store.close();
    opened = [];
    const scoped = new LmdbObjectStore({
      path: dir,
      dictionaryScope: (bucket, key) => (bucket === 'rendered' ? key.split('/')[0] : undefined),
    });
    opened.push(scoped);
    // Random text, the same in every message: LZ4 alone cannot shrink it, a dictionary can.
    const shared = randomBytes(4_600).toString('hex');
    const page = (i: number) => `{"html":"<p>${shared}</p>","to":"reader${i}@example.com","name":"Reader ${i}"}`;
    const sizeBefore = (await fs.stat(path.join(dir, 'data.mdb'))).size;

    // Act
    await Promise.all(Array.from({ length: 300 }, (_, i) => scoped.put('rendered', `c1/${String(i).padStart(3, '0')}.json`, page(i))));
    await scoped.put('rendered', 'c2/000.json', page(1000));
    await scoped.put('stubs', 'c1/000.json', page(2000)); // out of scope: stored as before

    // Assess: far below the 2.7 MB of text (300 × 9 KB: three overflow pages each, even with LZ4).
    const grew = (await fs.stat(path.join(dir, 'data.mdb'))).size - sizeBefore;
    expect(page(0).length).toBeGreaterThan(9_000);
    expect(grew).toBeLessThan(300 * 1024);
    expect(await scoped.get('rendered', 'c1/007.json')).toBe(page(7));
    expect(await scoped.get('rendered', 'c2/000.json')).toBe(page(1000));
    await scoped.close();
    opened = [];
    const plain = new LmdbObjectStore({ path: dir });
    opened.push(plain);
    expect(await plain.get('rendered', 'c1/299.json')).toBe(page(299));
    expect(await plain.get('stubs', 'c1/000.json')).toBe(page(2000));
    expect((await plain.list('rendered', 'c1/')).keys).toHaveLength(300);
  });

  it('reads a body the store deflated against its dictionary before it used LZ4', async () => {
    // Prepare: a body in the earlier format (0xFF, format 1, the dictionary's id, raw deflate), written as the store did.
    await store.close();
    opened = [];
    const dictionary = Buffer.from(`{"html":"<p>${'welcome '.repeat(200)}</p>","to":"reader0@example.com"}`);
    const body = `{"html":"<p>${'welcome '.repeat(200)}</p>","to":"reader1@example.com"}`;
    const id = createHash('sha256').update('rendered/c1').digest().subarray(0, 8);
    const env = open({ path: dir, maxDbs: 32, compression: true });
    await env.openDB<Buffer, string>('_dictionaries', { encoding: 'binary' }).put(id.toString('hex'), dictionary);
    const deflated = deflateRawSync(Buffer.from(body), { dictionary, level: 3 });
    await env
      .openDB<Buffer, string>('rendered', { encoding: 'binary', compression: true })
      .put('c1/001.json', Buffer.concat([Buffer.from([0xff, 1]), id, deflated]));
    await env.close();

    // Act
    const reopened = new LmdbObjectStore({
      path: dir,
      dictionaryScope: (bucket, key) => (bucket === 'rendered' ? key.split('/')[0] : undefined),
    });
    opened.push(reopened);

    // Assess: read as written, and a new body of the scope goes in (as LZ4) beside it.
    expect(await reopened.get('rendered', 'c1/001.json')).toBe(body);
    await reopened.put('rendered', 'c1/002.json', body.replace('reader1', 'reader2'));
    expect(await reopened.get('rendered', 'c1/002.json')).toBe(body.replace('reader1', 'reader2'));
  });

  describe("a scope's dictionary: dropped at retention, held in memory within a bound", () => {
    const scopeOf = (bucket: string, key: string) => (bucket === 'rendered' ? `${key.split('/')[0]}/` : undefined);
    const page = (i: number) => `{"html":"<p>${'welcome aboard '.repeat(80)}</p>","to":"reader${i}@example.com"}`;

    /** The dictionaries' database as stored: its keys, and whether any value holds `text`. */
    async function dictionariesHeld(text: string): Promise<{ keys: string[]; holds: boolean }> {
      await removeStoreKeepingDir();
      const root = open({ path: dir, maxDbs: 32 });
      const db = root.openDB<Buffer, string>('_dictionaries', { encoding: 'binary' });
      const held = { keys: [...db.getKeys()].map(String), holds: [...db.getRange()].some(({ value }) => value.includes(text)) };
      await root.close();
      return held;
    }

    async function scopedStore(): Promise<LmdbObjectStore> {
      await removeStoreKeepingDir();
      const scoped = new LmdbObjectStore({ path: dir, dictionaryScope: scopeOf });
      opened.push(scoped);
      return scoped;
    }

    it('keeps it while a key of the scope is left, removes it (the first body) once none is, and gives later bodies a new one', async () => {
      // Prepare: two scopes of three bodies each.
      const scoped = await scopedStore();
      for (const c of ['c1', 'c2'])
        for (let i = 0; i < 3; i++) await scoped.put('rendered', `${c}/${i}.json`, page(i + (c === 'c1' ? 0 : 10)));
      await scoped.delete('rendered', 'c1/0.json');
      await scoped.delete('rendered', 'c1/1.json');

      // Act: one key of c1 left, then none.
      const whileLeft = await scoped.dropDictionary('rendered', 'c1/');
      const stillRead = await scoped.get('rendered', 'c1/2.json');
      await scoped.delete('rendered', 'c1/2.json');
      const once = await scoped.dropDictionary('rendered', 'c1/');
      const twice = await scoped.dropDictionary('rendered', 'c1/');
      await scoped.put('rendered', 'c1/9.json', page(9));

      // Assess: the first body of c1 (reader0) is gone from the dictionaries; c2's stays; a new body of c1 reads back.
      expect([whileLeft, once, twice]).toEqual([false, true, false]);
      expect(stillRead).toBe(page(2));
      expect(await scoped.get('rendered', 'c1/9.json')).toBe(page(9));
      expect(await scoped.get('rendered', 'c2/2.json')).toBe(page(12));
      const reopened = await scopedStore();
      expect(await reopened.get('rendered', 'c1/9.json')).toBe(page(9));
      expect(await reopened.get('rendered', 'c2/1.json')).toBe(page(11));
      expect((await dictionariesHeld('reader0@')).holds).toBe(false);
      const held = await dictionariesHeld('reader10@');
      expect(held.holds).toBe(true);
      // c2's and c1's new one, each with the record naming it.
      expect(held.keys).toHaveLength(4);
    });

    it('reads and writes every scope when it holds more scopes than it keeps dictionaries of in memory', async () => {
      // Prepare: 300 scopes (it keeps 256 dictionaries), two bodies each, written in turn.
      const scoped = await scopedStore();
      const body = (c: number, i: number) =>
        `{"html":"<p>${'welcome aboard '.repeat(20)} campaign ${c}</p>","to":"reader${i}@example.com"}`;

      // Act
      for (let i = 0; i < 2; i++) for (let c = 0; c < 300; c++) await scoped.put('rendered', `c${c}/${i}.json`, body(c, i));
      const read = await Promise.all(Array.from({ length: 300 }, (_, c) => scoped.get('rendered', `c${c}/1.json`)));

      // Assess: each as written, and one dictionary (with its record) per scope.
      expect(read).toEqual(Array.from({ length: 300 }, (_, c) => body(c, 1)));
      expect((await dictionariesHeld('welcome')).keys).toHaveLength(600);
    });

    it('makes one dictionary for a new scope when two stores on one folder (as two processes) write its first bodies at once', async () => {
      // Prepare
      const one = await scopedStore();
      const other = new LmdbObjectStore({ path: dir, dictionaryScope: scopeOf });
      opened.push(other);

      // Act
      await Promise.all([one.put('rendered', 'c1/0.json', page(0)), other.put('rendered', 'c1/1.json', page(1))]);

      // Assess: each reads both, and one dictionary with its record is stored.
      for (const store of [one, other]) {
        expect(await store.get('rendered', 'c1/0.json')).toBe(page(0));
        expect(await store.get('rendered', 'c1/1.json')).toBe(page(1));
      }
      expect((await dictionariesHeld('welcome')).keys).toHaveLength(2);
    });

    it("drops a dictionary made before the scopes had records (named by the scope's hash)", async () => {
      // Prepare: a dictionary and a body as the store wrote them before, then the body deleted.
      await removeStoreKeepingDir();
      const dictionary = Buffer.from(page(0));
      const id = createHash('sha256').update('rendered/c1/').digest().subarray(0, 8);
      const env = open({ path: dir, maxDbs: 32, compression: true });
      await env.openDB<Buffer, string>('_dictionaries', { encoding: 'binary' }).put(id.toString('hex'), dictionary);
      await env.close();
      const scoped = await scopedStore();
      await scoped.put('rendered', 'c1/1.json', page(1));
      const legacy = (await dictionariesHeld('reader0@')).keys;
      const again = await scopedStore();
      await again.delete('rendered', 'c1/1.json');

      // Act
      const dropped = await again.dropDictionary('rendered', 'c1/');

      // Assess: the body went in against the dictionary already there; dropped, nothing is left.
      expect(legacy).toEqual([id.toString('hex')]);
      expect(dropped).toBe(true);
      expect((await dictionariesHeld('reader0@')).keys).toEqual([]);
    });

    /**
     * A put of `c1/1.json` by a store that still knows the scope's dictionary, after another store
     * on the folder (as another process) dropped it: the body is encoded against the dropped one.
     * `meanwhile` runs once the put's first write is visible. Answers what the drop answered.
     */
    async function putAcrossDrop(scoped: LmdbObjectStore, meanwhile?: () => Promise<void>): Promise<boolean> {
      await scoped.put('rendered', 'c1/0.json', page(0));
      await scoped.delete('rendered', 'c1/0.json');
      const other = new LmdbObjectStore({ path: dir, dictionaryScope: scopeOf });
      opened.push(other);
      const dropped = await other.dropDictionary('rendered', 'c1/');
      const viewRoot = open({ path: dir, maxDbs: 32 });
      const rendered = viewRoot.openDB<Buffer, string>('rendered', { encoding: 'binary' });
      const put = scoped.put('rendered', 'c1/1.json', page(1));
      if (meanwhile) {
        while (!rendered.doesExist('c1/1.json')) await new Promise((resolve) => setImmediate(resolve));
        await meanwhile();
      }
      await put;
      await viewRoot.close();
      return dropped;
    }

    it('writes again a body encoded against a dictionary that was dropped meanwhile', async () => {
      // Prepare
      const scoped = await scopedStore();

      // Act
      const dropped = await putAcrossDrop(scoped);

      // Assess: dropped, and the body reads, here and after a reopen, against a dictionary that exists.
      expect(dropped).toBe(true);
      expect(await scoped.get('rendered', 'c1/1.json')).toBe(page(1));
      const reopened = await scopedStore();
      expect(await reopened.get('rendered', 'c1/1.json')).toBe(page(1));
      expect((await dictionariesHeld('reader1@')).holds).toBe(true);
    });

    it('does not bring back such a body that was deleted before it could be written again', async () => {
      // Prepare
      const scoped = await scopedStore();

      // Act: the body deleted once its first write is in, before it is written again.
      const dropped = await putAcrossDrop(scoped, () => scoped.delete('rendered', 'c1/1.json'));

      // Assess
      expect(dropped).toBe(true);
      expect(await scoped.get('rendered', 'c1/1.json')).toBeUndefined();
      // Nor a dictionary made from it to write it again: its scope is empty.
      expect((await dictionariesHeld('reader1@')).holds).toBe(false);
    });
  });

  it("stores a body compressed against its dictionary as it is, which lmdb does not compress again on the writer's thread", async () => {
    // Prepare
    await store.close();
    opened = [];
    const scoped = new LmdbObjectStore({ path: dir, dictionaryScope: (bucket) => bucket });
    opened.push(scoped);
    const body = (n: number) => `{"html":"<p>${'welcome '.repeat(60)}</p>","to":"reader${n}@example.com"}`;

    // Act
    await scoped.put('rendered', 'c1/000.json', body(0));
    await scoped.put('rendered', 'c1/001.json', body(1));
    await scoped.close();
    opened = [];

    // Assess: the raw value (read without lmdb's decompression) is the store's own header and LZ4
    // block; a value that lmdb compressed would start with its own header instead.
    const env = open({ path: dir, maxDbs: 32 });
    const raw = env.openDB<Buffer, string>('rendered', { encoding: 'binary' }).getBinary('c1/001.json');
    await env.close();
    expect(raw === undefined ? undefined : [...raw.subarray(0, 2)]).toEqual([0xc1, 2]);
    expect(raw!.length).toBeLessThan(body(1).length / 4);
    const reopened = new LmdbObjectStore({ path: dir, dictionaryScope: (bucket) => bucket });
    opened.push(reopened);
    expect(await reopened.get('rendered', 'c1/001.json')).toBe(body(1));
  });

  it('answers each call in an event-loop turn of its own, so what one caller starts goes out before the next resumes', async () => {
    // Prepare: five writes issued together (one commit), five reads.
    const order: string[] = [];
    const after = (what: string) => () => {
      order.push(what);
      process.nextTick(() => order.push(`${what}'s follow-up`));
    };

    // Act
    await Promise.all(Array.from({ length: 5 }, (_, i) => store.put('bkt', `k${i}`, 'x').then(after(`put ${i}`))));
    await Promise.all(Array.from({ length: 5 }, (_, i) => store.get('bkt', `k${i}`).then(after(`get ${i}`))));
    await new Promise((resolve) => setImmediate(resolve));

    // Assess: each caller's follow-up (a socket write, say) ran before the next caller resumed.
    const expected = ['put', 'get'].flatMap((op) => [0, 1, 2, 3, 4].flatMap((i) => [`${op} ${i}`, `${op} ${i}'s follow-up`]));
    expect(order).toEqual(expected);
  });

  it("keeps derived buckets in an environment of their own: the ledger's file holds none of their bodies, and a reopen finds both", async () => {
    // Prepare
    await store.close();
    opened = [];
    const options = {
      path: path.join(dir, 'store'),
      dictionaryScope: (bucket: string) => (bucket === 'rendered' ? 'one-campaign' : undefined),
      derived: { path: path.join(dir, 'derived'), buckets: ['stubs', 'rendered'] },
    };
    const split = new LmdbObjectStore(options);
    opened.push(split);
    const body = (i: number) => `{"html":"<p>${randomBytes(2_000).toString('hex')}</p>","n":${i}}`;
    const bodies = Array.from({ length: 200 }, (_, i) => body(i));

    // Act
    await Promise.all(bodies.map((b, i) => split.put('rendered', `r/${String(i).padStart(3, '0')}.json`, b)));
    await split.put('stubs', 's/000.json', bodies[0]!, { ifNoneMatch: '*' });
    await split.put('campaigns', 'ledger/claim', 'lease-1', { ifNoneMatch: '*' });
    await split.close();
    opened = [];
    const again = new LmdbObjectStore(options);
    opened.push(again);

    // Assess: 200 bodies of 4 KB of random text went to the derived file, not the ledger's.
    const ledgerBytes = (await fs.stat(path.join(dir, 'store', 'data.mdb'))).size;
    const derivedBytes = (await fs.stat(path.join(dir, 'derived', 'data.mdb'))).size;
    expect(derivedBytes).toBeGreaterThan(200 * 1_000);
    expect(ledgerBytes).toBeLessThan(100 * 1024);
    expect(await again.get('rendered', 'r/123.json')).toBe(bodies[123]);
    expect(await again.get('stubs', 's/000.json')).toBe(bodies[0]);
    expect(await again.get('campaigns', 'ledger/claim')).toBe('lease-1');
    await expect(again.put('stubs', 's/000.json', 'again', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(ObjectExistsError);
    expect((await again.list('rendered', 'r/')).keys).toHaveLength(200);
  });
});
