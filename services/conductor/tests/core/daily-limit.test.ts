import fc from 'fast-check';
import { DailyLimit } from '../../src/core/daily-limit';
import { Governor } from '../../src/core/governor';
import { SendingGovernors, sendingGovernorsCheckpoint } from '../../src/core/sending-governors';
import { drain, playUsage, sum, usageSteps } from './calendar-limit-helpers';

const DAY = 86_400_000;
const MIDNIGHT = Date.UTC(2026, 11, 1); // 2026-12-01 00:00 UTC

describe('DailyLimit: the days and their limits', () => {
  it('ramps a warm-up by its factor from its first day, up to perDay', () => {
    const d = new DailyLimit({ perDay: 1_000, warmUp: { from: '2026-12-01', start: 200, factor: 2 } });
    expect(['2026-11-30', '2026-12-01', '2026-12-02', '2026-12-03', '2026-12-10'].map((day) => d.limitOn(day))).toEqual([
      200, 200, 400, 800, 1_000,
    ]);
  });

  it('follows a day-by-day ramp, then perDay (or its last day without one)', () => {
    const ramp = { from: '2026-12-01', days: [50, 100, 300] };
    expect(['2026-12-01', '2026-12-03', '2026-12-04'].map((day) => new DailyLimit({ perDay: 900, warmUp: ramp }).limitOn(day))).toEqual([
      50, 300, 900,
    ]);
    expect(new DailyLimit({ warmUp: ramp }).limitOn('2026-12-09')).toBe(300);
  });

  it("reads days in the limit's zone, and names both days for an interval across midnight", () => {
    const ny = new DailyLimit({ perDay: 10, timeZone: 'America/New_York' });
    expect(ny.dayOf(Date.UTC(2026, 11, 1, 3, 0))).toBe('2026-11-30'); // 22:00 the evening before, in New York
    expect(ny.nextDayStart(Date.UTC(2026, 11, 1, 3, 0))).toBe(Date.UTC(2026, 11, 1, 5, 0));
    const utc = new DailyLimit({ perDay: 10 });
    expect(utc.daysOf(MIDNIGHT - 100, MIDNIGHT + 100)).toEqual(['2026-11-30', '2026-12-01']);
    expect(utc.daysOf(MIDNIGHT, MIDNIGHT + 100)).toEqual(['2026-12-01']);
  });

  it('refuses settings it cannot apply', () => {
    expect(() => new DailyLimit({ perDay: 5, timeZone: 'Mars/Base' })).toThrow('unknown time zone Mars/Base');
    expect(() => new DailyLimit({})).toThrow('give perDay, warmUp or both');
    expect(() => new DailyLimit({ warmUp: { from: 'soon', start: 1, factor: 2 } })).toThrow('soon is not a date');
  });
});

/** A governor of 600 a minute in one-second slices, with `perDay` a day (UTC). */
function governor(perDay: number): Governor {
  return new Governor({ perWindowMax: 600, windowMs: 60_000, sliceMs: 1_000, marginMs: 100, daily: { perDay } });
}

