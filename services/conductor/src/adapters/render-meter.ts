import { threadCpuMs } from '@baton/shared';
import type { RenderTask } from '../core/render-tasks';

/**
 * What the pool hands a render thread: the task, and a meter the thread fills in when the task
 * starts (its thread id, then its CPU clock in ms at that moment), so that the pool, whose event
 * loop stays free, can read how much CPU the task has used so far.
 */
export interface MeteredTask {
  task: RenderTask;
  meter: Int32Array;
}

/** Written instead of a thread id where the thread's CPU cannot be read (no `/proc`). */
export const NO_THREAD_CPU = -1;

export function newMeter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(8));
}

/**
 * The CPU the task has used since it started, in ms; `undefined` while it waits for a thread or
 * when its thread's clock could not be read this time, `'no-clock'` where threads have none
 * (the worker found no `/proc`).
 */
export function cpuUsedMs(meter: Int32Array): number | undefined | 'no-clock' {
  const tid = Atomics.load(meter, 0);
  if (tid === 0) return undefined;
  if (tid === NO_THREAD_CPU) return 'no-clock';
  const now = threadCpuMs(tid);
  // Both in 32 bits, so a thread's clock past 2^31 ms wraps alike on both sides.
  return now === undefined ? undefined : ((now | 0) - Atomics.load(meter, 1)) | 0;
}
