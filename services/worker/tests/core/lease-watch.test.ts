import { keys, type WatchRequest, type WatchResponse } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { runWorker, type WorkerDeps } from '../../src/core/run-worker';
import { AutoClock, FakeLeaseClient, FakeSender, buckets, emails, leaseFor, refOf, seedRendered } from '../fakes';

/** A conductor double that also answers watches: the first at once, later ones when `stopNow` is called (or `go`). */
class WatchingLeaseClient extends FakeLeaseClient {
  readonly watches: WatchRequest[] = [];
  private held: ((r: WatchResponse) => void)[] = [];
  constructor(private readonly firstAnswer: WatchResponse | Error = { stop: false }) {
    super();
  }

  async watch(req: WatchRequest): Promise<WatchResponse> {
    this.watches.push(structuredClone(req));
    if (req.first) {
      if (this.firstAnswer instanceof Error) throw this.firstAnswer;
      return this.firstAnswer;
    }
    if (req.stopped) return { stop: true };
    return new Promise((resolve) => this.held.push(resolve));
  }

  stopNow(at: number): void {
    for (const answer of this.held.splice(0)) answer({ stop: true, at });
  }
}

function setUp(client: WatchingLeaseClient, concurrency = 1) {
  const store = new MemoryObjectStore();
  const clock = new AutoClock();
  const sender = new FakeSender(clock, 10);
  const deps: WorkerDeps = { store, buckets, sender, leaseClient: client, clock, stage: 'prod', timeBudgetMs: 120_000, concurrency };
  return { store, clock, sender, deps };
}

describe('a worker watching its lease', () => {
  it('starts no call after a stop, gives back what it did not attempt, and confirms the one call on its way', async () => {
    // Prepare: the stop comes while the third call is at the provider
    const addresses = emails(10);
    const client = new WatchingLeaseClient();
    const { store, clock, sender, deps } = setUp(client);
    await seedRendered(store, addresses);
    sender.behaviour = (_msg, index) => {
      if (index === 2) client.stopNow(clock.now());
      return { providerId: `<id-${index}@mg>` };
    };

    // Act
    const summary = await runWorker(deps, { lease: leaseFor(addresses) });

    // Assess
    expect(sender.calls).toHaveLength(3);
    expect(summary).toMatchObject({ sent: 3, unattempted: 7, inDoubt: 0 });
    const [checkIn] = client.requests;
    expect(checkIn!.unattempted).toHaveLength(7);
    // A stop says nothing about the provider: the worker may take another campaign's lease.
    expect(checkIn!.wantsMore).toBe(true);
    expect(client.watches.find((w) => w.stopped)).toMatchObject({ leaseId: 'lease-1', stopped: { inFlight: 1 } });
    for (const email of addresses.slice(3)) expect(await store.get(buckets.campaigns, keys.claim(refOf(email)))).toBeUndefined();
  });

  it.each(Array.from({ length: 12 }, (_, hops) => hops))(
    'starts no call after a stop heard just after the claim is written (%i microtasks later): the halt is checked right before the call',
    async (hops) => {
      // Prepare: the stop's answer lands `hops` microtasks after the first claim's write completes.
      const addresses = emails(3);
      const client = new WatchingLeaseClient();
      const { store, clock, sender, deps } = setUp(client);
      await seedRendered(store, addresses);
      let stopped = false;
      const put = store.put.bind(store);
      store.put = async (...args) => {
        await put(...args);
        if (!stopped && args[1].includes('/claims/')) {
          let hop: Promise<void> = Promise.resolve();
          for (let k = 0; k < hops; k++) hop = hop.then(() => undefined);
          void hop.then(() => {
            stopped = true;
            client.stopNow(clock.now());
          });
        }
      };
      // The worker halts the lease and confirms in one synchronous step: a call started after the confirmation started after the stop.
      const afterStop: string[] = [];
      const send = sender.send.bind(sender);
      sender.send = (msg) => {
        if (client.watches.some((w) => w.stopped)) afterStop.push(msg.to);
        return send(msg);
      };

      // Act
      const summary = await runWorker(deps, { lease: leaseFor(addresses) });

      // Assess: no call started once the stop was heard; what was not called went back unclaimed.
      expect(afterStop).toEqual([]);
      expect(summary).toMatchObject({ inDoubt: 0 });
      for (const email of addresses) {
        const called = sender.calls.some((c) => c.msg.to === email);
        if (!called) expect(await store.get(buckets.campaigns, keys.claim(refOf(email)))).toBeUndefined();
      }
    },
  );

  it('starts no call when the lease is stopped before its first call', async () => {
    // Prepare
    const addresses = emails(4);
    const client = new WatchingLeaseClient({ stop: true, at: 0 });
    const { store, sender, deps } = setUp(client, 4);
    await seedRendered(store, addresses);

    // Act
    const summary = await runWorker(deps, { lease: leaseFor(addresses) });

    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(summary).toMatchObject({ sent: 0, unattempted: 4 });
    expect(client.watches.find((w) => w.stopped)).toMatchObject({ stopped: { inFlight: 0 } });
  });

  it('sends all the same when the conductor cannot be asked (its permits hold; the check-in settles the lease)', async () => {
    // Prepare
    const addresses = emails(3);
    const client = new WatchingLeaseClient(new Error('conductor unreachable'));
    const { store, sender, deps } = setUp(client);
    await seedRendered(store, addresses);

    // Act
    const summary = await runWorker(deps, { lease: leaseFor(addresses) });

    // Assess
    expect(sender.calls).toHaveLength(3);
    expect(summary.sent).toBe(3);
  });
});
