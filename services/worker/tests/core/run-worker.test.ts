import {
  InDoubtError,
  createLogger,
  ObjectExistsError,
  PermanentError,
  RetryableError,
  claimRecord,
  keys,
  outcomeRecord,
  type Lease,
  type Logger,
  type OutcomeRecord,
  type Stage,
} from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { REFUSALS_TO_HALT } from '../../src/core/lease-run';
import { runWorker, type WorkerDeps } from '../../src/core/run-worker';
import { AutoClock, FakeLeaseClient, FakeSender, START, buckets, emails, idOf, leaseFor, refOf, renderedFor, seedRendered } from '../fakes';

interface SetUp {
  store: MemoryObjectStore;
  clock: AutoClock;
  sender: FakeSender;
  leaseClient: FakeLeaseClient;
  deps: WorkerDeps;
}

function setUp(
  options: {
    msPerCall?: number;
    script?: ConstructorParameters<typeof FakeLeaseClient>[0];
    renewScript?: ConstructorParameters<typeof FakeLeaseClient>[1];
    stage?: Stage;
    qaAllowList?: readonly string[];
    timeBudgetMs?: number;
    concurrency?: number;
  } = {},
): SetUp {
  const store = new MemoryObjectStore();
  const clock = new AutoClock();
  const sender = new FakeSender(clock, options.msPerCall ?? 0);
  const leaseClient = new FakeLeaseClient(options.script, options.renewScript);
  const deps: WorkerDeps = {
    store,
    buckets,
    sender,
    leaseClient,
    clock,
    stage: options.stage ?? 'prod',
    qaAllowList: options.qaAllowList,
    timeBudgetMs: options.timeBudgetMs ?? 120_000,
    concurrency: options.concurrency,
  };
  return { store, clock, sender, leaseClient, deps };
}

async function outcomeOf(store: MemoryObjectStore, email: string): Promise<OutcomeRecord | undefined> {
  const body = await store.get(buckets.campaigns, keys.outcome(refOf(email)));
  return body === undefined ? undefined : outcomeRecord.parse(JSON.parse(body));
}

async function claimExists(store: MemoryObjectStore, email: string): Promise<boolean> {
  return (await store.get(buckets.campaigns, keys.claim(refOf(email)))) !== undefined;
}

