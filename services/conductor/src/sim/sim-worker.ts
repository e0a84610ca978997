import type { CheckInRequest, CheckInResponse, Lease, SendResult } from '@baton/shared';
import type { Random } from './random';
import type { VirtualClock } from './virtual-clock';

/** The simulated Mailgun: records when every call arrives, answers 429 while throttling. */
export class SimProvider {
  readonly arrivals: number[] = [];
  throttled = 0;

  constructor(private readonly throttle: { from: number; to: number } | undefined) {}

  call(arrival: number): 'ok' | 'throttled' {
    this.arrivals.push(arrival);
    if (this.throttle && arrival >= this.throttle.from && arrival < this.throttle.to) {
      this.throttled++;
      return 'throttled';
    }
    return 'ok';
  }
}

/** Who hands out leases and takes check-ins: the real conductor core, or a baseline. */
export interface Dispatcher {
  checkIn(request: CheckInRequest): Promise<CheckInResponse>;
}

/**
 * Paces calls without a schedule: a baseline's shared sliding-window limiter. Returns 0 when
 * the call may start now, or how long to sleep before asking again.
 */
export type CallGate = (now: number) => number;

export interface WorkerProfile {
  lanes: number;
  /** Provider call latency: lognormal median and σ, times `slowness`. */
  latency: { medianMs: number; sigma: number };
  /** One object-store request. A key needs three before its call (rendered, suppression, claim) and one after (outcome). */
  storeMs: { medianMs: number; sigma: number };
  slowness: number;
  /** This worker's clock minus the true time. */
  skewMs: number;
  /** Request transit to the provider: the call arrives this long after it starts. */
  transitMs: [number, number];
  budgetMs: number;
  /** Chance that the worker vanishes during a lease. */
  crashPerLease: number;
}

export interface WorkerStats {
  granted: number;
  used: number;
  crashedLeases: number;
}

/**
 * A simulated worker Lambda: the same protocol as services/worker (lanes, one permit of the
 * current slice per call, results and usage at check-in, check-back while time is left), with
 * time spent as events on the virtual clock instead of real I/O.
 */
export class SimWorker {
  private readonly deadline: number;
  private crashed = false;
  private currentLease = '';

  constructor(
    private readonly clock: VirtualClock,
    private readonly rnd: Random,
    private readonly profile: WorkerProfile,
    private readonly provider: SimProvider,
    private readonly dispatcher: Dispatcher,
    private readonly stats: WorkerStats,
    /** Keys claimed by a worker that then vanished: the conductor finds them in the ledger. */
    private readonly onCrashClaims: (lease: Lease, recipientIds: string[]) => void,
    private readonly gate?: CallGate,
  ) {
    this.deadline = clock.now() + profile.budgetMs;
  }

  start(lease: Lease): void {
    this.runLease(lease);
  }

  private runLease(lease: Lease): void {
    const { clock, profile, rnd } = this;
    this.stats.granted += lease.permits;
    this.currentLease = lease.leaseId;
    const schedule = lease.schedule;
    const used = schedule ? schedule.permits.map(() => 0) : [];
    const results: SendResult[] = [];
    const unattempted: string[] = [];
    const claimed: string[] = [];
    const timing = { n: 0, mean: 0, m2: 0 };
    let next = 0;
    let permitsLeft = lease.permits;
    let permitsUsed = 0;
    let halted = false;
    let lanesLeft = Math.min(profile.lanes, lease.recipientIds.length);
    const local = () => clock.now() + profile.skewMs;
    const storeOp = () => rnd.lognormal(profile.storeMs.medianMs, profile.storeMs.sigma);

    const end = schedule ? schedule.start + schedule.permits.length * schedule.sliceMs : lease.sendUntil;
    if (rnd.next() < profile.crashPerLease) {
      clock.at(clock.now() + rnd.between(0, Math.max(1, end - clock.now())), () => {
        if (this.crashed || this.currentLease !== lease.leaseId) return;
        this.crashed = true;
        this.stats.crashedLeases++;
        this.onCrashClaims(lease, claimed);
      });
    }

    const finishLane = () => {
      if (--lanesLeft > 0 || this.crashed) return;
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
        ...(schedule ? { usedPerSlice: used } : {}),
        ...(timing.n > 0 ? { timing: { n: timing.n, meanMs: timing.mean, sdMs: sd } } : {}),
        lanes: profile.lanes,
        wantsMore: !halted && left > Math.max(0.1 * profile.budgetMs, 5_000),
      };
      void this.dispatcher.checkIn(request).then((reply) => {
        // A lease taken with too little time left comes straight back (no key is taken).
        if (reply.lease && !this.crashed) this.runLease(reply.lease);
      });
    };

    const lane = () => {
      if (this.crashed) return;
      if (halted || next >= lease.recipientIds.length || permitsLeft <= 0 || local() >= lease.sendUntil || this.deadline - clock.now() < 12_000) {
        finishLane();
        return;
      }
      const recipientId = lease.recipientIds[next++]!;
      permitsLeft--;
      const startedAt = clock.now();
      let busy = 0;
      // Read the rendered message, check suppression, claim: three requests before the call.
      const pre = (storeOp() + storeOp() + storeOp()) * profile.slowness;
      clock.at(startedAt + pre, () => {
        if (this.crashed) return;
        claimed.push(recipientId);
        busy += clock.now() - startedAt;
        trySlot();
      });
      const trySlot = () => {
        if (this.crashed) return;
        const w = local();
        let ok = false;
        if (w >= lease.sendUntil) ok = false;
        else if (schedule) {
          const k = Math.floor((w - schedule.start) / schedule.sliceMs);
          if (k >= 0 && k < used.length && used[k]! < schedule.permits[k]!) {
            used[k]!++;
            ok = true;
          } else {
            let j = Math.max(k + 1, 0);
            while (j < used.length && used[j]! >= schedule.permits[j]!) j++;
            if (j < used.length) {
              clock.at(schedule.start + j * schedule.sliceMs - profile.skewMs, trySlot);
              return;
            }
          }
        } else {
          const wait = this.gate ? this.gate(clock.now()) : 0;
          if (wait > 0) {
            clock.at(clock.now() + wait, trySlot);
            return;
          }
          ok = true;
        }
        if (!ok) {
          // The schedule is over: release the claim, hand the key back.
          claimed.splice(claimed.indexOf(recipientId), 1);
          unattempted.push(recipientId);
          permitsLeft++;
          lane();
          return;
        }
        const callAt = clock.now();
        permitsUsed++;
        const answer = this.provider.call(callAt + rnd.between(profile.transitMs[0], profile.transitMs[1]));
        const latency = rnd.lognormal(profile.latency.medianMs, profile.latency.sigma) * profile.slowness;
        clock.at(callAt + latency, () => {
          if (this.crashed) return;
          if (answer === 'throttled') {
            halted = true;
            claimed.splice(claimed.indexOf(recipientId), 1);
            results.push({ recipientId, status: 'retryable', code: 'PROVIDER_THROTTLED', reason: 'PROVIDER_THROTTLED: 429' });
            busy += clock.now() - callAt;
            addTiming(busy);
            lane();
            return;
          }
          const post = storeOp() * profile.slowness;
          clock.at(clock.now() + post, () => {
            if (this.crashed) return;
            results.push({ recipientId, status: 'sent', providerId: 'sim' });
            busy += clock.now() - callAt;
            addTiming(busy);
            lane();
          });
        });
      };
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
