import { DateTime } from 'luxon';
import type { DailyLimitSettings } from '@baton/shared';

export type { DailyLimitSettings };

/* A sending domain's calendar limits (DAILY_LIMITS): per day with its warm-up, per month, and the book that holds them. */

/**
 * A limit per calendar period (a day, a month) in a zone: which period an instant falls in,
 * where it starts and ends, and its limit. A period is named by its ISO date (YYYY-MM-DD) or
 * month (YYYY-MM), so names sort in time order.
 */
export interface CalendarLimit {
  readonly timeZone: string;
  periodOf(t: number): string;
  /** When the period `t` falls in began. */
  startOf(t: number): number;
  /** When the period after the one `t` falls in begins. */
  nextStart(t: number): number;
  limitOn(period: string): number;
}

/**
 * Period bounds found once and kept (the last three: a slice near a boundary asks about both
 * sides): the governor asks for the period of every slice it opens, and local-time arithmetic
 * (Luxon, Intl) costs microseconds a call.
 */
class Spans {
  private readonly spans: { name: string; start: number; end: number }[] = [];

  constructor(
    private readonly zone: string,
    private readonly unit: 'day' | 'month',
  ) {}

  of(t: number): { name: string; start: number; end: number } {
    const known = this.spans.find((s) => s.start <= t && t < s.end);
    if (known) return known;
    const start = DateTime.fromMillis(t, { zone: this.zone }).startOf(this.unit);
    const name = this.unit === 'day' ? start.toISODate()! : start.toFormat('yyyy-MM');
    const span = { name, start: start.toMillis(), end: start.plus({ [this.unit + 's']: 1 }).toMillis() };
    if (this.spans.unshift(span) > 3) this.spans.pop();
    return span;
  }
}

function checkZone(zone: string, what: string): void {
  if (!DateTime.now().setZone(zone).isValid) throw new RangeError(`${what}: unknown time zone ${zone}`);
}

/** The rule of one domain's days: which day an instant falls in, and that day's limit (warm-up included). */
export class DailyLimit implements CalendarLimit {
  private readonly zone: string;
  private readonly from: DateTime | undefined;
  private readonly spans: Spans;
  private readonly limits = new Map<string, number>();

  constructor(private readonly settings: DailyLimitSettings) {
    this.zone = settings.timeZone ?? 'UTC';
    checkZone(this.zone, 'daily limit');
    this.spans = new Spans(this.zone, 'day');
    if (settings.perDay === undefined && settings.warmUp === undefined) throw new RangeError('daily limit: give perDay, warmUp or both');
    this.from = settings.warmUp ? DateTime.fromISO(settings.warmUp.from, { zone: this.zone }) : undefined;
    if (this.from && !this.from.isValid) throw new RangeError(`daily limit: warm-up start ${settings.warmUp!.from} is not a date`);
  }

  /** The calendar day (YYYY-MM-DD, in the zone) that instant `t` falls in. */
  dayOf(t: number): string {
    return this.spans.of(t).name;
  }

  periodOf(t: number): string {
    return this.spans.of(t).name;
  }

  startOf(t: number): number {
    return this.spans.of(t).start;
  }

  /** When the day after the one `t` falls in begins. */
  nextDayStart(t: number): number {
    return this.spans.of(t).end;
  }

