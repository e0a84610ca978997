import { randomUUID } from 'node:crypto';
import {
  claimRecord,
  ObjectExistsError,
  PermanentError,
  RetryableError,
  ValidationError,
  describeError,
  isAllowedRecipient,
  isBatonError,
  keys,
  parseJson,
  parseWith,
  renderedMessage,
  silentLogger,
  type Buckets,
  type CheckInRequest,
  type CheckInResponse,
  type ClaimRecord,
  type Clock,
  type InputIssue,
  type Lease,
  type Logger,
  type ObjectStore,
  type OutcomeRecord,
  type OutcomeStatus,
  type RecipientRef,
  type RenderedMessage,
  type SendResult,
  type Stage,
  type WorkerInvocation,
} from '@baton/shared';
import type { LeaseClient, OutgoingEmail, Sender } from './ports';

/** By default no key is taken with less than this much of the time budget left: a send must finish and the worker check in. */
export const MIN_BUDGET_TO_TAKE_MS = 2_000;
/** A worker asks for another lease only with more than this share of its budget left… */
export const WANTS_MORE_FRACTION = 0.1;
/** …and at least this much time. */
export const WANTS_MORE_MIN_MS = 5_000;
/** A failed check-in is tried again this many times before the worker gives up. */
export const CHECK_IN_RETRIES = 3;
/** First back-off between check-in attempts; doubled each time. */
export const CHECK_IN_BACKOFF_MS = 500;
/** Lanes: keys in progress at once. Waiting lanes cost little, and a slice's permits need free lanes when it starts (see the conductor's governor). */
export const DEFAULT_CONCURRENCY = 32;

export interface WorkerDeps {
  store: ObjectStore;
  buckets: Buckets;
  sender: Sender;
  leaseClient: LeaseClient;
  clock: Clock;
  logger?: Logger;
  stage: Stage;
  /** Exact addresses or `@domain`s QA may email. In `qa`, no list means nobody (fail closed). */
  qaAllowList?: readonly string[];
  /** How long this invocation may run, from `workerStartedAt`. */
  timeBudgetMs: number;
  /** Provider calls in flight at once (default 32). */
  concurrency?: number;
  /**
   * No key is taken with less budget left than this (default 2 s). Set it above the sender's
   * timeout so that a slow last call still ends, and is recorded, inside the budget.
   */
  minBudgetToTakeMs?: number;
  /** Epoch ms the budget counts from; `clock.now()` when `runWorker` starts, by default. */
  workerStartedAt?: number;
}

export type StopReason = 'no-lease' | 'check-in-failed' | 'out-of-time' | 'duplicate-invocation';

/** What one invocation did, over every lease it processed: for logs and tests. */
export interface WorkerSummary {
  workerId: string;
  leases: number;
  sent: number;
  failed: number;
  suppressed: number;
  inDoubt: number;
  retryable: number;
  claimedElsewhere: number;
  unattempted: number;
  /** Provider calls made: never more than the permits of the leases. */
  permitsUsed: number;
  stoppedBecause: StopReason;
}

interface Env {
  store: ObjectStore;
  buckets: Buckets;
  sender: Sender;
  leaseClient: LeaseClient;
  clock: Clock;
  log: Logger;
  stage: Stage;
  qaAllowList: readonly string[] | undefined;
  timeBudgetMs: number;
  concurrency: number;
  minBudgetToTakeMs: number;
  deadline: number;
  /** Lanes shared by every lease this invocation runs (a renewed lease starts while the last one's calls finish). */
  lanes: LaneGate;
}

/** A counting semaphore: at most `concurrency` keys in progress over all leases at once. */
class LaneGate {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }
}

/** The state of one lease while it is being sent. Lanes share it; JavaScript's single thread keeps it consistent. */
interface LeaseRun {
  lease: Lease;
  ids: readonly string[];
  next: number;
  /** Permits not yet reserved. A lane reserves one synchronously when it takes a key, and gives it back if no call is made. */
  permitsLeft: number;
  permitsUsed: number;
  results: SendResult[];
  unattempted: string[];
  /** Set when the provider said "not now": no new key is taken for this lease. */
  haltedBy: string | undefined;
  /** Calls started in each slice of the lease's schedule. */
  usedPerSlice: number[];
  /** Lane time per key, excluding any wait for a slice (Welford): the conductor predicts from it. */
  timing: { n: number; mean: number; m2: number };
  /** Keys taken whose call has not started (nor been given up). */
  starting: number;
  /** Lanes still working: after the last call has started, those are the calls in flight. */
  lanesBusy: number;
  /** Resolves once no lane will start another call for this lease. */
  noMoreCalls: () => void;
}

