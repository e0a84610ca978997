import { BodyTooLargeError, ObjectExistsError } from '../../src/errors';
import { listAll, type ObjectStore } from '../../src/object-store/port';

/** A body as a request gives it: chunks, one after the other, then (optionally) a failure. */
async function* chunksOf(parts: (string | Buffer)[], failAfter?: Error): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    await new Promise((resolve) => setImmediate(resolve));
    yield typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
  }
  if (failAfter) throw failAfter;
}

/**
 * Parts of the contract a stand-in server may lack. Real adapters have them all (the default);
 * a test against a stand-in (s3rver) turns off what the stand-in cannot do, so those tests show
 * as skipped instead of passing falsely or failing for the stand-in's sake.
 */
export interface ContractCapabilities {
  /** `ifNoneMatch: '*'` is honoured (s3rver ignores it: a test would pass falsely or fail). */
  conditionalCreate?: boolean;
  /** A listing can be truncated and continued (s3rver needs `--openssl-legacy-provider` for it). */
  pagination?: boolean;
  /** A key sorts before the keys it is a prefix of, as on S3 (`a/b` before `a/b/c`; s3rver has it the other way round). */
  byteOrderListing?: boolean;
  /** A ranged read of an empty object is answered (S3: 416 InvalidRange; s3rver aborts the connection). */
  emptyRangedRead?: boolean;
}

/**
 * What every ObjectStore adapter promises, written once and run against each (fs, memory, S3
 * through s3rver). `setup` gives a fresh, empty store per test; `teardown` cleans up after it.
 */
