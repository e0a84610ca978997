import { existsSync } from 'node:fs';
import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { S3Event } from '@baton/shared';

export type FunctionName = 'stubber' | 'renderer';

/** What the function thread is told when it starts (function-worker.ts reads it). */
export interface FunctionThreadSetup {
  dataDir: string;
  storeKind: 'lmdb' | 'fs';
  logLevel: string;
  /** The BroadcastChannel on which the thread tells of the stubs it creates. */
  channel: string;
  publicUrl: string;
  unsubscribeSecret: string;
  /** The renderer's backlog (see `RenderBacklog`), shared with the thread. */
  renderBacklog: SharedArrayBuffer;
}

/** One invocation of a function in the thread. */
export interface FunctionTask {
  fn: FunctionName;
  event: unknown;
}

/** How long a stop waits for the thread to commit its store's queued writes before it is ended. */
const CLOSE_STORE_MS = 1_000;

/**
 * The stubber's stubs wait while this many stub events are queued for the renderer: a large
 * audience's stubs are read about ten times faster than they are rendered, and without a bound
 * the renderer's queue held one S3 event per stub (about 1 KB each: 100 MB at 100,000).
 */
export const MAX_RENDER_BACKLOG = 2_000;
/**
 * The thread's young generation (three semi-spaces of 8 MB, against V8's 16 by default): with
 * the conductor's as small, the bench peaked about 10 MB lower at 100,000 recipients (396 MB
 * against 449 in single 20,000 runs), at no CPU that showed (docs/benchmarks.md).
 */
const YOUNG_GENERATION_MB = 24;
/** How often held stub writes look at the backlog again. */
const BACKLOG_POLL_MS = 10;

/**
 * The renderer's backlog, shared between the conductor's thread and the function thread: the stub
 * events the thread has posted that the conductor's thread has not yet received, plus those queued
 * there for the renderer. The function thread's stub writes wait while it is full (`belowMax`):
 * back-pressure from rendering to stubbing across threads. Counted on both sides, so events still
 * in the channel count too: the conductor's thread may be busy and read them late.
 */
export class RenderBacklog {
  private readonly counts: Int32Array;

  constructor(readonly buffer = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT)) {
    this.counts = new Int32Array(buffer);
  }

  /** In the function thread: a stub event was posted. */
  posted(): void {
    Atomics.add(this.counts, POSTED, 1);
  }

  /** In the conductor's thread: a posted stub event came in. */
  received(): void {
    Atomics.add(this.counts, RECEIVED, 1);
  }

  /** In the conductor's thread: how many events wait in the renderer's queue now. */
  setQueued(queued: number): void {
    Atomics.store(this.counts, QUEUED, queued);
  }

  get size(): number {
    return Atomics.load(this.counts, POSTED) - Atomics.load(this.counts, RECEIVED) + Atomics.load(this.counts, QUEUED);
  }

  /** Resolves once the backlog is under `max`. */
  async belowMax(max = MAX_RENDER_BACKLOG): Promise<void> {
    while (this.size >= max) await new Promise((resolve) => setTimeout(resolve, BACKLOG_POLL_MS));
  }
}

const POSTED = 0;
const RECEIVED = 1;
const QUEUED = 2;

/**
 * The Lambda functions of the local composition (the stubber and the renderer) in one worker
 * thread (piscina, one thread, `concurrency` invocations in it at once): parsing a large audience
 * or rendering a busy campaign runs on that thread's event loop, never on the conductor's, so the
 * API, the governor's tick and the lease API go on. One thread, not one per function: each thread
 * is a V8 heap of its own (50–90 MB each in the 20,000-recipient bench), and the stubber reads its
 * audience a chunk at a time, so rendering goes on between its chunks. The thread starts at once,
 * not at the first invocation: loading the renderer and MJML would otherwise delay the first send.
 * `LocalLambda` in front of each function keeps the queueing, retries and dead letters, and the
 * bounded stop.
 */
export class FunctionThread {
  private pool: Piscina | undefined;

  constructor(
    setup: FunctionThreadSetup,
    options: {
      /** Invocations running in the thread at once. */
      concurrency: number;
      /**
       * How much lower than the conductor's its CPU priority is (its nice value): a large parse or a
       * busy render takes only the CPU the conductor leaves.
       */
      niceIncrement?: number;
    },
    workerFile = defaultWorkerFile(),
  ) {
    this.pool = new Piscina({
      filename: workerFile,
      workerData: setup,
      minThreads: 1,
      maxThreads: 1,
      concurrentTasksPerWorker: options.concurrency,
      niceIncrement: options.niceIncrement ?? 0,
      idleTimeout: Number.POSITIVE_INFINITY,
      // As `npm start` sets the conductor's (--max-semi-space-size=8), whoever starts the process.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      // TypeScript in development and tests: the thread loads it through tsx (`npm start` runs the build's .js).
      ...(workerFile.endsWith('.ts') ? { execArgv: ['--import', 'tsx'] } : {}),
    });
  }

  run(fn: FunctionName, event: unknown): Promise<unknown> {
    if (this.pool === undefined) return Promise.reject(new Error(`the function thread is closed: ${fn} not run`));
    const task: FunctionTask = { fn, event };
    return this.pool.run(task) as Promise<unknown>;
  }

  /**
   * Ends the thread: first its store's queued writes are committed (at most CLOSE_STORE_MS), then
   * the thread is terminated, with whatever still runs in it cut short, as a crash would (the
   * conductor re-drives stubbing and rendering after a restart; both are idempotent).
   */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool === undefined) return;
    await pool.run(undefined, { name: 'closeStore', signal: AbortSignal.timeout(CLOSE_STORE_MS) }).catch(() => undefined);
    await pool.destroy();
  }
}

/** Hears the S3-shaped events the function thread sends on `channel` (counted in `backlog`); returns the way to stop. */
export function onThreadObjectCreated(channel: string, backlog: RenderBacklog, listener: (event: S3Event) => void): () => void {
  const created = new BroadcastChannel(channel);
  created.unref();
  created.onmessage = (message) => {
    backlog.received();
    listener((message as { data: S3Event }).data);
  };
  return () => created.close();
}

function defaultWorkerFile(): string {
  const js = path.join(__dirname, 'function-worker.js');
  return existsSync(js) ? js : path.join(__dirname, 'function-worker.ts');
}
