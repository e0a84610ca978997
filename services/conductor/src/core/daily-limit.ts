import { DateTime } from 'luxon';
import type { DailyLimitSettings } from '@baton/shared';

export type { DailyLimitSettings };

/** The rule of one domain's days: which day an instant falls in, and that day's limit. */
export class DailyLimit {
  private readonly zone: string;
  private readonly from: DateTime | undefined;
  /**
   * The last few days looked up, as instants: the governor asks for the day of every slice it
   * opens, and local-time arithmetic (Luxon, Intl) costs microseconds a call, so a day's bounds
   * are found once.
   */
  private readonly spans: { day: string; start: number; end: number }[] = [];
  private readonly limits = new Map<string, number>();

  constructor(private readonly settings: DailyLimitSettings) {
    this.zone = settings.timeZone ?? 'UTC';
    if (!DateTime.now().setZone(this.zone).isValid) throw new RangeError(`daily limit: unknown time zone ${this.zone}`);
    if (settings.perDay === undefined && settings.warmUp === undefined) throw new RangeError('daily limit: give perDay, warmUp or both');
    this.from = settings.warmUp ? DateTime.fromISO(settings.warmUp.from, { zone: this.zone }) : undefined;
    if (this.from && !this.from.isValid) throw new RangeError(`daily limit: warm-up start ${settings.warmUp!.from} is not a date`);
  }

  /** The calendar day (YYYY-MM-DD, in the zone) that instant `t` falls in. */
  dayOf(t: number): string {
    return this.spanOf(t).day;
  }

  /** When the day after the one `t` falls in begins. */
  nextDayStart(t: number): number {
    return this.spanOf(t).end;
  }

  private spanOf(t: number): { day: string; start: number; end: number } {
    const known = this.spans.find((s) => s.start <= t && t < s.end);
    if (known) return known;
    const start = DateTime.fromMillis(t, { zone: this.zone }).startOf('day');
    const span = { day: start.toISODate()!, start: start.toMillis(), end: start.plus({ days: 1 }).toMillis() };
    // Three cover a slice near midnight (yesterday, today, tomorrow) without a look-up each time.
    if (this.spans.unshift(span) > 3) this.spans.pop();
    return span;
  }

  get timeZone(): string {
    return this.zone;
  }

  /** The limit of day `day` (YYYY-MM-DD). */
  limitOn(day: string): number {
    let limit = this.limits.get(day);
    if (limit === undefined) {
      limit = this.computeLimit(day);
      if (this.limits.size > 64) this.limits.clear();
      this.limits.set(day, limit);
    }
    return limit;
  }

  private computeLimit(day: string): number {
    const { perDay, warmUp } = this.settings;
    if (!warmUp) return perDay!;
    const k = Math.max(0, Math.round(DateTime.fromISO(day, { zone: this.zone }).diff(this.from!, 'days').days));
    if ('days' in warmUp) return k < warmUp.days.length ? warmUp.days[k]! : (perDay ?? warmUp.days[warmUp.days.length - 1]!);
    const ramp = Math.floor(warmUp.start * warmUp.factor ** k);
    return Math.min(perDay ?? Number.POSITIVE_INFINITY, ramp);
  }

  /** The days a call of the interval `[start, end)` at the provider may count in (one, or two at midnight). */
  daysOf(start: number, end: number): string[] {
    const first = this.dayOf(start);
    const last = this.dayOf(end - 1);
    return first === last ? [first] : [first, last];
  }
}

const DAY_MS = 86_400_000;

/**
 * A governor's days: for each, the sum of what its slices may hold (limits ahead, grants once
 * past), never more than the day's limit, and the permits granted in them. A slice counts in
 * every day a call for it may reach the provider in (its own, and the next or last one within
 * the margin of midnight).
 */
export class DayBook {
  private readonly bound = new Map<string, number>();
  private readonly granted = new Map<string, number>();

  constructor(
    readonly limit: DailyLimit,
    private readonly sliceMs: number,
    private readonly marginMs: number,
  ) {}

  private daysOf(i: number): string[] {
    return this.limit.daysOf(i * this.sliceMs - this.marginMs, (i + 1) * this.sliceMs + this.marginMs);
  }

  private add(map: Map<string, number>, i: number, delta: number): void {
    if (delta === 0) return;
    for (const d of this.daysOf(i)) map.set(d, (map.get(d) ?? 0) + delta);
  }

  /** What slice `i` may hold changed by `delta` (a limit set or lowered, a past slice's unused grant). */
  addBound(i: number, delta: number): void {
    this.add(this.bound, i, delta);
  }

  addGranted(i: number, delta: number): void {
    this.add(this.granted, i, delta);
  }

  /** What the days of slice `i` still have room for. */
  room(i: number): number {
    return Math.min(...this.daysOf(i).map((d) => this.limit.limitOn(d) - (this.bound.get(d) ?? 0)));
  }

  /** What each day from yesterday on may hold, for a checkpoint. */
  recent(now: number): Record<string, number> {
    const from = this.limit.dayOf(now - DAY_MS);
    return Object.fromEntries([...this.bound].filter(([d, n]) => d >= from && n > 0));
  }

  /** After a restart: whatever the days held counts as sent. */
  restore(days: Record<string, number>): void {
    for (const [d, n] of Object.entries(days)) {
      this.bound.set(d, n);
      this.granted.set(d, n);
    }
  }

  today(now: number): { day: string; limit: number; granted: number } {
    const day = this.limit.dayOf(now);
    return { day, limit: this.limit.limitOn(day), granted: this.granted.get(day) ?? 0 };
  }

  /** Today's limit is used up: nothing more until the next day starts (in the limit's zone). */
  usedUp(now: number): { until: number; limit: number; timeZone: string } | undefined {
    const { limit, granted } = this.today(now);
    if (granted < limit) return undefined;
    return { until: this.limit.nextDayStart(now), limit, timeZone: this.limit.timeZone };
  }

  /** Days older than the day before yesterday matter to nobody. */
  forget(now: number): void {
    const oldest = this.limit.dayOf(now - 2 * DAY_MS);
    for (const map of [this.bound, this.granted]) for (const d of map.keys()) if (d < oldest) map.delete(d);
  }
}
