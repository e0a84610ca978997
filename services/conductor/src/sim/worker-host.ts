import {
  leaseSendUntil,
  type Buckets,
  type CheckInRequest,
  type CheckInResponse,
  type Clock,
  type Lease,
  type ObjectStore,
  type RenewRequest,
  type WorkerInvocation,
} from '@baton/shared';
import { runWorker, type LeaseClient, type WorkerSummary } from '@baton/worker';
import type { Random } from './random';
import { SimSender, type SimProvider } from './sim-provider';
import { WorkerObjectStore } from './sim-store';
import { Vanishing } from './vanishing';
import type { VirtualClock } from './virtual-clock';
import type { WorkerProfile, WorkerStats } from './worker-profile';

/** The conductor's side of the lease API: the real `Conductor` core. */
export interface LeaseApi {
  checkIn(request: CheckInRequest): Promise<CheckInResponse>;
  renew(request: RenewRequest): Promise<CheckInResponse>;
}

/**
 * The reserve the worker Lambda keeps (services/worker/src/lambda/worker.ts): no key is taken
 * unless a call that runs into the provider timeout (10 s) still ends, 2 s before the budget does.
 */
const PROVIDER_TIMEOUT_MS = 10_000;

export interface HostedWorker {
  /** Provider calls it made, as its sender counted them. */
  readonly sender: SimSender;
  /** Settles when the worker returns; never, if it vanished. */
  readonly finished: Promise<WorkerSummary>;
}

/**
 * One invocation of the real worker core (`runWorker` from services/worker: lanes, claims, slot
 * waits on the schedule, renewals, check-ins), on simulated ports:
 *  - a `Clock` that is the virtual clock plus this worker's skew, so its slot rule runs on its own
 *    clock, and sleeps on the virtual clock;
 *  - the store, each request costing the profile's store latency;
 *  - the simulated provider behind the `Sender` port;
 *  - the `LeaseClient` calling the conductor core directly, requests and replies copied as JSON
 *    as they would be on the wire.
 * With the scenario's chance per lease, the worker vanishes at a random moment before the lease's
 * last slice ends (if it has not checked that lease in by then): every port hangs from then on.
 */
export function launchWorker(options: {
  clock: VirtualClock;
  rnd: Random;
  profile: WorkerProfile;
  provider: SimProvider;
  store: ObjectStore;
  buckets: Buckets;
  conductor: LeaseApi;
  stats: WorkerStats;
  invocation: WorkerInvocation;
}): HostedWorker {
  const { clock: trueClock, rnd, profile, stats, conductor } = options;
  const invocation = wire(options.invocation);
  const vanishing = new Vanishing();
  /** Leases this worker holds and has not checked in: a crash during one of them is a crashed lease. */
  const open = new Set<string>();

  const received = (lease: Lease) => {
    open.add(lease.leaseId);
    if (rnd.next() >= profile.crashPerLease) return;
    const now = trueClock.now();
    trueClock.at(now + rnd.between(0, Math.max(1, leaseSendUntil(lease) - now)), () => {
      if (vanishing.vanished || !open.has(lease.leaseId)) return;
      vanishing.vanish();
      stats.crashedLeases++;
    });
  };
  const reply = (response: CheckInResponse): CheckInResponse => {
    const copy = wire(response);
    if (copy.lease) received(copy.lease);
    return copy;
  };

  const clock: Clock = {
    now: () => trueClock.now() + profile.skewMs,
    sleep: (ms) => vanishing.guard(() => trueClock.sleep(ms)),
  };
  const leaseClient: LeaseClient = {
    checkIn: (request) =>
      vanishing.guard(async () => {
        open.delete(request.leaseId);
        return reply(await conductor.checkIn(wire(request)));
      }),
    renew: (request) => vanishing.guard(async () => reply(await conductor.renew(wire(request)))),
  };
  const sender = new SimSender(trueClock, rnd, profile, options.provider, vanishing, invocation.lease.workerId);

  received(invocation.lease);
  const finished = runWorker(
    {
      store: new WorkerObjectStore(options.store, trueClock, rnd, profile, vanishing),
      buckets: options.buckets,
      sender,
      leaseClient,
      clock,
      stage: 'dev',
      timeBudgetMs: profile.budgetMs,
      concurrency: profile.lanes,
      minBudgetToTakeMs: Math.min(PROVIDER_TIMEOUT_MS + 2_000, Math.floor(profile.budgetMs / 2)),
      workerStartedAt: clock.now(),
    },
    invocation,
  );
  return { sender, finished };
}

/** What crosses the network: a JSON copy, so neither side can share objects with the other. */
function wire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