export function describeObjectStoreContract(
  name: string,
  setup: () => Promise<ObjectStore>,
  teardown: () => Promise<void> = async () => {},
  capabilities: ContractCapabilities = {},
): void {
  const { conditionalCreate = true, pagination = true, byteOrderListing = true, emptyRangedRead = true } = capabilities;
  const itIf = (capable: boolean) => (capable ? it : it.skip);

  describe(`${name} honours the object-store contract`, () => {
    let store: ObjectStore;
    const bucket = 'contract-bucket';

    beforeEach(async () => {
      store = await setup();
    });
    afterEach(teardown);

    it('returns what was put, unicode included', async () => {
      // Prepare
      const body = JSON.stringify({ greeting: 'Grüße, 世界 🎉', quote: '"\\' });

      // Act
      await store.put(bucket, 'a/unicode.json', body);

      // Assess
      expect(await store.get(bucket, 'a/unicode.json')).toBe(body);
    });

    it('returns undefined for a key that was never put', async () => {
      // Act
      const got = await store.get(bucket, 'nothing/here.json');

      // Assess
      expect(got).toBeUndefined();
    });

    itIf(conditionalCreate)('creates conditionally once and refuses the second create with ObjectExistsError', async () => {
      // Prepare
      await store.put(bucket, 'claims/x', 'first', { ifNoneMatch: '*' });

      // Act
      const second = store.put(bucket, 'claims/x', 'second', { ifNoneMatch: '*' });

      // Assess
      await expect(second).rejects.toBeInstanceOf(ObjectExistsError);
      await expect(second).rejects.toMatchObject({ code: 'OBJECT_EXISTS', kind: 'permanent' });
      expect(await store.get(bucket, 'claims/x')).toBe('first');
    });

    itIf(conditionalCreate)('lets exactly one of twenty concurrent conditional creates of one key win', async () => {
      // Prepare
      const bodies = Array.from({ length: 20 }, (_, i) => `writer-${i}`);

      // Act
      const results = await Promise.allSettled(bodies.map((b) => store.put(bucket, 'race/key', b, { ifNoneMatch: '*' })));

      // Assess
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [bodies[i]] : []));
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(19);
      for (const r of lost) expect(r.reason).toBeInstanceOf(ObjectExistsError);
      expect(await store.get(bucket, 'race/key')).toBe(won[0]);
    });

    it('replaces an object on an unconditional put', async () => {
      // Prepare
      await store.put(bucket, 'state.json', '{"v":1}');

      // Act
      await store.put(bucket, 'state.json', '{"v":2}');

      // Assess
      expect(await store.get(bucket, 'state.json')).toBe('{"v":2}');
    });

    itIf(conditionalCreate)('lets a conditional create succeed again after the object is deleted', async () => {
      // Prepare
      await store.put(bucket, 'k', 'one', { ifNoneMatch: '*' });
      await store.delete(bucket, 'k');

      // Act
      await store.put(bucket, 'k', 'two', { ifNoneMatch: '*' });

      // Assess
      expect(await store.get(bucket, 'k')).toBe('two');
    });

    it('treats deleting a missing key as success', async () => {
      // Act
      const deleting = store.delete(bucket, 'never/was');

      // Assess
      await expect(deleting).resolves.toBeUndefined();
    });

    itIf(byteOrderListing)('keeps a/b and a/b/c as two separate objects', async () => {
      // Prepare
      await store.put(bucket, 'a/b', 'parent');

      // Act
      await store.put(bucket, 'a/b/c', 'child');

      // Assess
      expect(await store.get(bucket, 'a/b')).toBe('parent');
      expect(await store.get(bucket, 'a/b/c')).toBe('child');
      expect((await store.list(bucket, 'a/')).keys).toEqual(['a/b', 'a/b/c']);
    });

    it('keeps buckets apart', async () => {
      // Prepare
      await store.put(bucket, 'same', 'in contract-bucket');

      // Act
      const other = await store.get('other-bucket', 'same');

      // Assess
      expect(other).toBeUndefined();
      expect((await store.list('other-bucket', '')).keys).toEqual([]);
    });

    it('lists keys sorted and filtered by prefix, not by folder', async () => {
      // Prepare
      for (const key of ['p/z', 'p/a', 'p/m/1', 'pq/x', 'q/p/a', 'p/B']) await store.put(bucket, key, key);

      // Act
      const underP = await store.list(bucket, 'p/');
      const startingP = await store.list(bucket, 'p');
      const partial = await store.list(bucket, 'p/m');

      // Assess
      expect(underP).toEqual({ keys: ['p/B', 'p/a', 'p/m/1', 'p/z'] });
      expect(startingP.keys).toEqual(['p/B', 'p/a', 'p/m/1', 'p/z', 'pq/x']);
      expect(partial.keys).toEqual(['p/m/1']);
    });

    itIf(pagination)('paginates with limit and startAfter, leaving nextStartAfter off the last page', async () => {
      // Prepare
      const all = Array.from({ length: 7 }, (_, i) => `page/k${i}`);
      for (const key of [...all].reverse()) await store.put(bucket, key, 'x');

      // Act
      const first = await store.list(bucket, 'page/', { limit: 3 });
      const second = await store.list(bucket, 'page/', { limit: 3, startAfter: first.nextStartAfter });
      const third = await store.list(bucket, 'page/', { limit: 3, startAfter: second.nextStartAfter });

      // Assess
      expect(first).toEqual({ keys: all.slice(0, 3), nextStartAfter: 'page/k2' });
      expect(second).toEqual({ keys: all.slice(3, 6), nextStartAfter: 'page/k5' });
      expect(third).toEqual({ keys: all.slice(6) });
    });

    it('lists only keys after startAfter, even when startAfter is not a stored key', async () => {
      // Prepare
      for (const key of ['s/a', 's/b', 's/c']) await store.put(bucket, key, 'x');

      // Act
      const page = await store.list(bucket, 's/', { startAfter: 's/aa' });

      // Assess
      expect(page).toEqual({ keys: ['s/b', 's/c'] });
    });

    it("reads an object's head: its first bytes and its whole size, a multi-byte character cut included", async () => {
      // Prepare
      const body = 'email,name\nb@example.com,Zoë\n';
      await store.put(bucket, 'uploads/head.csv', body);

      // Act
      const head = await store.getHead(bucket, 'uploads/head.csv', 28);
      const whole = await store.getHead(bucket, 'uploads/head.csv', 1_000);

      // Assess
      const bytes = Buffer.from(body, 'utf8');
      expect(head?.size).toBe(bytes.length);
      expect(Buffer.from(head!.bytes)).toEqual(bytes.subarray(0, 28)); // the ë's first byte, without its second
      expect(whole?.size).toBe(bytes.length);
      expect(Buffer.from(whole!.bytes).toString('utf8')).toBe(body);
    });

    itIf(emptyRangedRead)('reads the head of an empty object as empty', async () => {
      // Prepare
      await store.put(bucket, 'uploads/empty.csv', '');

      // Act
      const empty = await store.getHead(bucket, 'uploads/empty.csv', 16);

      // Assess
      expect(empty?.size).toBe(0);
      expect(empty?.bytes.byteLength).toBe(0);
    });

    it('reads the head of a missing object as undefined', async () => {
      // Act
      const missing = await store.getHead(bucket, 'uploads/none.csv', 16);

      // Assess
      expect(missing).toBeUndefined();
    });

    it('refuses a head of no bytes as a caller mistake', async () => {
      // Act
      const head = store.getHead(bucket, 'uploads/x.csv', 0);

      // Assess
      await expect(head).rejects.toBeInstanceOf(RangeError);
    });

    it('stores a streamed body whole, a character split across chunks included, and counts its bytes', async () => {
      // Prepare
      const euro = Buffer.from('€', 'utf8'); // three bytes, cut between two chunks
      const parts = [Buffer.from('email,name\na@example.com,'), euro.subarray(0, 1), Buffer.concat([euro.subarray(1), Buffer.from('\n')])];

      // Act
      const stored = await store.putStream(bucket, 'uploads/a.csv', chunksOf(parts), { contentType: 'text/csv' });

      // Assess
      expect(stored).toEqual({ bytes: Buffer.concat(parts).length });
      expect(await store.get(bucket, 'uploads/a.csv')).toBe('email,name\na@example.com,€\n');
    });

    it('refuses a streamed body over maxBytes with BodyTooLargeError and keeps nothing of it', async () => {
      // Prepare
      await store.put(bucket, 'uploads/kept.csv', 'the old one');

      // Act
      const over = await store
        .putStream(bucket, 'uploads/over.csv', chunksOf(['12345', '67890', 'x']), { maxBytes: 10 })
        .catch((e: unknown) => e);
      const replacing = await store
        .putStream(bucket, 'uploads/kept.csv', chunksOf(['12345', '678901']), { maxBytes: 10 })
        .catch((e: unknown) => e);

      // Assess
      expect(over).toBeInstanceOf(BodyTooLargeError);
      expect(over).toMatchObject({ code: 'BODY_TOO_LARGE', limitBytes: 10 });
      expect(replacing).toBeInstanceOf(BodyTooLargeError);
      expect(await store.get(bucket, 'uploads/over.csv')).toBeUndefined();
      expect(await store.get(bucket, 'uploads/kept.csv')).toBe('the old one');
      expect((await store.list(bucket, 'uploads/')).keys).toEqual(['uploads/kept.csv']);
    });

    it('takes a streamed body of exactly maxBytes', async () => {
      // Act
      const stored = await store.putStream(bucket, 'exact', chunksOf(['12345', '67890']), { maxBytes: 10 });

      // Assess
      expect(stored.bytes).toBe(10);
      expect(await store.get(bucket, 'exact')).toBe('1234567890');
    });

    it("fails with the body's own error when the body fails mid-way, and stores nothing", async () => {
      // Prepare
      const cut = new Error('the client went away');

      // Act
      const putting = store.putStream(bucket, 'uploads/cut.csv', chunksOf(['email\n', 'a@example.com\n'], cut));

      // Assess
      await expect(putting).rejects.toBe(cut);
      expect(await store.get(bucket, 'uploads/cut.csv')).toBeUndefined();
    });

    it('refuses a streamed body longer or shorter than its contentLength, storing nothing', async () => {
      // Act
      const longer = store.putStream(bucket, 'long', chunksOf(['12345', '6']), { contentLength: 5 }).catch((e: unknown) => e);
      const shorter = store.putStream(bucket, 'short', chunksOf(['123']), { contentLength: 5 }).catch((e: unknown) => e);
      const exact = await store.putStream(bucket, 'exact', chunksOf(['123', '45']), { contentLength: 5 });

      // Assess
      expect(await longer).toMatchObject({ code: 'BODY_LENGTH_MISMATCH' });
      expect(await shorter).toMatchObject({ code: 'BODY_LENGTH_MISMATCH' });
      expect(await store.get(bucket, 'long')).toBeUndefined();
      expect(await store.get(bucket, 'short')).toBeUndefined();
      expect(exact.bytes).toBe(5);
      expect(await store.get(bucket, 'exact')).toBe('12345');
    });

    itIf(conditionalCreate)('creates a streamed body conditionally once, like put', async () => {
      // Prepare
      await store.putStream(bucket, 'once', chunksOf(['first']), { ifNoneMatch: '*' });

      // Act
      const second = store.putStream(bucket, 'once', chunksOf(['second']), { ifNoneMatch: '*' });

      // Assess
      await expect(second).rejects.toBeInstanceOf(ObjectExistsError);
      expect(await store.get(bucket, 'once')).toBe('first');
    });

    itIf(pagination)('walks every key under a prefix with listAll', async () => {
      // Prepare
      const all = Array.from({ length: 11 }, (_, i) => `walk/${String(i).padStart(2, '0')}`);
      for (const key of all) await store.put(bucket, key, 'x');

      // Act
      const seen: string[] = [];
      for await (const key of listAll(store, bucket, 'walk/', 4)) seen.push(key);

      // Assess
      expect(seen).toEqual(all);
    });
  });
}