/**
 * Sends the invocation's lease, checks in, and keeps going while the conductor hands out leases.
 *
 * At most once: a key is sent only after this worker created its claim (a conditional create);
 * a claim is released only when the provider certainly did not take the message (a
 * `RetryableError`). Never more provider calls than permits, none at or after `sendUntil`.
 */
export async function runWorker(deps: WorkerDeps, invocation: WorkerInvocation): Promise<WorkerSummary> {
  const env = resolveEnv(deps);
  let lease: Lease | null = invocation.lease;
  const summary: WorkerSummary = {
    workerId: lease.workerId,
    leases: 0,
    sent: 0,
    failed: 0,
    suppressed: 0,
    inDoubt: 0,
    retryable: 0,
    claimedElsewhere: 0,
    unattempted: 0,
    permitsUsed: 0,
    stoppedBecause: 'no-lease',
  };

  if (!(await claimInvocation(env, lease))) {
    summary.stoppedBecause = 'duplicate-invocation';
    env.log.warn({ event: 'lease.duplicate-invocation', leaseId: lease.leaseId, campaignId: lease.campaignId });
    return summary;
  }

  // Check-ins of leases renewed early, still waiting for their last calls.
  const finishing: Promise<void>[] = [];
  while (lease) {
    // A lease that arrives when no key can be taken any more is handed back once, below; after
    // that the worker returns whatever the answer, so a conductor that keeps handing out leases
    // cannot keep a worker without time alive.
    const outOfTime = budgetLeft(env) < env.minBudgetToTakeMs;
    const current: Lease = lease;
    const sending = startLease(env, current);
    await sending.noMoreCalls;
    const more = !outOfTime && sending.run.haltedBy === undefined && wantsMore(env);
    // Calls still in flight: ask for the next lease now instead of idling until they end.
    const renewed = more && sending.run.lanesBusy > 0 ? await renew(env, current) : undefined;
    const checkedIn = sending.done.then(async (run) => {
      addToSummary(summary, run);
      // Asked again now: the last calls may have been throttled since the renewal.
      const wants = !outOfTime && run.haltedBy === undefined && wantsMore(env) && renewed?.lease == null;
      const response = await checkIn(env, checkInFor(env, run, wants));
      if (!response) summary.stoppedBecause = 'check-in-failed';
      return response;
    });
    if (renewed?.lease) {
      finishing.push(checkedIn.then(() => undefined));
      lease = renewed.lease;
      continue;
    }
    const response = await checkedIn;
    if (!response) break;
    lease = response.lease;
    if (lease && outOfTime) {
      env.log.warn({ event: 'lease.abandoned', leaseId: lease.leaseId, campaignId: lease.campaignId, reason: 'no time left' });
      summary.stoppedBecause = 'out-of-time';
      break;
    }
  }
  await Promise.all(finishing);

  env.log.info({ event: 'worker.finished', ...summary });
  return summary;
}

/**
 * Lambda may deliver an asynchronous invocation twice. Two runs of one lease would claim
 * different keys (claims see to that) but could both spend the same slices' permits, so the
 * first run marks the lease as taken and a second one stops. Leases that come in a check-in
 * reply are delivered once and need no mark. Any doubt (the mark cannot be written) stops too.
 */
async function claimInvocation(env: Env, lease: Lease): Promise<boolean> {
  const key = keys.leaseClaim({ customerId: lease.customerId, campaignId: lease.campaignId }, lease.leaseId);
  // As for a recipient's claim: a random token tells our own write (whose reply was lost, so a
  // retry answered 412) from another run's.
  const claim: ClaimRecord = { version: 1, leaseId: lease.leaseId, at: iso(env), token: randomUUID() };
  const outcome = await claimFor(env, key, claim);
  if (outcome === 'ours') return true;
  if (outcome !== 'elsewhere') env.log.error({ event: 'lease.mark-failed', leaseId: lease.leaseId, reason: outcome.failed });
  return false;
}

