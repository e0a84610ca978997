import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { Clock } from './clock';
import { ObjectExistsError, ValidationError, describeError, type InputIssue } from './errors';
import { keys, parseKey, type CampaignRef, type RecipientRef } from './keys';
import { listAll, type ObjectStore } from './object-store/port';
import {
  claimRecord,
  deliveryRecord,
  outcomeRecord,
  suppressionRecord,
  type ClaimRecord,
  type DeliveryEvent,
  type DeliveryRecord,
  type OutcomeRecord,
  type OutcomeStatus,
  type SuppressionRecord,
} from './schemas';
import type { SuppressionReason } from './api-types';

/**
 * The ledger: the facts in the campaigns bucket that make sending at most once and account for
 * every recipient. One home for its protocol, so every service writes and reads it the same way:
 *
 * - **claims** (`keys.claim`): a worker's conditional create before a provider call. Each attempt
 *   carries a fresh random token; when the create fails for any reason the claim is read back,
 *   and it is ours only if it carries our token (a retried put whose first attempt landed answers
 *   412, but so does a duplicate run of the same lease: only the token tells them apart).
 * - **lease marks** (`keys.leaseClaim`): the same protocol, taken by the first run of an invoked
 *   lease so a duplicate delivery of the invocation stops.
 * - **outcomes** (`keys.outcome`): how a recipient ended. Written `always` by whoever holds the
 *   recipient's claim (its word is the truth), or `if-absent` by anyone deciding without a claim
 *   (renderer, worker before claiming, conductor): then the first outcome stands.
 * - **suppressions** (`keys.suppression`): per customer, for every campaign, with a reason. Their
 *   presence is what counts: a damaged suppression record still suppresses. The first one stands;
 *   only a `manual` one may be removed.
 * - **deliveries** (`keys.delivery`): what the provider reported after accepting a message, one
 *   object per kind of event and recipient, written `if-absent`, so a webhook delivered twice (or
 *   two at once) records once. A recipient's delivery status is derived from them (`deliveryStatus`).
 *
 * - **settling and re-queueing** (`settleInDoubt`, `reopenFailed`, `reopenNotAccepted`): the only
 *   ways an outcome is replaced or removed. A claim is removed only by the worker that made it when
 *   the provider certainly did not take the message, or by an explicit resend of a `notAccepted`
 *   recipient (the provider's own records say it never took it): so a claim that may stand for an
 *   accepted message is never removed, and a recipient is never sent twice. The argument, crash
 *   point by crash point, is in docs/recipients.md.
 *
 * What it does not promise: a claim whose create landed but could not be read back is reported
 * `failed` and stays, so that recipient is never sent (nor reported sent) until an operator looks.
 */
export interface LedgerDeps {
  store: ObjectStore;
  /** The campaigns bucket. */
  bucket: string;
  /** For the time on every record. */
  clock: Clock;
}

/** A claim or lease mark: ours (created by this attempt), someone else's, or unknown (`failed`). */
export type ClaimResult = { kind: 'ours' } | { kind: 'elsewhere' } | { kind: 'failed'; reason: string };

/** `if-absent` writes lose to a record already there: `exists`. */
export type WriteResult = 'written' | 'exists';

/** `always`: the writer holds the claim; `if-absent`: the first outcome recorded stands. */
export type RecordMode = 'always' | 'if-absent';

/** What an outcome says; the ledger adds the version, the recipient and the time. */
export interface OutcomeFacts {
  status: OutcomeStatus;
  reason?: string;
  providerId?: string;
  leaseId?: string;
}

export type SuppressionRef = { customerId: string; recipientId: string };

/** What a suppression says; the ledger adds the version and the time. */
export interface SuppressionFacts {
  reason: SuppressionReason;
  campaignId?: string;
  email?: string;
  detail?: string;
}

/** A stored suppression: its record, or why it cannot be read (it suppresses all the same). */
export interface Suppression {
  recipientId: string;
  record?: SuppressionRecord;
  damaged?: string;
}

/** What a provider event says; the ledger adds the version, the recipient and the time it was recorded. */
export interface DeliveryFacts {
  event: DeliveryEvent;
  /** When the provider says it happened (ISO). */
  at: string;
  providerMessageId?: string;
  providerEventId?: string;
  reason?: string;
}

