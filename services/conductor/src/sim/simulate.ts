import {
  keys,
  leasePermits,
  recipientIdFor,
  silentLogger,
  type CampaignDefinition,
  type CheckInRequest,
  type CheckInResponse,
  type Lease,
  type RenderedMessage,
  type WorkerInvocation,
} from '@baton/shared';
import { Conductor } from '../core/conductor';
import type { DailyLimitSettings } from '../core/daily-limit';
import { SendingGovernors } from '../core/sending-governors';
import { Random } from './random';
import { SimProvider, acceptingMs, maxPerDay, type ThrottleSpan } from './sim-provider';
import { SimObjectStore } from './sim-store';
import { BaselineWorker, type CallGate, type Dispatcher, type SimLedger } from './baseline-worker';
import { launchWorker, type HostedWorker } from './worker-host';
import type { WorkerProfile, WorkerStats } from './worker-profile';
import { VirtualClock } from './virtual-clock';
import { maxInAnyWindow, perCalendarWindow } from './window-stats';
import {
  dayViolations,
  idealLocalMs,
  perLimitDay,
  perZone,
  zoneOf,
  type DayFigure,
  type SimLocalSend,
  type ZoneFigure,
} from './calendar-stats';

export interface Scenario {
  name: string;
  description: string;
  cap: number;
  windowMs: number;
  sliceMs: number;
  marginMs: number;
  workers: number;
  lanes: number;
  campaigns: { customerId: string; size: number; startAtMs: number }[];
  latency: { medianMs: number; sigma: number };
  storeMs: { medianMs: number; sigma: number };
  /** A share of workers slower by a factor (cold, throttled, far away). */
  slowWorkers?: { share: number; factor: number };
  transitMs: [number, number];
  skewMs: number;
  crashPerLease?: number;
  /** The provider answers 429 to every call arriving in this span (ms from the start), or in each repeat of it. */
  throttle?: ThrottleSpan;
  /** When the run starts (epoch ms; default a Monday 09:00 UTC). */
  startAt?: number;
  /** Baton's daily limit for the domain (DAILY_LIMITS), per calendar day in its zone (UTC by default). */
  daily?: DailyLimitSettings;
  /**
   * The (single) campaign is sent at a local time in each recipient's zone: its recipients are
   * split into runs by zone, each stub carrying its zone in the `tz` column.
   */
  localSend?: SimLocalSend;
  /** The conductor's tick (TICK_MS; default 1 s): a week of virtual time ticks every 10 s to stay quick. */
  tickMs?: number;
  /** How much virtual time the run may take before it counts as stuck (default ten times its ideal plus half an hour). */
  deadlineMs?: number;
  /** The provider's own limit per UTC day: past it, a 420 "try again after" the next midnight. */
  providerDaily?: number;
  invokeDelayMs: { medianMs: number; sigma: number };
  workerBudgetMs: number;
  leaseHorizonMs: number;
  batchSize: number;
  sigma: number;
  seed: number;
}

export type Strategy = 'baton' | 'fixed-batches' | 'sliding-limiter';
export const STRATEGIES: readonly Strategy[] = ['baton', 'fixed-batches', 'sliding-limiter'];

export interface RunResult {
  scenario: string;
  strategy: Strategy;
  recipients: number;
  calls: number;
  throttled: number;
  /** Mean calls per calendar window, over the windows strictly inside the sending period, as % of the cap. */
  fullWindowUsePct: number;
  maxCalendar: number;
  maxSliding: number;
  /** The most messages the provider took in one UTC day. */
  maxDay: number;
  /** 420s: calls refused at the provider's daily limit. */
  limited: number;
  /** Calls that arrived when the trailing window already held the cap. */
  violations: number;
  /** With a daily limit: each calendar day's calls (in the limit's zone) against its limit. */
  days?: DayFigure[];
  /** Calls over their day's limit (0 without one). */
  dayViolations: number;
  /** With a local send: each zone's first and last message against its local time. */
  zones?: ZoneFigure[];
  /** Messages that arrived before their recipient's local time (0 without a local send). */
  early: number;
  completionS: number;
  /** N / cap at the full cap, counting only time the provider accepts calls (throttle bursts do not count). */
  idealS: number;
  vsIdealPct: number;
  /** Each campaign: when it finished against its own ideal (size / cap, bursts not counted), from its start. */
  campaigns: { customerId: string; size: number; doneS: number; idealS: number }[];
  /** Permits granted but not spent on a provider call, % (leases that crashed included; under Baton, every lease the conductor issued). */
  wastedPermitsPct: number;
  crashedLeases: number;
  /** Worker invocations started (each runs leases until it has no time left or gets none). */
  invocations: number;
  /** Recipients who got two messages: must be 0. */
  duplicates: number;
  inDoubt: number;
  unsent: number;
  wallMs: number;
}

