import { PeriodBook, calendarLimits } from './daily-limit';
import type { GovernorCheckpoint, GovernorSettings, GovernorSnapshot, SliceGrant } from './governor-types';
import { PushBackLevel } from './push-back-level';

export type { GovernorCheckpoint, GovernorSettings, GovernorSnapshot, SliceGrant } from './governor-types';

/**
 * The governor of one sending domain: when, and how many, provider calls may start.
 *
 * Time is cut into slices (`sliceMs`, aligned to the clock). Every slice gets a limit when it is
 * first opened, and a permit is always a permit *for one slice*: a worker may start that call
 * only while its own clock is inside the slice. With workers' clocks and the provider's within
 * `marginMs` of ours, a call for slice i reaches the provider within
 * `[i·s − m, (i+1)·s + m)`. Any window of length W meets at most
 *
 *     reach = ceil((W + 2m) / s) + 1
 *
 * slices' such intervals, so the one invariant
 *
 *     the limits of any `reach` consecutive slices add up to at most the cap
 *
 * bounds provider calls by the cap in every sliding window — and so in every calendar window,
 * each of which is one of them. A slice's limit is fixed once, when it is opened (in order): its
 * pace (the cap spread evenly) plus some of the permits workers reported unused in slices
 * already past (`carry`), and never more than the `reach − 1` slices before it leave. For a slice
 * still to come, what it may hold is its limit; for one already past, what is still granted in
 * it (unused permits were taken back, so that bounds the calls made). So a permit that went
 * unused comes back a little later while every window still holds at most the cap. Limits are
 * only ever lowered afterwards (a stated wait takes the slices before its end down to what is
 * granted in them). Grants never exceed limits, and workers never exceed grants. Nothing else is
 * needed for the guarantee: prediction, fairness and push-back only decide how the budget is used.
 *
 * Push-back works below the limits, never on them. The effective cap `e` is a ceiling on grants:
 * slice i grants at most `min(limit, limit − pace(i, cap) + pace(i, e))` (its limit less what its
 * pace loses at the lower level; the `min` because a pace is not monotone in its level, so a
 * lower level may pace one slice above the full one). So `e` lowered takes effect at once in every
 * slice not yet granted, `e` raised lets those same slices grant more at once, and no change of
 * `e` ever touches a limit: the proof above is untouched. How `e` moves on evidence (each lease
 * judged by the level it ran at) is push-back-level.ts.
 * While `e` is below the cap, grants reach only `probeMs` past the current slice (or the end of a
 * wait): leases are short, so the evidence comes back within about a second.
 *
 * Pacing is the price: a window of `W/s` slices carries `W/s · cap/reach` calls, i.e. at most
 * `W / (W + 2m + s)` of the cap (99% with the defaults: 60 s, 150 ms, 200 ms).
 *
 * Durable: only slices up to `durableThrough` are granted, and the conductor persists the
 * limits (a checkpoint) before it moves that mark. A restarted conductor restores them and
 * counts every restored slice as fully used, so whatever its predecessor granted still counts.
 * The checkpoint also holds `e`, the wait, when the last cut took effect and where recovery
 * heads, so a restart neither undoes a push-back nor counts it again.
 */
export class Governor {
  readonly reach: number;
  private readonly limits = new Map<number, number>();
  private readonly granted = new Map<number, number>();
  private openedThrough = Number.NaN;
  /** Permits reported unused in slices already past, to offer again in slices still to open. */
  private carry = 0;
  /**
   * The latest slice the clock has been seen in. A slice before it is past for good, even if
   * the clock steps back (an NTP correction): its permits are never offered again.
   */
  private seen = Number.NEGATIVE_INFINITY;
  private durable = Number.NEGATIVE_INFINITY;
  private readonly level: PushBackLevel;
  private heldUntil = 0;
  private heldReason: string | undefined;
  private readonly probeSlices: number;
  /** With a daily or monthly limit: what each day's (month's) slices may hold and have been granted. */
  private readonly days: PeriodBook | undefined;
  private readonly months: PeriodBook | undefined;
  private readonly books: PeriodBook[];

