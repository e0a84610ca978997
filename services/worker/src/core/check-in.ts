import { PermanentError, RetryableError, describeError, type CheckInRequest, type CheckInResponse, type Lease } from '@baton/shared';
import { CHECK_IN_BACKOFF_MS, CHECK_IN_RETRIES } from './defaults';
import type { LeaseRun } from './lease-run';
import { budgetLeft, type Env } from './worker-env';

/** What the conductor learns of a lease: every result, what was not attempted, and how the worker fares. */
export function checkInFor(env: Env, run: LeaseRun, wantsMore: boolean): CheckInRequest {
  const { lease, timing } = run;
  return {
    leaseId: lease.leaseId,
    workerId: lease.workerId,
    results: run.results,
    unattempted: run.unattempted,
    ...(run.unrecorded.length > 0 ? { unrecorded: run.unrecorded.map((u) => u.ref.recipientId) } : {}),
    ...(run.claimHeld.length > 0 ? { claimHeld: run.claimHeld.map((r) => r.recipientId) } : {}),
    permitsUsed: run.permitsUsed,
    usedPerSlice: run.usedPerSlice,
    ...(timing.n > 0
      ? { timing: { n: timing.n, meanMs: timing.mean, sdMs: timing.n > 1 ? Math.sqrt(timing.m2 / (timing.n - 1)) : 0 } }
      : {}),
    lanes: env.concurrency,
    budgetLeftMs: Math.max(0, budgetLeft(env)),
    reserveMs: env.minBudgetToTakeMs,
    wantsMore,
  };
}

/** The conductor's answer, or `undefined` when it could not be reached (its lease expiry takes over). */
export async function checkIn(env: Env, request: CheckInRequest): Promise<CheckInResponse | undefined> {
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

/** The next lease, early; undefined when the conductor cannot be reached (the check-in asks again). */
export async function renew(env: Env, lease: Lease): Promise<CheckInResponse | undefined> {
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
