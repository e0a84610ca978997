import { RetryableError, keys } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { runWorker, type WorkerDeps } from '../../src/core/run-worker';
import { AutoClock, FakeLeaseClient, FakeSender, START, buckets, emails, idOf, leaseFor, refOf, seedRendered } from '../fakes';

// When the worker asks for its next lease, how its lanes are shared with it, and what it tells
// the conductor at check-in: through `runWorker` only.

function setUp(options: { concurrency?: number; msPerCall?: number; renewWith?: string[]; deps?: Partial<WorkerDeps> } = {}) {
  const store = new MemoryObjectStore();
  const clock = new AutoClock();
  const sender = new FakeSender(clock, options.msPerCall ?? 0);
  const renewScript = options.renewWith ? [{ lease: leaseFor(options.renewWith, { leaseId: 'lease-2' }) }] : [];
  const leaseClient = new FakeLeaseClient([], renewScript);
  const deps: WorkerDeps = {
    store,
    buckets,
    sender,
    leaseClient,
    clock,
    stage: 'prod',
    timeBudgetMs: 120_000,
    concurrency: options.concurrency,
    ...options.deps,
  };
  return { store, clock, sender, leaseClient, deps };
}

const later = emails(2, 'second.example.com');

/** The leases the worker renewed (the second renews too, while its own last calls finish). */
function renewed(leaseClient: FakeLeaseClient): string[] {
  return leaseClient.renewals.map((r) => r.leaseId);
}

function unsubscribe(store: MemoryObjectStore, email: string): Promise<void> {
  return store.put(buckets.campaigns, keys.suppression(refOf(email)), '{}');
}

