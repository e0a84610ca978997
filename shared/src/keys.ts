import { createHash, randomBytes } from 'node:crypto';
import { ValidationError } from './errors';

/**
 * The object-key schema: the only place keys are built or parsed.
 *
 * Per-recipient objects carry a two-hex-digit shard right after the campaign, so one
 * campaign's objects spread over 256 prefixes and S3's per-prefix request rate never caps it:
 *
 *   stubs bucket     stubs/{customerId}/{campaignId}/{shard}/{recipientId}.json
 *   rendered bucket  rendered/{customerId}/{campaignId}/{shard}/{recipientId}.json
 *   campaigns bucket campaigns/{customerId}/{campaignId}/campaign.json | audience.csv | audience-report.json | state.json | summary.json
 *                    ledger/{customerId}/{campaignId}/claims/{shard}/{recipientId}
 *                    ledger/{customerId}/{campaignId}/outcomes/{shard}/{recipientId}.json
 *                    ledger/{customerId}/{campaignId}/deliveries/{shard}/{recipientId}/{event}.json  (the provider's webhooks)
 *                    suppressions/{customerId}/{shard}/{recipientId}.json  (for every campaign, with a reason)
 *                    feedback/mailgun-tokens/{window}/{sha256 of token}    (webhook tokens seen: the replay guard)
 *
 * Every component is checked against a strict pattern, so no key built or parsed here can hold
 * `..`, a slash, a NUL or anything else that escapes its folder.
 */

export interface Buckets {
  campaigns: string;
  stubs: string;
  rendered: string;
}

const ID = /^[a-z0-9][a-z0-9-]{1,62}$/;
const RECIPIENT_ID = /^[0-9a-f]{32}$/;

export interface CampaignRef {
  customerId: string;
  campaignId: string;
}

export interface RecipientRef extends CampaignRef {
  recipientId: string;
}

function check(value: string, pattern: RegExp, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new ValidationError('KEY_INVALID', [{ where: what, message: `malformed ${what} ${JSON.stringify(String(value).slice(0, 80))}` }]);
  }
  return value;
}

export function assertCustomerId(id: string): string {
  return check(id, ID, 'customerId');
}
export function assertCampaignId(id: string): string {
  return check(id, ID, 'campaignId');
}
export function assertRecipientId(id: string): string {
  return check(id, RECIPIENT_ID, 'recipientId');
}

export const ID_PATTERN = ID.source;

/** A new campaign id: time-ordered (base36 milliseconds) plus randomness. */
export function newCampaignId(now: number): string {
  return `c-${now.toString(36)}-${randomBytes(5).toString('hex')}`;
}

/**
 * The recipient id is derived from the customer and the normalised address, so the same person
 * has the same id in every campaign of a customer, duplicates in one audience collapse to one key,
 * and a re-run of the stubber writes exactly the same keys.
 */
export function recipientIdFor(customerId: string, normalisedAddress: string): string {
  return createHash('sha256').update(`${customerId}\u0000${normalisedAddress}`).digest('hex').slice(0, 32);
}

export function shardOf(recipientId: string): string {
  return assertRecipientId(recipientId).slice(0, 2);
}

function campaignPath(ref: CampaignRef): string {
  return `${assertCustomerId(ref.customerId)}/${assertCampaignId(ref.campaignId)}`;
}

function recipientPath(ref: RecipientRef): string {
  return `${campaignPath(ref)}/${shardOf(ref.recipientId)}/${ref.recipientId}`;
}

