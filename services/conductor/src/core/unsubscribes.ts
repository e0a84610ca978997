import {
  assertRecipientId,
  isValidUnsubscribeSignature,
  keys,
  stubRecord,
  type Buckets,
  type Ledger,
  type Logger,
  type ObjectStore,
  type RecipientRef,
} from '@baton/shared';
import { normaliseAddress } from '@baton/templating';
import type { Campaigns } from './campaigns';
import { CampaignNotFoundError } from './errors';

export interface UnsubscribesDeps {
  store: ObjectStore;
  buckets: Buckets;
  logger: Logger;
  ledger: Ledger;
  campaigns: Campaigns;
  /** Signs unsubscribe links in previews and verifies them on `/unsubscribe`. */
  unsubscribeSecret: string;
}

/** One-click unsubscribes (List-Unsubscribe, RFC 8058): a signed link becomes a suppression of the customer's. */
export class Unsubscribes {
  constructor(private readonly deps: UnsubscribesDeps) {}

  /**
   * Records that a recipient wants no more mail from this customer. Idempotent; workers check
   * it before every send, so it takes effect at once.
   */
  async unsubscribe(ref: { customerId: string; campaignId: string; recipientId: string }, signature: string): Promise<void> {
    assertRecipientId(ref.recipientId);
    // The signed link carries all the suppression needs: it works whatever state the campaign's
    // own objects are in. A wrong signature looks exactly like an unknown campaign.
    const known = this.deps.campaigns.find(ref.campaignId);
    const otherCustomer = known !== undefined && known.definition.customerId !== ref.customerId;
    if (otherCustomer || !isValidUnsubscribeSignature(this.deps.unsubscribeSecret, ref, signature)) {
      throw new CampaignNotFoundError(ref.campaignId);
    }
    const written = await this.deps.ledger.suppress(
      { customerId: ref.customerId, recipientId: ref.recipientId },
      { campaignId: ref.campaignId, reason: 'unsubscribed', ...(await this.addressOf(ref)) },
    );
    if (written === 'written')
      this.deps.logger.info(
        { event: 'recipient.unsubscribed', campaignId: ref.campaignId, recipientId: ref.recipientId },
        'recipient unsubscribed',
      );
  }

  /** The recipient's address from its stub, for the suppression list; none when the stub is gone or unreadable. */
  private async addressOf(ref: RecipientRef): Promise<{ email?: string }> {
    try {
      const text = await this.deps.store.get(this.deps.buckets.stubs, keys.stub(ref));
      const stub = text === undefined ? undefined : stubRecord.safeParse(JSON.parse(text));
      return stub?.success === true ? { email: normaliseAddress(stub.data.email) } : {};
    } catch {
      return {};
    }
  }
}