describe('runWorker renewing its lease', () => {
  it('asks for its next lease only once the last call of its lease has started', async () => {
    // Prepare: one lane, three keys.
    const first = emails(3);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 1, renewWith: later.slice(0, 1) });
    await seedRendered(store, [...first, ...later]);
    // Act
    await runWorker(deps, { lease: leaseFor(first) });
    // Assess
    expect(renewed(leaseClient)).toEqual(['lease-1', 'lease-2']);
    expect(sender.recipients()).toEqual([...first, later[0]]);
  });

  it('waits for a key still being claimed before it renews, even when the other lanes are done', async () => {
    // Prepare: two lanes, three keys; the third key's claim is slow (real time), so the second
    // lane finishes while it is still being claimed.
    const first = emails(3);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 2, renewWith: later });
    await seedRendered(store, [...first, ...later]);
    const put = store.put.bind(store);
    store.put = async (...args) => {
      if (args[1] === keys.claim(refOf(first[2]!))) await new Promise((resolve) => setTimeout(resolve, 20));
      return put(...args);
    };
    const renew = leaseClient.renew.bind(leaseClient);
    const callsAtRenewal: number[] = [];
    leaseClient.renew = async (req) => {
      callsAtRenewal.push(sender.calls.length);
      return renew(req);
    };
    // Act
    await runWorker(deps, { lease: leaseFor(first) });
    // Assess: all three calls of the first lease had started when it renewed.
    expect(callsAtRenewal[0]).toBe(3);
  });

  it('sends a lease that arrives with exactly the reserve left, and the next one too', async () => {
    // Prepare: exactly two seconds of budget left; the check-in hands out a second lease.
    const store = new MemoryObjectStore();
    const clock = new AutoClock();
    const sender = new FakeSender(clock);
    const leaseClient = new FakeLeaseClient([{ lease: leaseFor(later.slice(0, 1), { leaseId: 'lease-2' }) }]);
    await seedRendered(store, [...emails(1), ...later]);
    const deps: WorkerDeps = {
      store,
      buckets,
      sender,
      leaseClient,
      clock,
      stage: 'prod',
      timeBudgetMs: 120_000,
      workerStartedAt: START - 118_000,
    };
    // Act
    const summary = await runWorker(deps, { lease: leaseFor(emails(1)) });
    // Assess
    expect(summary).toMatchObject({ leases: 2, sent: 2, stoppedBecause: 'no-lease' });
  });

  it('keeps at most `concurrency` calls in flight over a lease and its renewal together', async () => {
    const first = emails(2);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 2, renewWith: later });
    await seedRendered(store, [...first, ...later]);
    await runWorker(deps, { lease: leaseFor(first) });
    expect(renewed(leaseClient)).toEqual(['lease-1', 'lease-2']);
    expect(sender.calls).toHaveLength(4);
    expect(sender.maxInFlight).toBe(2);
  });

  it.each([
    { what: 'keys are left for want of permits', keys: 3, permits: 2 },
    { what: 'permits are left over', keys: 2, permits: 5 },
  ])('renews while its last calls are in flight when $what', async ({ keys: n, permits }) => {
    const first = emails(n);
    const { store, leaseClient, deps } = setUp({ concurrency: 2, renewWith: later });
    await seedRendered(store, [...first, ...later]);
    await runWorker(deps, { lease: leaseFor(first, { permits }) });
    expect(renewed(leaseClient)).toEqual(['lease-1', 'lease-2']);
    expect(leaseClient.requests.map((r) => r.leaseId)).toEqual(['lease-1', 'lease-2']);
  });

  it('renews while its last calls are in flight when some of its keys needed no call', async () => {
    const first = emails(3);
    const { store, leaseClient, deps } = setUp({ concurrency: 2, renewWith: later });
    await seedRendered(store, [...first, ...later]);
    await unsubscribe(store, first[0]!);
    await runWorker(deps, { lease: leaseFor(first) });
    expect(renewed(leaseClient)).toEqual(['lease-1', 'lease-2']);
  });

  it('checks a lease that can start no call in at once, asking for more there instead of renewing', async () => {
    const first = emails(2);
    const { store, sender, leaseClient, deps } = setUp({ renewWith: later });
    await seedRendered(store, first);
    await runWorker(deps, { lease: leaseFor(first, { sendUntil: START - 1 }) });
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.renewals).toHaveLength(0);
    expect(leaseClient.requests[0]).toMatchObject({ wantsMore: true, unattempted: first.map(idOf) });
  });

  it('checks in a lease whose keys all needed no call without renewing', async () => {
    const first = emails(2);
    const { store, leaseClient, deps } = setUp({ concurrency: 2, renewWith: later });
    await seedRendered(store, first);
    for (const email of first) await unsubscribe(store, email);
    await runWorker(deps, { lease: leaseFor(first) });
    expect(leaseClient.renewals).toHaveLength(0);
    expect(leaseClient.requests[0]).toMatchObject({ wantsMore: true });
    expect(leaseClient.requests[0]!.timing).toBeUndefined();
  });

  it('does not renew a lease the provider throttled while its other calls finish', async () => {
    // Prepare: two lanes; the first call is throttled at once, the second takes a while.
    const first = emails(3);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 2, renewWith: later });
    await seedRendered(store, [...first, ...later]);
    sender.behaviour = async (_msg, index) => {
      if (index === 0) throw new RetryableError('PROVIDER_THROTTLED', 'Mailgun throttled the request (429)');
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { providerId: `<id-${index}@mg.acme.test>` };
    };
    // Act
    await runWorker(deps, { lease: leaseFor(first) });
    // Assess
    expect(leaseClient.renewals).toHaveLength(0);
    expect(sender.recipients()).toEqual(first.slice(0, 2));
    expect(leaseClient.requests).toHaveLength(1);
    expect(leaseClient.requests[0]).toMatchObject({ wantsMore: false, unattempted: [idOf(first[2]!)] });
    // The key it could not take was never claimed either.
    expect(store.calls.filter((c) => c.op === 'put' && c.key === keys.claim(refOf(first[2]!)))).toEqual([]);
  });
});

describe('runWorker after the provider pushed back', () => {
  /** A clock whose sleeps take real time too, so a call in flight can end during one. */
  class SlowSleepClock extends AutoClock {
    override async sleep(ms: number): Promise<void> {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return super.sleep(ms);
    }
  }

  it('does not send a key already claimed and waiting for its slice once the provider pushed back', async () => {
    // Prepare: one permit in each of two slices; the first call is throttled while the second
    // key waits for slice two.
    const first = emails(2);
    const store = new MemoryObjectStore();
    const clock = new SlowSleepClock();
    const sender = new FakeSender(clock);
    const leaseClient = new FakeLeaseClient();
    await seedRendered(store, first);
    sender.behaviour = () => {
      throw new RetryableError('PROVIDER_THROTTLED', '429');
    };
    const deps: WorkerDeps = { store, buckets, sender, leaseClient, clock, stage: 'prod', timeBudgetMs: 120_000, concurrency: 2 };
    // Act
    await runWorker(deps, {
      lease: leaseFor(first, { schedule: { start: START, sliceMs: 1_000, permits: [1, 1] }, sendUntil: START + 2_000 }),
    });
    // Assess
    expect(sender.recipients()).toEqual([first[0]]);
    expect(leaseClient.requests[0]).toMatchObject({ unattempted: [idOf(first[1]!)], usedPerSlice: [1, 0] });
    expect(await store.get(buckets.campaigns, keys.claim(refOf(first[1]!)))).toBeUndefined();
  });
});

