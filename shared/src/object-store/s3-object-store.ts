import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../clock';
import { ObjectExistsError, PermanentError, RetryableError } from '../errors';
import {
  checkHeadBytes,
  countedBody,
  type BodyCount,
  type BodyStream,
  type ListPage,
  type ObjectHead,
  type ObjectStore,
  type PutOptions,
  type PutStreamOptions,
} from './port';

/**
 * The object store on S3 or an S3-compatible server (MinIO, LocalStack). The client is injected;
 * `createS3Client` builds one with the settings non-AWS servers need.
 *
 * Every SDK error leaves this file translated into Baton's hierarchy, `cause` kept:
 * - throttling (SlowDown, 429, 503, Throttling*)        → RetryableError  S3_THROTTLED
 * - other 5xx, timeouts, refused or reset connections   → RetryableError  S3_UNAVAILABLE
 * - AccessDenied and other credential refusals, 403     → PermanentError  S3_ACCESS_DENIED
 * - any other 4xx (NoSuchBucket, InvalidRequest, …)     → PermanentError  S3_REQUEST_REJECTED
 * - a conditional create that lost (412)                → ObjectExistsError
 * - a conditional create still contended (409) after retries, object absent → RetryableError S3_CONFLICT
 * Errors that are not from the SDK or the network (bugs) are rethrown untouched.
 */

export interface S3ClientSettings {
  region?: string;
  /** A non-AWS endpoint (`http://localhost:9000`); turns on the settings such servers need. */
  endpoint?: string;
  /** Defaults to true with a custom endpoint, the SDK's default (virtual-hosted) otherwise. */
  forcePathStyle?: boolean;
}

