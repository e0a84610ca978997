import type { CheckInRequest, CheckInResponse, RenewRequest } from '@baton/shared';

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

/** The conductor's lease API, as a worker sees it. Failures are Baton errors (retryable or permanent). */
export interface LeaseClient {
  checkIn(req: CheckInRequest): Promise<CheckInResponse>;
  /** The next lease while this one's last calls are still in flight (it is checked in later). */
  renew(req: RenewRequest): Promise<CheckInResponse>;
}
