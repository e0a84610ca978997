import { RETRIES_EXHAUSTED, type CheckInRequest, type Ledger } from '@baton/shared';
import type { ActiveLease } from './lease-book';
import type { ConductorMetrics } from './ports';
import type { Reconciler } from './reconciler';
import type { SendRates } from './send-rates';
import { THROTTLED_FOR_AT_MOST_MS } from './retry-counts';

export interface ResultsDeps {
  reconciler: Reconciler;
  ledger: Ledger;
  metrics: ConductorMetrics;
  /** Retryable results a recipient may have before it is recorded failed. */
  maxAttempts: number;
  /** The accepted sends over time (the rate chart, "sent in the last minute"). */
  rates?: SendRates;
}

/** The provider said "slow down" during the lease: the longest wait it asked for, if any. */
export interface Throttle {
  retryAfterMs: number | undefined;
}

/** What a check-in tells the governor about the provider. */
export interface ProviderAnswers {
  throttled: Throttle | undefined;
  /** The lease's recipients the provider took (each once). */
  sent: number;
  /** The provider's own limit for the domain is reached (a 420): nothing goes through it before this. */
  limitedUntil: number | undefined;
  /** Keys never called whose claim neither the worker nor the conductor could remove yet: still in flight, released later (see Leasing). */
  claimsHeld: string[];
}

/** A provider limit that lifts at a stated time (Mailgun's 420 "try again after"). */
export const LIMIT_REACHED = 'PROVIDER_LIMIT_REACHED';

/** The provider throttled the call (a 429). */
const THROTTLED = 'PROVIDER_THROTTLED';
export { THROTTLED_FOR_AT_MOST_MS };
/** Named in the reason of a recipient failed that way. */
export const THROTTLED_TOO_LONG = 'THROTTLED_TOO_LONG';

/** First back-off for a retryable result when the provider named no wait; doubled per attempt. */
const RETRY_BACKOFF_MS = 5_000;
/**
 * The wait before a lone 503 is tried again: the provider refused this call but took others
 * (of the same lease, or of the campaign within PROVIDER_UP_WITHIN_MS), so it is up and the
 * refusal was transient. Not doubled per attempt: with a share of random 503s a doubling
 * back-off makes the campaign's tail wait for its unluckiest recipient (5 + 10 + 20 + 40 s).
 * Attempts still count towards `maxAttempts`.
 */
export const LONE_REFUSAL_RETRY_MS = 500;
export const PROVIDER_UP_WITHIN_MS = 2_000;

/**
 * Settles what a check-in reports for its lease's recipients: outcomes, retries with back-off,
 * keys claimed elsewhere, keys not attempted, and keys it did not mention. Only the lease's own
 * recipients count, each once. The store may fail midway: `active.settled` remembers what is
 * already done, so the worker's retry of the check-in settles only the rest.
 */
export async function settleResults(
  deps: ResultsDeps,
  active: ActiveLease,
  request: CheckInRequest,
  now: number,
): Promise<ProviderAnswers> {
  const { run, lease } = active;
  let throttled: Throttle | undefined;
  let limitedUntil: number | undefined;
  let sent = 0;
  let newlySent = 0;
  const leased = new Set(lease.recipientIds);
  const reported = new Set<string>();
  const stillHeld = await releaseHeldClaims(deps, active, request, leased);
  const providerUp =
    request.results.some((r) => r.status === 'sent' && leased.has(r.recipientId)) || run.sentInLast(PROVIDER_UP_WITHIN_MS, now) > 0;
  for (const r of request.results) {
    if (!leased.has(r.recipientId) || reported.has(r.recipientId)) continue;
    reported.add(r.recipientId);
    if (r.status === 'retryable' && r.code === THROTTLED) {
      throttled = { retryAfterMs: Math.max(throttled?.retryAfterMs ?? 0, r.retryAfterMs ?? 0) || undefined };
    }
    if (r.status === 'retryable' && r.code === LIMIT_REACHED && r.retryAfterMs !== undefined) {
      limitedUntil = Math.max(limitedUntil ?? 0, now + r.retryAfterMs);
    }
    if (r.status === 'sent') sent++;
    if (active.settled.has(r.recipientId) || stillHeld.has(r.recipientId)) continue;
    if (await settleOne(deps, active, request, r, now, providerUp)) newlySent++;
    active.settled.add(r.recipientId);
  }
  deps.rates?.recordLease(lease.domain ?? run.definition.sendingDomain, run.id, lease.schedule, request.usedPerSlice, newlySent, now);
  for (const recipientId of request.unattempted) {
    if (!leased.has(recipientId) || reported.has(recipientId)) continue;
    reported.add(recipientId);
    if (stillHeld.has(recipientId)) continue;
    run.requeue(recipientId);
    deps.metrics.retry('unattempted');
  }
  const unaccounted = lease.recipientIds.filter((r) => !reported.has(r) && run.isInFlight(r));
  if (unaccounted.length > 0) await deps.reconciler.settleUnknown(run, unaccounted, now);
  return { throttled, sent, limitedUntil, claimsHeld: [...stillHeld] };
}

