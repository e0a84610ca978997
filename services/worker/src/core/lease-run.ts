import {
  describeError,
  leasePermits,
  leaseSendUntil,
  nextSlot,
  sliceAt,
  type Lease,
  type OutcomeFacts,
  type RecipientRef,
  type RecordMode,
  type SendResult,
} from '@baton/shared';
import { STOPPED } from './defaults';
import { watchLease } from './lease-watch';
import { retryReleases, retryUnrecorded, sendKey } from './send-key';
import type { Env } from './worker-env';

/**
 * Retryable refusals in a row (a 503, say) after which the provider looks down and the lease
 * stops taking keys. Five, not three: with 10% random 503s, three in a row halted most leases of
 * a few hundred calls (each halt ends the worker and the rest of its lease's slices), while a
 * provider that is really down refuses every call of a slice, which are concurrent anyway.
 */
export const REFUSALS_TO_HALT = 5;
/** Refusals that say the next call would be refused too. */
const HALTING_CODES: ReadonlySet<string> = new Set(['PROVIDER_THROTTLED', 'PROVIDER_LIMIT_REACHED', 'PROVIDER_UNREACHABLE']);

/** Lane time of the key in hand; `called` once its provider call has started. */
export interface Busy {
  since: number;
  ms: number;
  called: boolean;
}

/** The state of one lease while it is being sent. Lanes share it; JavaScript's single thread keeps it consistent. */
export class LeaseRun {
  /** The lease's keys, each once: a key listed twice would be claimed by the first and reported twice. */
  readonly ids: readonly string[];
  next = 0;
  /** Permits not yet reserved. A lane reserves one synchronously when it takes a key, and gives it back if no call is made. */
  permitsLeft: number;
  permitsUsed = 0;
  readonly results: SendResult[] = [];
  readonly unattempted: string[] = [];
  /** Outcome records whose write failed: tried again before the check-in. */
  readonly unrecorded: { ref: RecipientRef; outcome: OutcomeFacts; mode: RecordMode }[] = [];
  /** Claims whose release failed, of keys never called (or refused): tried again before the check-in (see `retryReleases`). */
  readonly claimHeld: RecipientRef[] = [];
  /** Set when the provider said "not now": no new key is taken for this lease. */
  haltedBy: string | undefined = undefined;
  /** Calls started in each slice of the lease's schedule. */
  readonly usedPerSlice: number[];
  /** No call starts at or after this: the end of the schedule's last slice. */
  readonly sendUntil: number;
  /** Lane time per key, excluding any wait for a slice (Welford): the conductor predicts from it. */
  readonly timing = { n: 0, mean: 0, m2: 0 };
  /** Keys taken whose call has not started (nor been given up). */
  starting = 0;
  /** Lanes still working: after the last call has started, those are the calls in flight. */
  lanesBusy = 0;
  /** Resolves once no lane will start another call for this lease. */
  readonly noMoreCalls: Promise<void>;
  private signalNoMoreCalls!: () => void;
  /** Retryable provider refusals since the last accepted call. */
  private refusedInARow = 0;
  /** Provider calls started and not answered yet. */
  private callsOpen = 0;
  /** When each answered call was answered (worker clock), in order: a stop counts the ones answered after it. */
  private readonly answeredAt: number[] = [];
  /** Resolves at a stop: lanes waiting for a slice wake up and give their keys back. */
  private readonly halted: Promise<void>;
  private signalHalted!: () => void;
  /** No call starts before the conductor has answered the lease's first watch (or could not be asked). */
  readonly watchAnswered: Promise<void>;
  /** Called once the first watch is answered (or failed). */
  openGate!: () => void;

  constructor(
    private readonly env: Env,
    readonly lease: Lease,
  ) {
    this.ids = [...new Set(lease.recipientIds)];
    this.permitsLeft = leasePermits(lease);
    this.usedPerSlice = lease.schedule.permits.map(() => 0);
    this.sendUntil = leaseSendUntil(lease);
    this.noMoreCalls = new Promise<void>((resolve) => (this.signalNoMoreCalls = resolve));
    this.halted = new Promise<void>((resolve) => (this.signalHalted = resolve));
    this.watchAnswered = new Promise<void>((resolve) => (this.openGate = resolve));
  }