describe('runWorker', () => {
  it('sends each key once, records sent outcomes and claims, and checks in with every result', async () => {
    // Prepare
    const addresses = emails(3);
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, addresses);

    // Act
    const summary = await runWorker(deps, { lease: leaseFor(addresses) });

    // Assess
    expect(sender.recipients().sort()).toEqual([...addresses].sort());
    for (const email of addresses) {
      const outcome = await outcomeOf(store, email);
      expect(outcome).toMatchObject({
        version: 1,
        recipientId: idOf(email),
        status: 'sent',
        leaseId: 'lease-1',
        at: new Date(START).toISOString(),
      });
      expect(outcome?.providerId).toMatch(/^<id-\d@mg\.acme\.test>$/);
      const claim = claimRecord.parse(JSON.parse((await store.get(buckets.campaigns, keys.claim(refOf(email))))!));
      expect(claim.leaseId).toBe('lease-1');
    }
    expect(leaseClient.requests).toHaveLength(1);
    const request = leaseClient.requests[0]!;
    expect(request).toMatchObject({ leaseId: 'lease-1', workerId: 'worker-1', unattempted: [], permitsUsed: 3, wantsMore: true });
    expect(request.results.map((r) => [r.recipientId, r.status]).sort()).toEqual(addresses.map((e) => [idOf(e), 'sent']).sort());
    expect(summary).toMatchObject({
      workerId: 'worker-1',
      leases: 1,
      sent: 3,
      failed: 0,
      inDoubt: 0,
      unattempted: 0,
      permitsUsed: 3,
      stoppedBecause: 'no-lease',
    });
  });

  it('passes the rendered message, its headers and the tracking variables to the provider', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, deps } = setUp();
    await seedRendered(store, [email]);

    // Act
    await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    expect(sender.calls[0]?.msg).toEqual({
      from: 'Acme <news@acme.test>',
      to: email,
      subject: 'Spring sale',
      html: `<p>Hello ${email}</p>`,
      text: `Hello ${email}`,
      headers: { 'List-Unsubscribe': '<https://acme.test/u/1>' },
      variables: { 'customer-id': 'acme', 'campaign-id': 'spring-sale', 'recipient-id': idOf(email), 'lease-id': 'lease-1' },
    });
  });

  it('never makes more provider calls than permits, even with eight calls in flight', async () => {
    // Prepare
    const addresses = emails(40);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 8 });
    await seedRendered(store, addresses);

    // Act
    const summary = await runWorker(deps, { lease: leaseFor(addresses, { permits: 5 }) });

    // Assess
    expect(sender.calls).toHaveLength(5);
    expect(summary.permitsUsed).toBe(5);
    const request = leaseClient.requests[0]!;
    expect(request.permitsUsed).toBe(5);
    expect(request.unattempted).toHaveLength(35);
    expect(new Set([...request.unattempted, ...request.results.map((r) => r.recipientId)]).size).toBe(40);
  });

  it('keeps at most `concurrency` provider calls in flight', async () => {
    // Prepare
    const addresses = emails(30);
    const { store, sender, deps } = setUp({ concurrency: 4 });
    await seedRendered(store, addresses);

    // Act
    const summary = await runWorker(deps, { lease: leaseFor(addresses) });

    // Assess
    expect(summary.sent).toBe(30);
    expect(sender.maxInFlight).toBe(4);
  });

  it('spends a permit given back by a key that needed no call on a later key', async () => {
    // Prepare: the first two keys have no rendered message, so only the third needs the one permit
    const addresses = emails(3);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 8 });
    await seedRendered(store, addresses.slice(2));

    // Act
    await runWorker(deps, { lease: leaseFor(addresses, { permits: 1 }) });

    // Assess
    expect(sender.recipients()).toEqual([addresses[2]]);
    expect(leaseClient.requests[0]).toMatchObject({ permitsUsed: 1, unattempted: [] });
  });

  it('starts no provider call at or after sendUntil and returns the rest as unattempted', async () => {
    // Prepare: each call takes one second
    const addresses = emails(10);
    const { store, sender, leaseClient, deps } = setUp({ msPerCall: 1_000, concurrency: 1 });
    await seedRendered(store, addresses);

    // Act
    const summary = await runWorker(deps, { lease: leaseFor(addresses, { sendUntil: START + 3_000 }) });

    // Assess
    expect(sender.calls.map((c) => c.at - START)).toEqual([0, 1_000, 2_000]);
    expect(summary).toMatchObject({ sent: 3, unattempted: 7, permitsUsed: 3 });
    expect(leaseClient.requests[0]?.unattempted).toEqual(addresses.slice(3).map(idOf));
  });

  it('checks the window again after a slow claim, and releases the claim rather than send late', async () => {
    // Prepare: the claim write takes two seconds, the window closes after one
    const [email] = emails(1) as [string];
    const { store, clock, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    const put = store.put.bind(store);
    store.put = async (bucket, key, body, options) => {
      await put(bucket, key, body, options);
      if (key.includes('/claims/')) clock.advance(2_000);
    };

    // Act
    await runWorker(deps, { lease: leaseFor([email], { sendUntil: START + 1_000 }) });

    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(await claimExists(store, email)).toBe(false);
    expect(leaseClient.requests[0]).toMatchObject({ results: [], unattempted: [idOf(email)], permitsUsed: 0 });
  });

  it('takes no key with less than two seconds of its time budget left, and then wants no more', async () => {
    // Prepare: a five-second budget, one second a call
    const addresses = emails(10);
    const { store, sender, leaseClient, deps } = setUp({ msPerCall: 1_000, concurrency: 1, timeBudgetMs: 5_000 });
    await seedRendered(store, addresses);

    // Act
    await runWorker(deps, { lease: leaseFor(addresses) });

    // Assess: calls start with 5, 4, 3 and 2 seconds left; at 1 second the worker stops
    expect(sender.calls.map((c) => c.at - START)).toEqual([0, 1_000, 2_000, 3_000]);
    expect(leaseClient.requests[0]).toMatchObject({ permitsUsed: 4, wantsMore: false });
    expect(leaseClient.requests[0]?.unattempted).toHaveLength(6);
  });

  it('keeps a larger reserve when told to, so a slow last call still ends inside the budget', async () => {
    // Prepare: a ten-second budget, one second a call, a five-second reserve
    const addresses = emails(10);
    const { store, sender, deps } = setUp({ msPerCall: 1_000, concurrency: 1, timeBudgetMs: 10_000 });
    await seedRendered(store, addresses);

    // Act
    await runWorker({ ...deps, minBudgetToTakeMs: 5_000 }, { lease: leaseFor(addresses) });

    // Assess: calls start with 10 down to 5 seconds left
    expect(sender.calls.map((c) => c.at - START)).toEqual([0, 1_000, 2_000, 3_000, 4_000, 5_000]);
  });

  it('does not send a key that another worker already claimed', async () => {
    // Prepare
    const addresses = emails(2);
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, addresses);
    await store.put(buckets.campaigns, keys.claim(refOf(addresses[0]!)), JSON.stringify({ version: 1, leaseId: 'other', at: 'x' }));

    // Act
    const summary = await runWorker(deps, { lease: leaseFor(addresses) });

    // Assess
    expect(sender.recipients()).toEqual([addresses[1]]);
    expect(await outcomeOf(store, addresses[0]!)).toBeUndefined();
    expect(leaseClient.requests[0]?.results).toContainEqual({ recipientId: idOf(addresses[0]!), status: 'claimedElsewhere' });
    expect(summary).toMatchObject({ sent: 1, claimedElsewhere: 1, permitsUsed: 1 });
  });

  it('releases the claim when the provider says retry, writes no outcome and takes no new key from the lease', async () => {
    // Prepare
    const addresses = emails(3);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
    await seedRendered(store, addresses);
    sender.behaviour = () => {
      throw new RetryableError('PROVIDER_THROTTLED', 'slow down', { retryAfterMs: 1_500 });
    };

    // Act
    const summary = await runWorker(deps, { lease: leaseFor(addresses) });

    // Assess
    const first = addresses[0]!;
    expect(sender.calls).toHaveLength(1);
    expect(await claimExists(store, first)).toBe(false);
    expect(await outcomeOf(store, first)).toBeUndefined();
    expect(leaseClient.requests[0]).toMatchObject({
      results: [{ recipientId: idOf(first), status: 'retryable', reason: 'PROVIDER_THROTTLED: slow down', retryAfterMs: 1_500 }],
      unattempted: addresses.slice(1).map(idOf),
      permitsUsed: 1,
      wantsMore: false,
    });
    expect(summary).toMatchObject({ retryable: 1, unattempted: 2 });
  });

  it('halts the lease at a reached provider limit, reporting when it lifts', async () => {
    // Prepare
    const addresses = emails(3);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
    await seedRendered(store, addresses);
    sender.behaviour = () => {
      throw new RetryableError('PROVIDER_LIMIT_REACHED', 'recipient limit exceeded', { retryAfterMs: 3_600_000 });
    };

    // Act
    await runWorker(deps, { lease: leaseFor(addresses) });

    // Assess: one call, then nothing more from this lease.
    expect(sender.calls).toHaveLength(1);
    expect(leaseClient.requests[0]).toMatchObject({
      results: [{ recipientId: idOf(addresses[0]!), status: 'retryable', code: 'PROVIDER_LIMIT_REACHED', retryAfterMs: 3_600_000 }],
      unattempted: addresses.slice(1).map(idOf),
      wantsMore: false,
    });
  });

  it('records a provider timeout as in doubt, keeps the claim, and never sends that key again', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, deps } = setUp();
    await seedRendered(store, [email]);
    sender.behaviour = () => {
      throw new InDoubtError('PROVIDER_TIMEOUT', 'no answer from Mailgun');
    };

    // Act
    const first = await runWorker(deps, { lease: leaseFor([email]) });
    sender.behaviour = () => ({ providerId: 'x' });
    const rerun = await runWorker(deps, { lease: leaseFor([email], { leaseId: 'lease-2' }) });

    // Assess
    expect(first.inDoubt).toBe(1);
    expect(await claimExists(store, email)).toBe(true);
    expect(await outcomeOf(store, email)).toMatchObject({
      status: 'inDoubt',
      reason: 'PROVIDER_TIMEOUT: no answer from Mailgun',
      leaseId: 'lease-1',
    });
    expect(sender.calls).toHaveLength(1);
    expect(rerun).toMatchObject({ claimedElsewhere: 1, sent: 0 });
  });

  it('records an unexpected error from the provider as in doubt, not failed', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, deps } = setUp();
    await seedRendered(store, [email]);
    sender.behaviour = () => {
      throw new TypeError('socket exploded');
    };

    // Act
    const summary = await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    expect(summary.inDoubt).toBe(1);
    expect(await outcomeOf(store, email)).toMatchObject({ status: 'inDoubt', reason: 'TypeError: socket exploded' });
    expect(await claimExists(store, email)).toBe(true);
  });

  it('records a refusal as failed with its code and message, and keeps the claim', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    sender.behaviour = () => {
      throw new PermanentError('PROVIDER_REJECTED', "'to' parameter is not a valid address");
    };

    // Act
    await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    const reason = "PROVIDER_REJECTED: 'to' parameter is not a valid address";
    expect(await outcomeOf(store, email)).toMatchObject({ status: 'failed', reason });
    expect(leaseClient.requests[0]?.results).toEqual([{ recipientId: idOf(email), status: 'failed', reason }]);
    expect(await claimExists(store, email)).toBe(true);
  });

  it('fails a key whose rendered message is missing, without claiming it or calling the provider', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, deps } = setUp();

    // Act
    const summary = await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(summary).toMatchObject({ failed: 1, permitsUsed: 0 });
    expect((await outcomeOf(store, email))?.reason).toMatch(/^RENDERED_MISSING: /);
    expect(await claimExists(store, email)).toBe(false);
  });

  describe('in the qa stage', () => {
    it('suppresses an address outside the allow-list before any claim or provider call', async () => {
      // Prepare
      const allowed = 'tester@qa.acme.test';
      const stranger = 'real.person@example.com';
      const { store, sender, leaseClient, deps } = setUp({ stage: 'qa', qaAllowList: ['@qa.acme.test'] });
      await seedRendered(store, [stranger, allowed]);

      // Act: one permit only, and the stranger comes first
      await runWorker(deps, { lease: leaseFor([stranger, allowed], { permits: 1 }) });

      // Assess
      expect(sender.recipients()).toEqual([allowed]);
      expect(await outcomeOf(store, stranger)).toMatchObject({ status: 'suppressed', reason: 'QA_NOT_ALLOWED' });
      expect(await claimExists(store, stranger)).toBe(false);
      expect(leaseClient.requests[0]).toMatchObject({ permitsUsed: 1, unattempted: [] });
    });

    it('emails nobody when there is no allow-list (fail closed)', async () => {
      // Prepare
      const addresses = emails(3);
      const { store, sender, deps } = setUp({ stage: 'qa', qaAllowList: undefined });
      await seedRendered(store, addresses);

      // Act
      const summary = await runWorker(deps, { lease: leaseFor(addresses) });

      // Assess
      expect(sender.calls).toHaveLength(0);
      expect(summary).toMatchObject({ suppressed: 3, permitsUsed: 0 });
      expect(store.calls.filter((c) => c.op === 'put' && c.key.includes('/claims/'))).toEqual([]);
    });

    it('refuses a recipient list that merely ends with an allowed address', async () => {
      // Prepare
      const email = 'tester@qa.acme.test';
      const { store, sender, deps } = setUp({ stage: 'qa', qaAllowList: ['@qa.acme.test'] });
      await seedRendered(store, [email]);
      await store.put(
        buckets.rendered,
        keys.rendered(refOf(email)),
        JSON.stringify(renderedFor(email, { to: `real.person@example.com,${email}` })),
      );

      // Act
      const summary = await runWorker(deps, { lease: leaseFor([email]) });

      // Assess
      expect(sender.calls).toHaveLength(0);
      expect(summary.suppressed).toBe(1);
    });
  });

  describe('checking back with the conductor', () => {
    it('processes the next lease the check-in hands out, then returns when there is none', async () => {
      // Prepare
      const first = emails(2);
      const second = emails(2, 'example.org');
      const nextLease: Lease = leaseFor(second, { leaseId: 'lease-2' });
      const { store, sender, leaseClient, deps } = setUp({ script: [{ lease: nextLease }, { lease: null }] });
      await seedRendered(store, [...first, ...second]);

      // Act
      const summary = await runWorker(deps, { lease: leaseFor(first) });

      // Assess
      expect(sender.recipients().sort()).toEqual([...first, ...second].sort());
      expect(leaseClient.requests.map((r) => [r.leaseId, r.permitsUsed])).toEqual([
        ['lease-1', 2],
        ['lease-2', 2],
      ]);
      expect(summary).toMatchObject({ leases: 2, sent: 4, permitsUsed: 4, stoppedBecause: 'no-lease' });
    });

    it('retries a failed check-in three times with growing back-off, then gives up', async () => {
      // Prepare
      const addresses = emails(1);
      const down = () => new RetryableError('LEASE_API_UNREACHABLE', 'connection refused');
      const { store, clock, leaseClient, deps } = setUp({
        script: [down(), down(), down(), down(), { lease: leaseFor(emails(1, 'example.org')) }],
      });
      await seedRendered(store, addresses);

      // Act
      const summary = await runWorker(deps, { lease: leaseFor(addresses) });

      // Assess
      expect(leaseClient.requests).toHaveLength(4);
      expect(clock.sleeps).toEqual([500, 1_000, 2_000]);
      expect(summary).toMatchObject({ leases: 1, sent: 1, stoppedBecause: 'check-in-failed' });
    });

    it('carries on once a retried check-in gets through', async () => {
      // Prepare
      const addresses = emails(1);
      const { store, leaseClient, deps } = setUp({
        script: [new Error('fetch failed'), new RetryableError('LEASE_API_UNAVAILABLE', '503', { retryAfterMs: 3_000 }), { lease: null }],
      });
      await seedRendered(store, addresses);
      const clock = deps.clock as AutoClock;

      // Act
      const summary = await runWorker(deps, { lease: leaseFor(addresses) });

      // Assess
      expect(leaseClient.requests).toHaveLength(3);
      expect(clock.sleeps).toEqual([500, 3_000]);
      expect(summary.stoppedBecause).toBe('no-lease');
    });

    it('does not retry a check-in the conductor refused', async () => {
      // Prepare
      const addresses = emails(1);
      const { store, leaseClient, deps } = setUp({ script: [new PermanentError('LEASE_API_REJECTED', 'unknown lease')] });
      await seedRendered(store, addresses);

      // Act
      const summary = await runWorker(deps, { lease: leaseFor(addresses) });

      // Assess
      expect(leaseClient.requests).toHaveLength(1);
      expect(summary.stoppedBecause).toBe('check-in-failed');
    });

    it('hands back a lease that arrives with no time left and stops even if offered another', async () => {
      // Prepare: a budget already spent
      const addresses = emails(2);
      const again = leaseFor(addresses, { leaseId: 'lease-again' });
      const { store, sender, leaseClient, deps } = setUp({ script: [{ lease: again }, { lease: again }] });
      await seedRendered(store, addresses);

      // Act
      const summary = await runWorker({ ...deps, timeBudgetMs: 10_000, workerStartedAt: START - 9_000 }, { lease: leaseFor(addresses) });

      // Assess
      expect(sender.calls).toHaveLength(0);
      expect(leaseClient.requests).toHaveLength(1);
      expect(leaseClient.requests[0]).toMatchObject({ unattempted: addresses.map(idOf), permitsUsed: 0, wantsMore: false });
      expect(summary.stoppedBecause).toBe('out-of-time');
    });
  });

  it('refuses a concurrency below one', async () => {
    // Prepare
    const { deps } = setUp({ concurrency: 0 });

    // Act
    const attempt = runWorker(deps, { lease: leaseFor(emails(1)) });

    // Assess
    await expect(attempt).rejects.toMatchObject({ code: 'WORKER_DEPS_INVALID', message: expect.stringContaining('concurrency') });
  });
  describe('suppressions', () => {
    it('never emails a recipient who unsubscribed from the customer, and claims nothing for them', async () => {
      // Prepare
      const [gone, staying] = emails(2) as [string, string];
      const { store, sender, leaseClient, deps } = setUp();
      await seedRendered(store, [gone, staying]);
      const ref = refOf(gone);
      await store.put(
        buckets.campaigns,
        keys.suppression(ref),
        JSON.stringify({ version: 1, at: 'x', campaignId: ref.campaignId, reason: 'unsubscribed' }),
      );

      // Act
      await runWorker(deps, { lease: leaseFor([gone, staying]) });

      // Assess
      expect(sender.recipients()).toEqual([staying]);
      expect(await outcomeOf(store, gone)).toMatchObject({ status: 'suppressed', reason: 'UNSUBSCRIBED' });
      expect(await claimExists(store, gone)).toBe(false);
      expect(leaseClient.requests[0]).toMatchObject({ permitsUsed: 1 });
    });

    it('never overwrites an outcome another lease recorded with one decided before any claim', async () => {
      // Prepare: another lease already sent to this recipient; now it is suppressed
      const [email] = emails(1) as [string];
      const { store, sender, leaseClient, deps } = setUp();
      await seedRendered(store, [email]);
      const ref = refOf(email);
      const sent = JSON.stringify({
        version: 1,
        recipientId: ref.recipientId,
        status: 'sent',
        providerId: '<x@y>',
        at: 'x',
        leaseId: 'lease-0',
      });
      await store.put(buckets.campaigns, keys.outcome(ref), sent);
      await store.put(
        buckets.campaigns,
        keys.suppression(ref),
        JSON.stringify({ version: 1, at: 'x', campaignId: ref.campaignId, reason: 'unsubscribed' }),
      );

      // Act
      await runWorker(deps, { lease: leaseFor([email]) });

      // Assess
      expect(sender.calls).toHaveLength(0);
      expect(await store.get(buckets.campaigns, keys.outcome(ref))).toBe(sent);
      expect(leaseClient.requests[0]!.results).toEqual([{ recipientId: ref.recipientId, status: 'claimedElsewhere' }]);
    });
  });
  describe('a claim whose reply was lost', () => {
    /** The first conditional claim write lands, then reports `failure` (as a retried put sees 412). */
    function losingFirstReply(store: MemoryObjectStore, failure: () => Error): void {
      const put = store.put.bind(store);
      let lost = false;
      store.put = async (bucket, key, body, options) => {
        await put(bucket, key, body, options);
        if (!lost && key.includes('/claims/')) {
          lost = true;
          throw failure();
        }
      };
    }

    it.each([
      ['a 412 on the retry', () => new ObjectExistsError('campaigns', 'claim')],
      ['a network error', () => new RetryableError('S3_UNAVAILABLE', 'socket hang up')],
    ])('is recognised as our own after %s, and the message is sent once', async (_what, failure) => {
      // Prepare
      const [email] = emails(1) as [string];
      const { store, sender, leaseClient, deps } = setUp();
      await seedRendered(store, [email]);
      losingFirstReply(store, failure);

      // Act
      await runWorker(deps, { lease: leaseFor([email]) });

      // Assess
      expect(sender.recipients()).toEqual([email]);
      expect(leaseClient.requests[0]!.results).toEqual([expect.objectContaining({ recipientId: idOf(email), status: 'sent' })]);
    });

    it('is never taken for its own by a duplicate run of the same lease', async () => {
      // Prepare: the same lease delivered twice (async invokes are at least once)
      const [email] = emails(1) as [string];
      const { store, sender, deps } = setUp();
      await seedRendered(store, [email]);

      // Act
      await runWorker(deps, { lease: leaseFor([email]) });
      await runWorker(deps, { lease: leaseFor([email]) });

      // Assess
      expect(sender.recipients()).toEqual([email]);
    });
  });
});

