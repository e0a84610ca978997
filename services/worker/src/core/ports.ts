import type { CheckInRequest, CheckInResponse } from '@baton/shared';

/** One message as the provider receives it; `variables` travel as Mailgun `v:` fields. */
export interface OutgoingEmail {
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  variables: Record<string, string>;
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
}
