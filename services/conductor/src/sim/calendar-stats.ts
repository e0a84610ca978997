import { DateTime } from 'luxon';
import { DailyLimit, type DailyLimitSettings } from '../core/daily-limit';
import { finishAt } from '../core/local-waves';
import { localInstant } from '../core/local-release';

/**
 * What the simulation counts by the calendar: each day's calls against that day's limit (in the
 * limit's zone, as the governor reads it), and each zone's first and last message against its
 * local time. Used by simulate.ts and its tests.
 */

/** A send at a local time in the simulation: the time, and how many recipients are in each zone. */
export interface SimLocalSend {
  date: string;
  time: string;
  zones: { timeZone: string; size: number }[];
}

export interface DayFigure {
  day: string;
  calls: number;
  limit: number;
}

/**
 * Calls per calendar day in the limit's zone, with each day's limit (warm-up included). The day
 * of a call is found by Luxon directly, not by the governor's own rule (DailyLimit.dayOf), so a
 * mistake there shows here.
 */
export function perLimitDay(arrivals: readonly number[], settings: DailyLimitSettings): DayFigure[] {
  const limit = new DailyLimit(settings);
  const zone = settings.timeZone ?? 'UTC';
  const days = new Map<string, number>();
  const sorted = Float64Array.from(arrivals).sort();
  // Arrivals in order: a new day starts at most once per call, and Luxon is asked only then.
  let day = '';
  let end = Number.NEGATIVE_INFINITY;
  for (const t of sorted) {
    if (t >= end) {
      const local = DateTime.fromMillis(t, { zone });
      day = local.toISODate()!;
      end = local.startOf('day').plus({ days: 1 }).toMillis();
    }
    days.set(day, (days.get(day) ?? 0) + 1);
  }
  return [...days].sort(([a], [b]) => (a < b ? -1 : 1)).map(([day, calls]) => ({ day, calls, limit: limit.limitOn(day) }));
}

/** Calls over their day's limit, summed over the days: the day's violations. */
export function dayViolations(days: readonly DayFigure[]): number {
  return days.reduce((n, d) => n + Math.max(0, d.calls - d.limit), 0);
}

/** The zone of the k-th recipient: the zones take consecutive runs of recipients, in order. */
export function zoneOf(local: SimLocalSend, k: number): string {
  let from = 0;
  for (const z of local.zones) {
    if (k < from + z.size) return z.timeZone;
    from += z.size;
  }
  throw new RangeError(`recipient ${k} is past the ${from} recipients of the local send's zones`);
}

export interface ZoneFigure {
  timeZone: string;
  /** Its local time, as an instant (ISO). */
  opensAt: string;
  recipients: number;
  /** Its first and last message, in seconds after its local time (negative: early). */
  firstS: number;
  lastS: number;
  /** Messages that arrived before the recipient's local time: must be 0. */
  early: number;
}

/** Each zone's messages against its local time, from when each recipient's first message arrived. */
export function perZone(local: SimLocalSend, firstArrival: (k: number) => number | undefined): ZoneFigure[] {
  let k = 0;
  return local.zones.map((z) => {
    const opens = localInstant({ ...local, timeZone: z.timeZone, column: 'tz' }, z.timeZone);
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    let early = 0;
    for (let i = 0; i < z.size; i++, k++) {
      const t = firstArrival(k);
      if (t === undefined) continue;
      first = Math.min(first, t);
      last = Math.max(last, t);
      if (t < opens) early++;
    }
    return {
      timeZone: z.timeZone,
      opensAt: new Date(opens).toISOString(),
      recipients: z.size,
      firstS: (first - opens) / 1000,
      lastS: (last - opens) / 1000,
      early,
    };
  });
}

/** The soonest a local send can finish at the full cap: each zone's recipients no earlier than their local time. */
export function idealLocalMs(local: SimLocalSend, start: number, cap: number, windowMs: number): number {
  const waves = local.zones.map((z) => ({ at: localInstant({ ...local, timeZone: z.timeZone, column: 'tz' }, z.timeZone), count: z.size }));
  // A zone whose time has come at the start is sent from the start.
  const due = waves.filter((w) => w.at <= start).reduce((n, w) => n + w.count, 0);
  return finishAt(start, due, waves, cap / windowMs) - start;
}
