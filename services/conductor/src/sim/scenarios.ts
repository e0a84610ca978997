import type { Scenario } from './simulate';

/**
 * Mailgun at 6,000 calls a minute. Workers: 32 lanes each (the worker's default), provider latency lognormal, every
 * object-store request lognormal (the worker makes three before each call and one after), clocks within ±40 ms,
 * 5–60 ms of transit (so skew plus transit stays inside the 150 ms margin), Lambda cold starts.
 */
const base: Omit<Scenario, 'name' | 'description' | 'workers' | 'campaigns'> = {
  cap: 6_000,
  windowMs: 60_000,
  sliceMs: 200,
  marginMs: 150,
  lanes: 32,
  latency: { medianMs: 120, sigma: 0.35 },
  storeMs: { medianMs: 12, sigma: 0.4 },
  transitMs: [5, 60],
  skewMs: 40,
  invokeDelayMs: { medianMs: 250, sigma: 0.6 },
  workerBudgetMs: 120_000,
  leaseHorizonMs: 5_000,
  batchSize: 1_000,
  sigma: 2,
  seed: 20261121,
};

const big = (size: number) => [{ customerId: 'bigco', size, startAtMs: 0 }];

export const SCENARIOS: Scenario[] = [
  { ...base, name: 'steady-4', description: '300,000 recipients, 4 workers', workers: 4, campaigns: big(300_000) },
  { ...base, name: 'steady-20', description: '300,000 recipients, 20 workers', workers: 20, campaigns: big(300_000) },
  {
    ...base,
    name: 'heavy-tail-4',
    description: 'heavy-tailed latency (σ 1.0, p99 ≈ 1.5 s), a quarter of workers 3× slower; 4 workers',
    workers: 4,
    latency: { medianMs: 150, sigma: 1.0 },
    slowWorkers: { share: 0.25, factor: 3 },
    campaigns: big(120_000),
  },
  {
    ...base,
    name: 'heavy-tail-20',
    description: 'the same heavy tail with 20 workers',
    workers: 20,
    latency: { medianMs: 150, sigma: 1.0 },
    slowWorkers: { share: 0.25, factor: 3 },
    campaigns: big(120_000),
  },
  {
    ...base,
    name: 'burst-429',
    description: 'the provider answers 429 to every call for 20 s, 5 minutes in; 8 workers',
    workers: 8,
    throttle: { fromMs: 300_000, toMs: 320_000 },
    campaigns: big(60_000),
  },
  {
    ...base,
    name: 'periodic-429',
    description: 'a cap of 1,200 per 10 s; the provider answers 429 to every call for 4 s of every 12 s; 5,000 recipients, 8 workers',
    cap: 1_200,
    windowMs: 10_000,
    workers: 8,
    throttle: { fromMs: 8_000, toMs: 12_000, everyMs: 12_000 },
    campaigns: big(5_000),
  },
  {
    ...base,
    name: 'two-campaigns',
    description: '120,000 recipients, then 500 of another customer 3 minutes in; 8 workers',
    workers: 8,
    campaigns: [
      { customerId: 'bigco', size: 120_000, startAtMs: 0 },
      { customerId: 'smallco', size: 500, startAtMs: 180_000 },
    ],
  },
  {
    ...base,
    name: 'crashes',
    description: '5% of leases lose their worker mid-lease; 8 workers',
    workers: 8,
    crashPerLease: 0.05,
    campaigns: big(60_000),
  },
  {
    ...base,
    name: 'daily-limit',
    description: 'a cap of 1,200 per 10 s and a daily limit of 3,000 (DAILY_LIMITS, UTC); 5,000 recipients from 23:58 UTC, 8 workers',
    cap: 1_200,
    windowMs: 10_000,
    workers: 8,
    startAt: Date.UTC(2026, 0, 5, 23, 58),
    daily: { perDay: 3_000 },
    providerDaily: 3_000,
    campaigns: big(5_000),
  },
  {
    ...base,
    name: 'provider-420',
    description: 'the same, but only the provider knows its daily limit of 3,000: past it, 420 "try again after" midnight',
    cap: 1_200,
    windowMs: 10_000,
    workers: 8,
    startAt: Date.UTC(2026, 0, 5, 23, 58),
    providerDaily: 3_000,
    campaigns: big(5_000),
  },
];

SCENARIOS.push(
  {
    ...base,
    name: 'three-zones',
    description:
      "09:00 in each recipient's zone under a cap of 300 a minute: 6,000 in Asia/Kathmandu (03:15 UTC), then 1,500 each in Asia/Kolkata and Asia/Colombo at once (03:30 UTC) while Kathmandu's wave still sends; 8 workers, from 03:00 UTC",
    cap: 300,
    workers: 8,
    startAt: Date.UTC(2026, 0, 6, 3, 0),
    localSend: {
      date: '2026-01-06',
      time: '09:00',
      zones: [
        { timeZone: 'Asia/Kathmandu', size: 6_000 },
        { timeZone: 'Asia/Kolkata', size: 1_500 },
        { timeZone: 'Asia/Colombo', size: 1_500 },
      ],
    },
    campaigns: big(9_000),
  },
  {
    ...base,
    name: 'warm-up-week',
    description:
      'a new domain warmed up from 200 a day, doubling to 12,800 (DAILY_LIMITS, America/New_York, over the change to daylight saving); 30,000 recipients from Wed 09:00 New York, a cap of 1,200 per 10 s, 8 workers; a 10 s tick, 1 s slices and a 20 s lease horizon',
    cap: 1_200,
    windowMs: 10_000,
    workers: 8,
    startAt: Date.UTC(2026, 2, 4, 14, 0),
    daily: { timeZone: 'America/New_York', perDay: 12_800, warmUp: { from: '2026-03-04', start: 200, factor: 2 } },
    deadlineMs: 9 * 86_400_000,
    // A week of one-second ticks costs a minute and a half under jest: TICK_MS=10000 here. The tick
    // must stay shorter than the lease horizon (LEASE_HORIZON_MS): at or past it, each day's last
    // slice of room lands in the slice already current and is never leased (178 of 200 on the
    // first day with 10 s and 5 s; see docs/benchmarks.md), so the horizon is 20 s.
    tickMs: 10_000,
    leaseHorizonMs: 20_000,
    // And 1 s slices (GOVERNOR_SLICE_MS=1000): every slice of the week is opened, idle or not.
    sliceMs: 1_000,
    campaigns: big(30_000),
  },
);
