import {
  Ledger,
  ValidationError,
  silentLogger,
  type Buckets,
  type Clock,
  type InputIssue,
  type Logger,
  type ObjectStore,
  type Stage,
} from '@baton/shared';
import { DEFAULT_CONCURRENCY, MIN_BUDGET_TO_TAKE_MS, WANTS_MORE_FRACTION, WANTS_MORE_MIN_MS } from './defaults';
import { LaneGate } from './lane-gate';
import type { LeaseClient, Sender } from './ports';

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
   * timeout so that a slow last call still ends, and is recorded, inside the budget
   * (`minBudgetToTakeFor`).
   */
  minBudgetToTakeMs?: number;
  /** Epoch ms the budget counts from; `clock.now()` when `runWorker` starts, by default. */
  workerStartedAt?: number;
}

/** One invocation's dependencies, checked, with its defaults filled in. */
export interface Env {
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
  /** Claims, lease marks, outcomes and suppressions, in the campaigns bucket. */
  ledger: Ledger;
  /** Lanes shared by every lease this invocation runs (a renewed lease starts while the last one's calls finish). */
  lanes: LaneGate;
}

export function resolveEnv(deps: WorkerDeps): Env {
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
    ledger: new Ledger({ store: deps.store, bucket: deps.buckets.campaigns, clock: deps.clock }),
    lanes: new LaneGate(concurrency),
  };
}

export function budgetLeft(env: Env): number {
  return env.deadline - env.clock.now();
}

/** Whether the worker has time enough for another lease. */
export function wantsMore(env: Env): boolean {
  return budgetLeft(env) > Math.max(WANTS_MORE_FRACTION * env.timeBudgetMs, WANTS_MORE_MIN_MS);
}