  constructor(readonly settings: GovernorSettings) {
    const { perWindowMax: cap, windowMs, sliceMs, marginMs } = settings;
    if (!(Number.isInteger(cap) && cap >= 1)) throw new RangeError('governor cap must be a whole number of at least 1');
    if (!(sliceMs >= 1 && sliceMs <= windowMs)) throw new RangeError('governor slice must be between 1 ms and the window');
    if (!(marginMs >= 0 && 2 * marginMs < windowMs)) throw new RangeError('governor margin must be under half the window');
    this.reach = Math.ceil((windowMs + 2 * marginMs) / sliceMs) + 1;
    this.level = new PushBackLevel(
      cap,
      settings.backoffFactor ?? 0.5,
      Math.max(1, Math.ceil(cap * (settings.minCapShare ?? 0.05))),
      Math.max(1, Math.ceil(cap * (settings.recoverShare ?? 0.1))),
    );
    this.probeSlices = Math.max(2, Math.ceil((settings.probeMs ?? 1_000) / sliceMs));
    const { daily, monthly } = settings.daily ? calendarLimits(settings.daily) : {};
    this.days = daily && new PeriodBook(daily, sliceMs, marginMs);
    this.months = monthly && new PeriodBook(monthly, sliceMs, marginMs);
    this.books = [this.days, this.months].filter((b) => b !== undefined);
  }

  get cap(): number {
    return this.settings.perWindowMax;
  }

  /** The cap as lowered by push-back, and raised again by calls that go through. */
  get effectiveCap(): number {
    return this.level.value;
  }

  /** Grants may use slices up to here (set after a checkpoint is stored). */
  get durableThrough(): number {
    return this.durable;
  }

  sliceOf(t: number): number {
    return Math.floor(t / this.settings.sliceMs);
  }

  /** The current slice: never earlier than one already seen. */
  advance(now: number): number {
    const next = Math.max(this.seen, this.sliceOf(now));
    // Slices going past now hold what is granted in them, no longer their limit: so do their days and months.
    if (this.books.length > 0 && next > this.seen) {
      for (const [j, limit] of this.limits)
        if (j >= this.seen && j < next) for (const b of this.books) b.addBound(j, (this.granted.get(j) ?? 0) - limit);
    }
    this.seen = next;
    return this.seen;
  }

  sliceStart(index: number): number {
    return index * this.settings.sliceMs;
  }

  /** The steady share of slice `i` under cap `c`: any `reach` consecutive shares add up to exactly `c`. */
  private pace(i: number, c: number): number {
    return Math.floor(((i + 1) * c) / this.reach) - Math.floor((i * c) / this.reach);
  }

  /**
   * Opens slices up to `index` (limits fixed in order). Call it ahead of time, store
   * `checkpoint()`, then `markDurable(index)`: grants use only durable slices.
   */
  open(index: number, now: number): void {
    const current = this.advance(now);
    if (Number.isNaN(this.openedThrough)) this.openedThrough = current - 1;
    // Idle for a while: no point fixing limits of slices already past.
    if (this.openedThrough < current - this.reach) this.openedThrough = current - 1;
    while (this.openedThrough < index) {
      const i = ++this.openedThrough;
      const held = this.sliceStart(i) < this.heldUntil;
      let room = this.cap;
      for (let j = i - this.reach + 1; j < i; j++) room -= this.bound(j, current);
      // The full pace: the effective cap is a ceiling on grants (see `free`), not on limits.
      const pace = this.pace(i, this.cap);
      // Carried permits go to slices still ahead: one already past cannot use them.
      const extra = held || i < current ? 0 : Math.min(this.carry, this.pace(i, this.level.value));
      const limit = held ? 0 : Math.max(0, Math.min(pace + extra, room, ...this.books.map((b) => b.room(i))));
      this.carry -= Math.max(0, Math.min(extra, limit - pace));
      this.limits.set(i, limit);
      if (i >= current) for (const b of this.books) b.addBound(i, limit);
    }
    this.forget(now);
  }

  markDurable(index: number): void {
    this.durable = Math.max(this.durable, Math.min(index, this.openedThrough));
  }

  /**
   * At most how many calls slice `j` can hold: its limit while it can still be granted from,
   * what is granted in it once it is past (no grant can add to it; releases only take away).
   */
  private bound(j: number, current: number): number {
    return j < current ? (this.granted.get(j) ?? 0) : (this.limits.get(j) ?? 0);
  }

  /**
   * Permits still free in slice `i` (0 for slices not opened or not durable): its limit, less
   * what the effective cap takes off its pace, less what is granted. Below the cap, only slices
   * near the current one (or the end of a wait) are offered: short leases, prompt evidence.
   */
  free(i: number): number {
    if (i > this.durable || i < this.seen) return 0;
    if (this.level.value < this.cap && i > Math.max(this.seen, this.sliceOf(this.heldUntil)) + this.probeSlices) return 0;
    const limit = this.limits.get(i) ?? 0;
    const ceiling = Math.min(limit, limit - this.pace(i, this.cap) + this.pace(i, this.level.value));
    return Math.max(0, ceiling - (this.granted.get(i) ?? 0));
  }

  /** Takes `n` permits of slice `i`; the caller checked `free(i)` first. */
  take(i: number, n: number): void {
    if (n <= 0) return;
    if (n > this.free(i)) throw new RangeError(`slice ${i} has ${this.free(i)} permits free, ${n} asked`);
    this.granted.set(i, (this.granted.get(i) ?? 0) + n);
    for (const b of this.books) b.addGranted(i, n);
  }