  nextStart(t: number): number {
    return this.spans.of(t).end;
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

/** The rule of one domain's months: a fixed limit per calendar month in a zone (Mailgun's monthly limit). */
export class MonthlyLimit implements CalendarLimit {
  private readonly spans: Spans;

  constructor(
    private readonly perMonth: number,
    readonly timeZone = 'UTC',
  ) {
    checkZone(timeZone, 'monthly limit');
    this.spans = new Spans(timeZone, 'month');
  }

  periodOf(t: number): string {
    return this.spans.of(t).name;
  }

  startOf(t: number): number {
    return this.spans.of(t).start;
  }

  nextStart(t: number): number {
    return this.spans.of(t).end;
  }

  limitOn(): number {
    return this.perMonth;
  }
}

/** The calendar limits a domain's settings ask for: a day's (perDay or a warm-up) and a month's (perMonth). */
export function calendarLimits(settings: DailyLimitSettings): { daily?: DailyLimit; monthly?: MonthlyLimit } {
  const { perDay, perMonth, warmUp, timeZone } = settings;
  return {
    ...(perDay !== undefined || warmUp !== undefined ? { daily: new DailyLimit(settings) } : {}),
    ...(perMonth !== undefined ? { monthly: new MonthlyLimit(perMonth, timeZone) } : {}),
  };
}

/**
 * A governor's periods (days or months): for each, the sum of what its slices may hold (limits
 * ahead, grants once past), never more than the period's limit, and the permits granted in
 * them. A slice counts in every period a call for it may reach the provider in (its own, and
 * the next or last one within the margin of the boundary).
 */
export class PeriodBook {
  private readonly bound = new Map<string, number>();
  private readonly granted = new Map<string, number>();

  constructor(
    readonly limit: CalendarLimit,
    private readonly sliceMs: number,
    private readonly marginMs: number,
  ) {}

  private periodsOf(i: number): string[] {
    const first = this.limit.periodOf(i * this.sliceMs - this.marginMs);
    const last = this.limit.periodOf((i + 1) * this.sliceMs + this.marginMs - 1);
    return first === last ? [first] : [first, last];
  }

  private add(map: Map<string, number>, i: number, delta: number): void {
    if (delta === 0) return;
    for (const d of this.periodsOf(i)) map.set(d, (map.get(d) ?? 0) + delta);
  }

  /** What slice `i` may hold changed by `delta` (a limit set or lowered, a past slice's unused grant). */
  addBound(i: number, delta: number): void {
    this.add(this.bound, i, delta);
  }

  addGranted(i: number, delta: number): void {
    this.add(this.granted, i, delta);
  }

  /** What the periods of slice `i` still have room for. */
  room(i: number): number {
    return Math.min(...this.periodsOf(i).map((d) => this.limit.limitOn(d) - (this.bound.get(d) ?? 0)));
  }

  /** The period before the one `now` falls in. */
  private previous(now: number, back = 1): string {
    let t = now;
    for (let k = 0; k < back; k++) t = this.limit.startOf(t) - 1;
    return this.limit.periodOf(t);
  }

  /** What each period from the last one on may hold, for a checkpoint. */
  recent(now: number): Record<string, number> {
    const from = this.previous(now);
    return Object.fromEntries([...this.bound].filter(([d, n]) => d >= from && n > 0));
  }

  /** After a restart: whatever the periods held counts as sent. */
  restore(periods: Record<string, number>): void {
    for (const [d, n] of Object.entries(periods)) {
      this.bound.set(d, n);
      this.granted.set(d, n);
    }
  }

  /** The current period (named `day` for a day, `month` for a month, in the view), its limit and what is granted in it. */
  current(now: number): { period: string; limit: number; granted: number } {
    const period = this.limit.periodOf(now);
    return { period, limit: this.limit.limitOn(period), granted: this.granted.get(period) ?? 0 };
  }

  /** The period's limit is used up: nothing more until the next one starts (in the limit's zone). */
  usedUp(now: number): { until: number; limit: number; timeZone: string } | undefined {
    const { limit, granted } = this.current(now);
    if (granted < limit) return undefined;
    return { until: this.limit.nextStart(now), limit, timeZone: this.limit.timeZone };
  }

  /** Periods older than the one before the last matter to nobody. */
  forget(now: number): void {
    const oldest = this.previous(now, 2);
    for (const map of [this.bound, this.granted]) for (const d of map.keys()) if (d < oldest) map.delete(d);
  }
}
