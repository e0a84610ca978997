/**
 * The render pool's worker thread: one task at a time, in its own event loop and heap (see
 * piscina-render-pool.ts). A second entry point of the conductor's bundle (render-worker.js).
 */
import { createRenderTaskRunner, type RenderTask, type RenderTaskResult } from '../core/render-tasks';

const runTask = createRenderTaskRunner();

export default function renderWorker(task: RenderTask): Promise<RenderTaskResult> {
  return runTask(task);
}