  /**
   * Gives back what a grant did not use. With `usedPerSlice` (what the worker counted) every
   * unused permit returns; without it only slices starting after `now + margin` do, since the
   * worker's clock may already be inside the next one.
   */
  release(grant: SliceGrant, usedPerSlice: readonly number[] | undefined, now: number): number {
    const current = this.advance(now);
    const first = this.sliceOf(grant.start);
    let returned = 0;
    grant.permits.forEach((n, k) => {
      const i = first + k;
      let unused: number;
      if (usedPerSlice) unused = n - Math.min(n, usedPerSlice[k] ?? n);
      else unused = i > current && this.sliceStart(i) > now + this.settings.marginMs ? n : 0;
      if (unused <= 0 || !this.granted.has(i)) return;
      this.granted.set(i, Math.max(0, this.granted.get(i)! - unused));
      for (const b of this.books) b.addGranted(i, -unused);
      if (i < current) for (const b of this.books) b.addBound(i, -unused);
      returned += unused;
      // Too late for anyone to use them in their own slice: offer them again later (a little).
      if (i < current) this.carry = Math.min(this.carry + unused, Math.ceil(this.level.value / 10));
    });
    return returned;
  }

  /**
   * The provider pushed back (429/420) on a lease planned at `plannedAt`. Always: hold until
   * `retryAfterMs` has passed (slices starting before then lose what is not granted yet). Only
   * if the lease was planned at or after the moment the last cut took effect — it ran at the
   * current level, so its 429 is news about that level — the effective cap is cut by
   * `backoffFactor`. A lease planned before ran at an older, higher level: however many report
   * it, and however late, it is the episode already answered. (A lease issued in the very
   * instant of the cut counts as planned after it: a throttled worker's successor is started
   * right then.) Returns whether this changed anything a checkpoint holds.
   */
  pushBack(now: number, retryAfterMs?: number, plannedAt = now): boolean {
    this.advance(now);
    let changed = false;
    if (this.level.cut(now, plannedAt)) {
      // The carry is at most a tenth of the effective cap: a cut lowers it with the cap.
      this.carry = Math.min(this.carry, Math.ceil(this.level.value / 10));
      changed = true;
    }
    if (retryAfterMs !== undefined && retryAfterMs > 0 && this.hold(now, now + retryAfterMs)) changed = true;
    return changed;
  }

  /**
   * Nothing new starts before `until` (slices starting before then lose what is not granted
   * yet); the effective cap stays where it is. For a stated wait, and for a provider's limit
   * that lifts at a known time (Mailgun's 420 "try again after"), with `reason` to show.
   * Returns whether the hold grew.
   */
  hold(now: number, until: number, reason?: string): boolean {
    const current = this.advance(now);
    if (until <= this.heldUntil) return false;
    this.heldUntil = until;
    // A stated wait without a reason extends the hold; why it holds stays said.
    if (reason !== undefined) this.heldReason = reason;
    for (const [i, limit] of this.limits) {
      // Lowering a limit can never break the invariant; what is granted already stays.
      if (i < current || this.sliceStart(i) >= this.heldUntil) continue;
      const lowered = Math.min(limit, this.granted.get(i) ?? 0);
      this.limits.set(i, lowered);
      for (const b of this.books) b.addBound(i, lowered - limit);
    }
    return true;
  }

  /** Why nothing is granted before `heldUntil`, when the provider said (a limit reached). */
  heldFor(now: number): { until: number; reason: string } | undefined {
    return this.heldUntil > now && this.heldReason !== undefined ? { until: this.heldUntil, reason: this.heldReason } : undefined;
  }

  /**
   * Calls of a lease planned at `plannedAt` went through. If that lease was planned after the
   * last cut, the provider takes calls again: raise the effective cap by half the way back to
   * where the episode started, and by at least `recoverShare` of the cap (so past that level,
   * step by step up to the cap); each such lease raises it once. A lease planned before the cut
   * ran at an older, higher level: no news; nor is one planned in the very instant of the cut
   * (it may have come just before it: ties go to the cautious side here, as they do to the cut
   * in `pushBack`). Returns whether the effective cap rose.
   */
  accepted(now: number, plannedAt: number): boolean {
    return this.level.accepted(plannedAt);
  }

