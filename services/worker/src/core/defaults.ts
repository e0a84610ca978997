import { PROVIDER_TIMEOUT_MS, WANTS_MORE_FRACTION, WANTS_MORE_MIN_MS } from '@baton/shared';

/**
 * The worker's numbers, in one place. The composition roots (the Lambda entry, `local/`, the
 * conductor's test sender) take theirs from here instead of restating them.
 */

/** By default no key is taken with less than this much of the time budget left: a send must finish and the worker check in. */
export const MIN_BUDGET_TO_TAKE_MS = 2_000;
/** When a worker asks for another lease: part of the lease protocol, so shared with the conductor. */
export { WANTS_MORE_FRACTION, WANTS_MORE_MIN_MS };
/** A failed check-in is tried again this many times before the worker gives up. */
export const CHECK_IN_RETRIES = 3;
/** First back-off between check-in attempts; doubled each time. */
export const CHECK_IN_BACKOFF_MS = 500;
/** An outcome record whose write failed is tried this many more times before the check-in… */
export const OUTCOME_RETRIES = 3;
/** …first after this long, doubled each time. */
export const OUTCOME_RETRY_BACKOFF_MS = 200;
/** Lanes: keys in progress at once. Waiting lanes cost little, and a slice's permits need free lanes when it starts (see the conductor's governor). */
export const DEFAULT_CONCURRENCY = 32;
export { PROVIDER_TIMEOUT_MS };

/**
 * The `minBudgetToTakeMs` for a worker whose provider calls may take up to `providerTimeoutMs`:
 * no new key unless even a call that times out ends, and is recorded, within the budget. At
 * most half the budget, so a short budget still sends.
 */
export function minBudgetToTakeFor(timeBudgetMs: number, providerTimeoutMs: number = PROVIDER_TIMEOUT_MS): number {
  return Math.min(providerTimeoutMs + MIN_BUDGET_TO_TAKE_MS, Math.floor(timeBudgetMs / 2));
}

/** The halt a stop from the conductor (a pause) causes: not the provider's doing, so the worker may still want another lease. */
export const STOPPED = 'STOPPED';
