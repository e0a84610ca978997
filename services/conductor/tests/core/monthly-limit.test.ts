import fc from 'fast-check';
import { MonthlyLimit, calendarLimits } from '../../src/core/daily-limit';
import { Governor } from '../../src/core/governor';
import { SendingGovernors, sendingGovernorsCheckpoint } from '../../src/core/sending-governors';
import { drain, playUsage, sum, usageSteps } from './calendar-limit-helpers';

const DECEMBER = Date.UTC(2026, 11, 1); // 2026-12-01 00:00 UTC
const DAY = 86_400_000;

/** A governor of 600 a minute in one-second slices, with these calendar limits (UTC). */
function governor(daily: { perMonth?: number; perDay?: number }): Governor {
  return new Governor({ perWindowMax: 600, windowMs: 60_000, sliceMs: 1_000, marginMs: 100, daily });
}

describe('MonthlyLimit: the months and their limit', () => {
  it("reads months in the limit's zone, named YYYY-MM, and knows when the next begins", () => {
    const ny = new MonthlyLimit(1_000, 'America/New_York');
    // 03:00 UTC on 1 December is still 22:00 on 30 November in New York.
    expect(ny.periodOf(Date.UTC(2026, 11, 1, 3))).toBe('2026-11');
    expect(ny.nextStart(Date.UTC(2026, 11, 1, 3))).toBe(Date.UTC(2026, 11, 1, 5));
    expect(ny.startOf(Date.UTC(2026, 11, 15))).toBe(Date.UTC(2026, 11, 1, 5));
    expect(new MonthlyLimit(5).limitOn()).toBe(5);
  });

  it('comes with the daily limit only when the settings ask for each', () => {
    expect(Object.keys(calendarLimits({ perMonth: 10 }))).toEqual(['monthly']);
    expect(Object.keys(calendarLimits({ perDay: 10 }))).toEqual(['daily']);
    expect(Object.keys(calendarLimits({ perDay: 10, perMonth: 100 }))).toEqual(['daily', 'monthly']);
    expect(Object.keys(calendarLimits({ warmUp: { from: '2026-12-01', start: 10, factor: 2 } }))).toEqual(['daily']);
    expect(() => new MonthlyLimit(5, 'Mars/Base')).toThrow('monthly limit: unknown time zone Mars/Base');
  });
});

