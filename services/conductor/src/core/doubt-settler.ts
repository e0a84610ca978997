import {
  describeError,
  keys,
  parseJson,
  parseWith,
  stubRecord,
  LedgerRecordInvalidError,
  type Buckets,
  type Clock,
  type Ledger,
  type Logger,
  type ObjectStore,
  type OutcomeRecord,
  type ProviderLookup,
  type RecipientRef,
} from '@baton/shared';
import type { CampaignRun } from './campaign-run';
import type { Campaigns } from './campaigns';
import type { ConductorMetrics } from './ports';
import type { Reconciler } from './reconciler';

/**
 * Look-ups per batch at most. The settler runs beside the tick, never inside it (a slow provider
 * must not hold up the governors or the workers' top-up), and a bounded batch keeps one run short
 * and its memory small however many recipients are in doubt; the next batch starts at a later tick.
 */
export const SETTLE_PER_BATCH = 50;
/** Look-ups at once within a batch. */
const LOOKUP_CONCURRENCY = 4;
/** After the provider could not answer, the recipient is asked about again this much later (or after the settle time, if shorter). */
export const RECHECK_AFTER_MS = 60_000;
/** How often the campaigns' in-doubt recipients are gathered again (a pass over each campaign's outcomes). */
const GATHER_EVERY_MS = 5_000;

export interface SettlerDeps {
  store: ObjectStore;
  buckets: Buckets;
  clock: Clock;
  logger: Logger;
  metrics: ConductorMetrics;
  ledger: Ledger;
  campaigns: Campaigns;
  reconciler: Reconciler;
  /** Without one, nothing is settled: in doubt stays in doubt. */
  lookup: ProviderLookup | undefined;
  /** SETTLE_AFTER_MS: how long after it went in doubt a "no record" is believed. */
  settleAfterMs: number;
}

type Verdict = 'sent' | 'notAccepted' | 'later' | 'unanswered';

/**
 * Settles recipients in doubt by asking the provider's records once `settleAfterMs` has passed
 * since the send went in doubt, never by resending: accepted → `sent` with the provider's id; no
 * record → `notAccepted` (a marketer may resend it explicitly); no answer → still in doubt, asked
 * again after RECHECK_AFTER_MS. Records go through the ledger (`settleInDoubt`), which replaces
 * only an in-doubt outcome, so a late worker's report is never overwritten.
 */
export class DoubtSettler {
  private running: Promise<void> | undefined;
  /** `campaignId/recipientId` → not to be looked at before this time. */
  private readonly notBefore = new Map<string, number>();
  private queue: { run: CampaignRun; recipientId: string }[] = [];
  private gatheredAt = Number.NEGATIVE_INFINITY;

  private readonly recheckMs: number;

  constructor(private readonly deps: SettlerDeps) {
    this.recheckMs = Math.max(1_000, Math.min(RECHECK_AFTER_MS, deps.settleAfterMs));
  }

  /** Starts a batch unless one is running (or there is no look-up); returns at once. */
  kick(): void {
    if (!this.deps.lookup || this.running) return;
    this.running = this.settleBatch()
      .then(() => undefined)
      .catch((err) => this.deps.logger.error({ event: 'settle.batch_failed', err }, 'settling in-doubt recipients failed; will retry'))
      .finally(() => {
        this.running = undefined;
      });
  }

  /** One batch, awaited: up to SETTLE_PER_BATCH recipients looked at. Returns how many were settled. */
  async settleBatch(): Promise<number> {
    if (!this.deps.lookup) return 0;
    const now = this.deps.clock.now();
    if (this.queue.length === 0 && now - this.gatheredAt >= GATHER_EVERY_MS) await this.gather(now);
    const batch = this.queue.splice(0, SETTLE_PER_BATCH);
    let settled = 0;
    const changed = new Set<CampaignRun>();
    for (let i = 0; i < batch.length; i += LOOKUP_CONCURRENCY) {
      const verdicts = await Promise.all(batch.slice(i, i + LOOKUP_CONCURRENCY).map((c) => this.settleOne(c.run, c.recipientId, now)));
      verdicts.forEach((v, j) => {
        if (v === 'sent' || v === 'notAccepted') {
          settled++;
          changed.add(batch[i + j]!.run);
        }
      });
    }
    // A finished campaign's summary is what a restart reads: keep it in step.
    for (const run of changed) if (run.state.finishedAt !== undefined) await this.deps.reconciler.writeSummary(run, run.state.finishedAt);
    return settled;
  }

