import {
  assertCampaignId,
  assertCustomerId,
  assertRecipientId,
  recipientIdFor,
  type CampaignRef,
  type DeliveryEvent,
  type Ledger,
  type Logger,
  type SuppressionReason,
} from '@baton/shared';
import { normaliseAddress } from '@baton/templating';

/**
 * What the provider reported about one message it had accepted, in Baton's words (the HTTP
 * edge translates Mailgun's webhook into this). Ids are the `v:` variables Baton set on send.
 */
export interface ProviderEvent {
  kind: DeliveryEvent;
  customerId: string;
  /** Absent on mail Baton did not send as part of a campaign. */
  campaignId?: string;
  /** `v:recipient-id`; derived from the address when absent. */
  recipientId?: string;
  /** The address the provider reports. */
  email: string;
  /** When it happened, ISO. */
  at: string;
  providerMessageId?: string;
  providerEventId?: string;
  reason?: string;
  /** A test send (`v:test`): it suppresses like any mail, but is no campaign recipient. */
  test: boolean;
}

export interface FeedbackResult {
  /** Whether this event was new for the recipient's delivery (false for a repeat). */
  recorded: boolean;
  /** The suppression this event wrote, if it wrote one (not when one was already there). */
  suppressed?: SuppressionReason;
}

/** Hooks for `/metrics`: each event counted once, however often the provider posts it. */
export interface FeedbackMetrics {
  event(kind: DeliveryEvent): void;
  suppressed(reason: SuppressionReason): void;
}

/** What a campaign view shows of the provider's feedback. */
export interface ComplaintTally {
  complained: number;
  /** False while the recorded complaints are still being counted (after a restart). */
  complete: boolean;
}

export interface FeedbackDeps {
  ledger: Ledger;
  logger: Logger;
  metrics?: FeedbackMetrics;
}

/** Which events suppress the address for the customer, and as what. */
const SUPPRESSES: Partial<Record<DeliveryEvent, SuppressionReason>> = {
  bounced: 'bounced',
  complained: 'complained',
  unsubscribed: 'unsubscribed',
};

/**
 * Records the provider's feedback: the event in the recipient's delivery (idempotent: the first
 * of each kind stands), and for a hard bounce, a complaint or an unsubscribe, a suppression of
 * the address for every campaign of the customer (the first suppression stands). Workers and
 * test sends check suppressions before every call, so it takes effect at once.
 */
export class Feedback {
  /** By `customer/campaign` (`tallyKey`). */
  private readonly complaints = new Map<string, { ids: Set<string>; complete: boolean }>();

  constructor(private readonly deps: FeedbackDeps) {}

  async record(event: ProviderEvent): Promise<FeedbackResult> {
    const { ledger, logger, metrics } = this.deps;
    const customerId = assertCustomerId(event.customerId);
    const campaignId = event.campaignId === undefined ? undefined : assertCampaignId(event.campaignId);
    const recipientId = assertRecipientId(event.recipientId ?? recipientIdFor(customerId, normaliseAddress(event.email)));
    let recorded = false;
    if (campaignId !== undefined && !event.test) {
      const written = await ledger.recordDelivery(
        { customerId, campaignId, recipientId },
        {
          event: event.kind,
          at: event.at,
          providerMessageId: event.providerMessageId,
          providerEventId: event.providerEventId,
          reason: event.reason,
        },
      );
      recorded = written === 'written';
      if (recorded && event.kind === 'complained') this.complaints.get(tallyKey({ customerId, campaignId }))?.ids.add(recipientId);
    }
    const reason = SUPPRESSES[event.kind];
    let suppressed: SuppressionReason | undefined;
    if (reason !== undefined) {
      const written = await ledger.suppress(
        { customerId, recipientId },
        { reason, ...(campaignId !== undefined ? { campaignId } : {}), email: normaliseAddress(event.email), detail: event.reason },
      );
      if (written === 'written') {
        suppressed = reason;
        metrics?.suppressed(reason);
        logger.info({ event: 'recipient.suppressed', campaignId, recipientId, reason }, 'recipient suppressed after provider feedback');
      }
    }
    if (recorded || suppressed !== undefined) metrics?.event(event.kind);
    return { recorded, ...(suppressed !== undefined ? { suppressed } : {}) };
  }

  /**
   * How many recipients of a campaign complained. Counted from the ledger once per conductor (in
   * the background: the first answers may be `complete: false`), then kept up to date as
   * complaints arrive.
   */
  complaintTally(ref: CampaignRef): ComplaintTally {
    let tally = this.complaints.get(tallyKey(ref));
    if (tally === undefined) {
      const fresh = { ids: new Set<string>(), complete: false };
      tally = fresh;
      this.complaints.set(tallyKey(ref), fresh);
      void this.count(ref, fresh);
    }
    return { complained: tally.ids.size, complete: tally.complete };
  }

  private async count(ref: CampaignRef, tally: { ids: Set<string>; complete: boolean }): Promise<void> {
    try {
      for await (const { recipientId, event } of this.deps.ledger.deliveryEvents(ref)) {
        if (event === 'complained') tally.ids.add(recipientId);
      }
      tally.complete = true;
    } catch (err) {
      // Counted again at the next view.
      this.complaints.delete(tallyKey(ref));
      this.deps.logger.warn({ event: 'feedback.count_failed', campaignId: ref.campaignId, err }, 'could not count complaints');
    }
  }
}

/** A campaign's complaint tally is its customer's: another customer's event naming the same campaign id never counts. */
function tallyKey(ref: CampaignRef): string {
  return `${ref.customerId}/${ref.campaignId}`;
}
