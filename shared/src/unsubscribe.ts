import { createHmac, timingSafeEqual } from 'node:crypto';
import { assertCampaignId, assertCustomerId, assertRecipientId, type RecipientRef } from './keys';

/**
 * Unsubscribe links are signed: recipient ids are derived from addresses, so without a
 * signature anyone could suppress any address they can guess. The renderer signs, the
 * conductor verifies; both with `BATON_UNSUBSCRIBE_SECRET`.
 */
export function unsubscribeSignature(secret: string, ref: RecipientRef): string {
  const subject = `${assertCustomerId(ref.customerId)}/${assertCampaignId(ref.campaignId)}/${assertRecipientId(ref.recipientId)}`;
  return createHmac('sha256', secret).update(subject).digest('base64url').slice(0, 32);
}

export function isValidUnsubscribeSignature(secret: string, ref: RecipientRef, signature: string): boolean {
  const expected = Buffer.from(unsubscribeSignature(secret, ref));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The path the conductor serves; `base` is its public URL. */
export function unsubscribeUrl(base: string, secret: string, ref: RecipientRef): string {
  return `${base}/unsubscribe/${ref.customerId}/${ref.campaignId}/${ref.recipientId}/${unsubscribeSignature(secret, ref)}`;
}
