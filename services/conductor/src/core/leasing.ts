import { randomBytes } from 'node:crypto';
import {
  WANTS_MORE_FRACTION,
  WANTS_MORE_MIN_MS,
  leasePermits,
  leaseSendUntil,
  scheduleEnd,
  type CheckInRequest,
  type CheckInResponse,
  type Clock,
  type Lease,
  type Ledger,
  type Logger,
  type RenewRequest,
  type WatchRequest,
  type WatchResponse,
} from '@baton/shared';
import type { CampaignRun } from './campaign-run';
import type { Campaigns } from './campaigns';
import { settleResults } from './check-in-results';
import type { Dispatch, Dispatcher } from './dispatcher';
import type { GovernorJournal } from './governor-journal';
import type { ActiveLease, LeaseBook } from './lease-book';
import type { WorkerRates } from './pacing';
import type { ConductorMetrics, WorkerInvoker } from './ports';
import type { Reconciler } from './reconciler';
import type { SendRates } from './send-rates';
import type { LeaseStops } from './lease-stops';

export interface LeasingSettings {
  maxWorkers: number;
  maxAttempts: number;
  workerTimeBudgetMs: number;
  leaseGraceMs: number;
  leaseHorizonMs: number;
}

export interface LeasingDeps {
  clock: Clock;
  logger: Logger;
  metrics: ConductorMetrics;
  invoker: WorkerInvoker;
  campaigns: Campaigns;
  book: LeaseBook;
  dispatcher: Dispatcher;
  reconciler: Reconciler;
  ledger: Ledger;
  rates: WorkerRates;
  journal: GovernorJournal;
  settings: LeasingSettings;
  /** Accepted sends over time, fed from each check-in. */
  sendRates?: SendRates;
  /** Leases stopped while they run (a pause): no lease for their campaign meanwhile. */
  stops: LeaseStops;
}

/** How long a worker takes to start after it is invoked, unless its invoker says (a Lambda cold start, roughly). */
const INVOKE_LEAD_MS = 400;

/** Until when a worker can still start calls, by what it said of its budget. */
function usableUntil(request: { budgetLeftMs?: number; reserveMs?: number }, now: number): number {
  return request.budgetLeftMs === undefined ? Number.POSITIVE_INFINITY : now + request.budgetLeftMs - (request.reserveMs ?? 0);
}

/**
 * The lease protocol, conductor side: starts workers up to MAX_WORKERS, answers renewals and
 * check-ins (each once: a repeat gets the same reply), and expires leases whose worker vanished.
 */
export class Leasing {
  private stopping = false;
  /** Expired leases whose recipients are not settled yet (the store failed meanwhile). */
  private readonly toSettle: { run: CampaignRun; leaseId: string; recipientIds: readonly string[] }[] = [];
  /** Keys never called whose claim could not be removed at their check-in: still in flight, released (then requeued) at a later tick. */
  private readonly heldClaims = new Map<string, { run: CampaignRun; recipientId: string }>();

  constructor(private readonly deps: LeasingDeps) {}

  /** Stop handing out work; leases already out finish and check in normally. */
  stop(): void {
    this.stopping = true;
    this.deps.stops.releaseWatches();
  }

  /** The campaign's leases stop at once (their workers are told through their watches); none is issued for it until `resume`. */
  stopCampaign(run: CampaignRun): void {
    this.deps.stops.stop(run.id, this.deps.book.ofCampaign(run.id));
  }

  /**
   * A worker watching a lease it sends (see `watchRequest`). A watch of a lease issued to another
   * worker is told to stop, and nothing it says counts. One of a lease this conductor does not
   * know (issued before a restart) is stopped if its campaign is paused or cancelled.
   */
  async watch(request: WatchRequest): Promise<WatchResponse> {
    const { book, campaigns, stops } = this.deps;
    const holder = book.workerOf(request.leaseId);
    if (holder !== undefined && holder !== request.workerId) return { stop: true };
    if (holder !== undefined || request.campaignId === undefined) return stops.watch(request);
    // Checked in already (the watch crossed the check-in): over, not a lease from before a restart.
    const checkIn = `${request.leaseId}:${request.workerId}`;
    if (book.answered(checkIn) ?? book.inProgress(checkIn)) return { stop: false };
    const phase = campaigns.find(request.campaignId)?.phase;
    const halted = phase === 'paused' ? 'paused' : phase === 'cancelling' || phase === 'cancelled' ? 'cancelled' : undefined;
    return stops.watch(request, { campaignId: request.campaignId, halted });
  }

