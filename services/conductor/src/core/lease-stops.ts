import {
  PROVIDER_TIMEOUT_MS,
  WATCH_HOLD_MS,
  leasePermits,
  leaseSendUntil,
  type Clock,
  type PauseView,
  type WatchResponse,
} from '@baton/shared';
import type { ActiveLease } from './lease-book';

/** What a pause leaves on its way to the provider: the API's type (shared api-types.ts), made here. */
export type { PauseView };

/** One stopped lease and what its worker said. */
interface Stopped {
  campaignId: string;
  /** Its worker: a watch from another one is told to stop, and what it says is not counted. */
  workerId: string | undefined;
  sendUntil: number;
  permits: number;
  /** The worker's count, when it confirmed. */
  confirmed?: { inFlight: number; at: number };
  /** Its check-in came: all its calls are over. */
  endedAt?: number;
  /** Without a confirmation: its calls that may have been under way at the stop (see `ended`). */
  endedInFlight?: number;
}

/**
 * Stops leases while they run. A stopped lease's watch is answered at once; its worker starts no
 * new call, gives back what it did not attempt (the recipients are requeued, never doubted) and
 * confirms how many of its calls were still on their way. Pure apart from the clock.
 */
export class LeaseStops {
  private readonly stopped = new Map<string, Stopped>();
  /** `retiring`: the campaign was cancelled, so no resume forgets its stops: each goes once its lease is over. */
  private readonly pauses = new Map<string, { at: number; leases: Set<string>; retiring?: boolean }>();
  /** Held watches of leases this conductor did not issue (a restart), by lease: a stop of their campaign reaches them too. */
  private readonly unknown = new Map<string, { campaignId: string; workerId: string | undefined; until: number; permits: number }>();
  private readonly watchers = new Map<string, Set<(r: WatchResponse) => void>>();
  /** Called whenever a stopped lease is confirmed or ends: `confirmedBy` re-checks. */
  private readonly changed = new Set<() => void>();

  constructor(private readonly clock: Clock) {}

  /** The campaign's leases stop now; leases are not issued for it until `clear`. */
  stop(campaignId: string, leases: readonly ActiveLease[]): void {
    const now = this.clock.now();
    const pause = this.pauses.get(campaignId) ?? { at: now, leases: new Set<string>() };
    this.pauses.set(campaignId, pause);
    for (const { lease } of leases) {
      this.add(campaignId, lease.leaseId, { workerId: lease.workerId, sendUntil: leaseSendUntil(lease), permits: leasePermits(lease) });
    }
    // Leases of a conductor before a restart, watched now: stopped as well, and counted in the pause.
    for (const [leaseId, u] of this.unknown) {
      if (u.campaignId === campaignId) this.add(campaignId, leaseId, { workerId: u.workerId, sendUntil: u.until, permits: u.permits });
    }
  }

  /** One more lease stopped for the campaign's pause; its held watches are answered at once. */
  private add(campaignId: string, leaseId: string, lease: { workerId: string | undefined; sendUntil: number; permits: number }): void {
    const pause = this.pauses.get(campaignId) ?? { at: this.clock.now(), leases: new Set<string>() };
    this.pauses.set(campaignId, pause);
    this.unknown.delete(leaseId);
    if (this.stopped.has(leaseId)) return;
    this.stopped.set(leaseId, { campaignId, ...lease });
    pause.leases.add(leaseId);
    this.answerAll(leaseId, { stop: true, at: pause.at });
  }

  /**
   * The campaign was cancelled: no resume will forget its stops, so each is forgotten once its
   * lease is over (checked in, expired, or past its last slice and a provider timeout), and the
   * pause with the last of them. Until then its leases stay stopped.
   */
  retire(campaignId: string): void {
    const pause = this.pauses.get(campaignId);
    if (!pause) return;
    pause.retiring = true;
    this.sweep(campaignId);
  }

