import type { Governor, SliceGrant } from './governor';

/** What a worker says about its keys at check-in: how long each kept a lane busy. */
export interface KeyTiming {
  n: number;
  meanMs: number;
  sdMs: number;
}

interface Stats {
  n: number;
  mean: number;
  /** Sum of squared deviations (Welford). */
  m2: number;
  lanes: number;
}

/** Older observations fade: a worker's estimate follows its last few hundred keys. */
const MEMORY = 500;

/**
 * Predicts how many keys a worker will get through in a given time, from the per-key lane
 * time its check-ins report (mean and standard deviation) and its lane count.
 *
 * Each lane is a renewal process: over T ms it finishes about T/μ keys, with variance about
 * T·σ²/μ³. With c lanes the count has mean c·T/μ and variance c·T·σ²/μ³; the prediction is
 * that mean less `sigma` standard deviations, so a worker rarely holds permits it cannot use
 * (they would sit idle in their slices). A worker not seen before borrows the pool's figures.
 */
export class WorkerRates {
  private readonly workers = new Map<string, Stats>();
  private readonly pool: Stats = { n: 0, mean: 0, m2: 0, lanes: 1 };

  constructor(private readonly sigma: number) {}

  observe(workerId: string, timing: KeyTiming | undefined, lanes: number | undefined): void {
    if (!timing || timing.n <= 0 || !(timing.meanMs > 0)) return;
    const add: Stats = { n: timing.n, mean: timing.meanMs, m2: timing.sdMs ** 2 * Math.max(0, timing.n - 1), lanes: lanes ?? 1 };
    const mine = this.workers.get(workerId) ?? { n: 0, mean: 0, m2: 0, lanes: add.lanes };
    this.workers.set(workerId, { ...merge(mine, add), lanes: add.lanes });
    Object.assign(this.pool, merge(this.pool, add), { lanes: add.lanes });
  }

  forget(workerId: string): void {
    this.workers.delete(workerId);
  }

  /**
   * Keys the worker will very likely finish in `ms`; undefined when nothing is known yet. A
   * worker not heard from yet is assumed as slow as the slowest one known (a cold or throttled
   * Lambda is common; permits it cannot use would sit idle in their slices).
   */
  predict(workerId: string, ms: number): number | undefined {
    const own = this.workers.get(workerId);
    if (own) return this.lowerBound(own, ms);
    let slowest: number | undefined;
    for (const s of this.workers.values()) slowest = Math.min(slowest ?? Infinity, this.lowerBound(s, ms) ?? Infinity);
    return slowest !== undefined && Number.isFinite(slowest) ? slowest : this.lowerBound(this.pool, ms);
  }

  private lowerBound(s: Stats, ms: number): number | undefined {
    if (s.n === 0 || s.mean <= 0) return undefined;
    const variance = s.n > 1 ? s.m2 / (s.n - 1) : s.mean ** 2;
    const expected = (s.lanes * ms) / s.mean;
    const spread = Math.sqrt((s.lanes * ms * variance) / s.mean ** 3);
    return Math.max(1, expected - this.sigma * spread);
  }
}

function merge(a: Stats, b: Stats): Omit<Stats, 'lanes'> {
  // Fade the older side so the sum never weighs more than MEMORY keys.
  const keep = a.n + b.n > MEMORY ? Math.max(0, MEMORY - b.n) / Math.max(1, a.n) : 1;
  const na = a.n * keep;
  const m2a = a.m2 * keep;
  const n = na + b.n;
  if (n === 0) return { n: 0, mean: 0, m2: 0 };
  const delta = b.mean - a.mean;
  return { n, mean: a.mean + (delta * b.n) / n, m2: m2a + b.m2 + (delta * delta * na * b.n) / n };
}

export interface PlanOptions {
  now: number;
  /** Most permits wanted in all (ready keys, batch size). */
  want: number;
  horizonMs: number;
  /** Permits the worker is predicted to use over the horizon; undefined: unknown. */
  predicted: number | undefined;
  /** Per slice when nothing is known about the worker. */
  unknownPerSlice: number;
  /** No slice may end after this (the worker's time runs out). */
  notAfter?: number;
  /** No slice may start before this (the worker is still starting). */
  notBefore?: number;
}

/**
 * Plans one lease's schedule from the governors it must satisfy (the domain's, and the
 * customer's when capped): from the current slice (if at least half of it is left) over the
 * horizon, each slice gets the worker's predicted per-slice share, no more than every governor
 * has free, until `want` is reached. The permits are taken from every governor.
 */
export function planGrant(governors: readonly Governor[], options: PlanOptions): SliceGrant | undefined {
  const main = governors[0]!;
  const sliceMs = main.settings.sliceMs;
  for (const g of governors) g.advance(options.now);
  const from = Math.max(options.now, options.notBefore ?? options.now);
  let first = main.sliceOf(from);
  if (from - main.sliceStart(first) > sliceMs / 2) first += 1;
  const slices = Math.max(1, Math.round(options.horizonMs / sliceMs));
  const perSlice = options.predicted === undefined ? options.unknownPerSlice : options.predicted / slices;
  const permits: number[] = [];
  let total = 0;
  for (let k = 0; k < slices && total < options.want; k++) {
    const i = first + k;
    if (options.notAfter !== undefined && main.sliceStart(i + 1) > options.notAfter) break;
    // Cumulative rounding spreads a fractional rate (1.4 a slice: 1, 2, 1, 2, 1…).
    const share = Math.floor((k + 1) * perSlice) - Math.floor(k * perSlice);
    let give = Math.min(share, options.want - total);
    for (const g of governors) give = Math.min(give, g.free(i));
    permits.push(Math.max(0, give));
    total += Math.max(0, give);
  }
  while (permits.length > 0 && permits[permits.length - 1] === 0) permits.pop();
  let lead = 0;
  while (lead < permits.length && permits[lead] === 0) lead++;
  if (total === 0) return undefined;
  const schedule = permits.slice(lead);
  schedule.forEach((n, k) => {
    for (const g of governors) g.take(first + lead + k, n);
  });
  return { start: main.sliceStart(first + lead), sliceMs, permits: schedule };
}
