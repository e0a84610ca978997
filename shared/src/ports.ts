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
