import { Readable } from 'node:stream';
import * as s3Sdk from '@aws-sdk/client-s3';
import { NoSuchKey, NotFound, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { ObjectExistsError } from '../../src/errors';
import type { MemoryObjectStore } from '../../src/object-store/memory-object-store';

export type S3Commands = Pick<
  typeof s3Sdk,
  'DeleteObjectCommand' | 'GetObjectCommand' | 'HeadObjectCommand' | 'ListObjectsV2Command' | 'PutObjectCommand'
>;

/**
 * Answers a mocked S3Client's calls from a MemoryObjectStore, the way S3 would (NoSuchKey, 412
 * on a lost conditional create, truncated listings): for smoke tests of entry points that build
 * their own S3ObjectStore, so the test can seed and inspect the objects as plain strings.
 *
 * Calls are matched by command class: a test that loads the entry in `jest.isolateModules` gets
 * its own copy of the SDK and passes that copy's commands as `sdk`.
 */
export function serveS3FromMemory(s3: AwsClientStub<S3Client>, store: MemoryObjectStore, sdk: S3Commands = s3Sdk): void {
  const { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } = sdk;
  const missing = () => new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'The specified key does not exist.' });
  s3.on(GetObjectCommand).callsFake(async (input: { Bucket: string; Key: string; Range?: string }) => {
    const body = await store.get(input.Bucket, input.Key);
    if (body === undefined) throw missing();
    const bytes = Buffer.from(body, 'utf8');
    if (input.Range === undefined) return { Body: sdkStreamMixin(Readable.from([bytes])) };
    // As S3 answers `bytes=0-N`: those bytes and the size in Content-Range; 416 when the object has no byte 0.
    const range = /^bytes=0-(\d+)$/.exec(input.Range);
    if (range === null) throw new Error(`s3-over-memory: Range ${input.Range} is not served`);
    if (bytes.length === 0) {
      throw new S3ServiceException({
        name: 'InvalidRange',
        $fault: 'client',
        $metadata: { httpStatusCode: 416 },
        message: 'The requested range is not satisfiable',
      });
    }
    const part = bytes.subarray(0, Number(range[1]) + 1);
    return { Body: sdkStreamMixin(Readable.from([part])), ContentRange: `bytes 0-${part.length - 1}/${bytes.length}` };
  });
  s3.on(HeadObjectCommand).callsFake(async (input: { Bucket: string; Key: string }) => {
    if ((await store.get(input.Bucket, input.Key)) === undefined)
      throw new NotFound({ $metadata: { httpStatusCode: 404 }, message: 'Not Found' });
    return {};
  });
  s3.on(PutObjectCommand).callsFake(async (input: { Bucket: string; Key: string; Body: unknown; IfNoneMatch?: string }) => {
    try {
      await store.put(input.Bucket, input.Key, await textOf(input.Body), input.IfNoneMatch === '*' ? { ifNoneMatch: '*' } : {});
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw err;
      throw new S3ServiceException({
        name: 'PreconditionFailed',
        $fault: 'client',
        $metadata: { httpStatusCode: 412 },
        message: 'At least one of the pre-conditions you specified did not hold',
      });
    }
    return {};
  });
  s3.on(DeleteObjectCommand).callsFake(async (input: { Bucket: string; Key: string }) => {
    await store.delete(input.Bucket, input.Key);
    return {};
  });
  s3.on(ListObjectsV2Command).callsFake(async (input: { Bucket: string; Prefix?: string; StartAfter?: string; MaxKeys?: number }) => {
    const page = await store.list(input.Bucket, input.Prefix ?? '', { startAfter: input.StartAfter, limit: input.MaxKeys });
    return { Contents: page.keys.map((Key) => ({ Key })), IsTruncated: page.nextStartAfter !== undefined };
  });
}

/** A PutObject body as the SDK is handed it: text, bytes, or a stream (a streamed put), read to the end. */
export async function textOf(body: unknown): Promise<string> {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array | string>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}
