import { DateTime } from 'luxon';
import type { DailyLimitSettings } from '@baton/shared';

export type { DailyLimitSettings };

/** The rule of one domain's days: which day an instant falls in, and that day's limit. */
export class DailyLimit {
  private readonly zone: string;
  private readonly from: DateTime | undefined;

  constructor(private readonly settings: DailyLimitSettings) {
    this.zone = settings.timeZone ?? 'UTC';
    if (!DateTime.now().setZone(this.zone).isValid) throw new RangeError(`daily limit: unknown time zone ${this.zone}`);
    if (settings.perDay === undefined && settings.warmUp === undefined) throw new RangeError('daily limit: give perDay, warmUp or both');
    this.from = settings.warmUp ? DateTime.fromISO(settings.warmUp.from, { zone: this.zone }) : undefined;
    if (this.from && !this.from.isValid) throw new RangeError(`daily limit: warm-up start ${settings.warmUp!.from} is not a date`);
  }

  /** The calendar day (YYYY-MM-DD, in the zone) that instant `t` falls in. */
  dayOf(t: number): string {
    return DateTime.fromMillis(t, { zone: this.zone }).toISODate()!;
  }

  /** When the day after the one `t` falls in begins. */
  nextDayStart(t: number): number {
    return DateTime.fromMillis(t, { zone: this.zone }).startOf('day').plus({ days: 1 }).toMillis();
  }

  get timeZone(): string {
    return this.zone;
  }

  /** The limit of day `day` (YYYY-MM-DD). */
  limitOn(day: string): number {
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
