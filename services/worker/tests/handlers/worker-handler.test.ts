import { ValidationError } from '@baton/shared';
import { createMailgunSender } from '@baton/shared/mailgun';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { startMailgunSink } from '../../../../local/src/mailgun-sink';
import { createWorkerHandler, type WorkerHandlerDeps } from '../../src/handlers/worker-handler';
import { AutoClock, FakeLeaseClient, FakeSender, START, buckets, emails, idOf, leaseFor, seedRendered } from '../fakes';

function setUp() {
  const store = new MemoryObjectStore();
  const clock = new AutoClock();
  const sender = new FakeSender(clock, 1_000);
  const leaseClient = new FakeLeaseClient();
  const deps: WorkerHandlerDeps = { store, buckets, sender, leaseClient, clock, stage: 'prod', timeBudgetMs: 120_000, concurrency: 1 };
  return { store, clock, sender, leaseClient, handler: createWorkerHandler(deps) };
}

describe('createWorkerHandler', () => {
  it('sends the lease of a valid invocation and returns the summary', async () => {
    // Prepare
    const { store, handler, leaseClient } = setUp();
    const addresses = emails(2);
    await seedRendered(store, addresses);

    // Act
    const summary = await handler({ lease: leaseFor(addresses) });

    // Assess
    expect(summary).toMatchObject({ leases: 1, sent: 2, permitsUsed: 2 });
    expect(leaseClient.requests).toHaveLength(1);
  });

  it('refuses a malformed invocation with an error naming the field, before doing anything', async () => {
    // Prepare
    const { store, handler, sender } = setUp();
    const valid = leaseFor(emails(1));
    const lease = { ...valid, schedule: { ...valid.schedule, permits: [-1] } };

    // Act
    const attempt = handler({ lease });

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    await expect(attempt).rejects.toMatchObject({
      code: 'EVENT_INVALID',
      message: expect.stringContaining('event.lease.schedule.permits.0'),
    });
    expect(sender.calls).toHaveLength(0);
    expect(store.calls).toHaveLength(0);
  });

  it("keeps the time budget inside the Lambda's remaining time", async () => {
    // Prepare: 6 s left in the function, each call takes 1 s, 3 s are kept for the last check-in
    const { store, handler, sender } = setUp();
    const addresses = emails(10);
    await seedRendered(store, addresses);

    // Act
    await handler({ lease: leaseFor(addresses) }, { getRemainingTimeInMillis: () => 6_000 });

    // Assess: a 3 s budget allows a call at 3 s and 2 s left, none at 1 s
    expect(sender.calls.map((c) => c.at - START)).toEqual([0, 1_000]);
  });

  it('sends a lease through mailgun.js to the Mailgun-compatible sink, claim and variables included', async () => {
    // Prepare
    const sink = await startMailgunSink({ apiKey: 'key-0123456789abcdef' });
    try {
      const store = new MemoryObjectStore();
      const leaseClient = new FakeLeaseClient();
      const sender = createMailgunSender({ url: sink.url, domain: 'mg.acme.test', apiKey: 'key-0123456789abcdef', timeoutMs: 2_000 });
      const handler = createWorkerHandler({
        store,
        buckets,
        sender,
        leaseClient,
        clock: new AutoClock(),
        stage: 'prod',
        timeBudgetMs: 60_000,
        concurrency: 1,
      });
      const addresses = emails(3);
      await seedRendered(store, addresses);
      sink.failNext(1, 429);

      // Act: the first call is throttled, which ends the lease; a second invocation sends the rest
      const first = await handler({ lease: leaseFor(addresses) });
      const retry = await handler({ lease: leaseFor(addresses, { leaseId: 'lease-2' }) });

      // Assess
      expect(first).toMatchObject({ retryable: 1, sent: 0, unattempted: 2, permitsUsed: 1 });
      expect(retry).toMatchObject({ sent: 3, claimedElsewhere: 0 });
      expect(
        sink
          .messages()
          .map((m) => m.variables['recipient-id'])
          .sort(),
      ).toEqual(addresses.map(idOf).sort());
      expect(sink.messages().every((m) => m.variables['lease-id'] === 'lease-2' && m.headers['List-Unsubscribe'] !== undefined)).toBe(true);
    } finally {
      await sink.close();
    }
  });
});