function checkInFor(env: Env, run: LeaseRun, wantsMore: boolean): CheckInRequest {
  const { lease, timing } = run;
  return {
    leaseId: lease.leaseId,
    workerId: lease.workerId,
    results: run.results,
    unattempted: run.unattempted,
    permitsUsed: run.permitsUsed,
    ...(lease.schedule ? { usedPerSlice: run.usedPerSlice } : {}),
    ...(timing.n > 0
      ? { timing: { n: timing.n, meanMs: timing.mean, sdMs: timing.n > 1 ? Math.sqrt(timing.m2 / (timing.n - 1)) : 0 } }
      : {}),
    lanes: env.concurrency,
    budgetLeftMs: Math.max(0, budgetLeft(env)),
    reserveMs: env.minBudgetToTakeMs,
    wantsMore,
  };
}

/** The next lease, early; undefined when the conductor cannot be reached (the check-in asks again). */
async function renew(env: Env, lease: Lease): Promise<CheckInResponse | undefined> {
  try {
    return await env.leaseClient.renew({
      leaseId: lease.leaseId,
      workerId: lease.workerId,
      budgetLeftMs: Math.max(0, budgetLeft(env)),
      reserveMs: env.minBudgetToTakeMs,
    });
  } catch (error) {
    env.log.warn({ event: 'lease.renew-failed', leaseId: lease.leaseId, reason: describeError(error) });
    return undefined;
  }
}

function resolveEnv(deps: WorkerDeps): Env {
  const concurrency = deps.concurrency ?? DEFAULT_CONCURRENCY;
  const issues: InputIssue[] = [];
  if (!Number.isInteger(concurrency) || concurrency < 1)
    issues.push({ where: 'concurrency', message: `must be a whole number of at least 1 (got ${concurrency})` });
  if (!Number.isFinite(deps.timeBudgetMs) || deps.timeBudgetMs <= 0)
    issues.push({ where: 'timeBudgetMs', message: `must be a positive number (got ${deps.timeBudgetMs})` });
  const minBudgetToTakeMs = deps.minBudgetToTakeMs ?? MIN_BUDGET_TO_TAKE_MS;
  if (!Number.isFinite(minBudgetToTakeMs) || minBudgetToTakeMs < 0)
    issues.push({ where: 'minBudgetToTakeMs', message: `must be a number of at least 0 (got ${minBudgetToTakeMs})` });
  if (issues.length > 0) throw new ValidationError('WORKER_DEPS_INVALID', issues);
  return {
    store: deps.store,
    buckets: deps.buckets,
    sender: deps.sender,
    leaseClient: deps.leaseClient,
    clock: deps.clock,
    log: deps.logger ?? silentLogger,
    stage: deps.stage,
    qaAllowList: deps.qaAllowList,
    timeBudgetMs: deps.timeBudgetMs,
    concurrency,
    minBudgetToTakeMs,
    deadline: (deps.workerStartedAt ?? deps.clock.now()) + deps.timeBudgetMs,
    lanes: new LaneGate(concurrency),
  };
}

function budgetLeft(env: Env): number {
  return env.deadline - env.clock.now();
}

function wantsMore(env: Env): boolean {
  return budgetLeft(env) > Math.max(WANTS_MORE_FRACTION * env.timeBudgetMs, WANTS_MORE_MIN_MS);
}

function addToSummary(summary: WorkerSummary, run: LeaseRun): void {
  summary.leases += 1;
  summary.permitsUsed += run.permitsUsed;
  summary.unattempted += run.unattempted.length;
  for (const r of run.results) summary[r.status] += 1;
}

// ---- one lease -------------------------------------------------------------------------------

/**
 * Starts sending a lease. `noMoreCalls` resolves as soon as no lane will start another call
 * (the worker may renew then); `done` once every call has ended and been recorded.
 */
