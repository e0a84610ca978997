import { parseWith, workerInvocation } from '@baton/shared';
import { runWorker, type WorkerDeps, type WorkerSummary } from '../core/run-worker';

/** The slice of the Lambda context the handler reads. */
export interface InvocationContext {
  getRemainingTimeInMillis?(): number;
}

/** Time kept back from Lambda's own limit so the last check-in gets out before the runtime stops. */
export const LAMBDA_RESERVE_MS = 3_000;

export type WorkerHandlerDeps = Omit<WorkerDeps, 'workerStartedAt'>;

/**
 * The worker Lambda: validates the invocation (`{ lease }`) and sends it. Build once per
 * container; each invocation's time budget starts when it does and never outlasts the
 * function's own timeout.
 */
export function createWorkerHandler(deps: WorkerHandlerDeps): (event: unknown, context?: InvocationContext) => Promise<WorkerSummary> {
  return async (event: unknown, context?: InvocationContext): Promise<WorkerSummary> => {
    const invocation = parseWith(workerInvocation, event, 'EVENT_INVALID', 'event');
    const remaining = context?.getRemainingTimeInMillis?.();
    const timeBudgetMs =
      remaining === undefined ? deps.timeBudgetMs : Math.max(1, Math.min(deps.timeBudgetMs, remaining - LAMBDA_RESERVE_MS));
    return runWorker({ ...deps, timeBudgetMs, workerStartedAt: deps.clock.now() }, invocation);
  };
}
