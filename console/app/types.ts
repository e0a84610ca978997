/**
 * The API's answers as the console reads them: the shared module's types (shared/src/api-types.ts,
 * the one home of their shapes, which the conductor builds), under the console's short names.
 * Imported type-only: nothing of shared reaches the bundle.
 */
import type {
  CampaignCounts,
  CampaignDefinitionView,
  CampaignStatus,
  CampaignView,
  DraftCheck,
  DraftProblem,
  RateSeries,
  RecipientStatus,
  SetupView,
  SuppressionView,
} from '@baton/shared/api-types';

export type {
  Cap,
  CampaignList,
  CampaignPreview,
  DraftPreview,
  InboxItem,
  InboxMessage,
  InboxPage,
  RatePoint,
  RecipientRow,
  RecipientsPage,
  RequeueReport,
  SuppressionAdded,
  SuppressionPage,
  Waiting,
} from '@baton/shared/api-types';

export type Status = CampaignStatus;
export type Campaign = CampaignView;
export type Counts = CampaignCounts;
export type CountKey = RecipientStatus;
export type Setup = SetupView;
export type Definition = CampaignDefinitionView;
export type Rate = RateSeries;
export type Problem = DraftProblem;
export type CheckResult = DraftCheck;
export type Suppression = SuppressionView;

/** Every recipient status, in the order the console shows them (tiles, the table's filter). */
export const COUNT_KEYS = [
  'queued',
  'inFlight',
  'retrying',
  'sent',
  'failed',
  'invalid',
  'duplicate',
  'suppressed',
  'inDoubt',
  'notAccepted',
  'cancelled',
] as const satisfies readonly RecipientStatus[];

// A status the API gains and the console does not show fails the type-check here.
const _everyStatusShown: [Exclude<RecipientStatus, (typeof COUNT_KEYS)[number]>] extends [never] ? true : false = true;
