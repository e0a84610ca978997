/**
 * The campaign API's answers: one home for their shapes and words. The conductor builds values of
 * these types, and the console and the CLI read its answers as them (type-only imports), so the
 * three cannot drift apart. Pure TypeScript with no imports at all (no Node, no zod): the console's
 * type-check, which has no Node types, reads it as it is (`@baton/shared/api-types`).
 *
 * The few lists of words here (statuses, stages, reasons) are constants so that the schemas that
 * read the same words (schemas.ts, config.ts) take them from here.
 */

// ---- words -----------------------------------------------------------------------------------

export const STAGES = ['dev', 'qa', 'prod'] as const;
export type Stage = (typeof STAGES)[number];

export const CAMPAIGN_STATUSES = ['draft', 'scheduled', 'sending', 'paused', 'cancelled', 'done', 'failed'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/**
 * Every recipient of an audience is in exactly one of these at every moment:
 * - while sending: `queued` (waiting, rendered or not yet), `inFlight` (leased to a worker),
 *   `retrying` (the provider pushed back; `at` is when it is tried again);
 * - at the end: `sent`, `failed`, `invalid`, `duplicate`, `suppressed`, `inDoubt`, `cancelled`,
 *   `notAccepted` (was in doubt; the provider has no record of it after the settle time).
 */
export const RECIPIENT_STATUSES = [
  'queued',
  'inFlight',
  'retrying',
  'sent',
  'failed',
  'invalid',
  'duplicate',
  'suppressed',
  'inDoubt',
  'cancelled',
  'notAccepted',
] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/**
 * Why an address gets no more of a customer's mail: it unsubscribed (List-Unsubscribe, or the
 * provider's unsubscribe event), hard-bounced, complained (marked as spam), or the marketer
 * added it (`manual`, the only kind a marketer may remove).
 */
export const SUPPRESSION_REASONS = ['unsubscribed', 'bounced', 'complained', 'manual'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/** Every error answer: a stable code, a sentence, and for bad input each field that is wrong. */
export interface ApiErrorBody {
  error: string;
  message: string;
  issues?: { where: string; message: string }[];
}

// ---- the cap and the conductor's setup -------------------------------------------------------

/**
 * The governor's cap as people read it, stated one way everywhere (the console, `/api/setup`,
 * the CLI, `/metrics`' help text): provider calls per governor window, and what that is per
 * minute (cap.ts `describeCap` is the one function that makes one).
 */
export interface Cap {
  /** Provider calls allowed per governor window. */
  perWindow: number;
  windowMs: number;
  /** The same rate per minute (rounded to two decimals when the window does not divide a minute). */
  perMinute: number;
  /**
   * In the window's own unit, one unit only: "120 per minute", "20 per 10 s", "6000 per 2 min",
   * "1 per 1.5 s" (the issue: the header said "per minute" while the governor counted per 10 s).
   */
  text: string;
}

/** What the console needs to know about this conductor before it shows anything: `GET /api/setup`. */
export interface SetupView {
  stage: Stage;
  /** The configured sending domains, the default first. */
  sendingDomains: string[];
  /** Customers the conductor knows: those with campaigns, and those with a weight or cap of their own. */
  customers?: string[];
  /** The default domain's cap, stated as everywhere else (`describeCap`). */
  cap: Cap;
  /** Each sending domain's cap (they may differ: SENDING_DOMAINS). */
  caps: Record<string, Cap>;
  /** The one-machine composition with its built-in Mailgun sink: the console may offer its local inbox. */
  local: boolean;
}

// ---- a campaign ----------------------------------------------------------------------------

/**
 * When a campaign may send: on these weekdays, from `start` to `end` local time in `timeZone`
 * (an IANA name). An `end` before `start` runs past midnight into the next day. (Read by
 * schemas.ts `sendWindow`, whose output is this type.)
 */
export interface SendWindow {
  timeZone: string;
  days: Weekday[];
  /** HH:MM, 00:00 to 24:00. */
  start: string;
  end: string;
}

/**
 * Send at a local time in each recipient's own zone: on `date`, at `time` where the recipient is
 * (the IANA name in the audience's `column`); a missing or unknown zone falls back to `timeZone`.
 * (Read by schemas.ts `localSend`, whose output is this type.)
 */
export interface LocalSend {
  /** YYYY-MM-DD. */
  date: string;
  /** HH:MM, 00:00 to 23:59. */
  time: string;
  timeZone: string;
  column: string;
}

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

/** Why a campaign that may send is not sending now, and until when. */
export interface Waiting {
  reason: 'scheduled' | 'sendWindow' | 'providerHold' | 'dailyLimit' | 'monthlyLimit';
  /** ISO time. */
  until: string;
  message: string;
}

/** One instant of a send at a local time: how many recipients go out then, and from which zones. */
export interface WaveView {
  at: string;
  count: number;
  zones: string[];
}

/**
 * What a pause (or a cancel) leaves on its way to the provider, for people to read: the only
 * calls that may reach the provider after `at`, and by when they are over.
 */
export interface PauseView {
  /** When the conductor stopped the campaign's leases. */
  at: string;
  /**
   * Provider calls that were under way at `at`, or started before their worker heard of the
   * stop: each worker counts its own when it confirms. For a worker that has not confirmed yet,
   * every permit its lease holds (an upper bound), until it does or checks in.
   */
  inFlight: number;
  /** By when every one of those calls is over (answered, or timed out). */
  endsBy: string;
  /** Every worker holding a lease of the campaign at `at` confirmed the stop or checked in: `inFlight` is exact. */
  confirmed: boolean;
  message: string;
}

/** An audience row that is not sent (invalid, duplicate…) or a zone that was not understood, by line. */
export interface AudienceProblem {
  line: number;
  kind: string;
  reason: string;
}

/** Complaints the provider reported, against the messages sent; `warning` past Gmail's 0.1%. */
export interface ComplaintsView {
  complained: number;
  rate: number;
  complete: boolean;
  warning?: string;
}

/** A campaign as marketers see it: `GET /api/campaigns/:id`, each item of the list, and what every action answers. */
export interface CampaignView {
  id: string;
  customerId: string;
  name: string;
  subject: string;
  /** `cancelled` without `finishedAt` while the leases already out finish. */
  status: CampaignStatus;
  createdAt: string;
  sendRequestedAt?: string;
  /** When a scheduled campaign starts (or started) sending. */
  sendAt?: string;
  sendWindow?: SendWindow;
  /** Each recipient released at a local time where they are. */
  localSend?: LocalSend;
  /** With `localSend`: the instants recipients go out at, how many and from which zones (the ETA waits for them). */
  waves?: WaveView[];
  /** Its domain's daily limit today (in the limit's zone) and what is left of it, when it has one. */
  dailyLimit?: { day: string; limit: number; left: number };
  /** Its domain's monthly limit this month (YYYY-MM, in the limit's zone) and what is left of it, when it has one. */
  monthlyLimit?: { month: string; limit: number; left: number };
  /** Present while it waits: for its time, its window, the provider or the day's limit. */
  waiting?: Waiting;
  finishedAt?: string;
  counts: CampaignCounts;
  /** Sends the provider accepted for this campaign whose calls started in the last minute (failures and calls in doubt not counted). */
  sentLastMinute: number;
  sendingDomain: string;
  /** The domain's cap per governor window, and per minute, in the words every surface uses (`describeCap`). */
  cap: Cap;
  /** The cap as the governor applies it now: lower after the provider pushed back. */
  effectiveCap: Cap;
  /** `cap.perMinute` (kept for older clients). */
  perMinuteMax: number;
  /** `effectiveCap.perMinute` (kept for older clients). */
  effectivePerMinute: number;
  etaSeconds: number | null;
  /** The audience's problems by line (at most 100). */
  problems: AudienceProblem[];
  /** Why a `failed` campaign failed. */
  error?: { code: string; message: string };
  /** Stored objects that cannot be read (key and reason): the rest of the campaign goes on around them. */
  attention: { key: string; reason: string }[];
  /**
   * While paused: what may still reach the provider after the click (calls already on their way
   * when the workers stopped) and by when they are over, in words. Absent for a campaign paused
   * before a restart (its workers' leases ended with the conductor).
   */
  pause?: PauseView;
  complaints?: ComplaintsView;
}

/** `POST /api/campaigns` (201): the new campaign, and what the checks found that does not stop it. */
export type CreatedCampaign = CampaignView & { warnings: string[] };

/** A stored campaign whose definition cannot be read. */
export interface DamagedCampaign {
  customerId: string;
  campaignId: string;
  key: string;
  reason: string;
}

/** `GET /api/campaigns`. */
export interface CampaignList {
  campaigns: CampaignView[];
  /** Only when there are some: campaigns whose definition cannot be read are named, never hidden. */
  damaged?: DamagedCampaign[];
}

/** `GET /api/campaigns/:id/definition`: what a clone starts from. */
export interface CampaignDefinitionView {
  name: string;
  customerId: string;
  sendingDomain: string;
  from: string;
  subject: string;
  mjml: string;
  audienceKey?: string;
  sendAt?: string;
  sendWindow?: SendWindow;
  localSend?: LocalSend;
}

/** One bucket of the rate chart: accepted sends of the campaign and of its whole domain, against the cap. */
export interface RatePoint {
  /** ISO time the bucket starts. */
  t: string;
  /** Sends the provider accepted for this campaign. */
  sent: number;
  /** Sends the provider accepted for every campaign on the campaign's sending domain. */
  domainSent: number;
  /** Provider calls the cap allows in the bucket. */
  cap: number;
  /** …and what the governor allowed after the provider pushed back (the lowest level seen in each window). */
  effectiveCap: number;
}

/** `GET /api/campaigns/:id/rate`. */
export interface RateSeries {
  bucketMs: number;
  cap: Cap;
  points: RatePoint[];
}

/** `GET /api/campaigns/:id/preview`: the first recipient sent, or the chosen `row`. */
export interface CampaignPreview {
  subject: string;
  html: string;
  text: string;
  /** The row asked for (`?row=`), when one was. */
  row?: number;
}

// ---- drafts (the editor) -----------------------------------------------------------------------

export type DraftField = 'subject' | 'mjml' | 'audience' | 'from';

export interface DraftProblem {
  field: DraftField;
  line?: number;
  severity: 'error' | 'warning';
  code: string;
  message: string;
}

/** `POST /api/drafts/check`. */
export interface DraftCheck {
  /** The audience's merge-field names, in order; empty without an audience (or with an unreadable header). */
  columns: string[];
  problems: DraftProblem[];
}

/** `POST /api/drafts/preview`: a draft previewed as one recipient gets it. */
export interface DraftPreview {
  subject: string;
  html: string;
  text: string;
  /** The 1-based data row rendered; 0 without an audience. */
  row: number;
  /** That row's merge fields by name (and `email`); empty without an audience. */
  values: Record<string, string>;
}

// ---- recipients ------------------------------------------------------------------------------

/** One recipient of `GET /api/campaigns/:id/recipients`. */
export interface RecipientRow {
  /** The address as the audience gave it; `null` for an invalid row whose report line has none. */
  email: string | null;
  status: RecipientStatus;
  reason: string | null;
  /** ISO time of the outcome, or of the next attempt for `retrying`; `null` while queued or in flight. */
  at: string | null;
  providerMessageId: string | null;
  /** The provider's delivery report (webhooks), when there is one. */
  delivery: unknown;
}

export interface RecipientsPage {
  recipients: RecipientRow[];
  /** Pass back as `cursor` for the next page; `null` on the last page. */
  next: string | null;
}

/** The recipients CSV's columns, in order (`delivery` as JSON). */
export const RECIPIENT_CSV_COLUMNS = ['email', 'status', 'reason', 'at', 'providerMessageId', 'delivery'] as const;

/** What `POST /api/campaigns/:id/retry` and `/resend` answer. */
export interface RequeueReport {
  /** Recipients put back in the queue. */
  requeued: number;
  /** Recipients that matched but were left alone, with why (a claim that may mean it was sent, a record changed meanwhile). */
  skipped: { recipientId: string; reason: string }[];
}

// ---- suppressions ----------------------------------------------------------------------------

/** One suppression as the API shows it. `email` is null for unsubscribes recorded before addresses were kept. */
export interface SuppressionView {
  email: string | null;
  recipientId: string;
  /** `damaged` when the stored record cannot be read (the address stays suppressed). */
  reason: SuppressionReason | 'damaged';
  at: string | null;
  campaignId: string | null;
  detail: string | null;
}

/** `GET /api/customers/:customer/suppressions`. */
export interface SuppressionPage {
  suppressions: SuppressionView[];
  /** Pass back as `cursor` for the next page; null on the last one. */
  next: string | null;
}

/** `POST /api/customers/:customer/suppressions` (201 when new, 200 when it was already there). */
export type SuppressionAdded = SuppressionView & { created: boolean };

/** `POST /api/customers/:customer/suppressions/import`. */
export interface ImportResult {
  /** Rows read (blank rows left out). */
  rows: number;
  added: number;
  /** Addresses that were already suppressed (for any reason): left as they were. */
  alreadySuppressed: number;
  invalid: number;
  duplicate: number;
  problems: AudienceProblem[];
}

// ---- the local inbox (the one-machine composition only) --------------------------------------

export interface InboxItem {
  id: string;
  to: string;
  from: string;
  subject: string;
  /** ISO 8601. */
  receivedAt: string;
  campaignId?: string;
}

/** `GET /api/local/inbox`: newest first. */
export interface InboxPage {
  messages: InboxItem[];
  /** Give it back as `cursor` for the next (older) page; absent on the last page. */
  next?: string;
  /** Messages matching the filters, on every page. */
  total: number;
}

/** `GET /api/local/inbox/:id`. */
export interface InboxMessage extends InboxItem {
  /** The Mailgun id, as the provider answered it (`<…>`). */
  messageId: string;
  /** The headers the message was sent with (`h:` fields), and the ids it carried as `X-Mailgun-Variables`. */
  headers: Record<string, string>;
  text: string;
  html: string;
}
