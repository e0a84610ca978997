import { performance } from 'node:perf_hooks';

/**
 * A per-token bound on how fast an audience upload is read (the multipart file part of a create,
 * a raw `text/csv` upload): each chunk is taken from the token's bucket of bytes, refilled at
 * `bytesPerSecond` and holding at most one second of them, and a read that runs ahead of the
 * bucket waits for it. Waiting stops reading the request, so TCP's own flow control slows the
 * sender: the upload succeeds, at the bound. All of a token's uploads share its bucket, so
 * several at once get the bound between them. What it bounds is the conductor's event loop:
 * parsing and storing an upload costs it about 1.5 ms a MB (docs/benchmarks.md), so one token at
 * the default 20 MB/s can take at most about 3% of it, however it sends.
 */

/** A wait shorter than this is carried to the next chunk: one timer per chunk would cost more than it saves. */
const MIN_WAIT_MS = 10;

interface Bucket {
  /** Bytes that may be read now without waiting; negative: owed. */
  level: number;
  at: number;
  /** Uploads of the token being read: its bucket is dropped once none is and it has filled up again. */
  readers: number;
}

export interface UploadRead {
  /** Milliseconds this upload waited for its token's bucket so far. */
  readonly waitedMs: number;
}

export class UploadRate {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly bytesPerSecond: number,
    private readonly clock: { now: () => number; sleep: (ms: number) => Promise<void> } = {
      now: () => performance.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    },
  ) {
    if (!(Number.isInteger(bytesPerSecond) && bytesPerSecond >= 0))
      throw new RangeError(`upload rate must be a whole number of bytes a second, 0 for none (got ${bytesPerSecond})`);
  }

  /** What the bound is, for an answer or a log line. */
  describe(): string {
    return this.bytesPerSecond === 0 ? 'none' : `${this.bytesPerSecond.toLocaleString('en')} bytes a second per API token`;
  }

  /** `chunks` read no faster than the bound allows `who` (a token's digest); `read.waitedMs` says how long it was held. */
  throttle(who: string, chunks: AsyncIterable<Uint8Array>): { chunks: AsyncGenerator<Uint8Array>; read: UploadRead } {
    const read = { waitedMs: 0 };
    return { chunks: this.paced(who, chunks, read), read };
  }

  private async *paced(who: string, chunks: AsyncIterable<Uint8Array>, read: { waitedMs: number }): AsyncGenerator<Uint8Array> {
    if (this.bytesPerSecond === 0) {
      yield* chunks;
      return;
    }
    const bucket = this.bucketOf(who);
    bucket.readers++;
    try {
      for await (const chunk of chunks) {
        this.refill(bucket);
        bucket.level -= chunk.byteLength;
        const waitMs = (-bucket.level * 1000) / this.bytesPerSecond;
        if (waitMs >= MIN_WAIT_MS) {
          const started = this.clock.now();
          await this.clock.sleep(waitMs);
          read.waitedMs += this.clock.now() - started;
        }
        yield chunk;
      }
    } finally {
      bucket.readers--;
    }
  }

  private bucketOf(who: string): Bucket {
    // Kept while it owes: uploads one after another share one second's burst, not one each.
    for (const [name, idle] of this.buckets) {
      if (idle.readers > 0) continue;
      this.refill(idle);
      if (idle.level >= this.bytesPerSecond) this.buckets.delete(name);
    }
    let bucket = this.buckets.get(who);
    if (bucket === undefined) {
      // A first upload may send one second's worth at once.
      bucket = { level: this.bytesPerSecond, at: this.clock.now(), readers: 0 };
      this.buckets.set(who, bucket);
    }
    return bucket;
  }

  private refill(bucket: Bucket): void {
    const now = this.clock.now();
    bucket.level = Math.min(this.bytesPerSecond, bucket.level + ((now - bucket.at) * this.bytesPerSecond) / 1000);
    bucket.at = now;
  }
}