describe('Governor with a daily limit', () => {
  it('grants exactly the day’s limit, then nothing until the next day, which starts afresh', () => {
    // Prepare
    const g = governor(1_000);
    const grants = new Map<number, number>();
    // Act: the last hour of one day and the first of the next, taking all there is.
    drain(g, MIDNIGHT - 3_600_000, 7_200, grants);
    // Assess: 1,000 on each side of midnight (the slice that touches both counts in both).
    let before = 0;
    let after = 0;
    for (const [i, n] of grants) {
      if (i * 1_000 + 1_000 + 100 <= MIDNIGHT) before += n;
      else if (i * 1_000 - 100 >= MIDNIGHT) after += n;
    }
    expect(before).toBeLessThanOrEqual(1_000);
    expect(after).toBeLessThanOrEqual(1_000);
    expect(before + after).toBeGreaterThanOrEqual(1_990);
    expect(g.snapshot(MIDNIGHT + 3_000_000).today).toEqual({ day: '2026-12-01', limit: 1_000, granted: after });
    expect(g.dayUsedUp(MIDNIGHT + 3_000_000)).toEqual({ until: MIDNIGHT + DAY, limit: 1_000, timeZone: 'UTC' });
  });

  it('gives the day back what slices held for grants that never came, once they are past', () => {
    // Prepare: slices opened ahead hold the whole day (100) as their limits; nobody asks.
    const g = governor(100);
    g.open(g.sliceOf(MIDNIGHT + 20_000), MIDNIGHT);
    g.markDurable(g.sliceOf(MIDNIGHT + 20_000));
    // Act: a minute later, a worker takes all there is.
    const grants = new Map<number, number>();
    drain(g, MIDNIGHT + 60_000, 30, grants);
    // Assess
    expect(sum(grants)).toBe(100);
  });

  it('offers again what a worker gave back unused, within the same day', () => {
    // Prepare: the day's 100 granted in the first slices.
    const g = governor(100);
    const grants = new Map<number, number>();
    drain(g, MIDNIGHT, 5, grants);
    const first = g.sliceOf(MIDNIGHT);
    drain(g, MIDNIGHT + 5_000, 20, grants);
    expect(sum(grants)).toBe(100);
    expect(g.dayUsedUp(MIDNIGHT + 30_000)).toBeDefined();
    // Act: slice `first` used 3 of what it was granted.
    const n = grants.get(first)!;
    g.release({ start: first * 1_000, sliceMs: 1_000, permits: [n] }, [n - 7], MIDNIGHT + 30_000);
    const more = new Map<number, number>();
    drain(g, MIDNIGHT + 30_000, 30, more);
    // Assess
    expect(sum(more)).toBe(7);
  });

  it('never lets the calls a day can hold exceed its limit, whatever is granted, used, given back or held', () => {
    fc.assert(
      fc.property(usageSteps, fc.integer({ min: 1, max: 400 }), (steps, perDay) => {
        const g = governor(perDay);
        const used = new Map<string, number>();
        const day = new DailyLimit({ perDay });
        playUsage(g, MIDNIGHT - 300_000, steps, (slice, n) => {
          for (const d of day.daysOf(slice * 1_000 - 100, (slice + 1) * 1_000 + 100)) used.set(d, (used.get(d) ?? 0) + n);
        });
        for (const n of used.values()) expect(n).toBeLessThanOrEqual(perDay);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps what each day holds through a checkpoint, as JSON, and a restart', () => {
    // Prepare: 80 of 100 granted today, then a checkpoint stored as the journal does.
    const settings = { windowMs: 60_000, sliceMs: 1_000, marginMs: 100 };
    const domains = [{ domain: 'mg.example.com', perWindowMax: 600, daily: { perDay: 100 } }];
    const before = new SendingGovernors({ ...settings, domains });
    const g = before.forDomain(undefined);
    drain(g, MIDNIGHT, 8, new Map());
    g.pushBack(MIDNIGHT + 8_000);
    const saved = JSON.parse(JSON.stringify(before.checkpoint(MIDNIGHT + 8_000)));
    // Act
    const after = new SendingGovernors({ ...settings, domains });
    after.restore(sendingGovernorsCheckpoint.parse(saved), MIDNIGHT + 60_000);
    const h = after.forDomain(undefined);
    const grants = new Map<number, number>();
    drain(h, MIDNIGHT + 60_000, 60, grants);
    // Assess: 80 granted before, and the whole restored horizon counted as used: at most 20 more.
    expect(sum(grants)).toBeLessThanOrEqual(20);
    expect(h.snapshot(MIDNIGHT + 120_000).today!.granted).toBeGreaterThanOrEqual(80);
    // And the push-back's recovery target came back too.
    expect(saved.domains['mg.example.com'].recoverTo).toBe(600);
    expect(sendingGovernorsCheckpoint.parse(saved).domains['mg.example.com']!.recoverTo).toBe(600);
  });
});

describe('Governor.hold', () => {
  it('keeps saying why it holds when a later stated wait without a reason extends the hold', () => {
    const g = governor(1_000);
    g.hold(MIDNIGHT, MIDNIGHT + 60_000, 'limit reached');
    g.pushBack(MIDNIGHT + 1_000, 120_000);
    expect(g.heldFor(MIDNIGHT + 2_000)).toEqual({ until: MIDNIGHT + 121_000, reason: 'limit reached' });
  });
});
