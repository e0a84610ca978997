import type { AudienceReport, CampaignDefinition, CampaignRef, CampaignState, OutcomeStatus } from '@baton/shared';
import { phaseOf, type CampaignPhase } from './campaign-status';
import { CallTimes } from './call-times';
import { DamagedObjects } from './damaged-objects';
import type { CampaignCounts, RunStatus } from './campaign-counts';
import { LocalWaves } from './local-waves';
import { RecipientOutcomes } from './recipient-outcomes';
import { IndexQueue } from './index-queue';
import { RetryCounts } from './retry-counts';

export type { CampaignCounts, RunStatus } from './campaign-counts';

/**
 * The conductor's in-memory picture of one campaign: which recipients are rendered and waiting,
 * which are out with a worker, and how each one ended. Rebuilt from the store on start.
 *
 * It owns its invariants: a recipient is in at most one of ready, delayed, in flight and
 * resolved; a real outcome never changes; an in-doubt recorded only for want of a report
 * ("provisional") may still be replaced by a real one; counts add up to the audience.
 *
 * Recipients are held by their index in a `RecipientTable` (16 bytes an id, its outcome in a
 * byte): a million-recipient campaign costs tens of megabytes here, not hundreds.
 */
export class CampaignRun {
  private currentState: CampaignState;
  private audienceReport: AudienceReport | undefined;
  private progress: AudienceReport | undefined;
  private stubbedSeen = 0;
  private renderedSeen = 0;
  private ledgerRead = false;
  /** Attempts spent and throttle streaks per recipient: what a retryable result costs (retry-counts.ts). */
  readonly retries = new RetryCounts();
  /** Provider calls made for this campaign, by time. */
  private readonly sendTimes = new CallTimes();
  /** Every recipient seen, by index: whether it is known (ever queued or resolved: a rendered key is queued at most once) and its outcome. */
  private readonly recipients = new RecipientOutcomes();
  private readonly ready = new IndexQueue();
  private readonly delayed = new Map<number, number>();
  /** No delayed recipient is due before this (it may be earlier than the true minimum, never later). */
  private nextDue = Number.POSITIVE_INFINITY;
  /** Outcomes counted by status, kept as they change (views and scans read them often). */
  private readonly tally = new Map<OutcomeStatus, number>();
  private readonly inFlight = new Set<number>();
  private readonly awaitingZone = new IndexQueue();
  /** Sent at a local time: how many recipients go out at each instant, by zone (for the view's waves and ETA). */
  readonly waves = new LocalWaves();
  private readonly zoneIssues: { line: number; kind: string; reason: string }[] = [];
  private readonly provisional = new Set<number>();
  private provisionalSince = Number.NEGATIVE_INFINITY;
  /** Stored objects of this campaign that cannot be read, by key, with why: shown until they read again. */
  readonly damaged = new DamagedObjects();
  /** A finished campaign restored from its summary: these counts are final. */
  private finalCounts: CampaignCounts | undefined;

  constructor(
    readonly definition: CampaignDefinition,
    state: CampaignState,
  ) {
    this.currentState = state;
  }

  get ref(): CampaignRef {
    return { customerId: this.definition.customerId, campaignId: this.definition.campaignId };
  }

  get id(): string {
    return this.definition.campaignId;
  }

  get state(): CampaignState {
    return this.currentState;
  }

  get phase(): CampaignPhase {
    return phaseOf(this.currentState);
  }

  /** Only the campaigns module moves a campaign along its transition table. */
  applyState(state: CampaignState): void {
    this.currentState = state;
  }

  get report(): AudienceReport | undefined {
    return this.audienceReport;
  }

  setReport(report: AudienceReport): void {
    this.audienceReport = report;
  }

  /** The audience's problems: the report's, or while stubbing goes on those found so far. */
  get problemsFound(): AudienceReport['problems'] {
    return (this.audienceReport ?? this.progress)?.problems ?? [];
  }

  /** What the stubber has read so far (audience-progress.json), until the report comes. */
  setProgress(progress: AudienceReport): void {
    this.progress = progress;
  }

  /** Stubs and rendered objects only accumulate while a campaign runs: a listing that saw fewer never lowers the count. */
  noteStubbed(n: number): void {
    this.stubbedSeen = Math.max(this.stubbedSeen, n);
  }

  noteRendered(n: number): void {
    this.renderedSeen = Math.max(this.renderedSeen, n);
  }

  get rendered(): number {
    return this.renderedSeen;
  }

  /** The store's ledger has been read once (outcomes and claims), so the queue is safe to fill. */
  get ledgerLoaded(): boolean {
    return this.ledgerRead;
  }

  markLedgerLoaded(): void {
    this.ledgerRead = true;
  }

  isKnown(recipientId: string): boolean {
    const i = this.recipients.indexOf(recipientId);
    return i >= 0 && this.recipients.isKnown(i);
  }

  hasOutcome(recipientId: string): boolean {
    const i = this.recipients.indexOf(recipientId);
    return i >= 0 && this.recipients.outcome(i) !== undefined;
  }

  get outcomeCount(): number {
    return this.recipients.outcomeCount;
  }

