import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
// @smithy/util-stream is folded into @smithy/core in this SDK line; the mixin lives in its serde entry.
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import type { Clock } from '../../src/clock';
import { BodyTooLargeError, ObjectExistsError, PermanentError, RetryableError } from '../../src/errors';
import { MemoryObjectStore } from '../../src/object-store/memory-object-store';
import { listAll } from '../../src/object-store/port';
import { createS3Client, S3ObjectStore } from '../../src/object-store/s3-object-store';
import { describeLedgerContract } from '../ledger-contract';
import { describeObjectStoreContract } from './object-store-contract';
import { serveS3FromMemory, textOf } from './s3-over-memory';

const s3 = mockClient(S3Client);

/** A body as the SDK returns it: a Node stream with the SDK's transform methods mixed in. */
function bodyOf(text: string) {
  return sdkStreamMixin(Readable.from([Buffer.from(text, 'utf8')]));
}

function serviceError(name: string, status: number, message = name): S3ServiceException {
  return new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });
}

/** A clock whose sleeps return at once and are remembered. */
function instantClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return { slept, now: () => 0, sleep: async (ms) => void slept.push(ms) };
}

let clock: ReturnType<typeof instantClock>;
let store: S3ObjectStore;

beforeEach(() => {
  s3.reset();
  clock = instantClock();
  store = new S3ObjectStore(new S3Client({ region: 'eu-west-1' }), { clock });
});

/**
 * The ledger through this adapter, S3 answered from memory the way S3 answers (NoSuchKey, 412 on
 * a lost conditional create): unlike s3rver, conditional create is real here, so the claim
 * protocol runs through the adapter's own error translation.
 */
describeLedgerContract('S3ObjectStore over a mocked S3 client', async () => {
  s3.reset();
  serveS3FromMemory(s3, new MemoryObjectStore());
  return new S3ObjectStore(new S3Client({ region: 'eu-west-1' }), { clock: instantClock() });
});

describeObjectStoreContract('S3ObjectStore over a mocked S3 client', async () => {
  s3.reset();
  serveS3FromMemory(s3, new MemoryObjectStore());
  return new S3ObjectStore(new S3Client({ region: 'eu-west-1' }), { clock: instantClock() });
});

async function* mebibytes(n: number, fail?: Error): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < n; i++) yield Buffer.alloc(1024 * 1024, 0x61 + (i % 26));
  if (fail) throw fail;
}

