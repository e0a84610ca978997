import type { CampaignRequestedMessage } from './schemas';

/** Publishes "campaign requested": SNS on AWS, an in-process topic on one machine. */
export interface CampaignTopic {
  publish(message: CampaignRequestedMessage): Promise<void>;
}

/** Past this a provider call is in doubt (the provider may have taken the message): every sender's timeout. */
export const PROVIDER_TIMEOUT_MS = 10_000;

/** One message as the provider receives it; `variables` travel as Mailgun `v:` fields. */
export interface OutgoingEmail {
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  variables: Record<string, string>;
  /** The sending domain the lease was granted for; the sender's default when absent. */
  domain?: string;
}

/**
 * The email provider. `send` throws only `RetryableError` (the provider certainly did not take
 * the message), `PermanentError` (it refused it) or `InDoubtError` (it may have taken it).
 */
export interface Sender {
  send(msg: OutgoingEmail): Promise<{ providerId: string }>;
}

/** What the provider's own records say about one of Baton's messages. */
export type ProviderRecord =
  /** It took the message: `providerId` is its message id. */
  | { kind: 'accepted'; providerId: string }
  /** It has no record of taking it (the events searched were complete). */
  | { kind: 'none' };

/** Which message to look for: the `v:` variables Baton set on it, the address, and since when. */
export interface ProviderQuery {
  customerId: string;
  campaignId: string;
  recipientId: string;
  to: string;
  /** The sending domain; the adapter's default when absent. */
  domain?: string;
  /** Epoch ms: the message cannot be older than this. */
  since: number;
}

/**
 * The provider's records (Mailgun's events API), asked to settle sends that are in doubt.
 * Throws when it cannot answer (unreachable, refused, a page it could not read to the end):
 * then the recipient stays in doubt. Records are eventually consistent: callers wait a settle
 * time before they believe a `none`.
 */
export interface ProviderLookup {
  find(query: ProviderQuery): Promise<ProviderRecord>;
}