  isInFlight(recipientId: string): boolean {
    const i = this.recipients.indexOf(recipientId);
    return i >= 0 && this.inFlight.has(i);
  }

  /** A recipient was found rendered: queue it unless it was seen before. */
  addRendered(recipientId: string): void {
    const i = this.recipients.add(recipientId);
    if (this.recipients.isKnown(i)) return;
    this.recipients.markKnown(i);
    // Sent at a local time: held until its zone is read (see the reconciler), then released then.
    if (this.currentState.localSend) this.awaitingZone.push(i);
    else this.ready.push(i);
  }

  /** Up to `n` rendered recipients whose local release time is not known yet. */
  takeAwaitingZone(n: number): string[] {
    const ids: string[] = [];
    while (ids.length < n && this.awaitingZone.length > 0) ids.push(this.recipients.idAt(this.awaitingZone.shift()));
    return ids;
  }

  /** Rendered recipients whose zone is not read yet. */
  get awaitingZoneCount(): number {
    return this.awaitingZone.length;
  }

  /** Queued, to go out no earlier than `at` (its local time); false if it has an outcome already. */
  releaseAt(recipientId: string, at: number): boolean {
    const i = this.recipients.add(recipientId);
    if (this.recipients.outcome(i) !== undefined) return false;
    this.delay(i, at);
    return true;
  }

  /** A recipient's zone was missing or unknown (it goes out at the campaign's zone): listed with the audience's problems. */
  noteZoneProblem(problem: { line: number; kind: string; reason: string }): void {
    if (this.zoneIssues.length < 100) this.zoneIssues.push(problem);
  }

  get zoneProblems(): readonly { line: number; kind: string; reason: string }[] {
    return this.zoneIssues;
  }

  readyCount(now: number): number {
    this.promoteDue(now);
    return this.ready.length;
  }

  /** Takes up to `n` ready recipients and marks them in flight. */
  take(n: number, now: number): string[] {
    this.promoteDue(now);
    const taken: number[] = [];
    while (taken.length < n && this.ready.length > 0) {
      const i = this.ready.shift();
      // Settled since it was queued (a late report of the lease that had it): never out again.
      if (this.recipients.outcome(i) === undefined && !this.inFlight.has(i)) taken.push(i);
    }
    for (const i of taken) this.inFlight.add(i);
    return taken.map((i) => this.recipients.idAt(i));
  }

  /** Back to the queue: not attempted, or the lease was never delivered. */
  requeue(recipientId: string): void {
    const i = this.recipients.indexOf(recipientId);
    if (i < 0 || !this.inFlight.delete(i) || this.recipients.outcome(i) !== undefined) return;
    this.ready.push(i);
  }

  /** Back to the queue, but not before `at` (the provider pushed back). */
  requeueAt(recipientId: string, at: number): void {
    const i = this.recipients.indexOf(recipientId);
    if (i < 0 || !this.inFlight.delete(i) || this.recipients.outcome(i) !== undefined) return;
    this.delay(i, at);
  }

  private delay(i: number, at: number): void {
    this.delayed.set(i, at);
    this.nextDue = Math.min(this.nextDue, at);
  }

  /**
   * Records how a recipient ended. Returns true when this changed the recipient's outcome.
   * A provisional in-doubt may be replaced by a real report; a real outcome never changes.
   */
  resolve(recipientId: string, status: OutcomeStatus, provisional = false): boolean {
    const i = this.recipients.add(recipientId);
    this.recipients.markKnown(i);
    this.inFlight.delete(i);
    this.delayed.delete(i);
    this.retries.endStreak(recipientId);
    const previous = this.recipients.outcome(i);
    if (previous !== undefined && !this.provisional.has(i)) return false;
    if (previous !== undefined && provisional) return false;
    if (previous !== undefined) this.tally.set(previous, this.countOf(previous) - 1);
    this.tally.set(status, this.countOf(status) + 1);
    this.recipients.setOutcome(i, status);
    if (provisional) this.provisional.add(i);
    else this.provisional.delete(i);
    return previous !== status;
  }

  /** In doubt only because nobody reported (lease expired, claimed elsewhere): a late report may settle it. */
  markUnreported(recipientId: string, now: number): void {
    this.resolve(recipientId, 'inDoubt', true);
    this.provisionalSince = now;
  }

  /** Recipients in doubt only for want of a report. */
  unreported(): string[] {
    return [...this.provisional].map((i) => this.recipients.idAt(i));
  }

  isUnreported(recipientId: string): boolean {
    const i = this.recipients.indexOf(recipientId);
    return i >= 0 && this.provisional.has(i);
  }

  /** When a recipient last became in doubt for want of a report: late reports get a grace from then. */
  get lastUnreportedAt(): number {
    return this.provisionalSince;
  }

  countOf(status: OutcomeStatus): number {
    return this.tally.get(status) ?? 0;
  }

  recordSend(now: number): void {
    this.sendTimes.record(now);
  }

  sentInLast(ms: number, now: number): number {
    return this.sendTimes.inLast(ms, now);
  }

