import type { Logger } from '@baton/shared';
import { describeError } from '@baton/shared';

export interface LocalLambdaOptions {
  name: string;
  /** Invocations running at once (Lambda's reserved concurrency). */
  concurrency: number;
  /** Retries after a failed asynchronous invocation (Lambda's default is 2; workers use 0). */
  retryAttempts: number;
  retryDelayMs?: number;
  logger: Logger;
  /** Told the number of events waiting (not yet running) whenever it changes: a producer may hold back. */
  onQueued?: (queued: number) => void;
}

/**
 * An in-process stand-in for an asynchronously invoked Lambda function: invocations queue,
 * run with bounded concurrency, are retried on failure, and land in a dead-letter list when
 * retries run out — so handlers here meet the same at-least-once, unordered delivery as on AWS.
 */
export class LocalLambda<E> {
  readonly deadLetters: { event: E; error: string }[] = [];
  private readonly queue: { event: E; attempt: number }[] = [];
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly handler: (event: E) => Promise<unknown>,
    private readonly options: LocalLambdaOptions,
  ) {}

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
    const dropped = this.queue.splice(0).length;
    this.options.onQueued?.(0);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([this.idle().then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    return { dropped, stillRunning: outcome === 'timeout' };
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
    while (this.running < this.options.concurrency && this.queue.length > 0) {
      const item = this.queue.shift()!;
      this.running++;
      this.handler(item.event)
        .catch((err) => this.failed(item, err))
        .finally(() => {
          this.running--;
          this.pump();
          if (!this.busy) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  private failed(item: { event: E; attempt: number }, err: unknown): void {
    const { name, logger, retryAttempts, retryDelayMs = 200 } = this.options;
    if (item.attempt < retryAttempts && !this.closed) {
      logger.warn({ event: 'lambda.retry', function: name, attempt: item.attempt + 1, err }, 'invocation failed; retrying');
      this.running++; // hold the slot's "busy" state across the delay so idle() waits for the retry
      setTimeout(
        () => {
          this.running--;
          this.queue.push({ event: item.event, attempt: item.attempt + 1 });
          this.pump();
        },
        retryDelayMs * 2 ** item.attempt,
      );
      return;
    }
    this.deadLetters.push({ event: item.event, error: describeError(err) });
    logger.error({ event: 'lambda.dead_letter', function: name, err }, 'invocation failed after retries');
  }
}