  private sweep(campaignId: string): void {
    const pause = this.pauses.get(campaignId);
    if (!pause?.retiring) return;
    const now = this.clock.now();
    for (const leaseId of pause.leases) {
      const s = this.stopped.get(leaseId)!;
      if (s.endedAt === undefined && now < s.sendUntil + PROVIDER_TIMEOUT_MS) continue;
      this.stopped.delete(leaseId);
      pause.leases.delete(leaseId);
    }
    if (pause.leases.size === 0) this.pauses.delete(campaignId);
  }

  /** No lease is issued for a campaign being stopped. */
  isStopping(campaignId: string): boolean {
    return this.pauses.has(campaignId);
  }

  /** Resumed (or the pause could not be stored): its leases may be issued again. */
  clear(campaignId: string): void {
    const pause = this.pauses.get(campaignId);
    if (!pause) return;
    for (const leaseId of pause.leases) this.stopped.delete(leaseId);
    this.pauses.delete(campaignId);
  }

  /**
   * A worker's watch of a lease it holds, or of one the conductor does not know (a restart):
   * a stop at once; the first watch at once; else held until a stop, `until` or WATCH_HOLD_MS.
   * `unknown`: the lease is not this conductor's, but its worker named its campaign; if that
   * campaign is paused or cancelled (`halted`) the lease is stopped now and counted in the pause,
   * else a pause of the campaign while the watch is held stops it.
   */
  async watch(
    request: { leaseId: string; workerId?: string; until: number; first?: boolean; stopped?: { inFlight: number }; permits?: number },
    unknown?: { campaignId: string; halted: 'paused' | 'cancelled' | undefined },
  ): Promise<WatchResponse> {
    const now = this.clock.now();
    const { leaseId } = request;
    for (const [campaignId, pause] of this.pauses) if (pause.retiring) this.sweep(campaignId);
    if (unknown?.halted) {
      this.add(unknown.campaignId, leaseId, { workerId: request.workerId, sendUntil: request.until, permits: request.permits ?? 0 });
      if (unknown.halted === 'cancelled') this.retire(unknown.campaignId);
    }
    const stop = this.stopped.get(leaseId);
    if (stop) {
      const theirs = stop.workerId === undefined || request.workerId === undefined || stop.workerId === request.workerId;
      if (theirs && request.stopped && !stop.confirmed) {
        stop.confirmed = { inFlight: request.stopped.inFlight, at: now };
        this.notify();
      }
      return { stop: true, at: this.pauses.get(stop.campaignId)?.at ?? now };
    }
    const holdMs = Math.min(WATCH_HOLD_MS, request.until - now);
    if (request.first || holdMs <= 0) return { stop: false };
    if (unknown) {
      this.unknown.set(leaseId, {
        campaignId: unknown.campaignId,
        workerId: request.workerId,
        until: request.until,
        permits: request.permits ?? 0,
      });
    }
    return new Promise<WatchResponse>((resolve) => {
      const waiting = this.watchers.get(leaseId) ?? new Set();
      this.watchers.set(leaseId, waiting);
      const answer = (r: WatchResponse) => {
        waiting.delete(answer);
        if (waiting.size === 0 && this.watchers.get(leaseId) === waiting) {
          this.watchers.delete(leaseId);
          this.unknown.delete(leaseId);
        }
        resolve(r);
      };
      waiting.add(answer);
      void this.clock.sleep(holdMs).then(() => answer({ stop: false }));
    });
  }

  /**
   * A lease checked in (or expired): its calls are over. Without a confirmation, the calls it
   * started in slices that end after the stop less a provider timeout may have been under way at
   * the stop (earlier ones had ended, or timed out, by then).
   */
  ended(
    leaseId: string,
    schedule: { start: number; sliceMs: number } | undefined,
    usedPerSlice: readonly number[] | undefined,
    permitsUsed: number,
  ): void {
    // A watch still held for it (its worker stopped waiting) is answered now, not at the lease's end.
    this.answerAll(leaseId, { stop: false });
    const stop = this.stopped.get(leaseId);
    if (!stop || stop.endedAt !== undefined) return;
    const at = this.pauses.get(stop.campaignId)?.at ?? this.clock.now();
    stop.endedAt = this.clock.now();
    stop.endedInFlight =
      usedPerSlice && schedule
        ? usedPerSlice.reduce((n, used, k) => (schedule.start + (k + 1) * schedule.sliceMs > at - PROVIDER_TIMEOUT_MS ? n + used : n), 0)
        : permitsUsed;
    this.notify();
    this.sweep(stop.campaignId);
  }

