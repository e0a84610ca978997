import type { RenderedMessage, WorkerInvocation } from '@baton/shared';

/**
 * Starts a worker with its first lease. Fire and forget: it resolves once the invocation is
 * accepted (Lambda `Event` invoke, or an in-process call), not when the worker finishes; the
 * worker reports through the lease API.
 */
export interface WorkerInvoker {
  invoke(invocation: WorkerInvocation): Promise<void>;
}

/**
 * Sends one rendered message right away: the marketer's "send a test to myself". Through the
 * campaign's sending domain: that domain's governor gave the permit.
 */
export interface TestSender {
  send(message: RenderedMessage, options: { domain: string }): Promise<{ providerId: string }>;
}

/** Hooks for metrics; the HTTP layer backs them with prom-client. */
export interface ConductorMetrics {
  leaseIssued(permits: number): void;
  outcome(status: string): void;
  retry(reason: 'provider' | 'unattempted' | 'expired'): void;
}

export const noMetrics: ConductorMetrics = { leaseIssued: () => {}, outcome: () => {}, retry: () => {} };
