import {
  PermanentError,
  RetryableError,
  describeError,
  isAllowedRecipient,
  isBatonError,
  keys,
  parseJson,
  parseWith,
  renderedMessage,
  type Lease,
  type OutcomeFacts,
  type OutcomeStatus,
  type RecordMode,
  type RecipientRef,
  type RenderedMessage,
  type SendResult,
  type Suppression,
} from '@baton/shared';
import { OUTCOME_RETRIES, OUTCOME_RETRY_BACKOFF_MS } from './defaults';
import type { Busy, LeaseRun } from './lease-run';
import type { OutgoingEmail } from './ports';
import type { Env } from './worker-env';

type LogFields = Record<string, string>;

/** One key, start to end. Returns whether a provider call was made (the permit is spent). */
export async function sendKey(env: Env, run: LeaseRun, recipientId: string, busy: Busy): Promise<boolean> {
  const { lease } = run;
  const ref: RecipientRef = { customerId: lease.customerId, campaignId: lease.campaignId, recipientId };
  const logFields = { leaseId: lease.leaseId, campaignId: lease.campaignId, recipientId };

  const message = await sendableMessage(env, run, ref, logFields);
  if (!message) return false;
  // Not before the conductor said the lease is not stopped (a pause may have come before the worker started).
  await run.watchAnswered;
  const slice = await claimInSlot(env, run, ref, busy, logFields);
  if (slice === undefined) return false;
  // Checked again right before the call, in the same turn of the event loop as its start: a stop
  // heard after the slot wait and the claim (while this lane waited to resume) starts no call.
  if (run.haltedBy !== undefined) {
    run.giveBackSlot(slice);
    if (!(await releaseClaim(env, ref, logFields))) run.claimHeld.push(ref);
    run.unattempted.push(recipientId);
    return false;
  }
  run.callStarting(busy);
  let providerId: string;
  try {
    ({ providerId } = await env.sender.send(outgoing(message, lease)));
  } catch (error) {
    run.callEnded();
    await recordSendError(env, run, ref, error, logFields);
    return true;
  }
  run.callEnded();
  run.providerAccepted();
  await record(env, run, { recipientId, status: 'sent', providerId }, 'always');
  env.log.debug({ event: 'key.sent', ...logFields, providerId });
  return true;
}

/**
 * The rendered message, if the key may be sent at all: it is readable, QA may email it, and its
 * recipient did not unsubscribe. Otherwise the key's result is recorded here (before any claim,
 * so an outcome only if none is there) and nothing is returned.
 */
async function sendableMessage(env: Env, run: LeaseRun, ref: RecipientRef, logFields: LogFields): Promise<RenderedMessage | undefined> {
  const { recipientId } = ref;
  const loaded = await loadRendered(env, ref);
  if (!loaded.ok) {
    // Retryable: nothing is final yet, so nothing goes to the ledger.
    if (loaded.result.status === 'retryable') run.results.push(loaded.result);
    else await record(env, run, loaded.result, 'if-absent');
    env.log.warn({ event: 'key.not-sendable', ...logFields, reason: loaded.result.reason });
    return undefined;
  }

  if (env.stage === 'qa' && !qaMayEmail(env.qaAllowList, loaded.message.to)) {
    await record(env, run, { recipientId, status: 'suppressed', reason: 'QA_NOT_ALLOWED' }, 'if-absent');
    env.log.info({ event: 'key.suppressed', ...logFields, reason: 'QA_NOT_ALLOWED' });
    return undefined;
  }

  let suppression: Suppression | undefined;
  try {
    suppression = await env.ledger.readSuppression(ref);
  } catch (error) {
    const code = 'SUPPRESSION_READ_FAILED';
    run.results.push({ recipientId, status: 'retryable', code, reason: `${code}: ${describeError(error)}` });
    return undefined;
  }
  if (suppression !== undefined) {
    // UNSUBSCRIBED, BOUNCED, COMPLAINED, MANUAL; a damaged record suppresses all the same.
    const reason = (suppression.record?.reason ?? 'damaged').toUpperCase();
    await record(env, run, { recipientId, status: 'suppressed', reason }, 'if-absent');
    env.log.info({ event: 'key.suppressed', ...logFields, reason });
    return undefined;
  }
  return loaded.message;
}