describe('S3ObjectStore.putStream', () => {
  it('streams a body of known length through one PutObject with its ContentLength', async () => {
    // Prepare
    let sent = '';
    s3.on(PutObjectCommand).callsFake(async (input: { Body: unknown }) => {
      sent = await textOf(input.Body);
      return {};
    });

    // Act
    const stored = await store.putStream('bkt', 'uploads/a.csv', mebibytes(2), { contentLength: 2 * 1024 * 1024, contentType: 'text/csv' });

    // Assess
    expect(stored.bytes).toBe(2 * 1024 * 1024);
    expect(sent.length).toBe(2 * 1024 * 1024);
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toMatchObject({
      Bucket: 'bkt',
      Key: 'uploads/a.csv',
      ContentLength: 2 * 1024 * 1024,
      ContentType: 'text/csv',
    });
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('sends a body of unknown length over one part as a multipart upload, 5 MiB a part, with the condition on completion', async () => {
    // Prepare
    const parts: number[] = [];
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    s3.on(UploadPartCommand).callsFake(async (input: { Body: unknown; PartNumber: number }) => {
      parts[input.PartNumber - 1] = (await textOf(input.Body)).length;
      return { ETag: `"e${input.PartNumber}"` };
    });
    s3.on(CompleteMultipartUploadCommand).resolves({});

    // Act
    const stored = await store.putStream('bkt', 'uploads/big.csv', mebibytes(12), { ifNoneMatch: '*' });

    // Assess
    expect(stored.bytes).toBe(12 * 1024 * 1024);
    expect(parts).toEqual([5 * 1024 * 1024, 5 * 1024 * 1024, 2 * 1024 * 1024]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input).toMatchObject({
      UploadId: 'u1',
      IfNoneMatch: '*',
      MultipartUpload: { Parts: [{ PartNumber: 1 }, { PartNumber: 2 }, { PartNumber: 3 }] },
    });
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('aborts the multipart upload when the body runs over maxBytes, and completes nothing', async () => {
    // Prepare
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u2' });
    s3.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3.on(AbortMultipartUploadCommand).resolves({});

    // Act
    const putting = store.putStream('bkt', 'uploads/over.csv', mebibytes(12), { maxBytes: 11 * 1024 * 1024 });

    // Assess
    await expect(putting).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(s3.commandCalls(AbortMultipartUploadCommand)[0]!.args[0].input).toMatchObject({ UploadId: 'u2', Key: 'uploads/over.csv' });
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
  });

  it("gives the body's own error when the body fails, not an S3 one", async () => {
    // Prepare
    const cut = new Error('aborted');
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u3' });
    s3.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3.on(AbortMultipartUploadCommand).resolves({});

    // Act
    const putting = store.putStream('bkt', 'uploads/cut.csv', mebibytes(12, cut));

    // Assess
    await expect(putting).rejects.toBe(cut);
    expect(s3.commandCalls(UploadPartCommand).length).toBeGreaterThan(0);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
  });

  it('translates an S3 refusal of a streamed put into the hierarchy, naming the key', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(serviceError('AccessDenied', 403));

    // Act
    const putting = store.putStream('bkt', 'uploads/x.csv', mebibytes(1), { contentLength: 1024 * 1024 });

    // Assess
    await expect(putting).rejects.toMatchObject({ code: 'S3_ACCESS_DENIED' });
    await expect(putting).rejects.toThrow(/s3:\/\/bkt\/uploads\/x\.csv/);
  });
});

describe('S3ObjectStore.getHead', () => {
  it('asks S3 for the first bytes only (a Range header) and takes the size from Content-Range', async () => {
    // Prepare
    s3.on(GetObjectCommand).resolves({ Body: bodyOf('email,name\n'), ContentRange: 'bytes 0-10/40000000' });

    // Act
    const head = await store.getHead('campaigns', 'uploads/acme/big.csv', 11);

    // Assess
    expect(s3.commandCalls(GetObjectCommand)[0]!.args[0].input).toEqual({
      Bucket: 'campaigns',
      Key: 'uploads/acme/big.csv',
      Range: 'bytes=0-10',
    });
    expect(Buffer.from(head!.bytes).toString('utf8')).toBe('email,name\n');
    expect(head!.size).toBe(40_000_000);
  });

  it('cuts a whole body sent by a server that ignored the range, and takes its length as the size', async () => {
    // Prepare
    s3.on(GetObjectCommand).resolves({ Body: bodyOf('email\nann@example.com\n') });

    // Act
    const head = await store.getHead('campaigns', 'uploads/acme/a.csv', 6);

    // Assess
    expect(Buffer.from(head!.bytes).toString('utf8')).toBe('email\n');
    expect(head!.size).toBe(22);
  });

  it('translates a refusal as get does', async () => {
    // Prepare
    s3.on(GetObjectCommand).rejects(serviceError('AccessDenied', 403));

    // Act
    const reading = store.getHead('campaigns', 'uploads/acme/a.csv', 6);

    // Assess
    await expect(reading).rejects.toMatchObject({ code: 'S3_ACCESS_DENIED' });
  });
});

describe('S3ObjectStore.get', () => {
  it('reads the object body as a UTF-8 string', async () => {
    // Prepare
    s3.on(GetObjectCommand).resolves({ Body: bodyOf('{"name":"Zoë 🎉"}') });

    // Act
    const got = await store.get('stubs', 'stubs/a.json');

    // Assess
    expect(got).toBe('{"name":"Zoë 🎉"}');
    expect(s3.commandCalls(GetObjectCommand)[0]!.args[0].input).toEqual({ Bucket: 'stubs', Key: 'stubs/a.json' });
  });

  it('returns undefined when S3 answers NoSuchKey', async () => {
    // Prepare
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'The specified key does not exist.' }));

    // Act
    const got = await store.get('stubs', 'missing.json');

    // Assess
    expect(got).toBeUndefined();
  });

  it('returns undefined for a bare 404, as S3-compatible servers may send', async () => {
    // Prepare
    s3.on(GetObjectCommand).rejects(serviceError('UnknownError', 404));

    // Act
    const got = await store.get('stubs', 'missing.json');

    // Assess
    expect(got).toBeUndefined();
  });

  it('treats a missing bucket as a rejected request, not as a missing object', async () => {
    // Prepare
    s3.on(GetObjectCommand).rejects(
      new NoSuchBucket({ $metadata: { httpStatusCode: 404 }, message: 'The specified bucket does not exist' }),
    );

    // Act
    const getting = store.get('no-such-bucket', 'k.json');

    // Assess
    await expect(getting).rejects.toBeInstanceOf(PermanentError);
    await expect(getting).rejects.toMatchObject({ code: 'S3_REQUEST_REJECTED' });
  });
});