/** What the provider reported about one recipient: the status derived from its events, and the events. */
export interface Delivery {
  recipientId: string;
  status: DeliveryEvent;
  /** When the event that gives the status happened. */
  at: string;
  reason?: string;
  providerMessageId?: string;
  /** Every event recorded, oldest first. */
  events: DeliveryRecord[];
}

/**
 * Which event a recipient's delivery status shows when there are several: what the recipient
 * did last outranks what the mailbox did (a complaint comes after a delivery), a permanent
 * failure outranks a temporary one, and a delivery outranks an earlier deferral.
 */
const DELIVERY_PRECEDENCE: readonly DeliveryEvent[] = ['complained', 'unsubscribed', 'bounced', 'delivered', 'deferred'];

/** The status a set of events gives (see `DELIVERY_PRECEDENCE`); `undefined` for none. */
export function deliveryStatus(events: readonly { event: DeliveryEvent }[]): DeliveryEvent | undefined {
  return DELIVERY_PRECEDENCE.find((e) => events.some((r) => r.event === e));
}

/** A ledger record that is there but cannot be read as what it should be: named, never taken as absent. */
export class LedgerRecordInvalidError extends ValidationError {
  readonly key: string;
  constructor(code: string, key: string, issues: InputIssue[], options?: { cause?: unknown }) {
    super(code, issues, options);
    this.key = key;
  }
}

const JSON_CONTENT = { contentType: 'application/json' } as const;

/** The reason prefix of a recipient failed because its retryable results ran out (throttled, 503s): a retry may send it. */
export const RETRIES_EXHAUSTED = 'RETRIES_EXHAUSTED';

/** Whether a `failed` outcome is one a marketer may retry: the provider never took it, for a reason that may pass. */
export function isRetryableFailure(record: Pick<OutcomeRecord, 'status' | 'reason'>): boolean {
  return record.status === 'failed' && (record.reason ?? '').startsWith(RETRIES_EXHAUSTED);
}

/** What a re-queue did: `reopened` (the recipient may be leased again), or why it left the recipient alone. */
export type ReopenResult = { kind: 'reopened' } | { kind: 'skipped'; reason: string };

export class Ledger {
  private readonly store: ObjectStore;
  private readonly bucket: string;
  private readonly clock: Clock;

  constructor(deps: LedgerDeps) {
    this.store = deps.store;
    this.bucket = deps.bucket;
    this.clock = deps.clock;
  }

  /** Claims a recipient for `leaseId` before a provider call: only `ours` allows the call. */
  claim(ref: RecipientRef, leaseId: string): Promise<ClaimResult> {
    return this.createClaim(keys.claim(ref), leaseId);
  }

  /** Gives a claim up (the provider certainly did not take the message). Throws if the store fails: callers decide. */
  async releaseClaim(ref: RecipientRef): Promise<void> {
    await this.store.delete(this.bucket, keys.claim(ref));
  }

  async hasClaim(ref: RecipientRef): Promise<boolean> {
    return (await this.store.get(this.bucket, keys.claim(ref))) !== undefined;
  }

  /** Marks an invoked lease as taken: a second run of the same invocation gets `elsewhere`. */
  markLease(campaign: CampaignRef, leaseId: string): Promise<ClaimResult> {
    return this.createClaim(keys.leaseClaim(campaign, leaseId), leaseId);
  }

  /**
   * Writes how a recipient ended. `if-absent` never overwrites (`exists` when a record is
   * there); `always` replaces. Any other store failure is thrown.
   */
  async recordOutcome(ref: RecipientRef, outcome: OutcomeFacts, mode: RecordMode): Promise<WriteResult> {
    const record: OutcomeRecord = {
      version: 1,
      recipientId: ref.recipientId,
      status: outcome.status,
      providerId: outcome.providerId,
      reason: outcome.reason,
      at: this.iso(),
      leaseId: outcome.leaseId,
    };
    return this.write(keys.outcome(ref), record, mode);
  }

  /** The recipient's outcome, `undefined` when there is none; a damaged one throws `LedgerRecordInvalidError`. */
  async readOutcome(ref: RecipientRef): Promise<OutcomeRecord | undefined> {
    const key = keys.outcome(ref);
    const text = await this.store.get(this.bucket, key);
    return text === undefined ? undefined : readOutcomeRecord(key, text, ref.recipientId);
  }

