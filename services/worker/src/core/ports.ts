import type { CheckInRequest, CheckInResponse, RenewRequest } from '@baton/shared';

// The provider port lives in @baton/shared, beside its Mailgun adapter; re-exported for the core.
export type { OutgoingEmail, Sender } from '@baton/shared';

/** The conductor's lease API, as a worker sees it. Failures are Baton errors (retryable or permanent). */
export interface LeaseClient {
  checkIn(req: CheckInRequest): Promise<CheckInResponse>;
  /** The next lease while this one's last calls are still in flight (it is checked in later). */
  renew(req: RenewRequest): Promise<CheckInResponse>;
}