  /** When the last recipient waiting for a retry is due (undefined: none waits). */
  lastRetryDue(): number | undefined {
    let last: number | undefined;
    for (const at of this.delayed.values()) if (last === undefined || at > last) last = at;
    return last;
  }

  /** Every valid recipient has an outcome and nothing is out with a worker. */
  isComplete(): boolean {
    if (this.inFlight.size > 0 || this.audienceReport === undefined) return false;
    if (this.phase === 'cancelling' || this.phase === 'cancelled') return true;
    return this.recipients.outcomeCount >= this.audienceReport.valid;
  }

  /** A finished campaign read back after a restart: its counts are the summary's. */
  restoreFinal(counts: CampaignCounts): void {
    this.finalCounts = { ...counts };
  }

  /** Whether the counts are a finished campaign's summary (its outcomes were not read into memory). */
  get restoredFromSummary(): boolean {
    return this.finalCounts !== undefined;
  }

  /** A finished campaign sends again (a retry): its counts are live again, from the ledger if it was restored from its summary. */
  reopen(): void {
    this.finalCounts = undefined;
  }

  /** What the run knows of a recipient now; `undefined` means queued (or not seen yet). */
  statusOf(recipientId: string): RunStatus | undefined {
    const i = this.recipients.indexOf(recipientId);
    if (i < 0) return undefined;
    if (this.inFlight.has(i)) return { status: 'inFlight' };
    const at = this.delayed.get(i);
    if (at !== undefined) return { status: 'retrying', at };
    const outcome = this.recipients.outcome(i);
    return outcome === undefined ? undefined : { status: outcome };
  }

  /** The provider settled an in-doubt recipient (`sent` or `notAccepted`): the one change a real outcome may have. */
  settle(recipientId: string, status: 'sent' | 'notAccepted'): boolean {
    const i = this.recipients.indexOf(recipientId);
    if (i < 0 || this.recipients.outcome(i) !== 'inDoubt') return false;
    this.provisional.delete(i);
    this.tally.set('inDoubt', this.countOf('inDoubt') - 1);
    this.tally.set(status, this.countOf(status) + 1);
    this.recipients.setOutcome(i, status);
    return true;
  }

  /**
   * A retried or resent recipient (its ledger outcome already removed): back to the queue with a
   * fresh retry budget. A run that has not read its ledger yet finds it when it does.
   */
  requeueResolved(recipientId: string): void {
    const i = this.recipients.indexOf(recipientId);
    const previous = i < 0 ? undefined : this.recipients.outcome(i);
    if (previous === undefined) return;
    this.recipients.setOutcome(i, undefined);
    this.provisional.delete(i);
    this.tally.set(previous, this.countOf(previous) - 1);
    this.retries.forget(recipientId);
    if (this.recipients.isKnown(i)) this.ready.push(i);
  }

  /** Recipients whose outcome is `status`, in the order they were first seen. */
  recipientsWith(status: OutcomeStatus): string[] {
    return this.countOf(status) === 0 ? [] : this.recipients.idsWith(status);
  }

  counts(): CampaignCounts {
    if (this.finalCounts) return { ...this.finalCounts };
    const by = (s: OutcomeStatus) => this.countOf(s);
    const valid = this.audienceReport?.valid;
    const cancelling = this.state.status === 'cancelled' && valid !== undefined && this.inFlight.size === 0;
    const cancelled = cancelling ? valid - this.recipients.outcomeCount + by('cancelled') : by('cancelled');
    // A late report can settle a recipient that a later lease holds again (its worker then finds
    // the claim): counted by its outcome, not twice.
    let inFlight = 0;
    for (const i of this.inFlight) if (this.recipients.outcome(i) === undefined) inFlight++;
    // Everyone else is waiting: delayed (retrying) or queued, so the counts add up at every moment.
    // Before the report, what was seen so far: stubs listed, or more recipients already known
    // (rendering and sending overlap stubbing, and the listings are not taken at one instant).
    const seen = Math.max(this.stubbedSeen, this.recipients.knownCount);
    const waiting = cancelling ? 0 : Math.max(0, (valid ?? seen) - this.recipients.outcomeCount - inFlight);
    const retrying = Math.min(waiting, this.delayed.size);
    return {
      // Before the audience report, the stubs seen so far (sending overlaps stubbing).
      total: this.audienceReport?.rows ?? seen,
      stubbed: valid ?? seen,
      rendered: this.renderedSeen,
      sent: by('sent'),
      failed: by('failed'),
      invalid: this.audienceReport?.invalid ?? 0,
      duplicate: this.audienceReport?.duplicate ?? 0,
      suppressed: by('suppressed'),
      inDoubt: by('inDoubt'),
      cancelled,
      inFlight,
      queued: waiting - retrying,
      retrying,
      notAccepted: by('notAccepted'),
    };
  }

  /** Due recipients join the queue. A pass over the delayed ones only when one is due: a local send holds them all. */
  private promoteDue(now: number): void {
    if (this.delayed.size === 0 || now < this.nextDue) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [i, at] of this.delayed) {
      if (at <= now) {
        this.delayed.delete(i);
        this.ready.push(i);
      } else next = Math.min(next, at);
    }
    this.nextDue = next;
  }
}
