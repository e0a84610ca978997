import { InDoubtError, createLogger, keys, type Clock } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { runWorker, type WorkerDeps } from '../../src/core/run-worker';
import { AutoClock, FakeLeaseClient, FakeSender, START, buckets, emails, idOf, leaseFor, refOf, seedRendered } from '../fakes';

// The worker's log events that CloudWatch alarms count (infra: SendInDoubt, WorkerBug,
// OutcomeWriteFailed), and the renewal's, through `runWorker` with a logger read back.

interface LogLine {
  event?: string;
  [field: string]: unknown;
}

function setUp(clock: Clock & { now(): number } = new AutoClock()) {
  const lines: LogLine[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });
  const store = new MemoryObjectStore();
  const sender = new FakeSender();
  const leaseClient = new FakeLeaseClient();
  const deps: WorkerDeps = { store, buckets, sender, leaseClient, clock, logger, stage: 'prod', timeBudgetMs: 120_000 };
  const events = (name: string) => lines.filter((l) => l.event === name);
  return { store, sender, leaseClient, deps, events };
}

describe('runWorker log events that alarms watch', () => {
  it('logs key.in-doubt, with the error code, for a send whose outcome is unknown', async () => {
    const [email] = emails(1) as [string];
    const { store, sender, deps, events } = setUp();
    await seedRendered(store, [email]);
    sender.behaviour = () => {
      throw new InDoubtError('PROVIDER_TIMEOUT', 'no answer within 10 s');
    };
    await runWorker(deps, { lease: leaseFor([email]) });
    expect(events('key.in-doubt')).toEqual([expect.objectContaining({ recipientId: idOf(email), code: 'PROVIDER_TIMEOUT' })]);
  });

  it('logs outcome.write-failed when the ledger refuses an outcome', async () => {
    const [email] = emails(1) as [string];
    const { store, deps, events } = setUp();
    await seedRendered(store, [email]);
    const put = store.put.bind(store);
    store.put = async (...args) => {
      if (args[1] === keys.outcome(refOf(email))) throw new Error('S3 is down');
      return put(...args);
    };
    await runWorker(deps, { lease: leaseFor([email]) });
    expect(events('outcome.write-failed')).toEqual([expect.objectContaining({ recipientId: idOf(email), leaseId: 'lease-1' })]);
  });

  describe('when a key fails in a way the worker did not expect', () => {
    /** A clock whose sleep throws: the second key, waiting for its slice, hits a bug. */
    class BrokenSleepClock extends AutoClock {
      override async sleep(): Promise<void> {
        throw new TypeError('timer broke');
      }
    }

    async function crash() {
      const addresses = emails(3);
      const h = setUp(new BrokenSleepClock());
      h.deps.concurrency = 1;
      await seedRendered(h.store, addresses);
      const schedule = { start: START, sliceMs: 1_000, permits: [1, 1, 1] };
      const summary = await runWorker(h.deps, { lease: leaseFor(addresses, { schedule, sendUntil: START + 3_000 }) });
      return { ...h, addresses, summary };
    }

    it('reports that key in doubt (never resent) and takes no further key from the lease', async () => {
      const { sender, leaseClient, addresses } = await crash();
      expect(sender.recipients()).toEqual([addresses[0]]);
      const request = leaseClient.requests[0]!;
      expect(request.results).toEqual([
        expect.objectContaining({ recipientId: idOf(addresses[0]!), status: 'sent' }),
        { recipientId: idOf(addresses[1]!), status: 'inDoubt', reason: 'WORKER_INTERNAL: TypeError: timer broke' },
      ]);
      expect(request).toMatchObject({ unattempted: [idOf(addresses[2]!)], wantsMore: false });
    });

    it('logs key.crashed', async () => {
      const { events, addresses } = await crash();
      expect(events('key.crashed')).toEqual([expect.objectContaining({ recipientId: idOf(addresses[1]!), leaseId: 'lease-1' })]);
    });
  });
});

describe('runWorker when its renewal fails', () => {
  it('checks its lease in as usual, asks for the next one there, and logs lease.renew-failed', async () => {
    // Prepare: a renewal that cannot reach the conductor.
    const addresses = emails(2);
    const h = setUp();
    h.deps.leaseClient = new FakeLeaseClient([], [new Error('ECONNREFUSED')]);
    await seedRendered(h.store, addresses);
    // Act
    await runWorker(h.deps, { lease: leaseFor(addresses) });
    // Assess
    const client = h.deps.leaseClient as FakeLeaseClient;
    expect(client.renewals).toHaveLength(1);
    expect(client.requests[0]).toMatchObject({ leaseId: 'lease-1', wantsMore: true });
    expect(h.events('lease.renew-failed')).toEqual([expect.objectContaining({ leaseId: 'lease-1' })]);
  });
});