function startLease(env: Env, lease: Lease): { run: LeaseRun; noMoreCalls: Promise<void>; done: Promise<LeaseRun> } {
  let signal!: () => void;
  const noMoreCalls = new Promise<void>((resolve) => (signal = resolve));
  const run: LeaseRun = {
    lease,
    // A key listed twice would be claimed by the first and reported twice: list it once.
    ids: [...new Set(lease.recipientIds)],
    next: 0,
    permitsLeft: lease.permits,
    permitsUsed: 0,
    results: [],
    unattempted: [],
    haltedBy: undefined,
    usedPerSlice: lease.schedule ? lease.schedule.permits.map(() => 0) : [],
    timing: { n: 0, mean: 0, m2: 0 },
    starting: 0,
    lanesBusy: 0,
    noMoreCalls: signal,
  };
  env.log.info({
    event: 'lease.started',
    leaseId: lease.leaseId,
    campaignId: lease.campaignId,
    keys: run.ids.length,
    permits: lease.permits,
  });
  const done = sendAll(env, run).then(() => {
    run.noMoreCalls();
    run.unattempted.push(...run.ids.slice(run.next));
    env.log.info({
      event: 'lease.finished',
      leaseId: lease.leaseId,
      campaignId: lease.campaignId,
      results: run.results.length,
      unattempted: run.unattempted.length,
      permitsUsed: run.permitsUsed,
      haltedBy: run.haltedBy,
    });
    return run;
  });
  return { run, noMoreCalls, done };
}

async function sendAll(env: Env, run: LeaseRun): Promise<void> {
  // Lanes stop when no permit is free; a reserved permit may come back (the key needed no call),
  // so go round again while keys and free permits remain. Each round takes at least one key.
  while (run.next < run.ids.length && mayTakeKey(env, run)) {
    const lanes = Math.min(env.concurrency, run.ids.length - run.next);
    run.lanesBusy = lanes;
    await Promise.all(Array.from({ length: lanes }, () => lane(env, run)));
  }
}

/** Once nothing can start another call, say so (the worker renews while calls finish). */
function checkNoMoreCalls(env: Env, run: LeaseRun): void {
  if (run.starting === 0 && (run.next >= run.ids.length || !mayTakeKey(env, run))) run.noMoreCalls();
}

function mayTakeKey(env: Env, run: LeaseRun): boolean {
  const now = env.clock.now();
  return run.haltedBy === undefined && run.permitsLeft > 0 && now < run.lease.sendUntil && env.deadline - now >= env.minBudgetToTakeMs;
}

async function lane(env: Env, run: LeaseRun): Promise<void> {
  while (run.next < run.ids.length && mayTakeKey(env, run)) {
    await env.lanes.acquire();
    if (!(run.next < run.ids.length && mayTakeKey(env, run))) {
      env.lanes.release();
      break;
    }
    const recipientId = run.ids[run.next++]!;
    run.permitsLeft -= 1; // reserved before any await: concurrent lanes can never overspend
    run.starting += 1;
    const busy: Busy = { since: env.clock.now(), ms: 0, called: false };
    try {
      const used = await sendKey(env, run, recipientId, busy);
      busy.ms += env.clock.now() - busy.since;
      if (!busy.called) keyGivenUp(env, run);
      if (used) addTiming(run, busy.ms);
      else run.permitsLeft += 1;
    } catch (error) {
      // Only a bug gets here, and it may have struck after the call: keep the permit spent,
      // report the key in doubt (never resent) and take no more keys from this lease.
      run.haltedBy ??= 'WORKER_INTERNAL';
      run.results.push({ recipientId, status: 'inDoubt', reason: `WORKER_INTERNAL: ${describeError(error)}` });
      env.log.error({ event: 'key.crashed', leaseId: run.lease.leaseId, recipientId, reason: describeError(error) });
      if (!busy.called) keyGivenUp(env, run);
    } finally {
      env.lanes.release();
    }
  }
  run.lanesBusy -= 1;
  checkNoMoreCalls(env, run);
}

/** Lane time of the key in hand; `called` once its provider call has started. */
interface Busy {
  since: number;
  ms: number;
  called: boolean;
}

/** A key that ended before any call (not sendable, suppressed, claimed elsewhere, out of slices). */
function keyGivenUp(env: Env, run: LeaseRun): void {
  run.starting -= 1;
  checkNoMoreCalls(env, run);
}

function addTiming(run: LeaseRun, ms: number): void {
  const t = run.timing;
  t.n += 1;
  const delta = ms - t.mean;
  t.mean += delta / t.n;
  t.m2 += delta * (ms - t.mean);
}