const START = Date.UTC(2026, 0, 5, 9, 0, 0);
const startOf = (scenario: Scenario): number => scenario.startAt ?? START;
const BUCKETS = { campaigns: 'campaigns', stubs: 'stubs', rendered: 'rendered' };
const TICK_MS = 1_000;
const tickOf = (scenario: Scenario): number => scenario.tickMs ?? TICK_MS;
/** How long after its last slice a lease without a check-in is taken for abandoned (`leaseGraceMs`, 30 s in service.ts too). */
export const LEASE_GRACE_MS = 30_000;

/** Runs one scenario under one strategy on a virtual clock. Deterministic for a given seed. */
export async function simulate(scenario: Scenario, strategy: Strategy): Promise<RunResult> {
  const wallStart = Date.now();
  const start = startOf(scenario);
  const clock = new VirtualClock(start);
  const rnd = new Random(scenario.seed);
  const provider = new SimProvider(start, scenario.throttle, scenario.providerDaily);
  const stats: WorkerStats = { granted: 0, used: 0, crashedLeases: 0 };
  const profile = (): WorkerProfile => ({
    lanes: scenario.lanes,
    latency: scenario.latency,
    storeMs: scenario.storeMs,
    slowness: scenario.slowWorkers && rnd.next() < scenario.slowWorkers.share ? scenario.slowWorkers.factor : 1,
    skewMs: rnd.between(-scenario.skewMs, scenario.skewMs),
    transitMs: scenario.transitMs,
    budgetMs: scenario.workerBudgetMs,
    crashPerLease: scenario.crashPerLease ?? 0,
  });
  const outcome =
    strategy === 'baton'
      ? await runBaton(scenario, clock, rnd, provider, stats, profile)
      : await runBaseline(scenario, strategy, clock, rnd, provider, stats, profile);

  const { cap, windowMs } = scenario;
  const arrivals = provider.arrivals;
  const windows = perCalendarWindow(arrivals, windowMs);
  const indices = [...windows.keys()].sort((a, b) => a - b);
  const inner = indices.length > 2 ? indices.slice(1, -1) : indices;
  let innerCalls = 0;
  for (let w = inner[0]!; w <= inner[inner.length - 1]!; w++) innerCalls += windows.get(w) ?? 0;
  const innerCount = inner.length > 0 ? inner[inner.length - 1]! - inner[0]! + 1 : 1;
  const total = scenario.campaigns.reduce((n, c) => n + c.size, 0);
  const lastStart = Math.min(...scenario.campaigns.map((c) => c.startAtMs));
  // At the full cap, counting only the time the provider accepts calls (and, with a local send, waiting for each zone).
  const idealS =
    (scenario.localSend
      ? idealLocalMs(scenario.localSend, start, cap, windowMs)
      : idealMs(scenario.throttle, start, start + lastStart, (total / cap) * windowMs)) / 1000;
  const days = scenario.daily ? perLimitDay(arrivals, scenario.daily) : undefined;
  const zones = scenario.localSend
    ? perZone(scenario.localSend, (k) => provider.delivered.get(recipientIdFor(scenario.campaigns[0]!.customerId, `r${k}@example.com`)))
    : undefined;
  const completionS = (outcome.finishedAt - start - lastStart) / 1000;
  return {
    scenario: scenario.name,
    strategy,
    recipients: total,
    calls: arrivals.length,
    throttled: provider.throttled,
    fullWindowUsePct: (100 * innerCalls) / (innerCount * cap),
    maxCalendar: Math.max(0, ...windows.values()),
    maxSliding: maxInAnyWindow(arrivals, windowMs),
    maxDay: maxPerDay(provider.accepted),
    limited: provider.limited,
    violations: countViolations(arrivals, windowMs, cap),
    ...(days ? { days } : {}),
    dayViolations: days ? dayViolations(days) : 0,
    ...(zones ? { zones } : {}),
    early: zones ? zones.reduce((n, z) => n + z.early, 0) : 0,
    completionS,
    idealS,
    vsIdealPct: (100 * (completionS - idealS)) / idealS,
    campaigns: scenario.campaigns.map((c, i) => ({
      customerId: c.customerId,
      size: c.size,
      doneS: (outcome.doneAt[i]! - start - c.startAtMs) / 1000,
      idealS: idealMs(scenario.throttle, start, start + c.startAtMs, (c.size / cap) * windowMs) / 1000,
    })),
    wastedPermitsPct: stats.granted > 0 ? (100 * (stats.granted - stats.used)) / stats.granted : 0,
    crashedLeases: stats.crashedLeases,
    invocations: outcome.invocations,
    duplicates: provider.duplicates,
    inDoubt: outcome.inDoubt,
    unsent: outcome.unsent,
    wallMs: Date.now() - wallStart,
  };
}

