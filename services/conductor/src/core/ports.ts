import type { RenderedMessage, WorkerInvocation } from '@baton/shared';
import type { RecipientData, RenderSettings, TemplateInput } from '@baton/templating';
import type { FirstRecipient } from './render-tasks';

/**
 * Starts a worker with its first lease. Fire and forget: it resolves once the invocation is
 * accepted (Lambda `Event` invoke, or an in-process call), not when the worker finishes; the
 * worker reports through the lease API.
 */
export interface WorkerInvoker {
  invoke(invocation: WorkerInvocation): Promise<void>;
  /**
   * How long a worker takes to start after it is invoked: a new worker's first slices wait for
   * it. Default 400 ms, about a Lambda cold start; a worker in this process starts at once.
   */
  readonly startLeadMs?: number;
}

/** Hooks for metrics; the HTTP layer backs them with prom-client. */
export interface ConductorMetrics {
  leaseIssued(permits: number): void;
  outcome(status: string): void;
  retry(reason: 'provider' | 'unattempted' | 'expired'): void;
}

export const noMetrics: ConductorMetrics = { leaseIssued: () => {}, outcome: () => {}, retry: () => {} };

/**
 * Where templates are checked and rendered and audiences parsed: CPU-heavy work on input a
 * customer wrote, kept off the conductor's event loop (a thread pool in the service, with a time
 * limit per task). Errors come back as the same classes the templating package throws.
 */
export interface RenderPool {
  /** The template's warnings (allowed but unwise) when it compiles; otherwise a ValidationError listing its problems. */
  checkTemplate(template: TemplateInput): Promise<{ warnings: string[] }>;
  /** The campaign's message for one recipient (a PermanentError when it cannot be rendered). */
  render(template: TemplateInput, recipient: RecipientData, settings: RenderSettings): Promise<RenderedMessage>;
  /** Resolves when an audience's head has a usable header (an email column); otherwise a ValidationError. */
  checkAudienceHead(head: string, customerId: string): Promise<void>;
  /** The first valid recipient of a CSV text, and how many valid rows it held. */
  firstRecipient(csv: string, customerId: string): Promise<FirstRecipient>;
  close(): Promise<void>;
}