/**
 * A permit of the slice the worker's clock is in, waiting for the next slice that has one
 * free. Returns false when the schedule (or `sendUntil`, or the budget) is over first. The
 * caller makes its call right after, synchronously, so the call starts inside the slice.
 * `busy` stops counting lane time while waiting.
 */
async function takeSlot(env: Env, run: LeaseRun, busy: Busy): Promise<boolean> {
  const schedule = run.lease.schedule;
  for (;;) {
    const now = env.clock.now();
    // The provider pushed back meanwhile: keys already claimed go back rather than be sent.
    if (run.haltedBy !== undefined || now >= run.lease.sendUntil || env.deadline - now < env.minBudgetToTakeMs) return false;
    if (!schedule) return true;
    const k = Math.floor((now - schedule.start) / schedule.sliceMs);
    if (k >= schedule.permits.length) return false;
    if (k >= 0 && run.usedPerSlice[k]! < schedule.permits[k]!) {
      run.usedPerSlice[k]! += 1;
      return true;
    }
    let next = Math.max(k + 1, 0);
    while (next < schedule.permits.length && run.usedPerSlice[next]! >= schedule.permits[next]!) next++;
    if (next >= schedule.permits.length) return false;
    busy.ms += now - busy.since;
    await env.clock.sleep(schedule.start + next * schedule.sliceMs - now);
    busy.since = env.clock.now();
  }
}

/** One key, start to end. Returns whether a provider call was made (the permit is spent). */
async function sendKey(env: Env, run: LeaseRun, recipientId: string, busy: Busy): Promise<boolean> {
  const { lease } = run;
  const ref: RecipientRef = { customerId: lease.customerId, campaignId: lease.campaignId, recipientId };
  const logFields = { leaseId: lease.leaseId, campaignId: lease.campaignId, recipientId };

  const loaded = await loadRendered(env, ref);
  if (!loaded.ok) {
    await record(
      env,
      run,
      { recipientId, status: loaded.status, reason: loaded.reason },
      loaded.status === 'retryable' ? 'none' : 'if-absent',
    );
    env.log.warn({ event: 'key.not-sendable', ...logFields, reason: loaded.reason });
    return false;
  }
  const message = loaded.message;

  if (env.stage === 'qa' && !qaMayEmail(env.qaAllowList, message.to)) {
    await record(env, run, { recipientId, status: 'suppressed', reason: 'QA_NOT_ALLOWED' }, 'if-absent');
    env.log.info({ event: 'key.suppressed', ...logFields, reason: 'QA_NOT_ALLOWED' });
    return false;
  }

  let unsubscribed: boolean;
  try {
    unsubscribed = (await env.store.get(env.buckets.campaigns, keys.suppression(ref))) !== undefined;
  } catch (error) {
    await record(env, run, { recipientId, status: 'retryable', reason: `SUPPRESSION_READ_FAILED: ${describeError(error)}` }, 'none');
    return false;
  }
  if (unsubscribed) {
    await record(env, run, { recipientId, status: 'suppressed', reason: 'UNSUBSCRIBED' }, 'if-absent');
    env.log.info({ event: 'key.suppressed', ...logFields, reason: 'UNSUBSCRIBED' });
    return false;
  }

  const claimKey = keys.claim(ref);
  const claimed = await claimFor(env, claimKey, { version: 1, leaseId: lease.leaseId, at: iso(env), token: randomUUID() });
  if (claimed === 'elsewhere') {
    run.results.push({ recipientId, status: 'claimedElsewhere' });
    env.log.info({ event: 'key.claimed-elsewhere', ...logFields });
    return false;
  }
  if (claimed !== 'ours') {
    // Nothing was sent. If the claim was in fact written (and could not be read back), the key
    // stays claimed: never sent twice, but reported by the conductor as unfinished.
    run.results.push({ recipientId, status: 'retryable', reason: `CLAIM_FAILED: ${claimed.failed}` });
    env.log.warn({ event: 'key.claim-failed', ...logFields, reason: claimed.failed });
    return false;
  }

  // The claim took time: a permit of the slice we are in now, or of a later one (waiting for it).
  if (!(await takeSlot(env, run, busy))) {
    await releaseClaim(env, claimKey, logFields);
    run.unattempted.push(recipientId);
    return false;
  }

  run.permitsUsed += 1;
  busy.called = true;
  run.starting -= 1;
  checkNoMoreCalls(env, run);
  let providerId: string;
  try {
    ({ providerId } = await env.sender.send(outgoing(message, lease)));
  } catch (error) {
    await recordSendError(env, run, recipientId, claimKey, error, logFields);
    return true;
  }
  await record(env, run, { recipientId, status: 'sent', providerId }, 'always');
  env.log.debug({ event: 'key.sent', ...logFields, providerId });
  return true;
}

