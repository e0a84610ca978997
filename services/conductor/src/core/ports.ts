import type { RenderedMessage, WorkerInvocation } from '@baton/shared';
import type {
  AudienceRecipient,
  DraftAudience,
  DraftCheck,
  DraftPreview,
  DraftTemplate,
  RecipientData,
  RenderSettings,
  TemplateInput,
} from '@baton/templating';
import type { FirstRecipient } from './render-tasks';

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
  /** Every problem of a draft being edited, as data (see `checkDraft` in @baton/templating). */
  checkDraft(template: DraftTemplate, audience?: DraftAudience): Promise<DraftCheck>;
  /** A draft rendered for one data row of its audience (a ValidationError when the template or the row will not do). */
  previewDraft(template: DraftTemplate, audience: DraftAudience | undefined, row: number, settings: RenderSettings): Promise<DraftPreview>;
  /** Data row `row` (1-based) of an audience's text, when it is sent; a ValidationError naming `row` otherwise. */
  audienceRow(audience: DraftAudience, row: number): Promise<AudienceRecipient>;
  close(): Promise<void>;
}