describe('runWorker checking in', () => {
  it('reports the mean and standard deviation of the lane time its keys took', async () => {
    // Prepare: three keys, one lane; the provider takes 100, 200, then 300 ms.
    const first = emails(3);
    const { store, clock, sender, leaseClient, deps } = setUp({ concurrency: 1 });
    await seedRendered(store, first);
    sender.behaviour = (_msg, index) => {
      clock.advance(100 * (index + 1));
      return { providerId: `<id-${index}@mg.acme.test>` };
    };
    // Act
    await runWorker(deps, { lease: leaseFor(first) });
    // Assess
    const timing = leaseClient.requests[0]!.timing!;
    expect(timing.n).toBe(3);
    expect(timing.meanMs).toBeCloseTo(200, 9);
    expect(timing.sdMs).toBeCloseTo(100, 9);
  });

  it('reports no spread for a single key', async () => {
    const { store, leaseClient, deps } = setUp({ msPerCall: 70 });
    await seedRendered(store, emails(1));
    await runWorker(deps, { lease: leaseFor(emails(1)) });
    expect(leaseClient.requests[0]!.timing).toEqual({ n: 1, meanMs: 70, sdMs: 0 });
  });

  it('leaves the wait for a slice out of the lane time', async () => {
    // Prepare: one permit in each of two one-second slices; a claim takes 50 ms, a call 100 ms.
    const first = emails(2);
    const { store, clock, sender, leaseClient, deps } = setUp({ concurrency: 1, msPerCall: 100 });
    await seedRendered(store, first);
    const put = store.put.bind(store);
    store.put = async (...args) => {
      await put(...args);
      if (args[1].includes('/claims/')) clock.advance(50);
    };
    // Act
    await runWorker(deps, {
      lease: leaseFor(first, { schedule: { start: START, sliceMs: 1_000, permits: [1, 1] }, sendUntil: START + 2_000 }),
    });
    // Assess: the second key waits from 150 ms to 1 s for its slice, then claims (50 ms) and
    // calls; the wait is not lane time.
    expect(sender.calls.map((c) => c.at - START)).toEqual([50, 1_050]);
    expect(leaseClient.requests[0]!.timing).toEqual({ n: 2, meanMs: 150, sdMs: 0 });
  });

  it('reports the time it has left, at renewal and at check-in', async () => {
    // Prepare: calls take 40 ms; the renewal comes once the last call has started.
    const first = emails(2);
    const { store, leaseClient, deps } = setUp({ concurrency: 1, msPerCall: 40, renewWith: later, deps: { timeBudgetMs: 60_000 } });
    await seedRendered(store, [...first, ...later]);
    // Act
    await runWorker(deps, { lease: leaseFor(first) });
    // Assess
    expect(leaseClient.renewals[0]!.budgetLeftMs).toBe(60_000 - 40);
    expect(leaseClient.requests.map((r) => r.budgetLeftMs)).toEqual([60_000 - 80, 60_000 - 160]);
  });

  it.each([
    { left: 11_000, wants: false },
    { left: 12_000, wants: false },
    { left: 13_000, wants: true },
  ])('with $left ms of a 120 s budget left, wants more: $wants (a tenth of the budget is the bar)', async ({ left, wants }) => {
    const { store, leaseClient, deps } = setUp({ deps: { workerStartedAt: START - (120_000 - left) } });
    await seedRendered(store, emails(1));
    await runWorker(deps, { lease: leaseFor(emails(1)) });
    expect(leaseClient.requests[0]!.wantsMore).toBe(wants);
  });
});