type Loaded = { ok: true; message: RenderedMessage } | { ok: false; status: 'failed' | 'retryable'; reason: string };

async function loadRendered(env: Env, ref: RecipientRef): Promise<Loaded> {
  const key = keys.rendered(ref);
  let body: string | undefined;
  try {
    body = await env.store.get(env.buckets.rendered, key);
  } catch (error) {
    return { ok: false, status: 'retryable', reason: `STORE_UNAVAILABLE: ${describeError(error)}` };
  }
  if (body === undefined) return { ok: false, status: 'failed', reason: `RENDERED_MISSING: no rendered message at ${key}` };
  try {
    const message = parseWith(renderedMessage, parseJson(body, key), 'RENDERED_INVALID', key);
    if (message.customerId !== ref.customerId || message.campaignId !== ref.campaignId || message.recipientId !== ref.recipientId) {
      return { ok: false, status: 'failed', reason: `RENDERED_INVALID: ${key} is about another recipient` };
    }
    return { ok: true, message };
  } catch (error) {
    return { ok: false, status: 'failed', reason: `RENDERED_INVALID: ${isBatonError(error) ? error.message : describeError(error)}` };
  }
}

/**
 * QA may email one bare address on the list. Anything else — no list, a display name, a
 * comma-separated list (`a@real.com,b@allowed.com` would pass a check of the last domain) — is refused.
 */