describe('Governor with a monthly limit', () => {
  it("grants exactly the month's limit, then nothing until the next month, which starts afresh", () => {
    // Prepare
    const g = governor({ perMonth: 1_000 });
    // Act: the last hour of November and the first of December, taking all there is.
    const grants = drain(g, DECEMBER - 3_600_000, 7_200);
    // Assess: 1,000 on each side (the slice that touches both counts in both).
    let before = 0;
    let after = 0;
    for (const [i, n] of grants) {
      if (i * 1_000 + 1_000 + 100 <= DECEMBER) before += n;
      else if (i * 1_000 - 100 >= DECEMBER) after += n;
    }
    expect(before).toBeLessThanOrEqual(1_000);
    expect(after).toBeLessThanOrEqual(1_000);
    expect(before + after).toBeGreaterThanOrEqual(1_990);
    expect(g.snapshot(DECEMBER + 3_000_000).month).toEqual({ month: '2026-12', limit: 1_000, granted: after });
    expect(g.monthUsedUp(DECEMBER + 3_000_000)).toEqual({ until: Date.UTC(2027, 0, 1), limit: 1_000, timeZone: 'UTC' });
  });

  it("holds both the day's and the month's limit: a day takes its own, the month ends it", () => {
    // Prepare: 600 a day, 1,000 a month.
    const g = governor({ perDay: 600, perMonth: 1_000 });
    // Act: the first two days of December.
    const first = sum(drain(g, DECEMBER + 3_600_000, 3_600));
    const second = sum(drain(g, DECEMBER + DAY + 3_600_000, 3_600));
    // Assess
    expect([first, second]).toEqual([600, 400]);
    expect(g.snapshot(DECEMBER + DAY + 7_200_000)).toMatchObject({
      today: { day: '2026-12-02', limit: 600, granted: 400 },
      month: { month: '2026-12', limit: 1_000, granted: 1_000 },
    });
  });

  it('never lets the calls a month can hold exceed its limit, whatever is granted, used, given back or held', () => {
    fc.assert(
      fc.property(usageSteps, fc.integer({ min: 1, max: 400 }), (steps, perMonth) => {
        const g = governor({ perMonth });
        const month = new MonthlyLimit(perMonth);
        const used = new Map<string, number>();
        playUsage(g, DECEMBER - 300_000, steps, (slice, n) => {
          // A call for a slice may reach the provider within the margin either side of it.
          const months = new Set([month.periodOf(slice * 1_000 - 100), month.periodOf((slice + 1) * 1_000 + 99)]);
          for (const m of months) used.set(m, (used.get(m) ?? 0) + n);
        });
        for (const n of used.values()) expect(n).toBeLessThanOrEqual(perMonth);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps what the month holds through a checkpoint, as JSON, and a restart', () => {
    // Prepare: 80 of 100 granted this month, then a checkpoint stored as the journal does.
    const settings = { windowMs: 60_000, sliceMs: 1_000, marginMs: 100 };
    const domains = [{ domain: 'mg.example.com', perWindowMax: 600, daily: { perMonth: 100 } }];
    const before = new SendingGovernors({ ...settings, domains });
    drain(before.forDomain(undefined), DECEMBER + 5 * DAY, 8);
    const saved = JSON.parse(JSON.stringify(before.checkpoint(DECEMBER + 5 * DAY + 8_000)));
    // Act: restarted the next day.
    const after = new SendingGovernors({ ...settings, domains });
    after.restore(sendingGovernorsCheckpoint.parse(saved), DECEMBER + 6 * DAY);
    const grants = drain(after.forDomain(undefined), DECEMBER + 6 * DAY, 60);
    // Assess: at most the 20 left, and the view's figures say so.
    expect(saved.domains['mg.example.com'].months).toBeDefined();
    expect(sum(grants)).toBeLessThanOrEqual(20);
    expect(after.forDomain(undefined).snapshot(DECEMBER + 6 * DAY + 60_000).month!.granted).toBeGreaterThanOrEqual(80);
  });

  it('checkpoints only the periods that still matter: from the last one on, and none that holds nothing', () => {
    // Prepare: sends on 1 December, then on 4 December (a day and a month limit).
    const g = governor({ perDay: 50, perMonth: 500 });
    drain(g, DECEMBER + 3_600_000, 5);
    drain(g, DECEMBER + 3 * DAY + 3_600_000, 5);
    // Act: the checkpoint the next day.
    const cp = g.checkpoint(DECEMBER + 4 * DAY + 3_600_000);
    // Assess: 1 December is past the day before: not kept; 4 December (yesterday) is; today holds nothing yet.
    expect(Object.keys(cp.days!)).toEqual(['2026-12-04']);
    expect(cp.days!['2026-12-04']).toBeGreaterThan(0);
    expect(Object.keys(cp.months!)).toEqual(['2026-12']);
  });

  it('says why a domain waits when its month is used up, and until when', () => {
    const governors = new SendingGovernors({
      windowMs: 60_000,
      sliceMs: 1_000,
      marginMs: 100,
      domains: [{ domain: 'mg.example.com', perWindowMax: 600, daily: { perMonth: 50, timeZone: 'Europe/Berlin' } }],
    });
    drain(governors.forDomain(undefined), DECEMBER + 10 * DAY, 10);
    expect(governors.holdOf(undefined, DECEMBER + 10 * DAY + 20_000)).toEqual({
      reason: 'monthlyLimit',
      until: Date.UTC(2026, 11, 31, 23),
      message: "This month's limit for mg.example.com (50) is reached; sending resumes on 1 Jan at 00:00 Europe/Berlin",
    });
  });
});