describe('runWorker, when the store or the worker itself fails', () => {
  /** Every log line at debug and above, parsed. */
  function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    return { logger, lines };
  }
  const down = () => new RetryableError('S3_UNAVAILABLE', 'socket hang up');

  it('reports a key whose rendered message cannot be read as retryable, and writes no outcome for it', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    const get = store.get.bind(store);
    store.get = async (bucket, key) => {
      if (bucket === buckets.rendered) throw down();
      return get(bucket, key);
    };

    // Act
    await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.requests[0]!.results).toEqual([
      {
        recipientId: idOf(email),
        status: 'retryable',
        code: 'STORE_UNAVAILABLE',
        reason: 'STORE_UNAVAILABLE: S3_UNAVAILABLE: socket hang up',
      },
    ]);
    expect(await outcomeOf(store, email)).toBeUndefined();
    expect(await claimExists(store, email)).toBe(false);
  });

  it('fails a key whose rendered message is about another recipient, without claiming it', async () => {
    // Prepare
    const [email, other] = emails(2) as [string, string];
    const { store, sender, deps } = setUp();
    await store.put(buckets.rendered, keys.rendered(refOf(email)), JSON.stringify(renderedFor(other)));

    // Act
    const summary = await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(summary.failed).toBe(1);
    expect((await outcomeOf(store, email))?.reason).toMatch(/^RENDERED_INVALID: .* is about another recipient$/);
    expect(await claimExists(store, email)).toBe(false);
  });

  it('sends nobody whose suppression cannot be read, and reports them retryable', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    const get = store.get.bind(store);
    store.get = async (bucket, key) => {
      if (key === keys.suppression(refOf(email))) throw down();
      return get(bucket, key);
    };

    // Act
    await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.requests[0]!.results).toEqual([
      {
        recipientId: idOf(email),
        status: 'retryable',
        code: 'SUPPRESSION_READ_FAILED',
        reason: 'SUPPRESSION_READ_FAILED: S3_UNAVAILABLE: socket hang up',
      },
    ]);
    expect(await claimExists(store, email)).toBe(false);
  });

  it('sends nothing when the claim cannot be written, and reports the key retryable', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    const put = store.put.bind(store);
    store.put = async (bucket, key, body, options) => {
      if (key === keys.claim(refOf(email))) throw down();
      return put(bucket, key, body, options);
    };

    // Act
    const summary = await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.requests[0]).toMatchObject({
      results: [
        { recipientId: idOf(email), status: 'retryable', code: 'CLAIM_FAILED', reason: 'CLAIM_FAILED: S3_UNAVAILABLE: socket hang up' },
      ],
      permitsUsed: 0,
    });
    expect(summary.retryable).toBe(1);
  });

  it('writes an outcome record again when the store recovers before the check-in', async () => {
    // Prepare: the first write of the outcome fails, the next succeeds.
    const [email] = emails(1) as [string];
    const { store, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    const put = store.put.bind(store);
    let failures = 1;
    store.put = async (bucket, key, body, options) => {
      if (key === keys.outcome(refOf(email)) && failures-- > 0) throw down();
      return put(bucket, key, body, options);
    };

    // Act
    await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    expect(await outcomeOf(store, email)).toMatchObject({ status: 'sent' });
    expect(leaseClient.requests[0]!.unrecorded).toBeUndefined();
  });

  it('names in the check-in an outcome it could never write, so the conductor writes it', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    const put = store.put.bind(store);
    store.put = async (bucket, key, body, options) => {
      if (key === keys.outcome(refOf(email))) throw down();
      return put(bucket, key, body, options);
    };

    // Act
    await runWorker(deps, { lease: leaseFor([email]) });

    // Assess
    expect(leaseClient.requests[0]!.unrecorded).toEqual([idOf(email)]);
    expect(await outcomeOf(store, email)).toBeUndefined();
  });

  it('still reports a sent key whose outcome could not be written, and keeps its claim so it is never resent', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    const { logger, lines } = capturingLogger();
    const put = store.put.bind(store);
    store.put = async (bucket, key, body, options) => {
      if (key === keys.outcome(refOf(email))) throw down();
      return put(bucket, key, body, options);
    };

    // Act
    await runWorker({ ...deps, logger }, { lease: leaseFor([email]) });
    await runWorker({ ...deps, logger }, { lease: leaseFor([email], { leaseId: 'lease-2' }) });

    // Assess
    expect(sender.recipients()).toEqual([email]);
    expect(leaseClient.requests[0]!.results).toEqual([{ recipientId: idOf(email), status: 'sent', providerId: expect.any(String) }]);
    expect(leaseClient.requests[1]!.results).toEqual([{ recipientId: idOf(email), status: 'claimedElsewhere' }]);
    expect(await claimExists(store, email)).toBe(true);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'outcome.write-failed', recipientId: idOf(email) }));
  });

  it('keeps a claim it could not release after a retryable refusal: the key is never sent, and the failure is logged', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    const { logger, lines } = capturingLogger();
    store.delete = async () => {
      throw down();
    };
    sender.behaviour = () => {
      throw new RetryableError('PROVIDER_UNAVAILABLE', '503');
    };

    // Act
    await runWorker({ ...deps, logger }, { lease: leaseFor([email]) });

    // Assess
    expect(leaseClient.requests[0]!.results).toEqual([
      { recipientId: idOf(email), status: 'retryable', code: 'PROVIDER_UNAVAILABLE', reason: 'PROVIDER_UNAVAILABLE: 503' },
    ]);
    expect(await claimExists(store, email)).toBe(true);
    expect(sender.calls).toHaveLength(1);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'claim.release-failed', recipientId: idOf(email) }));
  });

  it('stops before any call when the lease mark cannot be written (a duplicate run cannot be ruled out)', async () => {
    // Prepare
    const addresses = emails(2);
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, addresses);
    const { logger, lines } = capturingLogger();
    const put = store.put.bind(store);
    store.put = async (bucket, key, body, options) => {
      if (key.includes('/leases/')) throw down();
      return put(bucket, key, body, options);
    };

    // Act
    const summary = await runWorker({ ...deps, logger }, { lease: leaseFor(addresses) });

    // Assess
    expect(summary.stoppedBecause).toBe('duplicate-invocation');
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.requests).toHaveLength(0);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'lease.mark-failed', leaseId: 'lease-1' }));
  });

  it('halts the lease when a bug strikes after a call: the permit stays spent and the key is also reported in doubt', async () => {
    // Prepare: logging the sent key throws, as a bug after the call would
    const addresses = emails(3);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
    await seedRendered(store, addresses);
    const logger = createLogger({ level: 'silent' });
    logger.debug = (() => {
      throw new TypeError('undefined is not a function');
    }) as unknown as Logger['debug'];

    // Act
    const summary = await runWorker({ ...deps, logger }, { lease: leaseFor(addresses) });

    // Assess: the conductor keeps a key's first report (here: sent, as the ledger says)
    const first = idOf(addresses[0]!);
    expect(sender.calls).toHaveLength(1);
    expect(await outcomeOf(store, addresses[0]!)).toMatchObject({ status: 'sent' });
    expect(leaseClient.requests[0]).toMatchObject({
      results: [
        { recipientId: first, status: 'sent' },
        { recipientId: first, status: 'inDoubt', reason: 'WORKER_INTERNAL: TypeError: undefined is not a function' },
      ],
      unattempted: addresses.slice(1).map(idOf),
      permitsUsed: 1,
      wantsMore: false,
    });
    expect(summary).toMatchObject({ sent: 1, inDoubt: 1, permitsUsed: 1 });
  });
});