  /**
   * Every outcome of a campaign, in key order. `skip` is asked first with each recipient id, so a
   * caller that already knows a recipient's end does not pay for reading it. A record deleted
   * between the listing and the read is left out; a damaged one throws `LedgerRecordInvalidError`.
   */
  async *outcomes(
    campaign: CampaignRef,
    options: {
      skip?: (recipientId: string) => boolean;
      /** Given, a damaged record is handed here and the listing goes on instead of throwing. */
      onDamaged?: (error: LedgerRecordInvalidError, recipientId: string) => void;
    } = {},
  ): AsyncGenerator<OutcomeRecord> {
    for await (const key of listAll(this.store, this.bucket, keys.outcomesPrefix(campaign))) {
      const { recipientId } = parseKey.ledger(key);
      if (options.skip?.(recipientId)) continue;
      const text = await this.store.get(this.bucket, key);
      if (text === undefined) continue;
      let record: OutcomeRecord;
      try {
        record = readOutcomeRecord(key, text, recipientId);
      } catch (error) {
        if (!(error instanceof LedgerRecordInvalidError) || !options.onDamaged) throw error;
        options.onDamaged(error, recipientId);
        continue;
      }
      yield record;
    }
  }

  /**
   * Settles an in-doubt recipient from the provider's records: `sent` (it took the message) or
   * `notAccepted` (no record after the settle time). Only an `inDoubt` outcome is replaced;
   * `changed` when the record says something else by now (a late worker's report stands).
   */
  async settleInDoubt(
    ref: RecipientRef,
    settled: { status: 'sent'; providerId: string; reason: string } | { status: 'notAccepted'; reason: string },
  ): Promise<'settled' | 'changed'> {
    const current = await this.readOutcome(ref);
    if (current?.status !== 'inDoubt') return 'changed';
    await this.recordOutcome(ref, { ...settled, leaseId: current.leaseId }, 'always');
    return 'settled';
  }

  /**
   * A retry of a recipient that failed for a retryable reason: removes its outcome so it can be
   * leased again. Refused while a claim exists (a claim may stand for an accepted message), and
   * for any other outcome. The caller re-queues it only on `reopened`.
   */
  async reopenFailed(ref: RecipientRef): Promise<ReopenResult> {
    const current = await this.readOutcome(ref);
    if (!current || !isRetryableFailure(current))
      return { kind: 'skipped', reason: `outcome is ${current?.status ?? 'absent'}, not a retryable failure` };
    if (await this.hasClaim(ref)) return { kind: 'skipped', reason: 'CLAIMED: a claim stands, so it may have been sent' };
    await this.store.delete(this.bucket, keys.outcome(ref));
    return { kind: 'reopened' };
  }

  /**
   * An explicit resend of a `notAccepted` recipient: the claim goes first, then the outcome. A
   * crash between the two leaves `notAccepted` with no claim, which a second resend finishes;
   * the other order would leave a claim with no outcome, read back as in doubt.
   */
  async reopenNotAccepted(ref: RecipientRef): Promise<ReopenResult> {
    const current = await this.readOutcome(ref);
    if (current?.status !== 'notAccepted') return { kind: 'skipped', reason: `outcome is ${current?.status ?? 'absent'}, not notAccepted` };
    await this.releaseClaim(ref);
    await this.store.delete(this.bucket, keys.outcome(ref));
    return { kind: 'reopened' };
  }

  /** The recipient ids of a campaign that hold a claim, in key order. */
  async *claimedRecipients(campaign: CampaignRef): AsyncGenerator<string> {
    for await (const key of listAll(this.store, this.bucket, keys.claimsPrefix(campaign))) yield parseKey.ledger(key).recipientId;
  }

  /** Whether the recipient is suppressed for the customer's mail (for any reason). */
  async isSuppressed(ref: SuppressionRef): Promise<boolean> {
    return (await this.store.get(this.bucket, keys.suppression(ref))) !== undefined;
  }

  /** Suppresses the recipient for every campaign of the customer; the first suppression stands (`exists`). */
  async suppress(ref: SuppressionRef, why: SuppressionFacts): Promise<WriteResult> {
    const record: SuppressionRecord = {
      version: 1,
      at: this.iso(),
      reason: why.reason,
      ...(why.campaignId !== undefined ? { campaignId: why.campaignId } : {}),
      ...(why.email !== undefined ? { email: why.email } : {}),
      ...(why.detail !== undefined ? { detail: oneLine(why.detail) } : {}),
    };
    return this.write(keys.suppression(ref), record, 'if-absent');
  }