/** Built once per container, at the edge; cores never see it. */
export function createS3Client(settings: S3ClientSettings = {}): S3Client {
  if (settings.endpoint === undefined) {
    return new S3Client({
      ...(settings.region !== undefined ? { region: settings.region } : {}),
      ...(settings.forcePathStyle !== undefined ? { forcePathStyle: settings.forcePathStyle } : {}),
    });
  }
  return new S3Client({
    // The SDK insists on a region even where the server ignores it.
    region: settings.region ?? 'us-east-1',
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle ?? true,
    // The default flexible checksums send aws-chunked bodies that some servers store verbatim.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * A streamed body of unknown length goes up as a multipart upload in parts of this size (S3's
 * least), one part at a time: memory holds about one part, whatever the body's size. A body
 * shorter than a part is sent as one PutObject.
 */
const STREAM_PART_BYTES = 5 * 1024 * 1024;

export interface S3ObjectStoreOptions {
  /** Extra attempts of a conditional create answered 409 ConditionalRequestConflict. Default 2. */
  conflictRetries?: number;
  /** First wait before such a retry, doubled each time. Default 50 ms. */
  conflictBackoffMs?: number;
  clock?: Clock;
}

export class S3ObjectStore implements ObjectStore {
  private readonly conflictRetries: number;
  private readonly conflictBackoffMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly client: S3Client,
    options: S3ObjectStoreOptions = {},
  ) {
    this.conflictRetries = options.conflictRetries ?? 2;
    this.conflictBackoffMs = options.conflictBackoffMs ?? 50;
    this.clock = options.clock ?? systemClock;
  }

  async get(bucket: string, key: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return out.Body === undefined ? '' : await out.Body.transformToString('utf-8');
    } catch (err) {
      if (isMissingObject(err)) return undefined;
      throw translateS3Error(err, 'GetObject', bucket, key);
    }
  }

  /**
   * One ranged GetObject (`Range: bytes=0-{maxBytes-1}`): S3 sends only those bytes, and the
   * object's size in Content-Range. An empty object has no byte 0 (S3 answers 416 InvalidRange):
   * its head is empty. A server that ignores the range sends the whole body, cut here.
   */
  async getHead(bucket: string, key: string, maxBytes: number): Promise<ObjectHead | undefined> {
    checkHeadBytes(maxBytes);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=0-${maxBytes - 1}` }));
      const bytes = out.Body === undefined ? new Uint8Array() : await out.Body.transformToByteArray();
      const total = /\/(\d+)$/.exec(out.ContentRange ?? '')?.[1];
      return { bytes: bytes.subarray(0, maxBytes), size: total !== undefined ? Number(total) : bytes.byteLength };
    } catch (err) {
      if (isMissingObject(err)) return undefined;
      if (codesOf(err).includes('InvalidRange') || statusOf(err) === 416) return { bytes: new Uint8Array(), size: 0 };
      throw translateS3Error(err, 'GetObject', bucket, key);
    }
  }

  async put(bucket: string, key: string, body: string | Uint8Array, options: PutOptions = {}): Promise<void> {
    const input = {
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: options.contentType ?? (key.endsWith('.json') ? 'application/json' : 'text/plain'),
      ...(options.ifNoneMatch === '*' ? { IfNoneMatch: '*' } : {}),
    };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(new PutObjectCommand(input));
        return;
      } catch (err) {
        if (options.ifNoneMatch !== '*') throw translateS3Error(err, 'PutObject', bucket, key);
        if (isPreconditionFailed(err)) throw new ObjectExistsError(bucket, key);
        if (!isConditionalConflict(err)) throw translateS3Error(err, 'PutObject', bucket, key);
        // Another conditional write to this key was in flight. Usually it completes and a retry
        // answers 412; if it keeps conflicting, the object's presence decides.
        if (attempt < this.conflictRetries) {
          await this.clock.sleep(this.conflictBackoffMs * 2 ** attempt);
          continue;
        }
        if (await this.exists(bucket, key)) throw new ObjectExistsError(bucket, key);
        throw new RetryableError(
          'S3_CONFLICT',
          `S3 PutObject s3://${bucket}/${key}: conditional write still conflicting after ${attempt + 1} attempts`,
          { cause: err },
        );
      }
    }
  }

  /**
   * With `contentLength` (a request's Content-Length) the body streams through one PutObject.
   * Without it, S3 cannot take a stream in one PutObject (it needs the length first): then
   * lib-storage's `Upload` sends it in 5 MiB parts, one at a time, and aborts the multipart upload
   * if the body fails, so nothing is stored. A conditional create (`ifNoneMatch`) holds either way
   * (S3 checks it on PutObject and on CompleteMultipartUpload); a stream cannot be sent twice, so
   * a conflicting (409) conditional create is not retried: the object's presence decides.
   */
  async putStream(bucket: string, key: string, body: BodyStream, options: PutStreamOptions = {}): Promise<{ bytes: number }> {
    const counted: BodyCount = { bytes: 0, failed: false };
    const stream = Readable.from(countedBody(body, { bucket, key }, options, counted), { objectMode: false });
    // A body that fails cuts a PutObject's request off, so the object is never completed
    // (countedBody holds the last bytes back until the body is known good); Upload reads the body
    // itself, sees the failure and aborts its multipart upload before it answers.
    const cutOff = new AbortController();
    stream.on('error', () => cutOff.abort());
    const params = {
      Bucket: bucket,
      Key: key,
      Body: stream,
      ContentType: options.contentType ?? (key.endsWith('.json') ? 'application/json' : 'text/plain'),
      ...(options.ifNoneMatch === '*' ? { IfNoneMatch: '*' } : {}),
    };
    try {
      if (options.contentLength !== undefined) {
        await this.client.send(new PutObjectCommand({ ...params, ContentLength: options.contentLength }), { abortSignal: cutOff.signal });
      } else {
        await new Upload({ client: this.client, params, partSize: STREAM_PART_BYTES, queueSize: 1 }).done();
      }
      return { bytes: counted.bytes };
    } catch (err) {
      stream.destroy();
      if (counted.failed) throw counted.error;
      if (options.ifNoneMatch === '*' && isPreconditionFailed(err)) throw new ObjectExistsError(bucket, key);
      if (options.ifNoneMatch === '*' && isConditionalConflict(err) && (await this.exists(bucket, key))) {
        throw new ObjectExistsError(bucket, key);
      }
      throw translateS3Error(err, 'PutObject', bucket, key);
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      throw translateS3Error(err, 'DeleteObject', bucket, key);
    }
  }

  async list(bucket: string, prefix: string, options: { startAfter?: string; limit?: number } = {}): Promise<ListPage> {
    try {
      const out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          MaxKeys: options.limit ?? 1000,
          ...(options.startAfter !== undefined ? { StartAfter: options.startAfter } : {}),
        }),
      );
      const keys = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
      const last = keys[keys.length - 1];
      return out.IsTruncated === true && last !== undefined ? { keys, nextStartAfter: last } : { keys };
    } catch (err) {
      throw translateS3Error(err, 'ListObjectsV2', bucket, prefix);
    }
  }

  private async exists(bucket: string, key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      if (isMissingObject(err)) return false;
      throw translateS3Error(err, 'HeadObject', bucket, key);
    }
  }
}