  /** Starts workers until MAX_WORKERS hold leases or nothing is left to lease now. */
  async topUpWorkers(): Promise<void> {
    const { book, settings, clock } = this.deps;
    while (!this.stopping && book.stayingWorkers() < settings.maxWorkers) {
      const workerId = `w-${randomBytes(6).toString('hex')}`;
      // A new worker needs a moment to start (a Lambda cold start): its schedule begins after it.
      const lease = this.nextLease(workerId, clock.now(), Number.POSITIVE_INFINITY, this.deps.invoker.startLeadMs ?? INVOKE_LEAD_MS);
      if (!lease || !(await this.invoke(lease))) break;
    }
  }

  /**
   * A worker whose lease has no call left to start asks for its next lease before checking
   * this one in. A repeated request gets the same answer.
   */
  async renew(request: RenewRequest): Promise<CheckInResponse> {
    const { book, clock } = this.deps;
    const key = `${request.leaseId}:${request.workerId}:renew`;
    const replay = book.answered(key);
    if (replay) return replay;
    if (!book.heldBy(request.leaseId, request.workerId) || this.stopping) return { lease: null };
    const now = clock.now();
    const response = { lease: this.nextLease(request.workerId, now, usableUntil(request, now)) ?? null };
    book.remember(key, now, response);
    if (response.lease) this.noteBudget(request.workerId, response.lease, request, now);
    return response;
  }

  /** A worker reports a lease's results; with time left, it gets the next lease in the reply. */
  async checkIn(request: CheckInRequest): Promise<CheckInResponse> {
    const { book, clock } = this.deps;
    // Keyed by worker too: only the lease's own worker ever gets its reply.
    const key = `${request.leaseId}:${request.workerId}`;
    const replay = book.answered(key) ?? book.inProgress(key);
    if (replay) return replay;
    const active = book.heldBy(request.leaseId, request.workerId);
    if (!active) {
      await this.settleLateResults(request);
      return { lease: null };
    }
    const now = clock.now();
    book.remove(request.leaseId);
    const response = await book.handle(key, request.workerId, async () => {
      try {
        const answer = await this.applyCheckIn(active, request, now);
        this.deps.stops.ended(request.leaseId, active.lease.schedule, request.usedPerSlice, request.permitsUsed);
        book.remember(key, now, answer);
        return answer;
      } catch (err) {
        // Nothing is lost: the lease is out again, so the worker's retry (or its expiry) settles it.
        book.add(active);
        throw err;
      }
    });
    if (!book.workers().has(request.workerId)) {
      // The worker is leaving: start its successor now rather than at the next tick.
      this.deps.rates.forget(request.workerId);
      this.topUpInBackground();
    }
    return response;
  }

  /**
   * Settles a check-in in two steps: first everything that reads or writes the store (it may
   * fail; a retry skips the results already settled), then the governor, the rates and the
   * next lease, which cannot fail.
   */
  private async applyCheckIn(active: ActiveLease, request: CheckInRequest, now: number): Promise<CheckInResponse> {
    const { reconciler, ledger, metrics, settings, rates, logger, journal } = this.deps;
    const { throttled, sent, limitedUntil, claimsHeld } = await settleResults(
      { reconciler, ledger, metrics, maxAttempts: settings.maxAttempts, rates: this.deps.sendRates },
      active,
      request,
      now,
    );
    for (const recipientId of claimsHeld) {
      if (active.run.isInFlight(recipientId)) this.heldClaims.set(`${active.run.id}/${recipientId}`, { run: active.run, recipientId });
    }
    // The worker is done with this lease: what it did not use goes back, slice by slice.
    for (const g of active.governors) g.release(active.grant, request.usedPerSlice, now);
    const domainGov = active.governors[0]!;
    if (limitedUntil !== undefined) this.holdForLimit(active, limitedUntil, now);
    if (throttled) {
      // News only if the lease ran at the current level: one episode cuts once, however many report it.
      const changed = domainGov.pushBack(now, throttled.retryAfterMs, active.issuedAt);
      logger.warn(
        {
          event: changed ? 'governor.push_back' : 'governor.push_back_known',
          domain: active.lease.domain,
          leaseId: active.lease.leaseId,
          effectiveCap: domainGov.effectiveCap,
          retryAfterMs: throttled.retryAfterMs,
        },
        changed ? 'provider pushed back' : 'provider pushed back on a lease planned before the last push-back',
      );
      // A restart must not forget it.
      if (changed)
        void journal
          .save(now)
          .catch((err) => logger.error({ event: 'governor.checkpoint_failed', err }, 'checkpoint after a push-back failed'));
    } else if (sent > 0 && domainGov.accepted(now, active.issuedAt)) {
      // (The `else` only reads better: after a cut this lease predates the change, so `accepted` would refuse it.)
      logger.info(
        { event: 'governor.recover', domain: active.lease.domain, leaseId: active.lease.leaseId, effectiveCap: domainGov.effectiveCap },
        'provider took the calls of a lease planned at the current level: effective cap raised',
      );
    }
    rates.observe(request.workerId, request.timing, request.lanes);
    const next = request.wantsMore && !this.stopping ? this.nextLease(request.workerId, now, usableUntil(request, now)) : undefined;
    if (!next) return { lease: null };
    this.noteBudget(request.workerId, next, request, now);
    return { lease: next };
  }

