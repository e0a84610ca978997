import { PermanentError, RetryableError } from '@baton/shared';

export class CampaignNotFoundError extends PermanentError {
  constructor(campaignId: string) {
    super('CAMPAIGN_NOT_FOUND', `no campaign with id ${JSON.stringify(campaignId.slice(0, 80))}`);
  }
}

/** The action does not fit the campaign's status (sending a campaign twice, resuming a done one). */
export class CampaignStateError extends PermanentError {
  constructor(campaignId: string, status: string, action: string) {
    super('CAMPAIGN_STATE_CONFLICT', `cannot ${action} campaign ${campaignId}: it is ${status}`);
  }
}

/** The governor has no permit left in this window for a test send. */
export class NoPermitError extends RetryableError {
  constructor(retryAfterMs: number) {
    super('NO_PERMIT', 'the per-minute cap is used up; try again shortly', { retryAfterMs });
  }
}

/** A test send to an address suppressed for the customer (unsubscribed, bounced, complained, manual). */
export class RecipientSuppressedError extends PermanentError {
  constructor(
    to: string,
    readonly reason: string,
  ) {
    super('RECIPIENT_SUPPRESSED', `${JSON.stringify(to.slice(0, 320))} is suppressed for this customer (${reason}); no test goes to it`);
  }
}