/**
 * How long from `from` until the provider has accepted calls for `needMs` (all of it without a
 * throttle; with one, the bursts do not count).
 */
function idealMs(throttle: ThrottleSpan | undefined, start: number, from: number, needMs: number): number {
  const accepted = (ms: number) => acceptingMs(throttle, from - start + ms) - acceptingMs(throttle, from - start);
  let hi = needMs;
  while (accepted(hi) < needMs) hi *= 2;
  let lo = needMs;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (accepted(mid) >= needMs) hi = mid;
    else lo = mid;
  }
  return accepted(lo) >= needMs ? lo : hi;
}

/** Calls arriving when the `windowMs` before them (inclusive) already held `cap` calls. */
export function countViolations(times: readonly number[], windowMs: number, cap: number): number {
  const sorted = Float64Array.from(times).sort();
  let lo = 0;
  let violations = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! >= windowMs) lo++;
    if (hi - lo + 1 > cap) violations++;
  }
  return violations;
}

interface Outcome {
  finishedAt: number;
  doneAt: number[];
  inDoubt: number;
  unsent: number;
  invocations: number;
}

// ---- Baton: the real conductor core and the real worker core ------------------------------------

async function runBaton(
  scenario: Scenario,
  clock: VirtualClock,
  rnd: Random,
  provider: SimProvider,
  stats: WorkerStats,
  profile: () => WorkerProfile,
): Promise<Outcome> {
  const store = new SimObjectStore();
  const governors = new SendingGovernors({
    domains: [{ domain: 'mg.example.com', perWindowMax: scenario.cap, ...(scenario.daily ? { daily: scenario.daily } : {}) }],
    windowMs: scenario.windowMs,
    sliceMs: scenario.sliceMs,
    marginMs: scenario.marginMs,
  });
  const refs = scenario.campaigns.map((c, i) => ({ customerId: c.customerId, campaignId: `c-sim-${i}` }));
  scenario.campaigns.forEach((c, i) => seedCampaign(store, refs[i]!, c.size, scenario.localSend));
  const workers: HostedWorker[] = [];
  /** A worker that threw or broke its own accounting: a bug, so the run stops and says so. */
  const failures: unknown[] = [];
  const launch = (invocation: WorkerInvocation) => {
    const worker = launchWorker({ clock, rnd, profile: profile(), provider, store, buckets: BUCKETS, conductor, stats, invocation });
    workers.push(worker);
    worker.finished.then(
      (summary) => {
        if (summary.permitsUsed !== worker.sender.calls)
          failures.push(
            new Error(`worker ${summary.workerId} reported ${summary.permitsUsed} permits used but made ${worker.sender.calls} calls`),
          );
      },
      (err: unknown) => failures.push(err),
    );
  };
  const conductor: Conductor = new Conductor({
    store,
    buckets: BUCKETS,
    clock,
    logger: silentLogger,
    governors,
    invoker: {
      invoke: async (invocation) => {
        const delay = rnd.lognormal(scenario.invokeDelayMs.medianMs, scenario.invokeDelayMs.sigma);
        clock.at(clock.now() + delay, () => launch(invocation));
      },
    },
    topic: { publish: async () => {} },
    metrics: { leaseIssued: (permits) => void (stats.granted += permits), outcome: () => {}, retry: () => {} },
    settings: {
      stage: 'dev',
      maxWorkers: scenario.workers,
      batchSize: scenario.batchSize,
      workerTimeBudgetMs: scenario.workerBudgetMs,
      leaseGraceMs: LEASE_GRACE_MS,
      scanIntervalMs: tickOf(scenario),
      stallMs: 10 * 60_000,
      maxAttempts: 5,
      leaseHorizonMs: scenario.leaseHorizonMs,
      sigma: scenario.sigma,
      publicUrl: 'http://localhost',
      unsubscribeSecret: 'simulation-only-secret',
    },
  });
  await conductor.start();
  const doneAt: number[] = scenario.campaigns.map(() => Number.NaN);
  scenario.campaigns.forEach((c, i) => clock.at(startOf(scenario) + c.startAtMs, () => void conductor.send(refs[i]!.campaignId)));
  const tick = () => {
    void conductor.tick().then(() => {
      refs.forEach((r, i) => {
        if (Number.isNaN(doneAt[i]!) && conductor.getCampaign(r.campaignId).status === 'done') doneAt[i] = clock.now();
      });
      if (doneAt.some((d) => Number.isNaN(d))) clock.at(clock.now() + tickOf(scenario), tick);
    });
  };
  clock.at(startOf(scenario), tick);
  await runUntilDone(scenario, clock, doneAt, () => failures.length > 0);
  if (failures.length > 0) throw failures[0];
  stats.used = workers.reduce((n, w) => n + w.sender.calls, 0);
  let inDoubt = 0;
  let unsent = 0;
  for (const r of refs) {
    const c = conductor.getCampaign(r.campaignId).counts;
    inDoubt += c.inDoubt;
    unsent += c.stubbed - c.sent - c.inDoubt - c.failed - c.suppressed;
  }
  return { finishedAt: Math.max(...doneAt), doneAt, inDoubt, unsent, invocations: workers.length };
}