export const keys = {
  campaignPrefix: (ref: CampaignRef) => `campaigns/${campaignPath(ref)}/`,
  campaign: (ref: CampaignRef) => `campaigns/${campaignPath(ref)}/campaign.json`,
  audience: (ref: CampaignRef) => `campaigns/${campaignPath(ref)}/audience.csv`,
  audienceReport: (ref: CampaignRef) => `campaigns/${campaignPath(ref)}/audience-report.json`,
  state: (ref: CampaignRef) => `campaigns/${campaignPath(ref)}/state.json`,
  /** Written when a campaign ends: its final counts and who is in doubt, read back after a restart. */
  summary: (ref: CampaignRef) => `campaigns/${campaignPath(ref)}/summary.json`,
  /** The conductor's governor checkpoint (slice limits per sending domain). */
  governorCheckpoint: () => 'conductor/governor.json',
  claim: (ref: RecipientRef) => `ledger/${campaignPath(ref)}/claims/${shardOf(ref.recipientId)}/${ref.recipientId}`,
  claimsPrefix: (ref: CampaignRef) => `ledger/${campaignPath(ref)}/claims/`,
  /** Created by the first run of an invoked lease: a duplicate delivery of the invocation finds it and stops. */
  leaseClaim: (ref: CampaignRef, leaseId: string) => {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(leaseId))
      throw new ValidationError('KEY_INVALID', [
        { where: 'leaseId', message: 'must be 1-128 letters, digits, dots, dashes or underscores' },
      ]);
    return `ledger/${campaignPath(ref)}/leases/${leaseId}`;
  },
  outcome: (ref: RecipientRef) => `ledger/${campaignPath(ref)}/outcomes/${shardOf(ref.recipientId)}/${ref.recipientId}.json`,
  outcomesPrefix: (ref: CampaignRef) => `ledger/${campaignPath(ref)}/outcomes/`,
  /** One provider event (delivered, bounced, …) about one recipient: one object per kind of event. */
  delivery: (ref: RecipientRef, event: string) => {
    if (!/^[a-z]{1,32}$/.test(event))
      throw new ValidationError('KEY_INVALID', [{ where: 'event', message: 'must be 1-32 lower-case letters' }]);
    return `ledger/${campaignPath(ref)}/deliveries/${shardOf(ref.recipientId)}/${ref.recipientId}/${event}.json`;
  },
  /** Every provider event about one recipient of a campaign. */
  recipientDeliveriesPrefix: (ref: RecipientRef) =>
    `ledger/${campaignPath(ref)}/deliveries/${shardOf(ref.recipientId)}/${ref.recipientId}/`,
  deliveriesPrefix: (ref: CampaignRef) => `ledger/${campaignPath(ref)}/deliveries/`,
  suppression: (ref: { customerId: string; recipientId: string }) =>
    `suppressions/${assertCustomerId(ref.customerId)}/${shardOf(ref.recipientId)}/${ref.recipientId}.json`,
  suppressionsPrefix: (customerId: string) => `suppressions/${assertCustomerId(customerId)}/`,
  /** A webhook token seen in replay window `window` (its timestamp ÷ the window length); `tokenHash` is 64 hex digits. */
  /** The folder of one window's tokens (zero-padded, so folders sort by age). */
  webhookWindowPrefix: (window: number) => `${WEBHOOK_TOKENS_PREFIX}${String(window).padStart(12, '0')}/`,
  webhookToken: (window: number, tokenHash: string) => {
    if (!Number.isSafeInteger(window) || window < 0 || !/^[0-9a-f]{64}$/.test(tokenHash))
      throw new ValidationError('KEY_INVALID', [{ where: 'webhookToken', message: 'needs a whole window number and a sha256 hex digest' }]);
    return `${WEBHOOK_TOKENS_PREFIX}${String(window).padStart(12, '0')}/${tokenHash}`;
  },
  stub: (ref: RecipientRef) => `stubs/${recipientPath(ref)}.json`,
  stubsPrefix: (ref: CampaignRef) => `stubs/${campaignPath(ref)}/`,
  rendered: (ref: RecipientRef) => `rendered/${recipientPath(ref)}.json`,
  renderedPrefix: (ref: CampaignRef) => `rendered/${campaignPath(ref)}/`,
} as const;

/** Where webhook tokens are remembered for the replay guard; one folder per window, deleted when it is over. */
export const WEBHOOK_TOKENS_PREFIX = 'feedback/mailgun-tokens/';

/** Prefix every stub key starts with: the renderer's notification filter. */
/**
 * The recipient id a per-recipient key ends with (`…/{recipientId}.json`), unchecked: lets a scan
 * skip keys it parsed before without parsing them again. Parse a key it does not know yet.
 */
export function trailingRecipientId(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1, key.endsWith('.json') ? -'.json'.length : undefined);
}

export const STUBS_PREFIX = 'stubs/';
/** `campaigns/` + customer + campaign + `campaign.json`: how the conductor finds campaigns. */
export const CAMPAIGNS_PREFIX = 'campaigns/';

