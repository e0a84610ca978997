import type { OutcomeStatus } from '@baton/shared';

/** Every recipient of an audience ends in exactly one of these; they add up to `total`. */
export interface CampaignCounts {
  total: number;
  stubbed: number;
  rendered: number;
  sent: number;
  failed: number;
  invalid: number;
  duplicate: number;
  suppressed: number;
  inDoubt: number;
  cancelled: number;
  /** Leased to a worker right now. */
  inFlight: number;
  /** Waiting for a lease (rendered or not yet). */
  queued: number;
  /** The provider pushed back: waiting for the next attempt. */
  retrying: number;
  /** Were in doubt; the provider has no record of them after the settle time. */
  notAccepted: number;
}

/** Where a recipient is, as far as the run knows: `undefined` when it is simply queued (or unknown). */
export type RunStatus = { status: 'inFlight' } | { status: 'retrying'; at: number } | { status: OutcomeStatus };
