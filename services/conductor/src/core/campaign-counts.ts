import type { CampaignCounts, OutcomeStatus } from '@baton/shared';

/** Every recipient of an audience ends in exactly one of these (the API's type, shared api-types.ts). */
export type { CampaignCounts };

/** Where a recipient is, as far as the run knows: `undefined` when it is simply queued (or unknown). */
export type RunStatus = { status: 'inFlight' } | { status: 'retrying'; at: number } | { status: OutcomeStatus };