  /** The recipient's suppression, `undefined` when there is none; a damaged one is `{ damaged }` (it still suppresses). */
  async readSuppression(ref: SuppressionRef): Promise<Suppression | undefined> {
    const key = keys.suppression(ref);
    const text = await this.store.get(this.bucket, key);
    return text === undefined ? undefined : toSuppression(key, ref.recipientId, text);
  }

  /**
   * The customer's suppressions in key order (by recipient id), after `afterRecipientId` when
   * given (the cursor of a page). Read one at a time: a caller streams them.
   */
  async *suppressions(customerId: string, options: { afterRecipientId?: string } = {}): AsyncGenerator<Suppression> {
    const prefix = keys.suppressionsPrefix(customerId);
    const after = options.afterRecipientId;
    let startAfter = after === undefined ? undefined : keys.suppression({ customerId, recipientId: after });
    for (;;) {
      const page = await this.store.list(this.bucket, prefix, { startAfter, limit: 1000 });
      for (const key of page.keys) {
        const { recipientId } = parseKey.suppression(key);
        const text = await this.store.get(this.bucket, key);
        if (text !== undefined) yield toSuppression(key, recipientId, text);
      }
      if (page.nextStartAfter === undefined) return;
      startAfter = page.nextStartAfter;
    }
  }

  /**
   * Removes a suppression the marketer added (`manual`). One the recipient or the provider caused
   * (unsubscribed, bounced, complained) is never removed here: `kept`, with its reason.
   */
  async removeManualSuppression(ref: SuppressionRef): Promise<{ result: 'removed' | 'absent' } | { result: 'kept'; reason: string }> {
    const found = await this.readSuppression(ref);
    if (found === undefined) return { result: 'absent' };
    if (found.record?.reason !== 'manual') return { result: 'kept', reason: found.record?.reason ?? 'damaged' };
    await this.store.delete(this.bucket, keys.suppression(ref));
    return { result: 'removed' };
  }

  /**
   * Records one provider event about a recipient. The first event of each kind stands (`exists`
   * for a repeat: a webhook retried, or delivered twice), so recording is idempotent.
   */
  async recordDelivery(ref: RecipientRef, facts: DeliveryFacts): Promise<WriteResult> {
    const record: DeliveryRecord = {
      version: 1,
      recipientId: ref.recipientId,
      event: facts.event,
      at: facts.at,
      recordedAt: this.iso(),
      ...(facts.providerMessageId !== undefined ? { providerMessageId: facts.providerMessageId } : {}),
      ...(facts.providerEventId !== undefined ? { providerEventId: facts.providerEventId } : {}),
      ...(facts.reason !== undefined ? { reason: oneLine(facts.reason) } : {}),
    };
    return this.write(keys.delivery(ref, facts.event), record, 'if-absent');
  }

  /** What the provider reported about one recipient, `undefined` when nothing; a damaged record throws `LedgerRecordInvalidError`. */
  async readDelivery(ref: RecipientRef): Promise<Delivery | undefined> {
    const records: DeliveryRecord[] = [];
    for await (const key of listAll(this.store, this.bucket, keys.recipientDeliveriesPrefix(ref))) {
      const text = await this.store.get(this.bucket, key);
      if (text !== undefined) records.push(readDeliveryRecord(key, text, ref.recipientId));
    }
    return records.length === 0 ? undefined : toDelivery(ref.recipientId, records);
  }

  /** Which kinds of event each recipient of a campaign has, from the keys alone (no record is read). */
  async *deliveryEvents(campaign: CampaignRef): AsyncGenerator<{ recipientId: string; event: string }> {
    for await (const key of listAll(this.store, this.bucket, keys.deliveriesPrefix(campaign))) {
      const { recipientId, event } = parseKey.delivery(key);
      yield { recipientId, event };
    }
  }

