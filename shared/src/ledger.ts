import { randomUUID } from 'node:crypto';
import type { Clock } from './clock';
import { ObjectExistsError, ValidationError, describeError, type InputIssue } from './errors';
import { keys, parseKey, type CampaignRef, type RecipientRef } from './keys';
import { listAll, type ObjectStore } from './object-store/port';
import { claimRecord, outcomeRecord, type ClaimRecord, type OutcomeRecord, type OutcomeStatus, type SuppressionRecord } from './schemas';

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
 * - **suppressions** (`keys.suppression`): per customer, for every campaign. Their presence is
 *   what counts: a damaged suppression record still suppresses.
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

  /** Whether the recipient unsubscribed from the customer's mail. */
  async isSuppressed(ref: { customerId: string; recipientId: string }): Promise<boolean> {
    return (await this.store.get(this.bucket, keys.suppression(ref))) !== undefined;
  }

  /** Suppresses the recipient for every campaign of the customer; the first suppression stands (`exists`). */
  async suppress(
    ref: { customerId: string; recipientId: string },
    why: { campaignId: string; reason: 'unsubscribed' },
  ): Promise<WriteResult> {
    const record: SuppressionRecord = { version: 1, at: this.iso(), campaignId: why.campaignId, reason: why.reason };
    return this.write(keys.suppression(ref), record, 'if-absent');
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

function readOutcomeRecord(key: string, text: string, recipientId: string): OutcomeRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LedgerRecordInvalidError('OUTCOME_INVALID', key, [{ where: key, message: `not valid JSON (${(error as Error).message})` }]);
  }
  const parsed = outcomeRecord.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ where: [key, ...i.path.map(String)].join('.'), message: i.message }));
    throw new LedgerRecordInvalidError('OUTCOME_INVALID', key, issues);
  }
  if (parsed.data.recipientId !== recipientId)
    throw new LedgerRecordInvalidError('OUTCOME_INVALID', key, [{ where: `${key}.recipientId`, message: 'is about another recipient' }]);
  return parsed.data;
}