  /** The provider's limit for the lease's domain is reached: hold that domain (only) until it lifts, and say so. */
  private holdForLimit(active: ActiveLease, until: number, now: number): void {
    const { logger, journal } = this.deps;
    const { domain } = active.lease;
    const resumes = new Date(until)
      .toISOString()
      .replace(/:\d\d\.\d+Z$/, ' UTC')
      .replace('T', ' ');
    const message = `The provider's sending limit for ${domain} is reached; sending resumes at ${resumes}`;
    if (!active.governors[0]!.hold(now, until, message)) return;
    logger.warn({ event: 'governor.limit_reached', domain, leaseId: active.lease.leaseId, until }, message);
    void journal.save(now).catch((err) => logger.error({ event: 'governor.checkpoint_failed', err }, 'checkpoint after a limit failed'));
  }

  /**
   * Leases whose worker vanished: claimed recipients become in doubt, the rest go back. If the
   * store fails meanwhile, the lease's recipients not yet settled are tried again at the next
   * tick: they stay in flight (so the campaign cannot end), never stranded.
   */
  async expireLeases(now: number): Promise<void> {
    await this.releaseHeldClaims();
    for (const { lease, run } of this.deps.book.expire(now)) {
      this.deps.logger.warn({ event: 'lease.expired', leaseId: lease.leaseId, campaignId: run.id }, 'lease expired without a check-in');
      this.deps.stops.ended(lease.leaseId, lease.schedule, undefined, leasePermits(lease));
      this.toSettle.push({ run, leaseId: lease.leaseId, recipientIds: lease.recipientIds });
    }
    const pending = this.toSettle.splice(0);
    for (const [k, entry] of pending.entries()) {
      try {
        await this.deps.reconciler.settleUnknown(
          entry.run,
          entry.recipientIds.filter((r) => entry.run.isInFlight(r)),
          now,
        );
      } catch (err) {
        this.toSettle.push(...pending.slice(k));
        this.deps.logger.warn(
          { event: 'lease.settle_failed', leaseId: entry.leaseId, campaignId: entry.run.id, leases: pending.length - k, err },
          'could not settle an expired lease; trying again at the next tick',
        );
        return;
      }
    }
  }

  /** Claims of keys never called that the store would not remove at their check-in: tried again, and the key requeued once gone. */
  private async releaseHeldClaims(): Promise<void> {
    for (const [key, { run, recipientId }] of this.heldClaims) {
      try {
        await this.deps.ledger.releaseClaim({ ...run.ref, recipientId });
      } catch (err) {
        this.deps.logger.warn(
          { event: 'claim.release_failed', campaignId: run.id, held: this.heldClaims.size, err },
          'could not remove claims of keys never called; trying again at the next tick',
        );
        return;
      }
      this.heldClaims.delete(key);
      run.requeue(recipientId);
    }
  }

