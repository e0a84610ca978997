import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PermanentError } from '../../src/errors';
import { S3ObjectStore, createS3Client } from '../../src/object-store/s3-object-store';
import { describeLedgerContract } from '../ledger-contract';
import { describeObjectStoreContract } from './object-store-contract';

/**
 * The S3 adapter against a real S3-compatible server (s3rver, on loopback): what the SDK puts
 * on the wire and what it makes of the answers, which aws-sdk-client-mock cannot show. The
 * client comes from `createS3Client({ endpoint })`, i.e. path-style addressing and checksums
 * only when required, the settings non-AWS servers need.
 *
 * Not asserted here, because s3rver cannot tell us:
 * - Conditional create (`If-None-Match: *`): s3rver ignores the header and overwrites, so a
 *   test of it would pass or fail for s3rver's sake, not the adapter's. That guarantee is
 *   covered by the mocked tests (s3-object-store.test.ts) and the fs and memory contracts.
 * - Pagination: a truncated ListObjectsV2 makes s3rver build its continuation token with DES,
 *   which Node 17+ refuses without `--openssl-legacy-provider` (s3rver answers 500). Listing is
 *   exercised here without truncation only.
 * - Listing order of a key and its own extensions (`a/b`, `a/b/c`): s3rver lists the longer
 *   one first, unlike S3.
 */

// s3rver ships no types: the slice used here.
interface S3rverServer {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverServer;

const S3rver = require('s3rver') as S3rverClass;

const CONTRACT_BUCKETS = ['contract-bucket', 'other-bucket'];
const BUCKET = 'adapter-bucket';

let directory: string;
let server: S3rverServer;
let client: S3Client;
let store: S3ObjectStore;
const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'baton-s3rver-'));
  server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [...CONTRACT_BUCKETS, BUCKET].map((name) => ({ name })),
  });
  const { port } = await server.run();
  // s3rver accepts any signature, but the SDK signs every request, so it needs some credentials.
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  client = createS3Client({ endpoint: `http://127.0.0.1:${port}` });
  store = new S3ObjectStore(client);
});

afterAll(async () => {
  client?.destroy();
  await server?.close();
  await rm(directory, { recursive: true, force: true });
  process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
  process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
  if (savedEnv.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
  if (savedEnv.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
});

/** Empties a bucket through the adapter itself (fewer than 1000 keys: no truncation needed). */
async function empty(bucket: string): Promise<void> {
  const { keys } = await store.list(bucket, '');
  for (const key of keys) await store.delete(bucket, key);
}

async function emptiedStore(): Promise<S3ObjectStore> {
  for (const bucket of CONTRACT_BUCKETS) await empty(bucket);
  return store;
}

describeObjectStoreContract('S3ObjectStore on s3rver', emptiedStore, async () => {}, {
  conditionalCreate: false,
  pagination: false,
  byteOrderListing: false,
  emptyRangedRead: false,
});
describeLedgerContract('S3ObjectStore on s3rver', emptiedStore, async () => {}, { conditionalCreate: false });

describe('S3ObjectStore against s3rver', () => {
  beforeEach(() => empty(BUCKET));

  it('stores the body byte for byte, with its content type', async () => {
    // Prepare
    const body = JSON.stringify({ subject: 'Grüße 🎉', html: '<p>a &amp; b</p>' });

    // Act
    await store.put(BUCKET, 'rendered/ab/x.json', body);
    const got = await store.get(BUCKET, 'rendered/ab/x.json');
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'rendered/ab/x.json' }));

    // Assess
    expect(got).toBe(body);
    expect(head.ContentLength).toBe(Buffer.byteLength(body, 'utf8'));
    expect(head.ContentType).toBe('application/json');
  });

  it('sends the content type the caller gives, and text/plain for keys that are not JSON', async () => {
    // Act
    await store.put(BUCKET, 'campaigns/c/audience.csv', 'email\na@example.com\n', { contentType: 'text/csv' });
    await store.put(BUCKET, 'ledger/claims/ab/x', 'claim');
    const csv = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'campaigns/c/audience.csv' }));
    const claim = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'ledger/claims/ab/x' }));

    // Assess
    expect(csv.ContentType).toBe('text/csv');
    expect(claim.ContentType).toBe('text/plain');
  });

  it('puts, gets, deletes and then finds nothing under a key with spaces and plus signs', async () => {
    // Prepare
    const key = 'uploads/sample-co/my list+v2 (final).csv';
    await store.put(BUCKET, key, 'email\n');

    // Act
    const before = await store.get(BUCKET, key);
    await store.delete(BUCKET, key);
    const after = await store.get(BUCKET, key);

    // Assess
    expect(before).toBe('email\n');
    expect(after).toBeUndefined();
  });

  it('keeps a/b and a/b/c as two objects, both listed (in the order s3rver chooses)', async () => {
    // Prepare
    await store.put(BUCKET, 'a/b', 'parent');

    // Act
    await store.put(BUCKET, 'a/b/c', 'child');

    // Assess
    expect(await store.get(BUCKET, 'a/b')).toBe('parent');
    expect(await store.get(BUCKET, 'a/b/c')).toBe('child');
    expect((await store.list(BUCKET, 'a/')).keys.sort()).toEqual(['a/b', 'a/b/c']);
  });

  it('lists under a prefix from a startAfter, in one untruncated page', async () => {
    // Prepare
    for (const key of ['stubs/c/00/a.json', 'stubs/c/01/b.json', 'stubs/c/ff/c.json', 'stubs/d/00/x.json'])
      await store.put(BUCKET, key, '{}');

    // Act
    const all = await store.list(BUCKET, 'stubs/c/');
    const after = await store.list(BUCKET, 'stubs/c/', { startAfter: 'stubs/c/00/a.json', limit: 10 });

    // Assess
    expect(all).toEqual({ keys: ['stubs/c/00/a.json', 'stubs/c/01/b.json', 'stubs/c/ff/c.json'] });
    expect(after).toEqual({ keys: ['stubs/c/01/b.json', 'stubs/c/ff/c.json'] });
  });

  it('treats a missing bucket as a rejected request, not as a missing object', async () => {
    // Act
    const getting = store.get('no-such-bucket', 'k.json');

    // Assess
    await expect(getting).rejects.toBeInstanceOf(PermanentError);
    await expect(getting).rejects.toMatchObject({ code: 'S3_REQUEST_REJECTED' });
  });
});