/**
 * The slot first, the claim right before the call: a claim means "its call may have started",
 * so a crash leaves in doubt only the calls in flight (and claims being written), never keys
 * still waiting for their slice. A claim that outlasted its slice, with no permit free in the
 * slice it ends in, is given up while the lane waits for the next one, then made again. The
 * slice whose permit the call uses when the key is claimed and its call must start now;
 * undefined with the key's result reported.
 */
async function claimInSlot(env: Env, run: LeaseRun, ref: RecipientRef, busy: Busy, logFields: LogFields): Promise<number | undefined> {
  for (;;) {
    const slot = await run.takeSlot(busy);
    if (slot === undefined) {
      run.unattempted.push(ref.recipientId);
      return undefined;
    }
    if (!(await claim(env, run, ref, logFields))) {
      run.giveBackSlot(slot);
      return undefined;
    }
    const kept = run.keepSlotAfterClaim(slot);
    if (kept !== undefined) return kept;
    if (!(await releaseClaim(env, ref, logFields))) {
      // The claim stands and is ours: keep it and call in the next slot, rather than strand it.
      const next = await run.takeSlot(busy);
      if (next !== undefined) return next;
      // Stopped (or out of time) meanwhile: never called, so not in doubt. Released again before the check-in.
      run.unattempted.push(ref.recipientId);
      run.claimHeld.push(ref);
      return undefined;
    }
  }
}

/** Claims the key for this lease; false (with the key's result reported) when it is not ours. */
async function claim(env: Env, run: LeaseRun, ref: RecipientRef, logFields: LogFields): Promise<boolean> {
  const { recipientId } = ref;
  const claimed = await env.ledger.claim(ref, run.lease.leaseId);
  if (claimed.kind === 'elsewhere') {
    run.results.push({ recipientId, status: 'claimedElsewhere' });
    env.log.info({ event: 'key.claimed-elsewhere', ...logFields });
    return false;
  }
  if (claimed.kind === 'failed') {
    // Nothing was sent. If the claim was in fact written (and could not be read back), the key
    // stays claimed: never sent twice, but reported by the conductor as unfinished.
    run.results.push({ recipientId, status: 'retryable', code: 'CLAIM_FAILED', reason: `CLAIM_FAILED: ${claimed.reason}` });
    env.log.warn({ event: 'key.claim-failed', ...logFields, reason: claimed.reason });
    return false;
  }
  return true;
}

type Loaded = { ok: true; message: RenderedMessage } | { ok: false; result: Extract<SendResult, { status: 'failed' | 'retryable' }> };
/** Results that are final: the ones with an outcome record. */
type FinalResult = Extract<SendResult, { status: OutcomeStatus }>;

