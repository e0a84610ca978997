import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectExistsError, RetryableError, ValidationError } from '../../src/errors';
import { FsObjectStore } from '../../src/object-store/fs-object-store';
import { decodeS3EventKey, s3Event, type S3Event } from '../../src/schemas';
import { describeLedgerContract } from '../ledger-contract';
import { describeObjectStoreContract } from './object-store-contract';

/** Each test gets `{tmp}/baton-fs-XXXX/root` as the store's root, so anything written beside it is visible. */
let parent: string;
let root: string;

async function freshStore(): Promise<FsObjectStore> {
  parent = await fs.mkdtemp(path.join(os.tmpdir(), 'baton-fs-'));
  root = path.join(parent, 'root');
  await fs.mkdir(root);
  return new FsObjectStore(root);
}

async function removeStore(): Promise<void> {
  await fs.rm(parent, { recursive: true, force: true });
}

/** Every file under `dir`, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** Lets listeners scheduled with setImmediate by earlier puts run. */
function afterPendingEvents(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describeObjectStoreContract('FsObjectStore', freshStore, removeStore);
describeLedgerContract('FsObjectStore', freshStore, removeStore);

describe('FsObjectStore', () => {
  let store: FsObjectStore;

  beforeEach(async () => {
    store = await freshStore();
  });
  afterEach(removeStore);

  describe('storage layout', () => {
    it('stores a/b and a/b/c as a file and a folder side by side', async () => {
      // Act
      await store.put('bkt', 'a/b', 'parent');
      await store.put('bkt', 'a/b/c', 'child');

      // Assess
      expect(await filesUnder(path.join(root, 'bkt'))).toEqual([path.join('a', 'b.o'), path.join('a', 'b', 'c.o')]);
    });

    it('leaves no temporary files behind after creates, losing creates and replaces', async () => {
      // Prepare
      await store.put('bkt', 'k', 'one', { ifNoneMatch: '*' });

      // Act
      await expect(store.put('bkt', 'k', 'two', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(ObjectExistsError);
      await store.put('bkt', 'k', 'three');

      // Assess
      expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);
    });

    it('replaces atomically: a reader racing writers sees one whole body or the other, never a mix', async () => {
      // Prepare
      const a = 'a'.repeat(256 * 1024);
      const b = 'b'.repeat(256 * 1024);
      await store.put('bkt', 'big', a);

      // Act
      const writes = Array.from({ length: 20 }, (_, i) => store.put('bkt', 'big', i % 2 === 0 ? b : a));
      const reads = Array.from({ length: 40 }, () => store.get('bkt', 'big'));
      const [, seen] = await Promise.all([Promise.all(writes), Promise.all(reads)]);

      // Assess
      for (const body of seen) expect(body === a || body === b).toBe(true);
    });
  });

  describe('key and bucket validation', () => {
    const badKeys: [string, string][] = [
      ['a parent segment', '../escape'],
      ['a parent segment in the middle', 'a/../../escape'],
      ['a parent segment at the end', 'a/..'],
      ['a current-folder segment', 'a/./b'],
      ['an empty segment', 'a//b'],
      ['a leading slash', '/etc/passwd'],
      ['a trailing slash', 'a/'],
      ['a NUL', 'a\u0000b'],
      ['a backslash', '..\\escape'],
      ['nothing at all', ''],
      ['more than 1024 characters', 'k'.repeat(1025)],
    ];

    it.each(badKeys)('refuses to put a key with %s, writing nothing anywhere', async (_what, key) => {
      // Act
      const putting = store.put('bkt', key, 'payload');

      // Assess
      await expect(putting).rejects.toBeInstanceOf(ValidationError);
      await expect(putting).rejects.toMatchObject({ code: 'KEY_INVALID' });
      expect(await fs.readdir(parent)).toEqual(['root']);
      expect(await filesUnder(root)).toEqual([]);
    });

    it.each(badKeys)('refuses to get or delete a key with %s', async (_what, key) => {
      // Act
      const getting = store.get('bkt', key);
      const deleting = store.delete('bkt', key);

      // Assess
      await expect(getting).rejects.toBeInstanceOf(ValidationError);
      await expect(deleting).rejects.toBeInstanceOf(ValidationError);
    });

    it('does not delete a file outside the root through a parent segment', async () => {
      // Prepare
      const outside = path.join(parent, 'precious.o');
      await fs.writeFile(outside, 'keep me');

      // Act
      const deleting = store.delete('bkt', '../../precious');

      // Assess
      await expect(deleting).rejects.toBeInstanceOf(ValidationError);
      expect(await fs.readFile(outside, 'utf8')).toBe('keep me');
    });

    it('refuses a listing prefix that climbs out of the bucket', async () => {
      // Act
      const listing = store.list('bkt', '../');

      // Assess
      await expect(listing).rejects.toBeInstanceOf(ValidationError);
    });

    it.each([['..'], ['.hidden'], ['UPPER'], ['a/b'], ['']])('refuses the bucket name %j', async (bucket) => {
      // Act
      const putting = store.put(bucket, 'k', 'x');

      // Assess
      await expect(putting).rejects.toMatchObject({ code: 'BUCKET_INVALID' });
      expect(await filesUnder(root)).toEqual([]);
    });
  });

  describe('ObjectCreated events', () => {
    it('emits an S3-shaped ObjectCreated:Put with the key URL-encoded as AWS does', async () => {
      // Prepare
      const key = 'stubs/a b+c/ü%.json';
      const body = '{"x":"ü"}';
      const received = new Promise<S3Event>((resolve) => store.onObjectCreated({ bucket: 'stubs-bkt' }, resolve));

      // Act
      await store.put('stubs-bkt', key, body);
      const event = await received;

      // Assess
      const record = s3Event.parse(event).Records[0]!;
      expect(record.eventName).toBe('ObjectCreated:Put');
      expect(record.s3.bucket.name).toBe('stubs-bkt');
      expect(record.s3.object.key).toBe('stubs/a+b%2Bc/%C3%BC%25.json');
      expect(decodeS3EventKey(record.s3.object.key)).toBe(key);
      expect(record.s3.object.size).toBe(Buffer.byteLength(body));
    });

    it('delivers only to listeners whose bucket, prefix and suffix all match', async () => {
      // Prepare
      const got: Record<string, string[]> = { all: [], stubsJson: [], otherBucket: [], wrongSuffix: [] };
      const record = (name: string) => (e: S3Event) => got[name]!.push(decodeS3EventKey(e.Records[0]!.s3.object.key));
      store.onObjectCreated({ bucket: 'bkt' }, record('all'));
      store.onObjectCreated({ bucket: 'bkt', prefix: 'stubs/', suffix: '.json' }, record('stubsJson'));
      store.onObjectCreated({ bucket: 'other' }, record('otherBucket'));
      store.onObjectCreated({ bucket: 'bkt', prefix: 'stubs/', suffix: '.csv' }, record('wrongSuffix'));

      // Act
      await store.put('bkt', 'stubs/c/1.json', 'x');
      await store.put('bkt', 'rendered/c/1.json', 'x');
      await store.put('bkt', 'stubs/c/readme', 'x');
      await afterPendingEvents();

      // Assess
      expect(got).toEqual({
        all: ['stubs/c/1.json', 'rendered/c/1.json', 'stubs/c/readme'],
        stubsJson: ['stubs/c/1.json'],
        otherBucket: [],
        wrongSuffix: [],
      });
    });

    it('stops delivering to a listener once it unsubscribes', async () => {
      // Prepare
      const keys: string[] = [];
      const unsubscribe = store.onObjectCreated({ bucket: 'bkt' }, (e) => keys.push(e.Records[0]!.s3.object.key));
      await store.put('bkt', 'before', 'x');
      await afterPendingEvents();

      // Act
      unsubscribe();
      await store.put('bkt', 'after', 'x');
      await afterPendingEvents();

      // Assess
      expect(keys).toEqual(['before']);
    });

    it('emits nothing for a conditional create that lost', async () => {
      // Prepare
      await store.put('bkt', 'claim', 'winner', { ifNoneMatch: '*' });
      await afterPendingEvents();
      const events: S3Event[] = [];
      store.onObjectCreated({ bucket: 'bkt' }, (e) => events.push(e));

      // Act
      await expect(store.put('bkt', 'claim', 'loser', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(ObjectExistsError);
      await afterPendingEvents();

      // Assess
      expect(events).toEqual([]);
    });

    it('delivers events after put resolves, never inside it', async () => {
      // Prepare
      const order: string[] = [];
      store.onObjectCreated({ bucket: 'bkt' }, () => order.push('event'));

      // Act
      await store.put('bkt', 'k', 'x');
      order.push('put resolved');
      await afterPendingEvents();

      // Assess
      expect(order).toEqual(['put resolved', 'event']);
    });
  });

  describe('disk faults', () => {
    it('answers a write it cannot make with a retryable STORE_UNAVAILABLE naming the object, and leaves no temp file', async () => {
      // Prepare: where the object would go stands a folder with something in it, so the final rename fails.
      const store = await freshStore();
      await fs.mkdir(path.join(root, 'bucket', 'a', 'k.o', 'inside'), { recursive: true });
      // Act
      const plain = await store.put('bucket', 'a/k', 'body').catch((e: unknown) => e);
      // Assess
      expect(plain).toBeInstanceOf(RetryableError);
      expect(plain).toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('bucket/a/k') });
      expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);
    });

    it('names the real reason when a folder cannot be made, not the ENOENT that recursive mkdir says on a read-only disk', async () => {
      // Prepare: Node 20 on a read-only filesystem — a recursive mkdir fails with ENOENT, a plain one with EROFS.
      // (The fault suite meets the real thing on a read-only tmpfs: npm run test:faults.)
      const store = await freshStore();
      await fs.mkdir(path.join(root, '.tmp'), { recursive: true });
      const mkdir = jest.spyOn(fs, 'mkdir').mockImplementation((async (dir: string, options?: { recursive?: boolean }) => {
        const exists = await fs.stat(dir).then(
          () => true,
          () => false,
        );
        if (exists && options?.recursive) return undefined;
        throw Object.assign(new Error(`${options?.recursive ? 'ENOENT' : 'EROFS'}: ${dir}`), {
          code: options?.recursive ? 'ENOENT' : 'EROFS',
        });
      }) as unknown as typeof fs.mkdir);
      try {
        // Act
        const error = await store.put('bucket', 'a/k', 'body').catch((e: unknown) => e);
        // Assess
        expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/bucket\/a\/k: EROFS$/) });
      } finally {
        mkdir.mockRestore();
      }
      expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);
    });

    it('never mistakes a failed folder creation for "already exists" on a conditional create', async () => {
      // Prepare: a file where the key's folder should be.
      const store = await freshStore();
      await fs.mkdir(path.join(root, 'bucket'), { recursive: true });
      await fs.writeFile(path.join(root, 'bucket', 'a'), 'not a folder');
      // Act
      const conditional = await store.put('bucket', 'a/k', 'body', { ifNoneMatch: '*' }).catch((e: unknown) => e);
      // Assess
      expect(conditional).not.toBeInstanceOf(ObjectExistsError);
      expect(conditional).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    });
  });
});