function qaMayEmail(allowList: readonly string[] | undefined, to: string): boolean {
  if (!allowList || allowList.length === 0) return false;
  if (!/^[^\s@,;<>"'()[\]\\]+@[^\s@,;<>"'()[\]\\]+$/.test(to)) return false;
  return isAllowedRecipient(allowList, to);
}

function outgoing(message: RenderedMessage, lease: Lease): OutgoingEmail {
  return {
    from: message.from,
    to: message.to,
    subject: message.subject,
    html: message.html,
    text: message.text,
    headers: message.headers,
    ...(lease.domain ? { domain: lease.domain } : {}),
    variables: {
      'customer-id': lease.customerId,
      'campaign-id': lease.campaignId,
      'recipient-id': message.recipientId,
      'lease-id': lease.leaseId,
    },
  };
}

async function recordSendError(
  env: Env,
  run: LeaseRun,
  recipientId: string,
  claimKey: string,
  error: unknown,
  logFields: Record<string, string>,
): Promise<void> {
  if (error instanceof RetryableError) {
    // The provider certainly did not take it: free the key for a later lease. The provider is
    // throttling or away, so this lease takes no new key.
    await releaseClaim(env, claimKey, logFields);
    run.haltedBy ??= error.code;
    const result: SendResult = { recipientId, status: 'retryable', code: error.code, reason: `${error.code}: ${error.message}` };
    if (error.retryAfterMs !== undefined) result.retryAfterMs = error.retryAfterMs;
    run.results.push(result);
    env.log.warn({ event: 'key.retryable', ...logFields, code: error.code });
  } else if (error instanceof PermanentError) {
    await record(env, run, { recipientId, status: 'failed', reason: `${error.code}: ${error.message}` }, 'always');
    env.log.warn({ event: 'key.failed', ...logFields, code: error.code });
  } else {
    // An in-doubt error or anything unexpected: the provider may have the message. The claim
    // stays, so nobody sends it again; an operator decides.
    await record(env, run, { recipientId, status: 'inDoubt', reason: describeError(error) }, 'always');
    env.log.warn({ event: 'key.in-doubt', ...logFields, code: isBatonError(error) ? error.code : 'UNEXPECTED' });
  }
}

/**
 * Creates the recipient's claim (If-None-Match: *). When the write fails — including a 412 on
 * a retry whose first attempt landed but whose reply was lost — the claim is read back: carrying
 * this attempt's random token, it is ours. A duplicate run of the same lease has its own token.
 */
async function claimFor(env: Env, key: string, claim: ClaimRecord): Promise<'ours' | 'elsewhere' | { failed: string }> {
  try {
    await env.store.put(env.buckets.campaigns, key, JSON.stringify(claim), { ifNoneMatch: '*', contentType: 'application/json' });
    return 'ours';
  } catch (error) {
    if (await holdsToken(env, key, claim.token!)) return 'ours';
    return error instanceof ObjectExistsError ? 'elsewhere' : { failed: describeError(error) };
  }
}

async function holdsToken(env: Env, key: string, token: string): Promise<boolean> {
  try {
    const body = await env.store.get(env.buckets.campaigns, key);
    const parsed = body === undefined ? undefined : claimRecord.safeParse(JSON.parse(body));
    return parsed?.success === true && parsed.data.token === token;
  } catch {
    return false;
  }
}

async function releaseClaim(env: Env, claimKey: string, logFields: Record<string, string>): Promise<void> {
  try {
    await env.store.delete(env.buckets.campaigns, claimKey);
  } catch (error) {
    // Safe side: the key stays claimed and is never sent, but the conductor sees it unfinished.
    env.log.error({ event: 'claim.release-failed', ...logFields, reason: describeError(error) });
  }
}

/**
 * Adds the result for the check-in and, for final outcomes, writes the outcome record.
 * - `always`: this worker holds the recipient's claim, so its outcome is the truth.
 * - `if-absent`: decided before any claim (not sendable, QA, unsubscribed); a conditional create,
 *   so it can never overwrite what another lease's worker recorded. If one is there already, the
 *   result says so (`claimedElsewhere`) and the conductor takes the ledger's word.
 */
async function record(env: Env, run: LeaseRun, result: SendResult, write: 'none' | 'if-absent' | 'always'): Promise<void> {
  if (write === 'none') {
    run.results.push(result);
    return;
  }
  const { lease } = run;
  const outcome: OutcomeRecord = {
    version: 1,
    recipientId: result.recipientId,
    status: result.status as OutcomeStatus,
    providerId: result.providerId,
    reason: result.reason,
    at: iso(env),
    leaseId: lease.leaseId,
  };
  const key = keys.outcome({ customerId: lease.customerId, campaignId: lease.campaignId, recipientId: result.recipientId });
  try {
    await env.store.put(env.buckets.campaigns, key, JSON.stringify(outcome), {
      contentType: 'application/json',
      ...(write === 'if-absent' ? { ifNoneMatch: '*' as const } : {}),
    });
  } catch (error) {
    if (error instanceof ObjectExistsError) {
      run.results.push({ recipientId: result.recipientId, status: 'claimedElsewhere' });
      return;
    }
    // The check-in still carries the result; the claim (if any) keeps the key from being resent.
    env.log.error({ event: 'outcome.write-failed', leaseId: lease.leaseId, recipientId: result.recipientId, reason: describeError(error) });
  }
  run.results.push(result);
}

function iso(env: Env): string {
  return new Date(env.clock.now()).toISOString();
}

// ---- checking in -----------------------------------------------------------------------------

/** The conductor's answer, or `undefined` when it could not be reached (its lease expiry takes over). */
async function checkIn(env: Env, request: CheckInRequest): Promise<CheckInResponse | undefined> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await env.leaseClient.checkIn(request);
    } catch (error) {
      const fields = { leaseId: request.leaseId, attempt: attempt + 1, reason: describeError(error) };
      if (error instanceof PermanentError || attempt >= CHECK_IN_RETRIES) {
        env.log.error({ event: 'check-in.failed', ...fields });
        return undefined;
      }
      const backoff = CHECK_IN_BACKOFF_MS * 2 ** attempt;
      const wait = error instanceof RetryableError && error.retryAfterMs !== undefined ? Math.max(backoff, error.retryAfterMs) : backoff;
      env.log.warn({ event: 'check-in.retrying', ...fields, waitMs: wait });
      await env.clock.sleep(wait);
    }
  }
}
