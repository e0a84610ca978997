import { existsSync } from 'node:fs';
import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { S3Event } from '@baton/shared';

/** What a function thread is told when it starts (function-worker.ts reads it). */
export interface FunctionThreadSetup {
  fn: 'stubber' | 'renderer';
  dataDir: string;
  storeKind: 'lmdb' | 'fs';
  logLevel: string;
  /** The BroadcastChannel on which the thread tells of the stubs it creates. */
  channel: string;
  publicUrl: string;
  unsubscribeSecret: string;
}

/** How long a stop waits for a thread to commit its store's queued writes before it is ended. */
const CLOSE_STORE_MS = 1_000;

/**
 * One Lambda function of the local composition (the stubber or the renderer) in a worker thread
 * of its own (piscina, one thread, `concurrency` invocations in it at once), as on AWS each is a
 * separate function: parsing a large audience or rendering a busy campaign runs on that thread's
 * event loop, never on the conductor's, so the API, the governor's tick and the lease API go on.
 * The thread starts with the first invocation. `LocalLambda` in front of it keeps the queueing,
 * retries and dead letters, and the bounded stop.
 */
export class FunctionThread {
  private pool: Piscina | undefined;

  constructor(
    private readonly setup: FunctionThreadSetup,
    private readonly options: {
      /** Invocations running in the thread at once. */
      concurrency: number;
      /**
       * How much lower than the conductor's its CPU priority is (its nice value): the stubber's
       * parse of a large audience takes only the CPU the conductor and the renderer leave.
       */
      niceIncrement?: number;
    },
    private readonly workerFile = defaultWorkerFile(),
  ) {}

  run(event: unknown): Promise<void> {
    this.pool ??= new Piscina({
      filename: this.workerFile,
      workerData: this.setup,
      minThreads: 1,
      maxThreads: 1,
      concurrentTasksPerWorker: this.options.concurrency,
      niceIncrement: this.options.niceIncrement ?? 0,
      idleTimeout: Number.POSITIVE_INFINITY,
      // TypeScript in development and tests: the thread loads it through tsx, as `npm start` does.
      ...(this.workerFile.endsWith('.ts') ? { execArgv: ['--import', 'tsx'] } : {}),
    });
    return this.pool.run(event) as Promise<void>;
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

/** Hears the S3-shaped events function threads send on `channel`; returns the way to stop. */
export function onThreadObjectCreated(channel: string, listener: (event: S3Event) => void): () => void {
  const created = new BroadcastChannel(channel);
  created.unref();
  created.onmessage = (message) => listener((message as { data: S3Event }).data);
  return () => created.close();
}

function defaultWorkerFile(): string {
  const js = path.join(__dirname, 'function-worker.js');
  return existsSync(js) ? js : path.join(__dirname, 'function-worker.ts');
}
