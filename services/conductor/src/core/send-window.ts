import { DateTime } from 'luxon';
import { WEEKDAYS, type SendWindow } from '@baton/shared';

/** Open until `closesAt`, or closed until `opensAt`. */
export type WindowState = { open: true; closesAt: number } | { open: false; opensAt: number };

/** Far enough to find the next opening of any window with at least one weekday. */
const DAYS_AHEAD = 8;

/**
 * Where `now` falls in a campaign's send window: the one rule of "may it send now, and until
 * when". Local times are read in the window's zone (daylight saving included: a time the clocks
 * skip in spring moves on by the hour skipped, 02:30 becoming 03:30; one that happens twice in
 * autumn is its first occurrence). Back-to-back
 * openings (22:00–24:00 then 00:00–06:00) count as one.
 */
export function windowAt(window: SendWindow, now: number): WindowState {
  const openings = openingsAround(window, now);
  const current = openings.find((o) => o.start <= now && now < o.end);
  if (!current) return { open: false, opensAt: openings.find((o) => o.start > now)!.start };
  let closesAt = current.end;
  for (const o of openings) if (o.start <= closesAt && o.end > closesAt) closesAt = o.end;
  return { open: true, closesAt };
}

interface Opening {
  start: number;
  end: number;
}

function openingsAround(window: SendWindow, now: number): Opening[] {
  const [startH, startM] = hoursAndMinutes(window.start);
  const [endH, endM] = hoursAndMinutes(window.end);
  const overnight = endH * 60 + endM <= startH * 60 + startM;
  const today = DateTime.fromMillis(now, { zone: window.timeZone }).startOf('day');
  const openings: Opening[] = [];
  for (let d = -1; d <= DAYS_AHEAD; d++) {
    const day = today.plus({ days: d });
    if (!window.days.includes(WEEKDAYS[day.weekday - 1]!)) continue;
    const start = at(day, startH, startM);
    const end = at(overnight ? day.plus({ days: 1 }) : day, endH, endM);
    openings.push({ start, end });
  }
  return openings.sort((a, b) => a.start - b.start);
}

/** The instant of local `h:m` on `day` (24:00 is the next midnight). */
function at(day: DateTime, h: number, m: number): number {
  if (h === 24) return day.plus({ days: 1 }).toMillis();
  return day.set({ hour: h, minute: m }).toMillis();
}

function hoursAndMinutes(hhmm: string): [number, number] {
  const [h, m] = hhmm.split(':').map(Number);
  return [h!, m!];
}

/** For people: "Mon 08:00 Europe/Berlin". */
export function describeLocal(ms: number, timeZone: string): string {
  return `${DateTime.fromMillis(ms, { zone: timeZone }).toFormat('ccc HH:mm')} ${timeZone}`;
}