async function loadRendered(env: Env, ref: RecipientRef): Promise<Loaded> {
  const { recipientId } = ref;
  const key = keys.rendered(ref);
  const failed = (reason: string): Loaded => ({ ok: false, result: { recipientId, status: 'failed', reason } });
  let body: string | undefined;
  try {
    body = await env.store.get(env.buckets.rendered, key);
  } catch (error) {
    const code = 'STORE_UNAVAILABLE';
    return { ok: false, result: { recipientId, status: 'retryable', code, reason: `${code}: ${describeError(error)}` } };
  }
  if (body === undefined) return failed(`RENDERED_MISSING: no rendered message at ${key}`);
  try {
    const message = parseWith(renderedMessage, parseJson(body, key), 'RENDERED_INVALID', key);
    if (message.customerId !== ref.customerId || message.campaignId !== ref.campaignId || message.recipientId !== ref.recipientId) {
      return failed(`RENDERED_INVALID: ${key} is about another recipient`);
    }
    return { ok: true, message };
  } catch (error) {
    return failed(`RENDERED_INVALID: ${isBatonError(error) ? error.message : describeError(error)}`);
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

async function recordSendError(env: Env, run: LeaseRun, ref: RecipientRef, error: unknown, logFields: LogFields): Promise<void> {
  const { recipientId } = ref;
  if (error instanceof RetryableError) {
    // The provider certainly did not take it: free the key for a later lease. Throttled or
    // unreachable, or failing call after call: this lease takes no new key. A lone 503 costs only
    // this recipient a later retry.
    // Counted before the release's await: "in a row" is the order the answers came in, as
    // `providerAccepted` counts an accepted call at once (counted after the release, a slice's
    // refusals all landed after its accepted calls and read as a streak).
    run.providerRefused(error.code);
    // Refused, so not in doubt: a claim that could not be removed is tried again before the check-in.
    if (!(await releaseClaim(env, ref, logFields))) run.claimHeld.push(ref);
    run.results.push({
      recipientId,
      status: 'retryable',
      code: error.code,
      reason: `${error.code}: ${error.message}`,
      ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    });
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

/** Whether the claim is gone; on a failure the key stays claimed (the safe side) and it is logged. */
async function releaseClaim(env: Env, ref: RecipientRef, logFields: LogFields): Promise<boolean> {
  try {
    await env.ledger.releaseClaim(ref);
    return true;
  } catch (error) {
    env.log.error({ event: 'claim.release-failed', ...logFields, reason: describeError(error) });
    return false;
  }
}

/**
 * Writes a final result's outcome record and adds the result for the check-in.
 * - `always`: this worker holds the recipient's claim, so its outcome is the truth.
 * - `if-absent`: decided before any claim (not sendable, QA, unsubscribed); a conditional create,
 *   so it can never overwrite what another lease's worker recorded. If one is there already, the
 *   result says so (`claimedElsewhere`) and the conductor takes the ledger's word.
 */
async function record(env: Env, run: LeaseRun, result: FinalResult, mode: RecordMode): Promise<void> {
  const { lease } = run;
  const { recipientId } = result;
  const ref = { customerId: lease.customerId, campaignId: lease.campaignId, recipientId };
  const { leaseId } = lease;
  const outcome: OutcomeFacts =
    result.status === 'sent'
      ? { status: result.status, providerId: result.providerId, leaseId }
      : { status: result.status, reason: result.reason, leaseId };
  try {
    if ((await env.ledger.recordOutcome(ref, outcome, mode)) === 'exists') {
      run.results.push({ recipientId, status: 'claimedElsewhere' });
      return;
    }
  } catch (error) {
    // Tried again before the check-in (see `retryUnrecorded`); the claim, if any, keeps the key
    // from being resent meanwhile.
    env.log.error({ event: 'outcome.write-failed', leaseId, recipientId, reason: describeError(error) });
    run.unrecorded.push({ ref, outcome, mode });
  }
  run.results.push(result);
}

/**
 * Outcome records whose write failed, tried again with back-off once the lease's calls are
 * over; those still failing are named in the check-in so the conductor writes them from the
 * results (what the provider answered). An outcome lost for good would read as in doubt after
 * a crash.
 */
export async function retryUnrecorded(env: Env, run: LeaseRun): Promise<void> {
  for (let attempt = 0; attempt < OUTCOME_RETRIES && run.unrecorded.length > 0; attempt++) {
    await env.clock.sleep(OUTCOME_RETRY_BACKOFF_MS * 2 ** attempt);
    const pending = run.unrecorded.splice(0);
    for (const entry of pending) {
      try {
        await env.ledger.recordOutcome(entry.ref, entry.outcome, entry.mode);
        env.log.info({ event: 'outcome.written-late', leaseId: run.lease.leaseId, recipientId: entry.ref.recipientId });
      } catch {
        run.unrecorded.push(entry);
      }
    }
  }
}

/**
 * Claims of keys never called (or refused) whose release failed, tried again with back-off once
 * the lease's calls are over. Those still standing are named in the check-in (`claimHeld`) so the
 * conductor removes them before leasing the keys again: a claim left standing reads as "its call
 * may have started", and the next worker to find it would put a key never sent in doubt.
 */
export async function retryReleases(env: Env, run: LeaseRun): Promise<void> {
  for (let attempt = 0; attempt < OUTCOME_RETRIES && run.claimHeld.length > 0; attempt++) {
    await env.clock.sleep(OUTCOME_RETRY_BACKOFF_MS * 2 ** attempt);
    const pending = run.claimHeld.splice(0);
    for (const ref of pending) {
      try {
        await env.ledger.releaseClaim(ref);
        env.log.info({ event: 'claim.released-late', leaseId: run.lease.leaseId, recipientId: ref.recipientId });
      } catch {
        run.claimHeld.push(ref);
      }
    }
  }
}
