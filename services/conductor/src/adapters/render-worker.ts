/**
 * The render pool's worker thread: one task at a time, in its own event loop and heap (see
 * piscina-render-pool.ts). A second entry point of the conductor's bundle (render-worker.js).
 */
import { ownThreadId, threadCpuMs } from '@baton/shared';
import { createRenderTaskRunner, type RenderTaskResult } from '../core/render-tasks';
import { NO_THREAD_CPU, type MeteredTask } from './render-meter';

const runTask = createRenderTaskRunner();
const tid = ownThreadId();

export default function renderWorker({ task, meter }: MeteredTask): Promise<RenderTaskResult> {
  // Which thread runs the task and its CPU clock at the start, for the pool to hold it to its limit.
  const startMs = tid === undefined ? undefined : threadCpuMs(tid);
  if (tid === undefined || startMs === undefined) {
    Atomics.store(meter, 0, NO_THREAD_CPU);
  } else {
    Atomics.store(meter, 1, startMs | 0);
    Atomics.store(meter, 0, tid);
  }
  return runTask(task);
}