  /** Shutting down: every held watch is answered "go on" now, so no request holds up the server's close. */
  releaseWatches(): void {
    for (const leaseId of [...this.watchers.keys()]) this.answerAll(leaseId, { stop: false });
  }

  private answerAll(leaseId: string, reply: WatchResponse): void {
    for (const answer of [...(this.watchers.get(leaseId) ?? [])]) answer(reply);
    this.watchers.delete(leaseId);
  }

  /** Resolves once every lease stopped for the campaign is confirmed or over, or after `timeoutMs`. */
  async confirmedBy(campaignId: string, timeoutMs: number): Promise<void> {
    if (timeoutMs <= 0 || this.isSettled(campaignId)) return;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (!this.isSettled(campaignId)) return;
        this.changed.delete(check);
        resolve();
      };
      this.changed.add(check);
      void this.clock.sleep(timeoutMs).then(() => {
        this.changed.delete(check);
        resolve();
      });
    });
  }

  /** What may still reach the provider for a stopped campaign; undefined when it is not stopped. */
  describe(campaignId: string, verb: 'Paused' | 'Cancelled' = 'Paused'): PauseView | undefined {
    const pause = this.pauses.get(campaignId);
    if (!pause) return undefined;
    let inFlight = 0;
    let endsBy = pause.at;
    let unconfirmed = 0;
    for (const leaseId of pause.leases) {
      const s = this.stopped.get(leaseId)!;
      if (s.confirmed) {
        inFlight += s.confirmed.inFlight;
        const end = s.endedAt ?? (s.confirmed.inFlight > 0 ? s.confirmed.at + PROVIDER_TIMEOUT_MS : s.confirmed.at);
        endsBy = Math.max(endsBy, end);
      } else if (s.endedAt !== undefined) {
        inFlight += s.endedInFlight ?? 0;
        endsBy = Math.max(endsBy, s.endedAt);
      } else {
        unconfirmed++;
        inFlight += s.permits;
        endsBy = Math.max(endsBy, s.sendUntil + PROVIDER_TIMEOUT_MS);
      }
    }
    const view = { at: new Date(pause.at).toISOString(), inFlight, endsBy: new Date(endsBy).toISOString(), confirmed: unconfirmed === 0 };
    return { ...view, message: pauseMessage(verb, inFlight, endsBy, unconfirmed, this.clock.now()) };
  }

  private isSettled(campaignId: string): boolean {
    for (const leaseId of this.pauses.get(campaignId)?.leases ?? []) {
      const s = this.stopped.get(leaseId)!;
      if (!s.confirmed && s.endedAt === undefined) return false;
    }
    return true;
  }

  private notify(): void {
    for (const check of [...this.changed]) check();
  }
}

function clockTime(at: number): string {
  return new Date(at).toISOString().slice(11, 19) + ' UTC';
}

/** The words for what really happens: nothing more, or exactly what was already on its way, and until when. */
function pauseMessage(verb: 'Paused' | 'Cancelled', inFlight: number, endsBy: number, unconfirmed: number, now: number): string {
  const after = verb === 'Paused' ? 'nothing else goes out until you click Resume' : 'nothing else goes out';
  const emails = (n: number) => (n === 1 ? '1 email' : `${n} emails`);
  if (unconfirmed > 0) {
    const workers = unconfirmed === 1 ? '1 worker has' : `${unconfirmed} workers have`;
    return `${verb}: up to ${emails(inFlight)} may still go out until ${clockTime(endsBy)} (${workers} not confirmed the stop yet); ${after}.`;
  }
  if (inFlight === 0) return `${verb}: nothing was on its way to the provider; ${after}.`;
  const when = endsBy > now ? `they are answered by ${clockTime(endsBy)}` : 'they have been answered';
  return `${verb}: ${emails(inFlight)} already on their way to the provider when you clicked may still arrive (${when}); ${after}.`;
}