  /**
   * What the provider reported about a campaign's recipients, one `Delivery` per recipient that
   * has any, in key order (shard, then recipient id: the order of `outcomes`). Damaged records go
   * to `onDamaged` when given (the listing goes on), else throw.
   */
  async *deliveries(
    campaign: CampaignRef,
    options: { onDamaged?: (error: LedgerRecordInvalidError, recipientId: string) => void } = {},
  ): AsyncGenerator<Delivery> {
    let current: { recipientId: string; records: DeliveryRecord[] } | undefined;
    for await (const key of listAll(this.store, this.bucket, keys.deliveriesPrefix(campaign))) {
      const { recipientId } = parseKey.delivery(key);
      if (current !== undefined && current.recipientId !== recipientId) {
        if (current.records.length > 0) yield toDelivery(current.recipientId, current.records);
        current = undefined;
      }
      current ??= { recipientId, records: [] };
      const text = await this.store.get(this.bucket, key);
      if (text === undefined) continue;
      try {
        current.records.push(readDeliveryRecord(key, text, recipientId));
      } catch (error) {
        if (!(error instanceof LedgerRecordInvalidError) || !options.onDamaged) throw error;
        options.onDamaged(error, recipientId);
      }
    }
    if (current !== undefined && current.records.length > 0) yield toDelivery(current.recipientId, current.records);
  }

  private async createClaim(key: string, leaseId: string): Promise<ClaimResult> {
    const claim: ClaimRecord = { version: 1, leaseId, at: this.iso(), token: randomUUID() };
    try {
      await this.store.put(this.bucket, key, JSON.stringify(claim), { ifNoneMatch: '*', ...JSON_CONTENT });
      return { kind: 'ours' };
    } catch (error) {
      if (await this.holdsToken(key, claim.token)) return { kind: 'ours' };
      return error instanceof ObjectExistsError ? { kind: 'elsewhere' } : { kind: 'failed', reason: describeError(error) };
    }
  }

  /** Whether the claim at `key` is this attempt's. Unreadable or damaged: not ours (the safe answer). */
  private async holdsToken(key: string, token: string): Promise<boolean> {
    try {
      const body = await this.store.get(this.bucket, key);
      const parsed = body === undefined ? undefined : claimRecord.safeParse(JSON.parse(body));
      return parsed?.success === true && parsed.data.token === token;
    } catch {
      return false;
    }
  }

  private async write(key: string, record: object, mode: RecordMode): Promise<WriteResult> {
    try {
      await this.store.put(
        this.bucket,
        key,
        JSON.stringify(record),
        mode === 'if-absent' ? { ifNoneMatch: '*', ...JSON_CONTENT } : JSON_CONTENT,
      );
      return 'written';
    } catch (error) {
      if (mode === 'if-absent' && error instanceof ObjectExistsError) return 'exists';
      throw error;
    }
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

function readRecord<T>(schema: z.ZodType<T>, code: string, key: string, text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LedgerRecordInvalidError(code, key, [{ where: key, message: `not valid JSON (${(error as Error).message})` }]);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ where: [key, ...i.path.map(String)].join('.'), message: i.message }));
    throw new LedgerRecordInvalidError(code, key, issues);
  }
  return parsed.data;
}

function readOutcomeRecord(key: string, text: string, recipientId: string): OutcomeRecord {
  const record = readRecord(outcomeRecord, 'OUTCOME_INVALID', key, text);
  if (record.recipientId !== recipientId)
    throw new LedgerRecordInvalidError('OUTCOME_INVALID', key, [{ where: `${key}.recipientId`, message: 'is about another recipient' }]);
  return record;
}

function readDeliveryRecord(key: string, text: string, recipientId: string): DeliveryRecord {
  const record = readRecord(deliveryRecord, 'DELIVERY_INVALID', key, text);
  if (record.recipientId !== recipientId || parseKey.delivery(key).event !== record.event)
    throw new LedgerRecordInvalidError('DELIVERY_INVALID', key, [{ where: key, message: 'is about another recipient or event' }]);
  return record;
}

function toSuppression(key: string, recipientId: string, text: string): Suppression {
  try {
    return { recipientId, record: readRecord(suppressionRecord, 'SUPPRESSION_INVALID', key, text) };
  } catch (error) {
    return { recipientId, damaged: describeError(error) };
  }
}

function toDelivery(recipientId: string, records: DeliveryRecord[]): Delivery {
  const events = [...records].sort((a, b) => a.at.localeCompare(b.at));
  const status = deliveryStatus(events)!;
  const shown = events.find((e) => e.event === status)!;
  const providerMessageId = events.find((e) => e.providerMessageId !== undefined)?.providerMessageId;
  return {
    recipientId,
    status,
    at: shown.at,
    ...(shown.reason !== undefined ? { reason: shown.reason } : {}),
    ...(providerMessageId !== undefined ? { providerMessageId } : {}),
    events,
  };
}

/** Provider text kept in a record: one line, at most 500 characters. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\0]+/g, ' ').slice(0, 500);
}
