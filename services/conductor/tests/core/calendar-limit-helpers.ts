import fc from 'fast-check';
import type { Governor } from '../../src/core/governor';

/**
 * Driving a governor with calendar limits as the conductor does, for the daily- and monthly-limit
 * tests: grants taken slice by slice, opened ahead as the journal does, and usage given back.
 */

/** Takes every free permit of each slice from `from` for `seconds`; adds them to `grants` (slice → permits) and returns it. */
export function drain(g: Governor, from: number, seconds: number, grants = new Map<number, number>()): Map<number, number> {
  for (let s = 0; s < seconds; s++) {
    const now = from + s * 1_000;
    g.open(g.sliceOf(now + 20_000), now);
    g.markDurable(g.sliceOf(now + 20_000));
    const i = g.sliceOf(now);
    const n = g.free(i);
    if (n > 0) g.take(i, n);
    grants.set(i, (grants.get(i) ?? 0) + n);
  }
  return grants;
}

export const sum = (m: Map<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

/** One lease of a property test: `seconds` slices granted in full, a share `use` of each used, the provider held meanwhile or not. */
export interface UsageStep {
  seconds: number;
  use: number;
  hold: boolean;
}

export const usageSteps = fc.array(
  fc.record({ seconds: fc.integer({ min: 1, max: 40 }), use: fc.double({ min: 0, max: 1, noNaN: true }), hold: fc.boolean() }),
  { minLength: 1, maxLength: 30 },
);

/** Plays `steps` from `start`, one after the other: `used(slice, n)` is told what each slice used before the rest is given back. */
export function playUsage(g: Governor, start: number, steps: UsageStep[], used: (slice: number, n: number) => void): void {
  let now = start;
  for (const step of steps) {
    g.open(g.sliceOf(now + 20_000), now);
    g.markDurable(g.sliceOf(now + 20_000));
    if (step.hold) g.hold(now, now + 2_000, 'test');
    const i = g.sliceOf(now) + 1;
    const permits: number[] = [];
    for (let k = 0; k < step.seconds; k++) {
      const n = g.free(i + k);
      g.take(i + k, n);
      permits.push(n);
    }
    const usedPer = permits.map((n) => Math.floor(n * step.use));
    usedPer.forEach((n, k) => used(i + k, n));
    now += (step.seconds + 1) * 1_000 + 37_000;
    g.release({ start: i * 1_000, sliceMs: 1_000, permits }, usedPer, now);
  }
}
