import { createHash } from 'node:crypto';
import { encodeS3EventKey, type S3Event } from '../schemas';
import type { ObjectStore } from './port';

/** Which puts a listener hears about, as an S3 event notification's filter says. */
export interface ObjectCreatedFilter {
  bucket: string;
  prefix?: string;
  suffix?: string;
}
export type ObjectCreatedListener = (event: S3Event) => void;

/** An embedded store that tells listeners of each put, as S3 event notifications do. */
export interface EventedObjectStore extends ObjectStore {
  /** Subscribe to S3-shaped events; returns the unsubscribe function. */
  onObjectCreated(filter: ObjectCreatedFilter, listener: ObjectCreatedListener): () => void;
}

/**
 * The listeners of an embedded store. After each successful put it emits an S3-shaped
 * `ObjectCreated:Put` event (URL-encoded key) to the listeners whose bucket and prefix/suffix
 * filter match, asynchronously (never inside the put).
 */
export class ObjectCreatedEvents {
  private readonly listeners: { filter: ObjectCreatedFilter; listener: ObjectCreatedListener }[] = [];

  subscribe(filter: ObjectCreatedFilter, listener: ObjectCreatedListener): () => void {
    const entry = { filter, listener };
    this.listeners.push(entry);
    return () => {
      const i = this.listeners.indexOf(entry);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(bucket: string, key: string, body: string | Uint8Array): void {
    if (!this.anyFor(bucket, key)) return;
    this.emitCreated(bucket, key, Buffer.byteLength(body), createHash('md5').update(body).digest('hex'));
  }

  private anyFor(bucket: string, key: string): boolean {
    return this.listeners.some(
      ({ filter }) => filter.bucket === bucket && key.startsWith(filter.prefix ?? '') && key.endsWith(filter.suffix ?? ''),
    );
  }

  /** As `emit`, for a body already gone (a streamed put): its size and MD5 (hex) counted as it passed. */
  emitCreated(bucket: string, key: string, size: number, eTag: string): void {
    const matching = this.listeners.filter(
      ({ filter }) => filter.bucket === bucket && key.startsWith(filter.prefix ?? '') && key.endsWith(filter.suffix ?? ''),
    );
    if (matching.length === 0) return;
    const event: S3Event = {
      Records: [
        {
          eventSource: 'aws:s3',
          eventName: 'ObjectCreated:Put',
          eventTime: new Date().toISOString(),
          s3: {
            bucket: { name: bucket },
            object: {
              key: encodeS3EventKey(key),
              size,
              eTag,
            },
          },
        },
      ],
    };
    for (const { listener } of matching) setImmediate(() => listener(event));
  }
}
