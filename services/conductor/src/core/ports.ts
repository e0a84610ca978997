import type { WorkerInvocation } from '@baton/shared';

/**
 * Starts a worker with its first lease. Fire and forget: it resolves once the invocation is
 * accepted (Lambda `Event` invoke, or an in-process call), not when the worker finishes; the
 * worker reports through the lease API.
 */
export interface WorkerInvoker {
  invoke(invocation: WorkerInvocation): Promise<void>;
}

/** Hooks for metrics; the HTTP layer backs them with prom-client. */
export interface ConductorMetrics {
  leaseIssued(permits: number): void;
  outcome(status: string): void;
  retry(reason: 'provider' | 'unattempted' | 'expired'): void;
}

export const noMetrics: ConductorMetrics = { leaseIssued: () => {}, outcome: () => {}, retry: () => {} };
