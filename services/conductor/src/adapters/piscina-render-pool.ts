import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import { PermanentError, RetryableError, ValidationError, type Logger } from '@baton/shared';
import type { RenderPool } from '../core/ports';
import { COMPILING_TASKS, renderPoolOver, type RenderTask, type RenderTaskResult } from '../core/render-tasks';
import { cpuUsedMs, newMeter, type MeteredTask } from './render-meter';

export interface RenderPoolOptions {
  /**
   * Worker threads (default: 1 on up to 2 cores, else 2). A render thread spins a core for
   * seconds on a hostile template: on 2 vCPUs a second one would starve the event loop of CPU.
   */
  threads?: number;
  /** Tasks waiting for a thread beyond those running; one more is refused at once (default 16). */
  maxQueue?: number;
  /**
   * A template check (or a draft's check or preview) that uses more CPU than this is stopped (its
   * thread terminated) and refused as too complex (default 10 s). CPU, not time: on a busy machine
   * a thread at a lower priority waits, and the wait is not the template's doing. Where a thread's
   * CPU cannot be read (no Linux `/proc`), the time from hand-in counts instead.
   */
  checkTimeoutMs?: number;
  /** A render or audience task that uses more CPU than this is stopped likewise (default 5 s: three parts at Liquid's 1 s each, and the compile). */
  renderTimeoutMs?: number;
  /**
   * A task still unanswered this long after hand-in, though under its CPU limit (it waited for a
   * thread, or the machine gave its thread little CPU), is stopped and refused as busy, retryable
   * (default: WAIT_FACTOR times its CPU limit): an answer later than that is no use to a request.
   */
  waitLimitMs?: number;
  /** Heap per thread (default 256 MB): a template that tries to use more fails alone. */
  maxHeapMb?: number;
  /**
   * How much lower than the conductor's own the render threads' CPU priority is (their nice value,
   * default 10): on a busy machine a hostile template's check or preview then takes the CPU the
   * event loop leaves, instead of half of it (piscina sets it through the optional @napi-rs/nice;
   * where that cannot be loaded the threads keep the process's priority, and the pool says so once
   * in the log: `render_pool.priority_unchanged`).
   */
  niceIncrement?: number;
  /** How long a thread waits for another task before it ends (default IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  /** Where the pool says that it could not lower its threads' priority. */
  logger?: Logger;
  /** The worker's file; found next to this one by default (the .js in the bundle, the .ts in development). */
  workerFile?: string;
}

/**
 * A render thread ends once it has had no task for this long: a marketer editing a draft gets
 * its checks from a warm thread, and a conductor that only sends holds none (a render thread
 * that has checked a template held about 64 MB, docs/benchmarks.md). Starting one again costs
 * about a third of a second (its code and MJML loaded, on the first check after it).
 */
export const IDLE_TIMEOUT_MS = 10_000;
/** A task may take this many times its CPU limit from hand-in to answer (see `waitLimitMs`). */
export const WAIT_FACTOR = 6;
/** How often the CPU of a running task is read (a read of its thread's `/proc` entry). */
const METER_POLL_MS = 100;
/** Each thread's young generation (three semi-spaces of 8 MB, as the conductor's and the function thread's). */
const YOUNG_GENERATION_MB = 24;

/**
 * The render pool on worker threads (piscina): template checks, previews and audience parsing
 * run beside the conductor's event loop, never on it, each within a time limit after which its
 * thread is terminated (a runaway template cannot hold a thread), with a bounded queue.
 */
export function createPiscinaRenderPool(options: RenderPoolOptions = {}): RenderPool {
  const filename = options.workerFile ?? defaultWorkerFile();
  const threads = options.threads ?? (availableParallelism() <= 2 ? 1 : 2);
  const maxQueue = options.maxQueue ?? 16;
  // Threads start with the first task, so a service built and never started holds none.
  let pool: Piscina | undefined;
  const niceIncrement = options.niceIncrement ?? 10;
  const started = (): Piscina => {
    if (pool === undefined && niceIncrement > 0 && !canLowerPriority()) {
      options.logger?.warn(
        { event: 'render_pool.priority_unchanged', niceIncrement },
        "the render threads run at the conductor's CPU priority: @napi-rs/nice (which lowers it) cannot be loaded here",
      );
    }
    return (pool ??= new Piscina({
      filename,
      // No thread kept while no task comes: each holds a V8 heap of its own with the templating
      // code loaded, MJML's once it has compiled (docs/benchmarks.md, "Fourth pass: the floor").
      minThreads: 0,
      maxThreads: threads,
      maxQueue,
      idleTimeout: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
      resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb ?? 256, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      niceIncrement,
      // TypeScript in development and tests: the thread loads it through tsx (`npm start` runs the build's .js).
      ...(filename.endsWith('.ts') ? { execArgv: ['--import', 'tsx'] } : {}),
    }));
  };
  const checkMs = options.checkTimeoutMs ?? 10_000;
  const renderMs = options.renderTimeoutMs ?? 5_000;

  // Piscina gets a task only when a thread is free for it: with no thread kept (minThreads 0), a
  // task left in piscina's queue when it terminated a stopped task's thread was never started.
  // The slots also bound the tasks handed in and not yet answered (running or waiting).
  const slots = new Slots(threads);
  const runTask = async (task: RenderTask): Promise<RenderTaskResult> => {
    if (slots.inUse >= threads + maxQueue) throw busy(threads + maxQueue);
    const limitMs = COMPILING_TASKS.has(task.kind) ? checkMs : renderMs;
    const waitMs = options.waitLimitMs ?? WAIT_FACTOR * limitMs;
    const meter = newMeter();
    const stop = new AbortController();
    let stopped: Stopped | undefined;
    const stopFor = (why: Stopped) => {
      stopped ??= why;
      stop.abort();
    };
    let startedWithoutClock: number | undefined;
    const watch = setInterval(
      () => {
        const used = cpuUsedMs(meter);
        // Where threads have no CPU clock, the time since the task started stands in for it.
        if (used === 'no-clock') startedWithoutClock ??= Date.now();
        const spent = used === 'no-clock' ? Date.now() - startedWithoutClock! : used;
        if (spent !== undefined && spent >= limitMs) stopFor('cpu');
      },
      Math.min(METER_POLL_MS, limitMs),
    );
    const giveUp = setTimeout(() => stopFor('wait'), waitMs);
    let release: (() => void) | undefined;
    try {
      release = await slots.take(stop.signal);
      const metered: MeteredTask = { task, meter };
      return (await started().run(metered, { signal: stop.signal })) as RenderTaskResult;
    } catch (err) {
      throw translate(err, task, stopped, stopped === 'wait' ? waitMs : limitMs, threads + maxQueue);
    } finally {
      release?.();
      clearInterval(watch);
      clearTimeout(giveUp);
    }
  };
  return renderPoolOver(runTask, async () => {
    const running = pool;
    pool = undefined;
    await running?.destroy();
  });
}

