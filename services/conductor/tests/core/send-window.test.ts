import { sendWindow, type SendWindow } from '@baton/shared';
import { describeLocal, windowAt } from '../../src/core/send-window';

const berlin = (local: string) => Date.parse(`${local}+01:00`); // winter time
const weekdays: SendWindow = { timeZone: 'Europe/Berlin', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' };

describe('windowAt: may a campaign send now, and until when', () => {
  it('is closed before the start of a weekday and opens at 08:00 local', () => {
    // 2026-11-30 is a Monday.
    expect(windowAt(weekdays, berlin('2026-11-30T07:59:00'))).toEqual({ open: false, opensAt: berlin('2026-11-30T08:00:00') });
  });

  it('is open from the start, up to (not including) the end', () => {
    expect(windowAt(weekdays, berlin('2026-11-30T08:00:00'))).toEqual({ open: true, closesAt: berlin('2026-11-30T18:00:00') });
    expect(windowAt(weekdays, berlin('2026-11-30T17:59:59'))).toEqual({ open: true, closesAt: berlin('2026-11-30T18:00:00') });
    expect(windowAt(weekdays, berlin('2026-11-30T18:00:00'))).toEqual({ open: false, opensAt: berlin('2026-12-01T08:00:00') });
  });

  it('skips the weekdays not listed: Friday evening opens again on Monday', () => {
    expect(windowAt(weekdays, berlin('2026-12-04T19:00:00'))).toEqual({ open: false, opensAt: berlin('2026-12-07T08:00:00') });
  });

  it('runs an overnight window past midnight, counting the early hours to the evening it began', () => {
    const night: SendWindow = { timeZone: 'Europe/Berlin', days: ['mon'], start: '22:00', end: '06:00' };
    expect(windowAt(night, berlin('2026-11-30T23:00:00'))).toEqual({ open: true, closesAt: berlin('2026-12-01T06:00:00') });
    // Tuesday 03:00 belongs to Monday's night; Monday 03:00 to Sunday's, which is not listed.
    expect(windowAt(night, berlin('2026-12-01T03:00:00'))).toEqual({ open: true, closesAt: berlin('2026-12-01T06:00:00') });
    expect(windowAt(night, berlin('2026-11-30T03:00:00'))).toEqual({ open: false, opensAt: berlin('2026-11-30T22:00:00') });
  });

  it('joins back-to-back openings into one: 24:00 one day meets 00:00 the next', () => {
    const late: SendWindow = { timeZone: 'UTC', days: ['mon', 'tue'], start: '00:00', end: '24:00' };
    expect(windowAt(late, Date.parse('2026-11-30T12:00:00Z'))).toEqual({ open: true, closesAt: Date.parse('2026-12-02T00:00:00Z') });
  });

  it('reads local time in the window zone across daylight saving', () => {
    // 2026-03-29: Berlin's clocks go from 02:00 to 03:00; 2026-10-25: from 03:00 back to 02:00.
    const early: SendWindow = { timeZone: 'Europe/Berlin', days: ['sun'], start: '02:30', end: '04:00' };
    expect(windowAt(early, Date.parse('2026-03-29T00:00:00Z'))).toEqual({ open: false, opensAt: Date.parse('2026-03-29T01:30:00Z') });
    expect(windowAt(early, Date.parse('2026-03-29T01:30:00Z'))).toEqual({ open: true, closesAt: Date.parse('2026-03-29T02:00:00Z') });
    expect(windowAt(weekdays, Date.parse('2026-10-26T06:30:00Z'))).toEqual({ open: false, opensAt: Date.parse('2026-10-26T07:00:00Z') });
    expect(windowAt(weekdays, Date.parse('2026-10-23T06:30:00Z'))).toEqual({ open: true, closesAt: Date.parse('2026-10-23T16:00:00Z') });
  });

  it('says when in words, in the window zone', () => {
    expect(describeLocal(berlin('2026-12-07T08:00:00'), 'Europe/Berlin')).toBe('Mon 08:00 Europe/Berlin');
  });
});

describe('the send window schema', () => {
  const parse = (w: unknown) => sendWindow.safeParse(w);

  it('accepts a window and defaults to every day', () => {
    const r = parse({ timeZone: 'America/New_York', start: '09:00', end: '17:30' });
    expect(r.success && r.data.days).toEqual(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
  });

  it.each([
    [{ timeZone: 'Mars/Olympus', start: '09:00', end: '17:00' }, 'timeZone', 'IANA time zone'],
    [{ timeZone: 'UTC', start: '9:00', end: '17:00' }, 'start', 'HH:MM'],
    [{ timeZone: 'UTC', start: '09:00', end: '24:01' }, 'end', 'HH:MM'],
    [{ timeZone: 'UTC', start: '09:00', end: '09:00' }, 'end', 'must differ'],
    [{ timeZone: 'UTC', days: [], start: '09:00', end: '10:00' }, 'days', ''],
    [{ timeZone: 'UTC', days: ['monday'], start: '09:00', end: '10:00' }, 'days', ''],
    [{ timeZone: 'UTC', start: '09:00', end: '10:00', tz: 'x' }, '', ''],
  ])('refuses %j, naming %s', (w, path, message) => {
    const r = parse(w);
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0]!;
    expect(issue.path.join('.')).toContain(path);
    expect(issue.message).toContain(message);
  });
});
