import fc from 'fast-check';
import { Governor } from '../../src/core/governor';

const settings = { perWindowMax: 100, windowMs: 60_000, marginMs: 500 };

describe('Governor', () => {
  it('grants at most the cap in one calendar window', () => {
    // Prepare
    const g = new Governor(settings);
    // Act
    const a = g.acquire(70, 1_000);
    const b = g.acquire(70, 2_000);
    const c = g.acquire(70, 3_000);
    // Assess
    expect([a.permits, b.permits, c.permits]).toEqual([70, 30, 0]);
    expect(a.windowStart).toBe(0);
    expect(a.sendUntil).toBe(59_500);
  });

  it('aligns windows to the clock and starts each with a full budget', () => {
    const g = new Governor(settings);
    g.acquire(100, 59_000);
    const next = g.acquire(100, 60_000);
    expect(next).toEqual({ permits: 100, windowStart: 60_000, sendUntil: 119_500 });
  });

  it('issues nothing in the margin at the end of a window', () => {
    const g = new Governor(settings);
    expect(g.acquire(10, 59_600).permits).toBe(0);
    expect(g.available(59_499)).toBe(100);
  });

  it('takes back unused permits only while their window is current', () => {
    const g = new Governor(settings);
    const grant = g.acquire(100, 1_000);
    g.release(grant, 40, 2_000);
    expect(g.available(2_000)).toBe(40);
    const late = g.acquire(40, 3_000);
    g.acquire(100, 61_000);
    g.release(late, 40, 61_500); // next window: returning them must not inflate its budget
    expect(g.available(61_500)).toBe(0);
  });

  it('holds all issuing while the provider asked to wait', () => {
    const g = new Governor(settings);
    g.holdUntil(10_000);
    expect(g.acquire(5, 9_999).permits).toBe(0);
    expect(g.acquire(5, 10_000).permits).toBe(5);
  });

  it('refuses a margin as long as the window', () => {
    expect(() => new Governor({ perWindowMax: 1, windowMs: 1_000, marginMs: 1_000 })).toThrow(RangeError);
  });

  it('never lets provider calls in any calendar window exceed the cap, whatever workers do', () => {
    const step = fc.record({
      advanceMs: fc.integer({ min: 0, max: 20_000 }),
      wanted: fc.integer({ min: 0, max: 80 }),
      /** Share of its permits the worker really uses; the rest it returns. */
      useShare: fc.oneof(fc.constant(1), fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
      /** When, within what is left of the permits' validity, each call happens (0..1). */
      callSpread: fc.double({ min: 0, max: 1, noNaN: true }),
      returnDelayMs: fc.integer({ min: 0, max: 90_000 }),
      hold: fc.oneof({ arbitrary: fc.constant(undefined), weight: 9 }, { arbitrary: fc.integer({ min: 0, max: 30_000 }), weight: 1 }),
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.array(step, { minLength: 1, maxLength: 80 }), (start, steps) => {
        const g = new Governor(settings);
        const calls: number[] = [];
        const pendingReturns: { at: number; grant: { windowStart: number }; unused: number }[] = [];
        let now = start;
        for (const s of steps) {
          now += s.advanceMs;
          for (const r of pendingReturns.filter((p) => p.at <= now)) g.release(r.grant, r.unused, now);
          pendingReturns.splice(0, pendingReturns.length, ...pendingReturns.filter((p) => p.at > now));
          if (s.hold !== undefined) g.holdUntil(now + s.hold);
          const grant = g.acquire(s.wanted, now);
          const used = Math.floor(grant.permits * s.useShare);
          for (let i = 0; i < used; i++) {
            // Each call starts before sendUntil, as the worker enforces.
            const t = now + Math.floor((grant.sendUntil - 1 - now) * s.callSpread * ((i + 1) / (used + 1)));
            if (t < grant.sendUntil) calls.push(t);
          }
          pendingReturns.push({ at: now + s.returnDelayMs, grant, unused: grant.permits - used });
        }
        const perWindow = new Map<number, number>();
        for (const t of calls) perWindow.set(Math.floor(t / settings.windowMs), (perWindow.get(Math.floor(t / settings.windowMs)) ?? 0) + 1);
        for (const n of perWindow.values()) expect(n).toBeLessThanOrEqual(settings.perWindowMax);
      }),
      { numRuns: 1000 },
    );
  });
});