function busy(limit: number, cause?: unknown): RetryableError {
  return new RetryableError(
    'RENDER_BUSY',
    `the render pool is busy (${limit} template tasks under way, the most it takes); try again shortly`,
    {
      retryAfterMs: 2_000,
      cause,
    },
  );
}

/** First come, first served: `count` slots, each taken until its release is called. */
export class Slots {
  private readonly waiting: Array<() => void> = [];
  private free: number;

  constructor(private readonly count: number) {
    this.free = count;
  }

  /** Slots taken and takers waiting for one. */
  get inUse(): number {
    return this.count - this.free + this.waiting.length;
  }

  /** Resolves with the slot's release once one is free; rejects (an `AbortError`) if `signal` aborts first. */
  take(signal: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const granted = () => {
        signal.removeEventListener('abort', aborted);
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          const next = this.waiting.shift();
          if (next === undefined) this.free++;
          else next();
        });
      };
      const aborted = () => {
        const at = this.waiting.indexOf(granted);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(Object.assign(new Error('the task was stopped before a thread was free for it'), { name: 'AbortError' }));
      };
      if (signal.aborted) return aborted();
      if (this.free > 0) {
        this.free--;
        return granted();
      }
      this.waiting.push(granted);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }
}

/** Why the pool stopped a task: it used its CPU limit, or it waited too long for an answer. */
type Stopped = 'cpu' | 'wait';

function translate(err: unknown, task: RenderTask, stopped: Stopped | undefined, ms: number, limit: number): Error {
  const message = err instanceof Error ? err.message : String(err);
  const aborted = err instanceof Error && err.name === 'AbortError';
  if (aborted && stopped === 'cpu') {
    const seconds = `${ms / 1000} s`;
    if (COMPILING_TASKS.has(task.kind)) {
      return new ValidationError('TEMPLATE_INVALID', [
        { where: 'mjml', message: `checking the template did not finish within ${seconds} of CPU and was stopped; simplify it` },
      ]);
    }
    if (task.kind === 'render') {
      return new PermanentError(
        'RENDER_TIMEOUT',
        `rendering did not finish within ${seconds} of CPU and was stopped; simplify the template's loops`,
      );
    }
    return new ValidationError('AUDIENCE_INVALID', [
      { where: 'audience', message: `reading it did not finish within ${seconds} of CPU and was stopped` },
    ]);
  }
  if (aborted) {
    // Stopped for its wait, or by the pool closing: nothing says the task itself was at fault.
    const why =
      stopped === 'wait'
        ? `could not finish the ${task.kind} task within ${ms / 1000} s, though it had not used its CPU limit (it waited for a thread, or the machine gave it little CPU)`
        : `stopped the ${task.kind} task before it finished (${message})`;
    return new RetryableError('RENDER_BUSY', `the render pool ${why}; try again shortly`, { retryAfterMs: 5_000, cause: err });
  }
  if ((err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
    return new PermanentError('RENDER_TOO_LARGE', `the ${task.kind} task needed more memory than a render thread has, and was stopped`);
  }
  if (message === 'Task queue is at limit') return busy(limit, err);
  return err instanceof Error ? err : new Error(message);
}

/**
 * Whether piscina's thread will find @napi-rs/nice: it loads it the same way (beside its
 * worker.js, which the bundle puts beside this file) and carries on silently when it cannot.
 */
function canLowerPriority(): boolean {
  try {
    createRequire(__filename)('@napi-rs/nice');
    return true;
  } catch {
    return false;
  }
}

function defaultWorkerFile(): string {
  const js = path.join(__dirname, 'render-worker.js');
  return existsSync(js) ? js : path.join(__dirname, 'render-worker.ts');
}
