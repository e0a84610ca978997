import type { Logger } from '@baton/shared';
import { describeError } from '@baton/shared';

export interface LocalLambdaOptions<E = unknown> {
  name: string;
  /** Invocations running at once (Lambda's reserved concurrency). */
  concurrency: number;
  /** Retries after a failed asynchronous invocation (Lambda's default is 2; workers use 0). */
  retryAttempts: number;
  retryDelayMs?: number;
  logger: Logger;
  /** Told the number of events waiting (not yet running) whenever it changes: a producer may hold back. */
  onQueued?: (queued: number) => void;
  /** The order queued invocations start in; first come, first served by default. */
  queue?: InvocationQueue<Invocation<E>>;
}

/** One queued invocation: its event and how many times it has been tried. */
export interface Invocation<E> {
  event: E;
  attempt: number;
}

/** Where invocations wait for a slot, and the order they leave in (`FairQueue` is one). */
export interface InvocationQueue<T> {
  readonly length: number;
  push(item: T): void;
  /**
   * The next to start, or undefined if none may start now; `finished` is called when it has
   * ended, with what the handler answered (nothing when it threw).
   */
  take(): { item: T; finished: (answer?: unknown) => void } | undefined;
  /** Drops everything waiting; returns it. */
  clear(): T[];
}

/** First come, first served. */
export class FifoQueue<T> implements InvocationQueue<T> {
  private readonly items: T[] = [];
  get length(): number {
    return this.items.length;
  }
  push(item: T): void {
    this.items.push(item);
  }
  take(): { item: T; finished: () => void } | undefined {
    return this.items.length === 0 ? undefined : { item: this.items.shift()!, finished: () => undefined };
  }
  clear(): T[] {
    return this.items.splice(0);
  }
}

/**
 * An in-process stand-in for an asynchronously invoked Lambda function: invocations queue,
 * run with bounded concurrency, are retried on failure, and land in a dead-letter list when
 * retries run out — so handlers here meet the same at-least-once, unordered delivery as on AWS.
 */
export class LocalLambda<E> {
  readonly deadLetters: { event: E; error: string }[] = [];
  private readonly queue: InvocationQueue<Invocation<E>>;
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly handler: (event: E) => Promise<unknown>,
    private readonly options: LocalLambdaOptions<E>,
  ) {
    this.queue = options.queue ?? new FifoQueue();
  }

  /** Accepts the event (like an `Event` invoke) and returns at once; after `drain`, drops it. */
  invoke(event: E): void {
    if (this.closed) {
      this.options.logger.warn({ event: 'lambda.dropped', function: this.options.name }, 'stopping: event not run');
      return;
    }
    this.queue.push({ event, attempt: 0 });
    this.pump();
    this.options.onQueued?.(this.queue.length);
  }

  /**
   * For a bounded stop: run nothing new (queued and later events are dropped, as a crash would
   * lose them; the conductor re-drives that work after a restart) and wait at most `timeoutMs`
   * for what is running. Resolves with how many were dropped and whether any was still running.
   */
  async drain(timeoutMs: number): Promise<{ dropped: number; stillRunning: boolean }> {
    this.closed = true;
    const dropped = this.queue.clear().length;
    this.options.onQueued?.(0);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([this.idle().then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    return { dropped, stillRunning: outcome === 'timeout' };
  }

  /** Invocations running now (a retry waiting out its delay counts as running). */
  get runningNow(): number {
    return this.running;
  }

  /** Starts what the queue lets start now: for a queue whose order changes with time, not only with events. */
  poke(): void {
    this.pump();
  }

  /** Events waiting for a slot (not counting those running). */
  get queued(): number {
    return this.queue.length;
  }

  get busy(): boolean {
    return this.running > 0 || this.queue.length > 0;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    return this.busy ? new Promise((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
  }

  private pump(): void {
    const before = this.queue.length;
    this.startQueued();
    if (this.queue.length !== before) this.options.onQueued?.(this.queue.length);
  }

  private startQueued(): void {
    while (this.running < this.options.concurrency) {
      const next = this.queue.take();
      if (next === undefined) return;
      const { item, finished } = next;
      this.running++;
      this.handler(item.event)
        .then(
          (answer) => finished(answer),
          (err) => {
            finished();
            throw err;
          },
        )
        .catch((err) => this.failed(item, err))
        .finally(() => {
          this.running--;
          this.pump();
          if (!this.busy) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  private failed(item: Invocation<E>, err: unknown): void {
    const { name, logger, retryAttempts, retryDelayMs = 200 } = this.options;
    if (item.attempt < retryAttempts && !this.closed) {
      logger.warn({ event: 'lambda.retry', function: name, attempt: item.attempt + 1, err }, 'invocation failed; retrying');
      this.running++; // hold the slot's "busy" state across the delay so idle() waits for the retry
      setTimeout(
        () => {
          this.running--;
          this.queue.push({ event: item.event, attempt: item.attempt + 1 });
          this.pump();
          // Told even when it could not start yet (a fair queue may hold it): it waits like any other.
          this.options.onQueued?.(this.queue.length);
        },
        retryDelayMs * 2 ** item.attempt,
      );
      return;
    }
    this.deadLetters.push({ event: item.event, error: describeError(err) });
    logger.error({ event: 'lambda.dead_letter', function: name, err }, 'invocation failed after retries');
  }
}