describe('runWorker, paced by its lease schedule', () => {
  const SLICE = 1_000;

  it('starts each call inside a slice with a permit, never more per slice than scheduled, waiting for later slices', async () => {
    // Prepare: 2, 0, 3 permits in three one-second slices (one lane: this clock jumps on sleeps).
    const addresses = emails(6);
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
    await seedRendered(store, addresses);
    const schedule = { start: START, sliceMs: SLICE, permits: [2, 0, 3] };
    // Act
    await runWorker(deps, { lease: leaseFor(addresses, { schedule }) });
    // Assess
    const perSlice = [0, 0, 0];
    for (const call of sender.calls) perSlice[Math.floor((call.at - START) / SLICE)]! += 1;
    expect(perSlice).toEqual([2, 0, 3]);
    expect(leaseClient.requests[0]).toMatchObject({ permitsUsed: 5, usedPerSlice: [2, 0, 3], unattempted: [expect.any(String)] });
  });

  it('reports the slices it could not use, so the conductor takes those permits back', async () => {
    // Prepare: a slice already over when the lease arrives.
    const addresses = emails(4);
    const { store, clock, leaseClient, deps } = setUp();
    await seedRendered(store, addresses);
    clock.advance(SLICE + 10);
    // Act
    await runWorker(deps, {
      lease: leaseFor(addresses, { schedule: { start: START, sliceMs: SLICE, permits: [2, 2] } }),
    });
    // Assess
    expect(leaseClient.requests[0]).toMatchObject({ usedPerSlice: [0, 2], permitsUsed: 2 });
    expect(leaseClient.requests[0]!.unattempted).toHaveLength(2);
  });

  it('tells the conductor how long a key keeps a lane busy, its lanes and its time left', async () => {
    const addresses = emails(5);
    const { store, leaseClient, deps } = setUp({ msPerCall: 40, concurrency: 1, timeBudgetMs: 60_000 });
    await seedRendered(store, addresses);
    await runWorker(deps, { lease: leaseFor(addresses) });
    const request = leaseClient.requests[0]!;
    expect(request.timing).toEqual({ n: 5, meanMs: 40, sdMs: 0 });
    expect(request.lanes).toBe(1);
    expect(request.budgetLeftMs).toBeLessThanOrEqual(60_000);
    expect(request.reserveMs).toBe(2_000);
  });

  it('sends through the domain its lease was granted for', async () => {
    const addresses = emails(1);
    const { store, sender, deps } = setUp();
    await seedRendered(store, addresses);
    await runWorker(deps, { lease: leaseFor(addresses, { domain: 'news.acme.test' }) });
    expect(sender.calls[0]!.msg.domain).toBe('news.acme.test');
  });

  it('asks for its next lease while the last calls are in flight, runs it, then checks both in', async () => {
    // Prepare: the renewal hands over a second lease.
    const first = emails(2);
    const second = emails(2, 'second.example.com');
    const { store, sender, leaseClient, deps } = setUp({
      msPerCall: 500,
      renewScript: [{ lease: leaseFor(second, { leaseId: 'lease-2' }) }],
    });
    await seedRendered(store, [...first, ...second]);
    // Act
    const summary = await runWorker(deps, { lease: leaseFor(first) });
    // Assess
    expect(leaseClient.renewals[0]).toMatchObject({ leaseId: 'lease-1', workerId: 'worker-1' });
    expect(sender.recipients().sort()).toEqual([...first, ...second].sort());
    const [a, b] = leaseClient.requests;
    expect(a).toMatchObject({ leaseId: 'lease-1', wantsMore: false, permitsUsed: 2 });
    expect(b).toMatchObject({ leaseId: 'lease-2', permitsUsed: 2 });
    expect(summary).toMatchObject({ leases: 2, sent: 4 });
  });

  it('stops at once when the invocation was delivered twice (the lease is marked taken)', async () => {
    const addresses = emails(2);
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, addresses);
    await runWorker(deps, { lease: leaseFor(addresses) });
    const again = await runWorker(deps, { lease: leaseFor(addresses) });
    expect(again.stoppedBecause).toBe('duplicate-invocation');
    expect(sender.calls).toHaveLength(2);
    expect(leaseClient.requests).toHaveLength(1);
  });

  it('reports a throttled call with its code, so the conductor backs off', async () => {
    const addresses = emails(1);
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, addresses);
    sender.behaviour = () => {
      throw new RetryableError('PROVIDER_THROTTLED', 'Mailgun throttled the request (429)');
    };
    await runWorker(deps, { lease: leaseFor(addresses) });
    expect(leaseClient.requests[0]!.results[0]).toMatchObject({ status: 'retryable', code: 'PROVIDER_THROTTLED' });
    expect(leaseClient.requests[0]!.wantsMore).toBe(false);
  });

  describe('claims and provider errors (faults cost nobody)', () => {
    it('claims a key only when its slice has come, so a worker that vanishes leaves waiting keys unclaimed', async () => {
      // Prepare: five keys, one permit in each of five one-second slices; the clock's sleeps
      // never end, as for a worker that vanished while its lanes waited for their slices.
      const addresses = emails(5);
      const { store, sender, deps } = setUp();
      await seedRendered(store, addresses);
      const frozen = { now: () => START, sleep: () => new Promise<void>(() => {}) };
      const lease = leaseFor(addresses, { schedule: { start: START, sliceMs: 1_000, permits: [1, 1, 1, 1, 1] } });

      // Act
      void runWorker({ ...deps, clock: frozen }, { lease });
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));

      // Assess: the one call of the current slice was made; the other four never claimed.
      expect(sender.calls).toHaveLength(1);
      const claimed = [];
      for (const email of addresses) if (await claimExists(store, email)) claimed.push(email);
      expect(claimed).toEqual([sender.calls[0]!.msg.to]);
    });

    it('retries only the one recipient after a lone 503 and goes on with the lease', async () => {
      // Prepare
      const addresses = emails(5);
      const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
      await seedRendered(store, addresses);
      sender.behaviour = (_msg, index) => {
        if (index === 1) throw new RetryableError('PROVIDER_UNAVAILABLE', 'Mailgun unavailable (503)');
        return { providerId: `<id-${index}@mg.acme.test>` };
      };

      // Act
      await runWorker(deps, { lease: leaseFor(addresses) });

      // Assess
      const request = leaseClient.requests[0]!;
      expect(request.results.filter((r) => r.status === 'sent')).toHaveLength(4);
      expect(request.results.filter((r) => r.status === 'retryable')).toEqual([
        expect.objectContaining({ code: 'PROVIDER_UNAVAILABLE', recipientId: idOf(sender.calls[1]!.msg.to) }),
      ]);
      expect(request.unattempted).toEqual([]);
      expect(await claimExists(store, sender.calls[1]!.msg.to)).toBe(false);
    });

    it('goes on after four refusals in a row once the provider takes a call again (random 503s are not an outage)', async () => {
      // Prepare
      const addresses = emails(7);
      const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
      await seedRendered(store, addresses);
      sender.behaviour = (_msg, index) => {
        if (index < 4) throw new RetryableError('PROVIDER_UNAVAILABLE', 'Mailgun unavailable (503)');
        return { providerId: `<id-${index}@mg.acme.test>` };
      };

      // Act
      await runWorker(deps, { lease: leaseFor(addresses) });

      // Assess
      const request = leaseClient.requests[0]!;
      expect(sender.calls).toHaveLength(7);
      expect(request.results.filter((r) => r.status === 'sent')).toHaveLength(3);
      expect(request.results.filter((r) => r.status === 'retryable')).toHaveLength(4);
      expect(request.unattempted).toEqual([]);
    });

    it('counts refusals in a row in the order the answers came, however long releasing their claims takes', async () => {
      // Prepare: six calls at once, answered refused, refused, accepted, refused, refused, refused;
      // releasing a claim is slow. Never five refusals in a row: the lease must not halt.
      const addresses = emails(6);
      const { store, sender, leaseClient, deps } = setUp({ concurrency: 6 });
      await seedRendered(store, addresses);
      const remove = store.delete.bind(store);
      store.delete = async (bucket, key) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return remove(bucket, key);
      };
      const answers: (() => void)[] = [];
      sender.behaviour = (_msg, index) =>
        new Promise((resolve, reject) => {
          answers[index] = () =>
            index === 2 ? resolve({ providerId: '<id-2@mg.acme.test>' }) : reject(new RetryableError('PROVIDER_UNAVAILABLE', '503'));
        });

      // Act
      const running = runWorker(deps, { lease: leaseFor(addresses) });
      for (let i = 0; i < 200 && answers.filter(Boolean).length < 6; i++) await new Promise((resolve) => setImmediate(resolve));
      for (const answer of answers) {
        answer();
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      }
      await running;

      // Assess
      const request = leaseClient.requests[0]!;
      expect(request.results.filter((r) => r.status === 'retryable')).toHaveLength(5);
      expect(request.wantsMore).toBe(true);
    });

    it('stops taking keys after five provider refusals in a row: the provider looks down', async () => {
      // Prepare
      const addresses = emails(7);
      const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
      await seedRendered(store, addresses);
      sender.behaviour = () => {
        throw new RetryableError('PROVIDER_UNAVAILABLE', 'Mailgun unavailable (503)');
      };

      // Act
      await runWorker(deps, { lease: leaseFor(addresses) });

      // Assess
      expect(sender.calls).toHaveLength(REFUSALS_TO_HALT);
      expect(REFUSALS_TO_HALT).toBe(5);
      expect(leaseClient.requests[0]!.unattempted).toHaveLength(2);
      expect(leaseClient.requests[0]!.wantsMore).toBe(false);
    });
  });
});