  mayTakeKey(): boolean {
    const now = this.env.clock.now();
    return (
      this.haltedBy === undefined && this.permitsLeft > 0 && now < this.sendUntil && this.env.deadline - now >= this.env.minBudgetToTakeMs
    );
  }

  /** Once nothing can start another call, say so (the worker renews while calls finish). */
  checkNoMoreCalls(): void {
    if (this.starting === 0 && (this.next >= this.ids.length || !this.mayTakeKey())) this.signalNoMoreCalls();
  }

  /** Every lane has stopped. */
  endCalls(): void {
    this.signalNoMoreCalls();
  }

  /** A key that ended before any call (not sendable, suppressed, claimed elsewhere, out of slices). */
  keyGivenUp(): void {
    this.starting -= 1;
    this.checkNoMoreCalls();
  }

  /** The key's provider call starts now: its permit is spent. */
  callStarting(busy: Busy): void {
    this.callsOpen += 1;
    this.permitsUsed += 1;
    busy.called = true;
    this.starting -= 1;
    this.checkNoMoreCalls();
  }

  /** The call's answer came (or it failed): it is no longer on its way. */
  callEnded(): void {
    this.callsOpen -= 1;
    this.answeredAt.push(this.env.clock.now());
  }

  /**
   * The calls that may reach the provider after `at`: those not answered yet, and those answered
   * at or after it (they were on their way then, or started before the stop was heard).
   */
  callsOnTheirWaySince(at: number): number {
    let n = this.callsOpen;
    for (let i = this.answeredAt.length - 1; i >= 0 && this.answeredAt[i]! >= at; i--) n++;
    return n;
  }

  /** No new key for this lease: the first reason stands. */
  halt(code: string): void {
    this.haltedBy ??= code;
  }

  /**
   * The conductor stopped the lease (its campaign was paused): no new call, and lanes waiting for
   * a later slice give their keys back now, so the lease is checked in at once. (A provider's
   * halt leaves them waiting: the governor's view of those slices is unchanged.)
   */
  stop(): void {
    this.halt(STOPPED);
    this.signalHalted();
    this.checkNoMoreCalls();
  }

  addTiming(ms: number): void {
    const t = this.timing;
    t.n += 1;
    const delta = ms - t.mean;
    t.mean += delta / t.n;
    t.m2 += delta * (ms - t.mean);
  }

  /**
   * A permit of the slice the worker's clock is in, waiting for the next slice that has one
   * free (the rule is `nextSlot`'s): the slice's index, or undefined when the schedule, or the
   * budget, is over first. `busy` stops counting lane time while waiting.
   */
  async takeSlot(busy: Busy): Promise<number | undefined> {
    const { env } = this;
    for (;;) {
      const now = env.clock.now();
      // The provider pushed back meanwhile: keys waiting go back rather than be sent.
      if (this.haltedBy !== undefined || env.deadline - now < env.minBudgetToTakeMs) return undefined;
      const slot = nextSlot(this.lease.schedule, this.usedPerSlice, now);
      if (slot.kind === 'over') return undefined;
      if (slot.kind === 'now') {
        this.usedPerSlice[slot.slice]! += 1;
        return slot.slice;
      }
      busy.ms += now - busy.since;
      // A stop wakes the lane at once, rather than at its slice, so the lease is checked in soon.
      await Promise.race([env.clock.sleep(slot.until - now), this.halted]);
      busy.since = env.clock.now();
    }
  }

  /** A slot taken but not used (the key turned out not to be ours): another lane may still use it. */
  giveBackSlot(slice: number): void {
    this.usedPerSlice[slice]! -= 1;
  }