  /**
   * A check-in for a lease that expired (or that a restarted conductor never issued): its real
   * outcomes replace provisional in-doubts; anything else it says is settled by the ledger.
   */
  private async settleLateResults(request: CheckInRequest): Promise<void> {
    const expired = this.deps.book.takeExpired(request.leaseId, request.workerId);
    this.deps.logger.warn(
      { event: 'lease.late_check_in', leaseId: request.leaseId, known: expired !== 'unknown' },
      'check-in for an expired or unknown lease',
    );
    if (expired === 'not-theirs') return;
    // A lease stopped (a pause) that this conductor did not issue, or that expired: its calls are over.
    this.deps.stops.ended(request.leaseId, undefined, undefined, request.permitsUsed);
    if (expired === 'unknown') {
      // A lease of a conductor that has since restarted: the worker's word is not evidence, but
      // the outcome records it wrote are. Settle the recipients it names that are in doubt only
      // for want of a report.
      for (const r of request.results) {
        for (const run of this.deps.campaigns.all()) {
          if (run.isUnreported(r.recipientId)) await this.deps.reconciler.settleFromRecord(run, r.recipientId);
        }
      }
      return;
    }
    const { run, lease } = expired;
    const leased = new Set(lease.recipientIds);
    for (const r of request.results) {
      if (!leased.has(r.recipientId) || r.status === 'retryable' || r.status === 'claimedElsewhere') continue;
      if (run.isUnreported(r.recipientId)) run.resolve(r.recipientId, r.status);
    }
  }

  /**
   * The next lease for a worker, with the dispatcher's choice of campaign and schedule; undefined
   * when nothing can be leased now.
   */
  private nextLease(workerId: string, now: number, until: number, leadMs = 0): Lease | undefined {
    const { stops } = this.deps;
    const leasable = [...this.deps.campaigns.all()].filter((r) => !stops.isStopping(r.id));
    const dispatch = this.deps.dispatcher.next(leasable, { workerId, now, usableUntil: until, leadMs });
    return dispatch && this.issue(workerId, dispatch, now);
  }

  private issue(workerId: string, dispatch: Dispatch, now: number): Lease {
    const { run, grant, domain, chain, permits } = dispatch;
    const recipientIds = run.take(permits, now);
    const sendUntil = scheduleEnd(grant);
    const lease: Lease = {
      leaseId: `l-${randomBytes(8).toString('hex')}`,
      workerId,
      ...run.ref,
      recipientIds,
      domain,
      schedule: grant,
      // A live worker checks in soon after its last slice; this long after it, it is gone.
      expiresAt: Math.max(now, sendUntil) + this.deps.settings.leaseGraceMs,
    };
    this.deps.book.add({ lease, run, grant, governors: chain, settled: new Set(), issuedAt: now });
    this.deps.metrics.leaseIssued(permits);
    this.deps.logger.debug(
      { event: 'lease.issued', leaseId: lease.leaseId, campaignId: run.id, permits, slices: grant.permits.length },
      'lease issued',
    );
    return lease;
  }

  /** False when the worker could not be started (its lease is undone; try again next tick). */
  private async invoke(lease: Lease): Promise<boolean> {
    try {
      await this.deps.invoker.invoke({ lease });
      return true;
    } catch (err) {
      const active = this.deps.book.remove(lease.leaseId);
      // The recipients go back, but not the permits: an invoke that timed out may have started
      // the worker after all, and its claims keep it from sending what is leased again.
      if (active) for (const r of lease.recipientIds) active.run.requeue(r);
      this.deps.logger.error({ event: 'worker.invoke_failed', leaseId: lease.leaseId, err }, 'could not start a worker');
      return false;
    }
  }

  /**
   * A worker that will not want another lease after this one (workers ask for more only with
   * WANTS_MORE_FRACTION of their budget, and at least WANTS_MORE_MIN_MS, left) is leaving: start its successor now, so
   * the successor's cold start overlaps this last lease instead of leaving its slices empty.
   */
  private noteBudget(workerId: string, lease: Lease, request: { budgetLeftMs?: number; reserveMs?: number }, now: number): void {
    const { book, settings } = this.deps;
    if (request.budgetLeftMs === undefined || book.isLeaving(workerId)) return;
    const afterLease = request.budgetLeftMs - (leaseSendUntil(lease) - now);
    // It will not ask again, or what it could still use after this lease is less than a lease.
    const wantsNoMore = afterLease <= Math.max(WANTS_MORE_FRACTION * settings.workerTimeBudgetMs, WANTS_MORE_MIN_MS);
    const tooShortForAnother = afterLease - (request.reserveMs ?? 0) < settings.leaseHorizonMs;
    if (!wantsNoMore && !tooShortForAnother) return;
    book.markLeaving(workerId);
    this.topUpInBackground();
  }

  private topUpInBackground(): void {
    void this.topUpWorkers().catch((err) => this.deps.logger.error({ event: 'worker.top_up_failed', err }, 'could not start workers'));
  }
}