  /** The in-doubt recipients due a look, across campaigns; finished campaigns read back from their summary are loaded from the ledger first. */
  private async gather(now: number): Promise<void> {
    this.gatheredAt = now;
    for (const run of this.deps.campaigns.all()) {
      if (run.phase === 'draft') continue;
      if (run.restoredFromSummary) {
        if (run.counts().inDoubt === 0) continue;
        await this.deps.reconciler.rebuildFromLedger(run);
      }
      for (const recipientId of run.recipientsWith('inDoubt')) {
        if ((this.notBefore.get(`${run.id}/${recipientId}`) ?? 0) <= now) this.queue.push({ run, recipientId });
      }
    }
  }

  private async settleOne(run: CampaignRun, recipientId: string, now: number): Promise<Verdict> {
    const ref: RecipientRef = { ...run.ref, recipientId };
    const mark = `${run.id}/${recipientId}`;
    const later = (at: number, verdict: Verdict = 'later'): Verdict => {
      this.notBefore.set(mark, at);
      return verdict;
    };
    try {
      const record = await this.inDoubtRecord(run, ref);
      if (record === undefined) return later(Number.POSITIVE_INFINITY);
      // The provider's records are eventually consistent: asked only once the settle time has passed.
      const due = Date.parse(record.at) + this.deps.settleAfterMs;
      if (now < due) return later(due);
      const to = await this.addressOf(ref);
      if (to === undefined) return later(now + this.recheckMs, 'unanswered');
      const since = Date.parse(run.state.sendRequestedAt ?? run.definition.createdAt);
      const found = await this.deps.lookup!.find({ ...ref, to, domain: run.definition.sendingDomain, since });
      if (found.kind === 'accepted') {
        return this.record(run, ref, { status: 'sent', providerId: found.providerId, reason: 'SETTLED: the provider accepted it' });
      }
      const reason = `NOT_ACCEPTED: the provider had no record of it ${Math.round(this.deps.settleAfterMs / 1000)} s after it went in doubt`;
      return this.record(run, ref, { status: 'notAccepted', reason });
    } catch (err) {
      this.deps.logger.warn(
        { event: 'settle.unanswered', campaignId: run.id, recipientId, reason: describeError(err) },
        'the provider could not say whether it took a message in doubt; asking again later',
      );
      return later(now + this.recheckMs, 'unanswered');
    }
  }

  /** The recipient's outcome if it is still in doubt; a record that says otherwise now is taken into the run. */
  private async inDoubtRecord(run: CampaignRun, ref: RecipientRef): Promise<OutcomeRecord | undefined> {
    let record: OutcomeRecord | undefined;
    try {
      record = await this.deps.ledger.readOutcome(ref);
    } catch (err) {
      if (err instanceof LedgerRecordInvalidError) return undefined; // damaged: an operator looks (named on the campaign)
      throw err;
    }
    if (record?.status === 'inDoubt') return record;
    if (record?.status === 'sent' || record?.status === 'notAccepted') run.settle(ref.recipientId, record.status);
    return undefined;
  }

  private async record(
    run: CampaignRun,
    ref: RecipientRef,
    settled: { status: 'sent'; providerId: string; reason: string } | { status: 'notAccepted'; reason: string },
  ): Promise<Verdict> {
    if ((await this.deps.ledger.settleInDoubt(ref, settled)) === 'changed') {
      await this.inDoubtRecord(run, ref);
      this.notBefore.set(`${run.id}/${ref.recipientId}`, Number.POSITIVE_INFINITY);
      return 'later';
    }
    run.settle(ref.recipientId, settled.status);
    this.notBefore.delete(`${run.id}/${ref.recipientId}`);
    this.deps.metrics.outcome(settled.status);
    this.deps.logger.info(
      { event: 'settle.settled', campaignId: run.id, recipientId: ref.recipientId, status: settled.status },
      'a recipient in doubt was settled from the provider records',
    );
    return settled.status;
  }

  private async addressOf(ref: RecipientRef): Promise<string | undefined> {
    const key = keys.stub(ref);
    const text = await this.deps.store.get(this.deps.buckets.stubs, key);
    return text === undefined ? undefined : parseWith(stubRecord, parseJson(text, key), 'STUB_INVALID', key).email;
  }
}