  /**
   * After the claim: the call must start inside a slice it holds, and at once. A claim that
   * outlasted its slice gives that permit back and takes one of the slice it is in, if one is
   * free: the slice kept. Undefined when none is, or the lease halted, or its time ran out: the
   * caller gives the claim up rather than hold it while it waits (a crash would leave it in doubt, uncalled).
   */
  keepSlotAfterClaim(slice: number): number | undefined {
    const now = this.env.clock.now();
    const timeLeft = this.env.deadline - now >= this.env.minBudgetToTakeMs;
    if (sliceAt(this.lease.schedule, now) === slice && this.haltedBy === undefined && timeLeft) return slice;
    this.giveBackSlot(slice);
    if (this.haltedBy !== undefined || !timeLeft) return undefined;
    const slot = nextSlot(this.lease.schedule, this.usedPerSlice, now);
    if (slot.kind !== 'now') return undefined;
    this.usedPerSlice[slot.slice]! += 1;
    return slot.slice;
  }

  /** A retryable refusal from the provider: throttling, a limit reached, no connection, or too many in a row halt the lease. */
  providerRefused(code: string): void {
    this.refusedInARow += 1;
    if (HALTING_CODES.has(code) || this.refusedInARow >= REFUSALS_TO_HALT) this.halt(code);
  }

  providerAccepted(): void {
    this.refusedInARow = 0;
  }
}

/**
 * Starts sending a lease. `run.noMoreCalls` resolves as soon as no lane will start another call
 * (the worker may renew then); `done` once every call has ended and been recorded.
 */
export function startLease(env: Env, lease: Lease): { run: LeaseRun; done: Promise<LeaseRun> } {
  const run = new LeaseRun(env, lease);
  env.log.info({
    event: 'lease.started',
    leaseId: lease.leaseId,
    campaignId: lease.campaignId,
    keys: run.ids.length,
    permits: run.permitsLeft,
  });
  // A watch that fails for a reason of its own must not keep the lease's gate shut.
  void watchLease(env, run).catch(() => run.openGate());
  const done = sendAll(env, run).then(async () => {
    run.endCalls();
    run.unattempted.push(...run.ids.slice(run.next));
    await retryUnrecorded(env, run);
    await retryReleases(env, run);
    env.log.info({
      event: 'lease.finished',
      leaseId: lease.leaseId,
      campaignId: lease.campaignId,
      results: run.results.length,
      unattempted: run.unattempted.length,
      permitsUsed: run.permitsUsed,
      haltedBy: run.haltedBy,
    });
    return run;
  });
  return { run, done };
}

async function sendAll(env: Env, run: LeaseRun): Promise<void> {
  // Lanes stop when no permit is free; a reserved permit may come back (the key needed no call),
  // so go round again while keys and free permits remain. Each round takes at least one key.
  while (run.next < run.ids.length && run.mayTakeKey()) {
    const lanes = Math.min(env.concurrency, run.ids.length - run.next);
    run.lanesBusy = lanes;
    await Promise.all(Array.from({ length: lanes }, () => lane(env, run)));
  }
}

async function lane(env: Env, run: LeaseRun): Promise<void> {
  while (run.next < run.ids.length && run.mayTakeKey()) {
    await env.lanes.acquire();
    if (!(run.next < run.ids.length && run.mayTakeKey())) {
      env.lanes.release();
      break;
    }
    const recipientId = run.ids[run.next++]!;
    run.permitsLeft -= 1; // reserved before any await: concurrent lanes can never overspend
    run.starting += 1;
    const busy: Busy = { since: env.clock.now(), ms: 0, called: false };
    try {
      const used = await sendKey(env, run, recipientId, busy);
      busy.ms += env.clock.now() - busy.since;
      if (!busy.called) run.keyGivenUp();
      if (used) run.addTiming(busy.ms);
      else run.permitsLeft += 1;
    } catch (error) {
      // Only a bug gets here, and it may have struck after the call: keep the permit spent,
      // report the key in doubt (never resent) and take no more keys from this lease.
      run.halt('WORKER_INTERNAL');
      run.results.push({ recipientId, status: 'inDoubt', reason: `WORKER_INTERNAL: ${describeError(error)}` });
      env.log.error({ event: 'key.crashed', leaseId: run.lease.leaseId, recipientId, reason: describeError(error) });
      if (!busy.called) run.keyGivenUp();
    } finally {
      env.lanes.release();
    }
  }
  run.lanesBusy -= 1;
  run.checkNoMoreCalls();
}
