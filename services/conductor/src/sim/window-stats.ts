/**
 * Counting provider calls by window, as the provider would: used by the simulation benchmark
 * and by the governor's property tests.
 */

/** The most calls in any half-open window `[t, t + windowMs)`, over every t. */
export function maxInAnyWindow(times: readonly number[], windowMs: number): number {
  const sorted = Float64Array.from(times).sort();
  let best = 0;
  let lo = 0;
  // The busiest window can always be slid right until it starts at a call.
  for (let hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** Calls per calendar window (`floor(t / windowMs)`), keyed by the window's index. */
export function perCalendarWindow(times: readonly number[], windowMs: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of times) {
    const w = Math.floor(t / windowMs);
    out.set(w, (out.get(w) ?? 0) + 1);
  }
  return out;
}
