import { describeError, leasePermits } from '@baton/shared';
import type { LeaseRun } from './lease-run';
import type { Env } from './worker-env';

/** After a failed watch, the next one waits this long (the lease goes on meanwhile). */
const WATCH_RETRY_MS = 250;
/** A held watch answered sooner than this is not asked again before this long (no busy loop against a conductor that answers at once). */
const WATCH_MIN_SPACING_MS = 100;

/**
 * Watches a lease while it may still start calls, so that a pause reaches the worker at once:
 * the first answer opens the lease's gate (no call before it), a stop halts the lease (no call
 * starts after it; what is not attempted goes back at the check-in) and is confirmed with the
 * calls still on their way. A conductor that cannot be reached is no reason to stop: the lease's
 * permits hold, and its check-in settles it. Resolves when the lease has no call left to start.
 */
export async function watchLease(env: Env, run: LeaseRun): Promise<void> {
  const client = env.leaseClient;
  const { leaseId, workerId } = run.lease;
  if (!client.watch) {
    run.openGate();
    return;
  }
  let callsOver = false;
  const about = { campaignId: run.lease.campaignId, permits: leasePermits(run.lease) };
  // Not aborted when the calls are over: the conductor answers a held watch as soon as the lease is checked in.
  void run.noMoreCalls.then(() => (callsOver = true));
  for (let first = true; !callsOver; first = false) {
    const askedAt = env.clock.now();
    try {
      const reply = await client.watch({ leaseId, workerId, until: run.sendUntil, ...about, ...(first ? { first: true } : {}) });
      run.openGate();
      if (reply.stop) {
        await stopLease(env, run, reply.at ?? askedAt);
        return;
      }
      if (env.clock.now() - askedAt < WATCH_MIN_SPACING_MS && !first) await env.clock.sleep(WATCH_MIN_SPACING_MS);
    } catch (error) {
      run.openGate();
      if (callsOver) return;
      env.log.warn({ event: 'lease.watch-failed', leaseId, reason: describeError(error) });
      await env.clock.sleep(WATCH_RETRY_MS);
    }
  }
}

/** Halts the lease and tells the conductor how many of its calls may still reach the provider after `at`. */
async function stopLease(env: Env, run: LeaseRun, at: number): Promise<void> {
  run.stop();
  const inFlight = run.callsOnTheirWaySince(at);
  env.log.info({ event: 'lease.stopped', leaseId: run.lease.leaseId, campaignId: run.lease.campaignId, inFlight });
  const { leaseId, workerId } = run.lease;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await env.leaseClient.watch!({ leaseId, workerId, until: run.sendUntil, stopped: { inFlight } });
      return;
    } catch (error) {
      env.log.warn({ event: 'lease.stop-confirm-failed', leaseId, attempt: attempt + 1, reason: describeError(error) });
      await env.clock.sleep(WATCH_RETRY_MS * 2 ** attempt);
    }
  }
}
