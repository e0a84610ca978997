import { z } from 'zod';
import { ValidationError } from './errors';

/**
 * The recipient list's contract, shared by the conductor (which builds it) and the CLI (which
 * reads it). Every recipient of an audience is in exactly one of these at every moment:
 * - while sending: `queued` (waiting, rendered or not yet), `inFlight` (leased to a worker),
 *   `retrying` (the provider pushed back; `at` is when it is tried again);
 * - at the end: `sent`, `failed`, `invalid`, `duplicate`, `suppressed`, `inDoubt`, `cancelled`,
 *   `notAccepted` (was in doubt; the provider has no record of it after the settle time).
 */
export const RECIPIENT_STATUSES = [
  'queued',
  'inFlight',
  'retrying',
  'sent',
  'failed',
  'invalid',
  'duplicate',
  'suppressed',
  'inDoubt',
  'cancelled',
  'notAccepted',
] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

/** `in-doubt`, `in_doubt`, `INDOUBT` and `inDoubt` all name the same status (the CLI writes kebab-case). */
export function parseRecipientStatus(value: string, where = 'status'): RecipientStatus {
  const squashed = value.replace(/[-_\s]/g, '').toLowerCase();
  const found = RECIPIENT_STATUSES.find((s) => s.toLowerCase() === squashed);
  if (!found)
    throw new ValidationError('STATUS_INVALID', [
      { where, message: `must be one of ${RECIPIENT_STATUSES.join(', ')} (got ${JSON.stringify(value.slice(0, 40))})` },
    ]);
  return found;
}

export const recipientRow = z.object({
  /** The address as the audience gave it; `null` for an invalid row whose report line has none. */
  email: z.string().nullable(),
  status: z.enum(RECIPIENT_STATUSES),
  reason: z.string().nullable(),
  /** ISO time of the outcome, or of the next attempt for `retrying`; `null` while queued or in flight. */
  at: z.string().nullable(),
  providerMessageId: z.string().nullable(),
  /** The provider's delivery report (webhooks), when there is one. */
  delivery: z.unknown().nullable(),
});
export type RecipientRow = z.infer<typeof recipientRow>;

export const recipientsPage = z.object({
  recipients: z.array(recipientRow),
  /** Pass back as `cursor` for the next page; `null` on the last page. */
  next: z.string().nullable(),
});
export type RecipientsPage = z.infer<typeof recipientsPage>;

/** The CSV's columns, in order (`delivery` as JSON). */
export const RECIPIENT_CSV_COLUMNS = ['email', 'status', 'reason', 'at', 'providerMessageId', 'delivery'] as const;

/** What `POST /api/campaigns/:id/retry` and `/resend` answer. */
export interface RequeueReport {
  /** Recipients put back in the queue. */
  requeued: number;
  /** Recipients that matched but were left alone, with why (a claim that may mean it was sent, a record changed meanwhile). */
  skipped: { recipientId: string; reason: string }[];
}