// ---- error translation ---------------------------------------------------------------------

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded',
]);
const UNAVAILABLE = new Set([
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'NetworkingError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'CredentialsProviderError',
]);

function shapeOf(err: unknown): SdkErrorShape {
  return typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
}

function statusOf(err: unknown): number | undefined {
  const e = shapeOf(err);
  return e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
}

/** Names an SDK or network error by its S3 code, its Node code or its class, whichever it has. */
function codesOf(err: unknown): string[] {
  const e = shapeOf(err);
  return [e.name, e.Code, e.code].filter((c): c is string => typeof c === 'string');
}

function isMissingObject(err: unknown): boolean {
  const codes = codesOf(err);
  if (codes.includes('NoSuchKey') || codes.includes('NotFound')) return true;
  // A 404 for a missing bucket is a misconfiguration, not an absent object.
  return statusOf(err) === 404 && !codes.includes('NoSuchBucket');
}

function isPreconditionFailed(err: unknown): boolean {
  return codesOf(err).includes('PreconditionFailed') || statusOf(err) === 412;
}

function isConditionalConflict(err: unknown): boolean {
  const codes = codesOf(err);
  return codes.includes('ConditionalRequestConflict') || codes.includes('OperationAborted') || statusOf(err) === 409;
}

/** Maps an SDK error onto Baton's hierarchy; anything that is neither S3's nor the network's is returned as is. */
function translateS3Error(err: unknown, operation: string, bucket: string, key: string): unknown {
  const codes = codesOf(err);
  const status = statusOf(err);
  const fromSdk = status !== undefined || shapeOf(err).$fault !== undefined || shapeOf(err).$metadata !== undefined;
  const what = `S3 ${operation} s3://${bucket}/${key}: ${codes[0] ?? 'error'}${status !== undefined ? ` (${status})` : ''}`;
  const detail = shapeOf(err).message ? ` ${shapeOf(err).message}` : '';
  if (codes.some((c) => THROTTLING.has(c)) || status === 429 || status === 503) {
    return new RetryableError('S3_THROTTLED', `${what}${detail}`, { cause: err });
  }
  if (codes.some((c) => UNAVAILABLE.has(c)) || (status !== undefined && status >= 500)) {
    return new RetryableError('S3_UNAVAILABLE', `${what}${detail}`, { cause: err });
  }
  if (codes.some((c) => ACCESS_DENIED.has(c)) || status === 403) {
    return new PermanentError('S3_ACCESS_DENIED', `${what}${detail}`, { cause: err });
  }
  if (status !== undefined && status >= 400) {
    return new PermanentError('S3_REQUEST_REJECTED', `${what}${detail}`, { cause: err });
  }
  // A service error with no usable status (a proxy's garbled answer): worth another try.
  if (fromSdk) return new RetryableError('S3_UNAVAILABLE', `${what}${detail}`, { cause: err });
  return err;
}