  /** The conductor's state to store before `markDurable`: for each recent slice, at most how many calls it holds. */
  checkpoint(now: number): GovernorCheckpoint {
    const current = this.advance(now);
    const limits: number[] = [];
    for (let i = this.openedThrough - this.reach + 2; i <= this.openedThrough; i++) limits.push(this.bound(i, current));
    const { perWindowMax, windowMs, sliceMs, marginMs } = this.settings;
    return {
      version: 1,
      perWindowMax,
      windowMs,
      sliceMs,
      marginMs,
      through: this.openedThrough,
      limits,
      // A restart must neither undo a push-back nor count it again: the level, the wait, when
      // the last cut took effect and where recovery heads carry over.
      ...this.level.saved(),
      heldUntil: this.heldUntil,
      ...(this.heldReason !== undefined ? { heldReason: this.heldReason } : {}),
      ...(this.days ? { days: this.days.recent(now) } : {}),
      ...(this.months ? { months: this.months.recent(now) } : {}),
    };
  }

  /**
   * After a restart: every slice the previous conductor could have granted from counts as
   * fully used. A checkpoint made with other settings is read conservatively: its slices are
   * mapped onto ours and, if the slicing differs, everything up to its end counts as the cap.
   */
  restore(cp: GovernorCheckpoint, now: number): void {
    // A different cap needs nothing special: restored limits count in full against the new one.
    const sameShape =
      cp.sliceMs === this.settings.sliceMs && cp.windowMs === this.settings.windowMs && cp.marginMs === this.settings.marginMs;
    this.limits.clear();
    this.granted.clear();
    if (sameShape) {
      const first = cp.through - cp.limits.length + 1;
      cp.limits.forEach((limit, k) => {
        this.limits.set(first + k, limit);
        this.granted.set(first + k, limit);
      });
      this.openedThrough = cp.through;
      this.level.restore(cp);
      this.heldUntil = cp.heldUntil ?? 0;
      this.heldReason = cp.heldReason;
    } else {
      // Unknown shape: nothing new until every window that could hold its calls is over.
      const end = (cp.through + 1) * cp.sliceMs + cp.marginMs;
      this.openedThrough = this.sliceOf(end + this.settings.windowMs + this.settings.marginMs);
      for (let i = this.openedThrough - this.reach + 2; i <= this.openedThrough; i++) this.limits.set(i, 0);
    }
    this.openedThrough = Math.max(this.openedThrough, this.sliceOf(now) - 1);
    this.durable = this.openedThrough;
    // Whatever the days and months held counts as sent (a limit counts from when it was first configured).
    this.days?.restore(cp.days ?? {});
    this.months?.restore(cp.months ?? {});
  }

  /**
   * No checkpoint, but a conductor may have been sending (a store written by an older version,
   * whose permits were good until the end of the current calendar window): count one slice at
   * that window's end (plus the margin) as holding the whole cap, so nothing is granted until
   * every window that could hold an old call is over.
   */
  assumeRecentlyBusy(now: number): void {
    const windowEnd = (Math.floor(now / this.settings.windowMs) + 1) * this.settings.windowMs;
    const last = this.sliceOf(windowEnd + this.settings.marginMs);
    this.openedThrough = last;
    this.limits.set(last, this.cap);
    this.granted.set(last, this.cap);
    this.durable = last;
  }

  snapshot(now: number): GovernorSnapshot {
    const windowStart = Math.floor(now / this.settings.windowMs) * this.settings.windowMs;
    let windowGranted = 0;
    for (let i = this.sliceOf(windowStart); this.sliceStart(i) < windowStart + this.settings.windowMs; i++)
      windowGranted += this.granted.get(i) ?? 0;
    const snapshot: GovernorSnapshot = {
      cap: this.cap,
      effectiveCap: this.level.value,
      heldUntil: this.heldUntil,
      windowGranted,
      windowStart,
    };
    const today = this.days?.current(now);
    if (today) snapshot.today = { day: today.period, limit: today.limit, granted: today.granted };
    const month = this.months?.current(now);
    if (month) snapshot.month = { month: month.period, limit: month.limit, granted: month.granted };
    return snapshot;
  }

  /** Today's limit is used up: nothing more until the next day starts (in the limit's zone). */
  dayUsedUp(now: number): { until: number; limit: number; timeZone: string } | undefined {
    return this.days?.usedUp(now);
  }

  /** This month's limit is used up: nothing more until the next month starts (in the limit's zone). */
  monthUsedUp(now: number): { until: number; limit: number; timeZone: string } | undefined {
    return this.months?.usedUp(now);
  }

  /** Slices older than one reach before now matter to nobody. */
  private forget(now: number): void {
    const keepFrom = Math.min(this.sliceOf(now), this.openedThrough) - 2 * this.reach;
    if (this.limits.size < 4 * this.reach) return;
    for (const i of this.limits.keys()) if (i < keepFrom) this.limits.delete(i);
    for (const i of this.granted.keys()) if (i < keepFrom) this.granted.delete(i);
    for (const b of this.books) b.forget(now);
  }
}
