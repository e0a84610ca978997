import {
  leasePermits,
  leaseSendUntil,
  type CheckInRequest,
  type CheckInResponse,
  type Lease,
  type RenewRequest,
  type SendResult,
} from '@baton/shared';
import type { Random } from './random';
import type { SimProvider } from './sim-provider';
import type { VirtualClock } from './virtual-clock';
import type { WorkerProfile, WorkerStats } from './worker-profile';

/** A baseline's lease dispenser: hands out leases and takes check-ins. */
export interface Dispatcher {
  checkIn(request: CheckInRequest): Promise<CheckInResponse>;
  renew(request: RenewRequest): Promise<CheckInResponse>;
}

/**
 * Paces a baseline's calls instead of its lease's schedule (a baseline's lease is one slice
 * covering its window): a shared sliding-window limiter, or "at once". Returns 0 when the call
 * may start now, or how long to sleep before asking again.
 */
export type CallGate = (now: number) => number;

export interface SimLedger {
  claim(lease: Lease, recipientId: string): void;
  release(lease: Lease, recipientId: string): void;
  /** The worker vanished mid-lease. */
  crashed(lease: Lease): void;
}

/**
 * The worker the naive baselines drive: deliberately not Baton. It follows the lease protocol
 * (lanes, a claim before each call, results and usage at check-in, renewal once no lane will
 * start another call, check-back while time is left) with time spent as events on the virtual
 * clock; its leases carry no schedule, so it calls as soon as a key is claimed and, for the
 * sliding limiter, the shared gate lets it. Baton's own path runs the real worker core instead
 * (worker-host.ts): this copy exists only so the baselines have workers to drive.
 */
export class BaselineWorker {
  private readonly deadline: number;
  private crashed = false;
  private currentLease = '';
  /** Lanes busy over all this worker's leases, and lanes waiting for one (as the real worker's gate). */
  private busyLanes = 0;
  private readonly waitingLanes: (() => void)[] = [];

  constructor(
    private readonly clock: VirtualClock,
    private readonly rnd: Random,
    private readonly profile: WorkerProfile,
    private readonly provider: SimProvider,
    private readonly dispatcher: Dispatcher,
    private readonly stats: WorkerStats,
    /** The claims ledger, as the real worker writes it: a vanished worker's claims make its keys in doubt. */
    private readonly ledger: SimLedger,
    private readonly gate?: CallGate,
  ) {
    this.deadline = clock.now() + profile.budgetMs;
  }

  start(lease: Lease): void {
    this.runLease(lease);
  }