describe('S3ObjectStore.put', () => {
  it('sends the body with a JSON content type for .json keys and no condition by default', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});

    // Act
    await store.put('rendered', 'rendered/x.json', '{}');

    // Assess
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toEqual({
      Bucket: 'rendered',
      Key: 'rendered/x.json',
      Body: '{}',
      ContentType: 'application/json',
    });
  });

  it('sends text/plain for other keys, and a content type given by the caller over either', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});

    // Act
    await store.put('campaigns', 'ledger/claims/ab/x', 'claim');
    await store.put('campaigns', 'campaigns/c/audience.csv', 'email\n', { contentType: 'text/csv' });

    // Assess
    const inputs = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({ ContentType: 'text/plain' });
    expect(inputs[1]).toMatchObject({ ContentType: 'text/csv' });
  });

  it("sends IfNoneMatch '*' for a conditional create", async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});

    // Act
    await store.put('campaigns', 'ledger/claims/ab/x', 'claim', { ifNoneMatch: '*' });

    // Assess
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toMatchObject({ IfNoneMatch: '*' });
  });

  it('turns 412 PreconditionFailed on a conditional create into ObjectExistsError', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(
      serviceError('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold'),
    );

    // Act
    const putting = store.put('campaigns', 'claim', 'x', { ifNoneMatch: '*' });

    // Assess
    await expect(putting).rejects.toBeInstanceOf(ObjectExistsError);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(1);
  });

  it('retries a 409 ConditionalRequestConflict and reports the 412 that follows as ObjectExistsError', async () => {
    // Prepare
    s3.on(PutObjectCommand)
      .rejectsOnce(serviceError('ConditionalRequestConflict', 409))
      .rejectsOnce(serviceError('PreconditionFailed', 412));

    // Act
    const putting = store.put('campaigns', 'claim', 'x', { ifNoneMatch: '*' });

    // Assess
    await expect(putting).rejects.toBeInstanceOf(ObjectExistsError);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(2);
    expect(clock.slept).toEqual([50]);
  });

  it('succeeds when a retry after a 409 conflict goes through', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejectsOnce(serviceError('ConditionalRequestConflict', 409)).resolves({});

    // Act
    const putting = store.put('campaigns', 'claim', 'x', { ifNoneMatch: '*' });

    // Assess
    await expect(putting).resolves.toBeUndefined();
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(2);
  });

  it('after repeated 409 conflicts reports ObjectExistsError when the object now exists', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(serviceError('ConditionalRequestConflict', 409));
    s3.on(HeadObjectCommand).resolves({});

    // Act
    const putting = store.put('campaigns', 'claim', 'x', { ifNoneMatch: '*' });

    // Assess
    await expect(putting).rejects.toBeInstanceOf(ObjectExistsError);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(3);
    expect(clock.slept).toEqual([50, 100]);
    expect(s3.commandCalls(HeadObjectCommand)[0]!.args[0].input).toEqual({ Bucket: 'campaigns', Key: 'claim' });
  });

  it('after repeated 409 conflicts reports a RetryableError when the object is still absent', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(serviceError('ConditionalRequestConflict', 409));
    s3.on(HeadObjectCommand).rejects(new NotFound({ $metadata: { httpStatusCode: 404 }, message: 'Not Found' }));

    // Act
    const putting = store.put('campaigns', 'claim', 'x', { ifNoneMatch: '*' });

    // Assess
    await expect(putting).rejects.toBeInstanceOf(RetryableError);
    await expect(putting).rejects.toMatchObject({ code: 'S3_CONFLICT' });
  });

  it('does not read a 412 on an unconditional put as "object exists"', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(serviceError('PreconditionFailed', 412));

    // Act
    const putting = store.put('campaigns', 'state.json', '{}');

    // Assess
    await expect(putting).rejects.not.toBeInstanceOf(ObjectExistsError);
    await expect(putting).rejects.toMatchObject({ code: 'S3_REQUEST_REJECTED' });
  });
});