const PER_RECIPIENT = /^(stubs|rendered)\/([^/]+)\/([^/]+)\/([0-9a-f]{2})\/([^/]+)\.json$/;
const LEDGER = /^ledger\/([^/]+)\/([^/]+)\/(claims|outcomes)\/([0-9a-f]{2})\/([0-9a-f]{32})(\.json)?$/;
const DELIVERY = /^ledger\/([^/]+)\/([^/]+)\/deliveries\/([0-9a-f]{2})\/([0-9a-f]{32})\/([a-z]{1,32})\.json$/;
const SUPPRESSION = /^suppressions\/([^/]+)\/([0-9a-f]{2})\/([0-9a-f]{32})\.json$/;
const WEBHOOK_TOKEN = /^feedback\/mailgun-tokens\/(\d{12,15})\/([0-9a-f]{64})$/;
const CAMPAIGN_FILE = /^campaigns\/([^/]+)\/([^/]+)\/campaign\.json$/;
const CAMPAIGN_AUDIENCE = /^campaigns\/([^/]+)\/([^/]+)\/audience\.csv$/;

function fail(key: string, expected: string): never {
  throw new ValidationError('KEY_INVALID', [{ where: 'key', message: `${JSON.stringify(key.slice(0, 200))} is not ${expected}` }]);
}

function parsePerRecipient(kind: 'stubs' | 'rendered', key: string): RecipientRef {
  const m = PER_RECIPIENT.exec(key);
  if (!m || m[1] !== kind)
    fail(key, `a ${kind === 'stubs' ? 'stub' : 'rendered'} key (${kind}/{customerId}/{campaignId}/{shard}/{recipientId}.json)`);
  const ref = { customerId: assertCustomerId(m[2]!), campaignId: assertCampaignId(m[3]!), recipientId: assertRecipientId(m[5]!) };
  if (shardOf(ref.recipientId) !== m[4]) fail(key, 'a key whose shard matches its recipient id');
  return ref;
}

export const parseKey = {
  stub: (key: string) => parsePerRecipient('stubs', key),
  rendered: (key: string) => parsePerRecipient('rendered', key),
  /** Claims and outcomes: which recipient a ledger entry is about. */
  ledger: (key: string): RecipientRef => {
    const m = LEDGER.exec(key);
    if (!m || (m[3] === 'outcomes') !== (m[6] === '.json')) fail(key, 'a ledger key');
    const ref = { customerId: assertCustomerId(m[1]!), campaignId: assertCampaignId(m[2]!), recipientId: m[5]! };
    if (shardOf(ref.recipientId) !== m[4]) fail(key, 'a key whose shard matches its recipient id');
    return ref;
  },
  /** Which recipient and which kind of event a delivery record is about. */
  delivery: (key: string): RecipientRef & { event: string } => {
    const m = DELIVERY.exec(key);
    if (!m) fail(key, 'a delivery key');
    const ref = { customerId: assertCustomerId(m[1]!), campaignId: assertCampaignId(m[2]!), recipientId: m[4]! };
    if (shardOf(ref.recipientId) !== m[3]) fail(key, 'a key whose shard matches its recipient id');
    return { ...ref, event: m[5]! };
  },
  suppression: (key: string): { customerId: string; recipientId: string } => {
    const m = SUPPRESSION.exec(key);
    if (!m) fail(key, 'a suppression key');
    const ref = { customerId: assertCustomerId(m[1]!), recipientId: m[3]! };
    if (shardOf(ref.recipientId) !== m[2]) fail(key, 'a key whose shard matches its recipient id');
    return ref;
  },
  /** The window a remembered webhook token belongs to. */
  webhookToken: (key: string): { window: number } => {
    const m = WEBHOOK_TOKEN.exec(key);
    if (!m) fail(key, 'a webhook token key');
    return { window: Number(m[1]) };
  },
  campaign: (key: string): CampaignRef => {
    const m = CAMPAIGN_FILE.exec(key);
    if (!m) fail(key, 'a campaign definition key');
    return { customerId: assertCustomerId(m[1]!), campaignId: assertCampaignId(m[2]!) };
  },
  /** Which campaign an audience stored with it (`keys.audience`) belongs to. */
  audience: (key: string): CampaignRef => {
    const m = CAMPAIGN_AUDIENCE.exec(key);
    if (!m) fail(key, 'a campaign audience key');
    return { customerId: assertCustomerId(m[1]!), campaignId: assertCampaignId(m[2]!) };
  },
};