  private runLease(lease: Lease): void {
    const { clock, profile, rnd } = this;
    this.stats.granted += leasePermits(lease);
    this.currentLease = lease.leaseId;
    const results: SendResult[] = [];
    const unattempted: string[] = [];
    const timing = { n: 0, mean: 0, m2: 0 };
    let next = 0;
    let permitsLeft = leasePermits(lease);
    let permitsUsed = 0;
    let halted = false;
    let lanesLeft = Math.min(profile.lanes, lease.recipientIds.length);
    /** Keys taken whose call has not started (nor been given up). */
    let starting = 0;
    let renewal: Promise<Lease | null> | undefined;
    const local = () => clock.now() + profile.skewMs;
    const storeOp = () => rnd.lognormal(profile.storeMs.medianMs, profile.storeMs.sigma);

    // A baseline's lease has no schedule, so no end of its own: a crash strikes in its first ten seconds.
    const end = Math.min(leaseSendUntil(lease), clock.now() + 10_000);
    if (rnd.next() < profile.crashPerLease) {
      clock.at(clock.now() + rnd.between(0, Math.max(1, end - clock.now())), () => {
        if (this.crashed || this.currentLease !== lease.leaseId) return;
        this.crashed = true;
        this.stats.crashedLeases++;
        this.ledger.crashed(lease);
      });
    }

    const wantsMore = () => !halted && this.deadline - clock.now() > Math.max(0.1 * profile.budgetMs, 5_000);
    const mayTake = () =>
      !halted &&
      next < lease.recipientIds.length &&
      permitsLeft > 0 &&
      local() < leaseSendUntil(lease) &&
      this.deadline - clock.now() >= 12_000;
    // As the real worker does: once no lane will start another call, renew while the last
    // calls are in flight, and run the next lease alongside.
    const checkNoMoreCalls = () => {
      if (renewal || this.crashed || starting > 0 || mayTake() || lanesLeft === 0 || !wantsMore()) return;
      renewal = this.dispatcher
        .renew({ leaseId: lease.leaseId, workerId: lease.workerId, budgetLeftMs: this.deadline - clock.now(), reserveMs: 12_000 })
        .then((reply) => {
          if (reply.lease && !this.crashed) this.runLease(reply.lease);
          return reply.lease;
        });
    };

    const finishLane = () => {
      if (--lanesLeft > 0 || this.crashed) {
        checkNoMoreCalls();
        return;
      }
      unattempted.push(...lease.recipientIds.slice(next));
      this.stats.used += permitsUsed;
      const sd = timing.n > 1 ? Math.sqrt(timing.m2 / (timing.n - 1)) : 0;
      const left = this.deadline - clock.now();
      const request: CheckInRequest = {
        leaseId: lease.leaseId,
        workerId: lease.workerId,
        results,
        unattempted,
        permitsUsed,
        ...(timing.n > 0 ? { timing: { n: timing.n, meanMs: timing.mean, sdMs: sd } } : {}),
        lanes: profile.lanes,
        budgetLeftMs: Math.max(0, left),
        reserveMs: 12_000,
        wantsMore: false,
      };
      void (renewal ?? Promise.resolve(null)).then((renewed) => {
        request.wantsMore = !renewed && !halted && left > Math.max(0.1 * profile.budgetMs, 5_000);
        return this.dispatcher.checkIn(request).then((reply) => {
          // A lease taken with too little time left comes straight back (no key is taken).
          if (reply.lease && !this.crashed) this.runLease(reply.lease);
        });
      });
    };

    const lane = () => {
      if (this.crashed) return;
      if (!mayTake()) {
        finishLane();
        return;
      }
      if (this.busyLanes >= profile.lanes) {
        this.waitingLanes.push(lane);
        return;
      }
      this.busyLanes++;
      const recipientId = lease.recipientIds[next++]!;
      permitsLeft--;
      starting++;
      const startedAt = clock.now();
      let busy = 0;
      // Read the rendered message, check suppression, claim: three requests before the call.
      const pre = (storeOp() + storeOp() + storeOp()) * profile.slowness;
      clock.at(startedAt + pre, () => {
        if (this.crashed) return;
        this.ledger.claim(lease, recipientId);
        busy += clock.now() - startedAt;
        tryCall();
      });
      const tryCall = () => {
        if (this.crashed) return;
        const w = local();
        if (!halted && w < leaseSendUntil(lease)) {
          const wait = this.gate ? this.gate(clock.now()) : 0;
          if (wait > 0) {
            clock.at(clock.now() + wait, tryCall);
            return;
          }
        } else {
          // Past the lease's end, or the provider pushed back: release the claim, hand the key back.
          this.ledger.release(lease, recipientId);
          unattempted.push(recipientId);
          permitsLeft++;
          starting--;
          freeLane();
          lane();
          return;
        }
        const callAt = clock.now();
        permitsUsed++;
        starting--;
        checkNoMoreCalls();
        const answer = this.provider.call(callAt + rnd.between(profile.transitMs[0], profile.transitMs[1]), recipientId);
        const latency = rnd.lognormal(profile.latency.medianMs, profile.latency.sigma) * profile.slowness;
        clock.at(callAt + latency, () => {
          if (this.crashed) return;
          if (answer !== 'ok') {
            // A baseline knows no daily limit: a 420 is one more "slow down" to it.
            halted = true;
            this.ledger.release(lease, recipientId);
            results.push({ recipientId, status: 'retryable', code: 'PROVIDER_THROTTLED', reason: 'PROVIDER_THROTTLED: 429' });
            busy += clock.now() - callAt;
            addTiming(busy);
            freeLane();
            lane();
            return;
          }
          const post = storeOp() * profile.slowness;
          clock.at(clock.now() + post, () => {
            if (this.crashed) return;
            results.push({ recipientId, status: 'sent', providerId: 'sim' });
            busy += clock.now() - callAt;
            addTiming(busy);
            freeLane();
            lane();
          });
        });
      };
    };

    const freeLane = () => {
      this.busyLanes--;
      const waiting = this.waitingLanes.shift();
      if (waiting) clock.at(clock.now(), waiting);
    };

    const addTiming = (ms: number) => {
      timing.n++;
      const d = ms - timing.mean;
      timing.mean += d / timing.n;
      timing.m2 += d * (ms - timing.mean);
    };

    if (lanesLeft === 0) {
      lanesLeft = 1;
      finishLane();
      return;
    }
    for (let i = 0, n = lanesLeft; i < n; i++) lane();
  }
}