/**
 * Runs the clock until every campaign is done. The tick reschedules itself until then, so a run
 * that cannot finish would never end: past ten times its ideal duration (plus half an hour) it
 * stops and says which campaigns are unfinished.
 */
async function runUntilDone(scenario: Scenario, clock: VirtualClock, doneAt: number[], failed = () => false): Promise<void> {
  const total = scenario.campaigns.reduce((n, c) => n + c.size, 0);
  const idealMs = (total / scenario.cap) * scenario.windowMs;
  const until =
    startOf(scenario) + Math.max(...scenario.campaigns.map((c) => c.startAtMs)) + (scenario.deadlineMs ?? 10 * idealMs + 30 * 60_000);
  await clock.run({ until, stop: () => failed() || doneAt.every((d) => !Number.isNaN(d)) });
  const unfinished = scenario.campaigns.filter((_, i) => Number.isNaN(doneAt[i]!)).map((c) => c.customerId);
  if (!failed() && unfinished.length > 0)
    throw new Error(
      `${scenario.name}: ${unfinished.join(', ')} unfinished after ${((clock.now() - startOf(scenario)) / 1000).toFixed(0)} s of virtual time`,
    );
}

function seedCampaign(
  store: SimObjectStore,
  ref: { customerId: string; campaignId: string },
  size: number,
  local: SimLocalSend | undefined,
): void {
  const localSend = local && { date: local.date, time: local.time, timeZone: local.zones[0]!.timeZone, column: 'tz' };
  const definition: CampaignDefinition = {
    version: 1,
    ...ref,
    name: ref.campaignId,
    from: 'news@example.com',
    subject: 'Hello',
    mjml: '<mjml></mjml>',
    audienceKey: keys.audience(ref),
    createdAt: new Date(START).toISOString(),
  };
  store.putNow(BUCKETS.campaigns, keys.campaign(ref), JSON.stringify(definition));
  store.putNow(
    BUCKETS.campaigns,
    keys.state(ref),
    JSON.stringify({ version: 1, status: 'draft', updatedAt: definition.createdAt, ...(localSend ? { localSend } : {}) }),
  );
  store.putNow(
    BUCKETS.campaigns,
    keys.audienceReport(ref),
    JSON.stringify({ version: 1, rows: size, valid: size, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false }),
  );
  // What the renderer writes: the worker reads and validates each one before its call.
  for (let i = 0; i < size; i++) {
    const to = `r${i}@example.com`;
    const message: RenderedMessage = {
      version: 1,
      ...ref,
      recipientId: recipientIdFor(ref.customerId, to),
      to,
      from: definition.from,
      subject: definition.subject,
      html: `<p>Hello ${to}</p>`,
      text: `Hello ${to}`,
      headers: { 'List-Unsubscribe': `<http://localhost/unsubscribe/${i}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    };
    store.putNow(BUCKETS.rendered, keys.rendered(message), JSON.stringify(message));
    // What the stubber writes: the conductor reads a local send's zones from them.
    if (local) {
      const stub = { version: 1, ...ref, recipientId: message.recipientId, email: to, fields: { tz: zoneOf(local, i) }, line: i + 2 };
      store.putNow(BUCKETS.stubs, keys.stub(stub), JSON.stringify(stub));
    }
  }
}

// ---- the naive baselines -------------------------------------------------------------------------

/**
 * Two ways people usually do it — deliberately not Baton, kept as they were so that Baton's
 * figures have something to be compared with. Neither uses the conductor core: each has its own
 * lease dispenser below, and drives `BaselineWorker`, a simplified copy of the worker protocol
 * (the limiter's check before each call has no place in the real worker, and the baselines are a
 * point of comparison, not the product under test).
 *  - fixed-batches: a calendar-window budget; each lease gets a fixed batch of permits valid
 *    until the window ends; no prediction, no pacing, no back-off.
 *  - sliding-limiter: workers take fixed batches of keys and, before each call, ask a shared
 *    sliding-window limiter (by the time the call starts), sleeping while it is full.
 * Both serve campaigns first come, first served.
 */
async function runBaseline(
  scenario: Scenario,
  strategy: Exclude<Strategy, 'baton'>,
  clock: VirtualClock,
  rnd: Random,
  provider: SimProvider,
  stats: WorkerStats,
  profile: () => WorkerProfile,
): Promise<Outcome> {
  const { cap, windowMs, marginMs, batchSize } = scenario;
  const queue: { campaign: number; id: string }[] = [];
  const remaining = scenario.campaigns.map((c) => c.size);
  const doneAt = scenario.campaigns.map(() => Number.NaN);
  const campaignOf = new Map<string, number>();
  const leases = new Map<string, Lease>();
  let leaseSeq = 0;
  let activeWorkers = 0;
  let invocations = 0;
  let inDoubt = 0;
  // fixed-batches: the calendar window's budget
  let windowStart = Number.NEGATIVE_INFINITY;
  let issued = 0;
  // sliding-limiter: starts of calls in the trailing window
  const log: number[] = [];
  let logHead = 0;
  const gate: CallGate = (now) => {
    while (logHead < log.length && log[logHead]! <= now - windowMs) logHead++;
    if (log.length - logHead < cap) {
      log.push(now);
      return 0;
    }
    return log[logHead]! + windowMs - now + 1;
  };

  scenario.campaigns.forEach((c, i) => {
    clock.at(startOf(scenario) + c.startAtMs, () => {
      for (let k = 0; k < c.size; k++) {
        const id = recipientIdFor(c.customerId, `r${k}@example.com`);
        campaignOf.set(id, i);
        queue.push({ campaign: i, id });
      }
    });
  });

  const nextLease = (workerId: string): Lease | null => {
    const now = clock.now();
    if (queue.length === 0) return null;
    let permits = Math.min(batchSize, queue.length);
    let sendUntil = Number.POSITIVE_INFINITY;
    if (strategy === 'fixed-batches') {
      const w = Math.floor(now / windowMs) * windowMs;
      if (w !== windowStart) [windowStart, issued] = [w, 0];
      sendUntil = windowStart + windowMs - marginMs;
      permits = Math.min(permits, cap - issued, now < sendUntil ? permits : 0);
      if (permits <= 0) return null;
      issued += permits;
    }
    const taken = queue.splice(0, permits);
    const lease: Lease = {
      leaseId: `l-${leaseSeq++}`,
      workerId,
      customerId: scenario.campaigns[taken[0]!.campaign]!.customerId,
      campaignId: 'c-sim',
      recipientIds: taken.map((t) => t.id),
      // One slice over the batch's window (the limiter's has no end): its gate paces the calls.
      schedule: { start: now, sliceMs: sendUntil - now, permits: [taken.length] },
      // Crashed workers are found this long after their lease was handed out.
      expiresAt: now + 30_000,
    };
    leases.set(lease.leaseId, lease);
    return lease;
  };

  const dispatcher: Dispatcher = {
    async checkIn(req: CheckInRequest): Promise<CheckInResponse> {
      const lease = leases.get(req.leaseId);
      leases.delete(req.leaseId);
      if (strategy === 'fixed-batches' && lease && Math.floor(clock.now() / windowMs) * windowMs === windowStart)
        issued -= leasePermits(lease) - req.permitsUsed;
      for (const r of req.results) {
        const c = campaignOf.get(r.recipientId)!;
        if (r.status === 'retryable') queue.push({ campaign: c, id: r.recipientId });
        else done(c);
      }
      for (const id of req.unattempted) queue.unshift({ campaign: campaignOf.get(id)!, id });
      const next = req.wantsMore ? nextLease(req.workerId) : null;
      if (!next && !renewed.has(req.leaseId)) activeWorkers--;
      renewed.delete(req.leaseId);
      return { lease: next };
    },
    async renew(req): Promise<CheckInResponse> {
      const next = leases.has(req.leaseId) ? nextLease(req.workerId) : null;
      // The worker carries on with the new lease: its old one ends without freeing a slot.
      if (next) renewed.add(req.leaseId);
      return { lease: next };
    },
  };
  const renewed = new Set<string>();
  const done = (c: number) => {
    if (--remaining[c]! === 0) doneAt[c] = clock.now();
  };
  const claimed = new Set<string>();
  const ledger: SimLedger = {
    claim: (_, id) => void claimed.add(id),
    release: (_, id) => void claimed.delete(id),
    crashed: (lease) => expireCrashed(lease),
  };
  const expireCrashed = (lease: Lease) => {
    // Nobody reports these: claimed ones are in doubt, the rest go back once the lease expires.
    clock.at(lease.expiresAt, () => {
      leases.delete(lease.leaseId);
      activeWorkers--;
      for (const id of lease.recipientIds) {
        if (claimed.has(id)) {
          inDoubt++;
          done(campaignOf.get(id)!);
        } else queue.push({ campaign: campaignOf.get(id)!, id });
      }
    });
  };
  const tick = () => {
    while (activeWorkers < scenario.workers) {
      const lease = nextLease(`w-${leaseSeq}`);
      if (!lease) break;
      activeWorkers++;
      invocations++;
      const delay = rnd.lognormal(scenario.invokeDelayMs.medianMs, scenario.invokeDelayMs.sigma);
      clock.at(clock.now() + delay, () =>
        new BaselineWorker(
          clock,
          rnd,
          profile(),
          provider,
          dispatcher,
          stats,
          ledger,
          strategy === 'sliding-limiter' ? gate : undefined,
        ).start(lease),
      );
    }
    if (doneAt.some((d) => Number.isNaN(d))) clock.at(clock.now() + tickOf(scenario), tick);
  };
  clock.at(startOf(scenario), tick);
  await runUntilDone(scenario, clock, doneAt);
  return { finishedAt: Math.max(...doneAt), doneAt, inDoubt, unsent: remaining.reduce((a, b) => a + b, 0), invocations };
}
