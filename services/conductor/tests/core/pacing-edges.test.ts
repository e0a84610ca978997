import { Governor } from '../../src/core/governor';
import { WorkerRates, planGrant } from '../../src/core/pacing';

const shape = { windowMs: 60_000, sliceMs: 1_000, marginMs: 0 };

/** About ten permits a slice (reach 61), slices through 30 s durable. */
function ready(): Governor {
  const g = new Governor({ ...shape, perWindowMax: 600 });
  g.open(g.sliceOf(30_000), 0);
  g.markDurable(g.sliceOf(30_000));
  return g;
}

describe('WorkerRates, at the edges', () => {
  it('learns nothing from a check-in that timed no key, or timed keys at zero: the worker still borrows the slowest known', () => {
    // Prepare
    const rates = new WorkerRates(0);
    rates.observe('slow', { n: 50, meanMs: 500, sdMs: 0 }, 1);
    // Act
    rates.observe('idle', { n: 0, meanMs: 100, sdMs: 0 }, 4);
    rates.observe('broken', { n: 5, meanMs: 0, sdMs: 0 }, 4);
    // Assess: 5 000 ms at 500 ms a key.
    expect(rates.predict('idle', 5_000)).toBe(10);
    expect(rates.predict('broken', 5_000)).toBe(10);
  });

  it('assumes a worker timed on one key only is as spread as its mean', () => {
    const rates = new WorkerRates(1);
    rates.observe('w', { n: 1, meanMs: 100, sdMs: 0 }, 1);
    // 100 expected, spread √(10 000 · 100² / 100³) = 10.
    expect(rates.predict('w', 10_000)).toBeCloseTo(90, 6);
  });

  it('weighs check-ins by their keys while they add up to less than its memory', () => {
    const rates = new WorkerRates(0);
    rates.observe('w', { n: 10, meanMs: 100, sdMs: 0 }, 1);
    rates.observe('w', { n: 10, meanMs: 200, sdMs: 0 }, 1);
    // Mean 150 ms.
    expect(rates.predict('w', 15_000)).toBeCloseTo(100, 6);
  });

  it('fades older check-ins beyond its memory (500 keys) rather than dropping them', () => {
    const rates = new WorkerRates(0);
    rates.observe('w', { n: 400, meanMs: 100, sdMs: 0 }, 1);
    rates.observe('w', { n: 200, meanMs: 200, sdMs: 0 }, 1);
    // The 400 count as 300: mean (300·100 + 200·200) / 500 = 140 ms.
    expect(rates.predict('w', 14_000)).toBeCloseTo(100, 6);
  });

  it('counts the spread between check-ins as well as within them', () => {
    const rates = new WorkerRates(2);
    rates.observe('w', { n: 2, meanMs: 100, sdMs: 0 }, 1);
    rates.observe('w', { n: 2, meanMs: 200, sdMs: 0 }, 1);
    // Four keys of 100, 100, 200, 200 ms: mean 150, variance 10 000 / 3.
    const expected = 9_000 / 150 - 2 * Math.sqrt((9_000 * (10_000 / 3)) / 150 ** 3);
    expect(rates.predict('w', 9_000)).toBeCloseTo(expected, 6);
  });

  it("forgets a worker's own figures when told to", () => {
    const rates = new WorkerRates(0);
    rates.observe('fast', { n: 50, meanMs: 100, sdMs: 0 }, 1);
    rates.observe('slow', { n: 50, meanMs: 1_000, sdMs: 0 }, 1);
    rates.forget('fast');
    expect(rates.predict('fast', 10_000)).toBe(10);
  });

  it('predicts from every worker seen, with the last lane count, once all of them are forgotten', () => {
    const rates = new WorkerRates(0);
    rates.observe('w1', { n: 10, meanMs: 100, sdMs: 0 }, 4);
    rates.forget('w1');
    expect(rates.predict('w2', 1_000)).toBe(40);
  });
});

describe('planGrant, at the edges', () => {
  it('starts no earlier than a starting worker can send', () => {
    const grant = planGrant([ready()], { now: 0, notBefore: 2_300, want: 5, horizonMs: 3_000, predicted: undefined, unknownPerSlice: 5 })!;
    expect(grant.start).toBe(2_000);
  });

  it('starts in the current slice when exactly half of it is left', () => {
    const grant = planGrant([ready()], { now: 500, want: 5, horizonMs: 2_000, predicted: undefined, unknownPerSlice: 5 })!;
    expect(grant.start).toBe(0);
  });

  it("includes the slice that ends exactly when the worker's time does", () => {
    const grant = planGrant([ready()], {
      now: 0,
      want: 100,
      horizonMs: 10_000,
      predicted: undefined,
      unknownPerSlice: 5,
      notAfter: 3_000,
    })!;
    expect(grant.permits).toEqual([5, 5, 5]);
  });

  it('never grants more than wanted, even when a slice could hold more', () => {
    const g = ready();
    const before = [0, 1, 2].map((i) => g.free(i));
    const grant = planGrant([g], { now: 0, want: 5, horizonMs: 5_000, predicted: undefined, unknownPerSlice: 3 })!;
    expect(grant.permits).toEqual([3, 2]);
    expect([0, 1, 2].map((i) => before[i]! - g.free(i))).toEqual([3, 2, 0]);
  });
});