describe('S3ObjectStore.delete', () => {
  it('sends DeleteObject for the bucket and key', async () => {
    // Prepare
    s3.on(DeleteObjectCommand).resolves({});

    // Act
    await store.delete('stubs', 'stubs/a.json');

    // Assess
    expect(s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input).toEqual({ Bucket: 'stubs', Key: 'stubs/a.json' });
  });
});

describe('S3ObjectStore.list', () => {
  it('sends Prefix, StartAfter and MaxKeys and returns the keys', async () => {
    // Prepare
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'p/b' }, { Key: 'p/c' }], IsTruncated: false });

    // Act
    const page = await store.list('stubs', 'p/', { startAfter: 'p/a', limit: 2 });

    // Assess
    expect(s3.commandCalls(ListObjectsV2Command)[0]!.args[0].input).toEqual({
      Bucket: 'stubs',
      Prefix: 'p/',
      StartAfter: 'p/a',
      MaxKeys: 2,
    });
    expect(page).toEqual({ keys: ['p/b', 'p/c'] });
  });

  it('asks for 1000 keys and sends no StartAfter by default', async () => {
    // Prepare
    s3.on(ListObjectsV2Command).resolves({});

    // Act
    const page = await store.list('stubs', 'p/');

    // Assess
    expect(s3.commandCalls(ListObjectsV2Command)[0]!.args[0].input).toEqual({ Bucket: 'stubs', Prefix: 'p/', MaxKeys: 1000 });
    expect(page).toEqual({ keys: [] });
  });

  it('gives the last key as nextStartAfter when the listing is truncated', async () => {
    // Prepare
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'p/a' }, { Key: 'p/b' }], IsTruncated: true });

    // Act
    const page = await store.list('stubs', 'p/', { limit: 2 });

    // Assess
    expect(page).toEqual({ keys: ['p/a', 'p/b'], nextStartAfter: 'p/b' });
  });

  it('walks every page with listAll, passing each page end as the next StartAfter', async () => {
    // Prepare
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ Contents: [{ Key: 'p/1' }, { Key: 'p/2' }], IsTruncated: true })
      .resolvesOnce({ Contents: [{ Key: 'p/3' }, { Key: 'p/4' }], IsTruncated: true })
      .resolvesOnce({ Contents: [{ Key: 'p/5' }], IsTruncated: false });

    // Act
    const keys: string[] = [];
    for await (const key of listAll(store, 'stubs', 'p/', 2)) keys.push(key);

    // Assess
    expect(keys).toEqual(['p/1', 'p/2', 'p/3', 'p/4', 'p/5']);
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.StartAfter)).toEqual([undefined, 'p/2', 'p/4']);
  });
});

