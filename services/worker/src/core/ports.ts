import type { CheckInRequest, CheckInResponse, RenewRequest, WatchRequest, WatchResponse } from '@baton/shared';

// The provider port lives in @baton/shared, beside its Mailgun adapter; re-exported for the core.
export type { OutgoingEmail, Sender } from '@baton/shared';

/** The conductor's lease API, as a worker sees it. Failures are Baton errors (retryable or permanent). */
export interface LeaseClient {
  checkIn(req: CheckInRequest): Promise<CheckInResponse>;
  /** The next lease while this one's last calls are still in flight (it is checked in later). */
  renew(req: RenewRequest): Promise<CheckInResponse>;
  /**
   * Watches a lease while it may still start calls (see `watchRequest`): the answer says whether
   * to stop. `signal` aborts a held watch once the lease has no call left to start. Without it,
   * a lease runs to its end whatever happens to its campaign.
   */
  watch?(req: WatchRequest, signal?: AbortSignal): Promise<WatchResponse>;
}
