import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Mailgun's webhook signature, as its documentation ("Securing Webhooks") describes it: the hex
 * HMAC-SHA256 of `timestamp + token` (no separator), keyed with the HTTP webhook signing key.
 * The sink signs with it, the conductor verifies with it. mailgun.js has no helper for this.
 */
export interface MailgunSignature {
  /** Seconds since the epoch, as a string of digits. */
  timestamp: string;
  /** Random, 50 characters from Mailgun. */
  token: string;
  /** Hex digits. */
  signature: string;
}

export function signMailgunWebhook(signingKey: string, timestamp: string, token: string): string {
  return createHmac('sha256', signingKey)
    .update(timestamp + token)
    .digest('hex');
}

/** Whether `signature` is the signing key's HMAC of the timestamp and token; compared in constant time. */
export function isValidMailgunSignature(signingKey: string, given: MailgunSignature): boolean {
  const expected = Buffer.from(signMailgunWebhook(signingKey, given.timestamp, given.token), 'utf8');
  const actual = Buffer.from(given.signature.toLowerCase(), 'utf8');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