describe('S3ObjectStore error translation', () => {
  const cases: [string, unknown, typeof RetryableError | typeof PermanentError, string][] = [
    ['SlowDown (503)', serviceError('SlowDown', 503, 'Please reduce your request rate.'), RetryableError, 'S3_THROTTLED'],
    ['a bare 503', serviceError('ServiceUnavailable', 503), RetryableError, 'S3_THROTTLED'],
    ['ThrottlingException (400)', serviceError('ThrottlingException', 400), RetryableError, 'S3_THROTTLED'],
    ['TooManyRequests (429)', serviceError('TooManyRequests', 429), RetryableError, 'S3_THROTTLED'],
    ['InternalError (500)', serviceError('InternalError', 500), RetryableError, 'S3_UNAVAILABLE'],
    ['a 502 from a proxy', serviceError('Unknown', 502), RetryableError, 'S3_UNAVAILABLE'],
    ['RequestTimeout (400)', serviceError('RequestTimeout', 400), RetryableError, 'S3_UNAVAILABLE'],
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' }),
      RetryableError,
      'S3_UNAVAILABLE',
    ],
    ['a socket timeout', Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }), RetryableError, 'S3_UNAVAILABLE'],
    ['AccessDenied (403)', serviceError('AccessDenied', 403, 'Access Denied'), PermanentError, 'S3_ACCESS_DENIED'],
    ['InvalidAccessKeyId (403)', serviceError('InvalidAccessKeyId', 403), PermanentError, 'S3_ACCESS_DENIED'],
    [
      'missing credentials',
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      PermanentError,
      'S3_ACCESS_DENIED',
    ],
    ['InvalidArgument (400)', serviceError('InvalidArgument', 400), PermanentError, 'S3_REQUEST_REJECTED'],
    ['EntityTooLarge (400)', serviceError('EntityTooLarge', 400), PermanentError, 'S3_REQUEST_REJECTED'],
  ];

  it.each(cases)('translates %s on every operation, keeping the SDK error as cause', async (_what, sdkError, kind, code) => {
    // Prepare
    s3.on(GetObjectCommand).rejects(sdkError as Error);
    s3.on(PutObjectCommand).rejects(sdkError as Error);
    s3.on(DeleteObjectCommand).rejects(sdkError as Error);
    s3.on(ListObjectsV2Command).rejects(sdkError as Error);

    // Act
    const outcomes = await Promise.allSettled([
      store.get('b', 'k.json'),
      store.put('b', 'k.json', '{}'),
      store.put('b', 'k.json', '{}', { ifNoneMatch: '*' }),
      store.delete('b', 'k.json'),
      store.list('b', 'p/'),
    ]);

    // Assess
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      const reason = (outcome as PromiseRejectedResult).reason as Error;
      expect(reason).toBeInstanceOf(kind);
      expect(reason).toMatchObject({ code, cause: sdkError });
    }
  });

  it('names the operation, bucket, key and S3 error code in the message', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(serviceError('SlowDown', 503, 'Please reduce your request rate.'));

    // Act
    const putting = store.put('stubs', 'stubs/a.json', '{}');

    // Assess
    await expect(putting).rejects.toThrow('S3 PutObject s3://stubs/stubs/a.json: SlowDown (503) Please reduce your request rate.');
  });

  it('rethrows an error that comes from neither S3 nor the network untouched', async () => {
    // Prepare
    const bug = new TypeError('cannot read properties of undefined');
    s3.on(GetObjectCommand).rejects(bug);

    // Act
    const getting = store.get('b', 'k');

    // Assess
    await expect(getting).rejects.toBe(bug);
  });
});

describe('createS3Client', () => {
  it('sets path-style addressing and checksums only when required for a non-AWS endpoint', async () => {
    // Act
    const client = createS3Client({ endpoint: 'http://localhost:9000' });

    // Assess
    expect(client.config.forcePathStyle).toBe(true);
    expect(await client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    expect(await client.config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
    expect(await client.config.region()).toBe('us-east-1');
    expect(await client.config.endpoint?.()).toMatchObject({ hostname: 'localhost', port: 9000, protocol: 'http:' });
  });

  it('lets the caller choose region and virtual-hosted addressing with a custom endpoint', async () => {
    // Act
    const client = createS3Client({ endpoint: 'https://s3.example.net', region: 'eu-central-1', forcePathStyle: false });

    // Assess
    expect(client.config.forcePathStyle).toBe(false);
    expect(await client.config.region()).toBe('eu-central-1');
    expect(await client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
  });

  it('keeps the SDK defaults for AWS itself', async () => {
    // Act
    const client = createS3Client({ region: 'eu-west-1' });

    // Assess
    expect(client.config.forcePathStyle).toBe(false);
    expect(await client.config.requestChecksumCalculation()).toBe('WHEN_SUPPORTED');
    expect(await client.config.region()).toBe('eu-west-1');
    expect(client.config.endpoint).toBeUndefined();
  });
});
