import { Governor } from '../../src/core/governor';
import { WorkerRates, planGrant } from '../../src/core/pacing';

const shape = { windowMs: 60_000, sliceMs: 1_000, marginMs: 0 };

function ready(cap: number): Governor {
  const g = new Governor({ ...shape, perWindowMax: cap });
  g.open(g.sliceOf(30_000), 0);
  g.markDurable(g.sliceOf(30_000));
  return g;
}

describe('WorkerRates', () => {
  it('predicts lanes × time / mean key time, less sigma standard deviations', () => {
    // Prepare: 4 lanes, keys of 100 ms ± 50 ms.
    const rates = new WorkerRates(2);
    rates.observe('w1', { n: 400, meanMs: 100, sdMs: 50 }, 4);
    // Act
    const predicted = rates.predict('w1', 10_000)!;
    // Assess: 400 expected, spread √(4·10000·2500/10⁶) = 10.
    expect(predicted).toBeCloseTo(400 - 2 * 10, 5);
  });

  it('is more careful about a jittery worker than a steady one with the same mean', () => {
    const rates = new WorkerRates(2);
    rates.observe('steady', { n: 100, meanMs: 200, sdMs: 10 }, 8);
    rates.observe('jittery', { n: 100, meanMs: 200, sdMs: 400 }, 8);
    expect(rates.predict('jittery', 5_000)!).toBeLessThan(rates.predict('steady', 5_000)!);
  });

  it('assumes a worker not heard from is as slow as the slowest known one, and knows nothing at first', () => {
    const rates = new WorkerRates(1);
    expect(rates.predict('new', 5_000)).toBeUndefined();
    rates.observe('fast', { n: 50, meanMs: 100, sdMs: 10 }, 8);
    rates.observe('slow', { n: 50, meanMs: 900, sdMs: 100 }, 8);
    expect(rates.predict('new', 5_000)).toBe(rates.predict('slow', 5_000));
  });

  it('follows a worker that slows down', () => {
    const rates = new WorkerRates(0);
    rates.observe('w', { n: 500, meanMs: 100, sdMs: 0 }, 1);
    rates.observe('w', { n: 500, meanMs: 400, sdMs: 0 }, 1);
    expect(rates.predict('w', 4_000)).toBeCloseTo(10, 0);
  });
});

describe('planGrant', () => {
  it('spreads a predicted rate over the slices of the horizon, within what is free', () => {
    const g = ready(600); // ten a slice
    const grant = planGrant([g], { now: 0, want: 100, horizonMs: 5_000, predicted: 15, unknownPerSlice: 1 })!;
    expect(grant.permits).toEqual([3, 3, 3, 3, 3]);
    expect(grant.start).toBe(0);
  });

  it('starts in the next slice when less than half of the current one is left', () => {
    const g = ready(600);
    expect(planGrant([g], { now: 600, want: 5, horizonMs: 2_000, predicted: 10, unknownPerSlice: 1 })!.start).toBe(1_000);
  });

  it('never takes more than every governor in the chain has free (a capped customer)', () => {
    const domain = ready(6_000); // about a hundred a slice
    const customer = ready(120); // about two
    const before = [0, 1, 2].map((i) => [domain.free(i), customer.free(i)]);
    const grant = planGrant([domain, customer], { now: 0, want: 100, horizonMs: 3_000, predicted: undefined, unknownPerSlice: 50 })!;
    // The customer's cap decides, and both governors are charged the same.
    expect(grant.permits).toEqual(before.map(([, c]) => c));
    grant.permits.forEach((n, i) => {
      expect(domain.free(i)).toBe(before[i]![0]! - n);
      expect(customer.free(i)).toBe(0);
    });
  });

  it('ends before the worker runs out of time', () => {
    const g = ready(600);
    const grant = planGrant([g], { now: 0, want: 100, horizonMs: 10_000, predicted: undefined, unknownPerSlice: 5, notAfter: 3_500 })!;
    expect(grant.permits).toHaveLength(3);
  });

  it('grants nothing when nothing is free', () => {
    const g = ready(600);
    planGrant([g], { now: 0, want: 1_000, horizonMs: 5_000, predicted: undefined, unknownPerSlice: 100 });
    expect(planGrant([g], { now: 0, want: 10, horizonMs: 5_000, predicted: undefined, unknownPerSlice: 100 })).toBeUndefined();
  });
});