/**
 * Keys never called (or refused) whose claim the worker could not remove: removed here before
 * they are requeued, since a claim reads as "its call may have started" and the next lease's
 * worker would put the key in doubt. Those the store will not let go of either are returned:
 * they stay in flight (not requeued, not in doubt) until a later release works. A retried
 * check-in skips what is already removed.
 */
async function releaseHeldClaims(
  deps: ResultsDeps,
  active: ActiveLease,
  request: CheckInRequest,
  leased: Set<string>,
): Promise<Set<string>> {
  active.released ??= new Set();
  const stillHeld = new Set<string>();
  for (const recipientId of request.claimHeld ?? []) {
    if (!leased.has(recipientId) || active.released.has(recipientId)) continue;
    try {
      await deps.ledger.releaseClaim({ ...active.run.ref, recipientId });
      active.released.add(recipientId);
    } catch {
      stillHeld.add(recipientId);
    }
  }
  return stillHeld;
}

/**
 * A retryable result. Neither a 420 (the provider's limit, lifting at a stated time) nor a 429
 * (throttled: the governor's push-back answers it) is this recipient's failure: no attempt is
 * spent. A throttled recipient goes back at once (or after the wait the provider named), and the
 * push-back level decides when it is called again; it ends failed only once the provider has
 * throttled every call for it, at least `maxAttempts` of them, for THROTTLED_FOR_AT_MOST_MS.
 * Anything else spends an attempt and backs off.
 */
async function settleRetryable(
  deps: ResultsDeps,
  run: ActiveLease['run'],
  r: Extract<CheckInRequest['results'][number], { status: 'retryable' }>,
  now: number,
  providerUp: boolean,
): Promise<void> {
  if (r.code === LIMIT_REACHED && r.retryAfterMs !== undefined) {
    run.requeueAt(r.recipientId, now + r.retryAfterMs);
    deps.metrics.retry('provider');
    return;
  }
  let failure: string | undefined;
  if (r.code === THROTTLED) {
    const throttled = run.retries.throttled(r.recipientId, now);
    if (now - throttled.since < THROTTLED_FOR_AT_MOST_MS || throttled.calls < deps.maxAttempts) {
      run.requeueAt(r.recipientId, now + (r.retryAfterMs ?? 0));
      deps.metrics.retry('provider');
      return;
    }
    const minutes = Math.round((now - throttled.since) / 60_000);
    failure = `${RETRIES_EXHAUSTED} after ${throttled.calls} throttled calls over ${minutes} min (${THROTTLED_TOO_LONG}): ${r.reason ?? THROTTLED}`;
  } else {
    const attempts = run.retries.retryable(r.recipientId);
    if (attempts < deps.maxAttempts) {
      // Back off: 5 s, 10 s, 20 s… unless the provider said how long, or it refused only this call.
      const lone = r.code === 'PROVIDER_UNAVAILABLE' && providerUp;
      const backoff = lone ? LONE_REFUSAL_RETRY_MS : RETRY_BACKOFF_MS * 2 ** (attempts - 1);
      run.requeueAt(r.recipientId, now + (r.retryAfterMs ?? backoff));
      deps.metrics.retry('provider');
      return;
    }
    failure = `${RETRIES_EXHAUSTED} after ${attempts} attempts: ${r.reason ?? 'retryable'}`;
  }
  run.resolve(r.recipientId, 'failed');
  deps.metrics.outcome('failed');
  await deps.reconciler.recordOutcome(run, r.recipientId, 'failed', failure);
}

/** Settles one result; true when it is a send the provider accepted, counted for the first time. */
async function settleOne(
  deps: ResultsDeps,
  active: ActiveLease,
  request: CheckInRequest,
  r: CheckInRequest['results'][number],
  now: number,
  providerUp: boolean,
): Promise<boolean> {
  const { run } = active;
  switch (r.status) {
    case 'retryable':
      await settleRetryable(deps, run, r, now, providerUp);
      return false;
    case 'claimedElsewhere':
      // Another lease holds the claim (the key was requeued after an expiry): never send
      // again. The ledger may already say how it ended; if not, in doubt until a report comes.
      await deps.reconciler.settleFromLedger(run, r.recipientId, now);
      return false;
    default: {
      // The worker could not write its outcome record: write it from its report, so a crash
      // later does not turn a message sent into one in doubt.
      if (request.unrecorded?.includes(r.recipientId)) {
        const facts = r.status === 'sent' ? { providerId: r.providerId } : { reason: r.reason };
        await deps.ledger.recordOutcome(
          { ...run.ref, recipientId: r.recipientId },
          { status: r.status, leaseId: active.lease.leaseId, ...facts },
          'if-absent',
        );
      }
      const changed = run.resolve(r.recipientId, r.status);
      if (changed) deps.metrics.outcome(r.status);
      if (r.status === 'sent' || r.status === 'failed' || r.status === 'inDoubt') run.recordSend(now);
      return changed && r.status === 'sent';
    }
  }
}
