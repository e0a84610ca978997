/**
 * @baton/worker: sends a lease of rendered messages through the provider, claiming each key
 * first, and checks back with the conductor for more. The core talks through ports; the HTTP
 * lease client is exported for the composition roots, the Mailgun sender lives in
 * @baton/shared/mailgun.
 */
export type { OutgoingEmail, Sender, LeaseClient } from './core/ports';
export { runWorker } from './core/run-worker';
export type { WorkerDeps, WorkerSummary, StopReason } from './core/run-worker';
export {
  DEFAULT_CONCURRENCY,
  MIN_BUDGET_TO_TAKE_MS,
  WANTS_MORE_FRACTION,
  WANTS_MORE_MIN_MS,
  CHECK_IN_RETRIES,
  CHECK_IN_BACKOFF_MS,
  PROVIDER_TIMEOUT_MS,
  minBudgetToTakeFor,
} from './core/defaults';
export { createHttpLeaseClient, CHECK_IN_PATH } from './adapters/http-lease-client';
export type { HttpLeaseClientOptions } from './adapters/http-lease-client';
export { createWorkerHandler, LAMBDA_RESERVE_MS } from './handlers/worker-handler';
export type { WorkerHandlerDeps, InvocationContext } from './handlers/worker-handler';
