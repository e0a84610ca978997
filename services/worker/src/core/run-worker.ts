import type { CheckInResponse, Lease, WorkerInvocation } from '@baton/shared';
import { checkIn, checkInFor, renew } from './check-in';
import { STOPPED } from './defaults';
import { startLease, type LeaseRun } from './lease-run';
import { budgetLeft, resolveEnv, wantsMore, type Env, type WorkerDeps } from './worker-env';

export type { WorkerDeps } from './worker-env';

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

/**
 * Sends the invocation's lease, checks in, and keeps going while the conductor hands out leases.
 *
 * At most once: a key is sent only after this worker created its claim (a conditional create);
 * a claim is released only when the provider certainly did not take the message (a
 * `RetryableError`). Never more provider calls than permits, none outside a slice of the
 * lease's schedule that still has a permit, none once the schedule is over.
 */
export async function runWorker(deps: WorkerDeps, invocation: WorkerInvocation): Promise<WorkerSummary> {
  const env = resolveEnv(deps);
  let lease: Lease | null = invocation.lease;
  const summary = emptySummary(lease.workerId);

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
    const { run, done } = startLease(env, current);
    await run.noMoreCalls;
    const more = !outOfTime && run.haltedBy === undefined && wantsMore(env);
    // Calls still in flight: ask for the next lease now instead of idling until they end.
    const renewed = more && run.lanesBusy > 0 ? await renew(env, current) : undefined;
    const checkedIn = done.then((ended) => checkInLease(env, summary, ended, !outOfTime && renewed?.lease == null));
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

/** Adds an ended lease to the summary and checks it in; `undefined` when the check-in failed for good. */
async function checkInLease(env: Env, summary: WorkerSummary, run: LeaseRun, mayWantMore: boolean): Promise<CheckInResponse | undefined> {
  addToSummary(summary, run);
  // Asked again now: the last calls may have been throttled since the renewal.
  // A lease stopped by the conductor (its campaign paused) says nothing about the provider: another campaign's lease may follow.
  const wants = mayWantMore && (run.haltedBy === undefined || run.haltedBy === STOPPED) && wantsMore(env);
  const response = await checkIn(env, checkInFor(env, run, wants));
  if (!response) summary.stoppedBecause = 'check-in-failed';
  return response;
}

/**
 * Lambda may deliver an asynchronous invocation twice. Two runs of one lease would claim
 * different keys (claims see to that) but could both spend the same slices' permits, so the
 * first run marks the lease as taken and a second one stops. Leases that come in a check-in
 * reply are delivered once and need no mark. Any doubt (the mark cannot be written) stops too.
 * The mark is a ledger claim, random token and all, so a mark whose reply was lost is still ours.
 */
async function claimInvocation(env: Env, lease: Lease): Promise<boolean> {
  const marked = await env.ledger.markLease({ customerId: lease.customerId, campaignId: lease.campaignId }, lease.leaseId);
  if (marked.kind === 'ours') return true;
  if (marked.kind === 'failed') env.log.error({ event: 'lease.mark-failed', leaseId: lease.leaseId, reason: marked.reason });
  return false;
}

function emptySummary(workerId: string): WorkerSummary {
  return {
    workerId,
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
}

function addToSummary(summary: WorkerSummary, run: LeaseRun): void {
  summary.leases += 1;
  summary.permitsUsed += run.permitsUsed;
  summary.unattempted += run.unattempted.length;
  for (const r of run.results) summary[r.status] += 1;
}
