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

  constructor(
    private readonly handler: (event: E) => Promise<unknown>,
    private readonly options: LocalLambdaOptions,
  ) {}

  /** Accepts the event (like an `Event` invoke) and returns at once. */
  invoke(event: E): void {
    this.queue.push({ event, attempt: 0 });
    this.pump();
  }

  get busy(): boolean {
    return this.running > 0 || this.queue.length > 0;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    return this.busy ? new Promise((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
  }

  private pump(): void {
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
    if (item.attempt < retryAttempts) {
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
