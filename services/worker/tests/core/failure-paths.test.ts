import {
  PermanentError,
  RetryableError,
  ValidationError,
  keys,
  outcomeRecord,
  type Lease,
  type OutcomeRecord,
  type RenderedMessage,
} from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { runWorker, type WorkerDeps } from '../../src/core/run-worker';
import { AutoClock, FakeLeaseClient, FakeSender, START, buckets, emails, idOf, leaseFor, refOf, renderedFor, seedRendered } from '../fakes';

// How a key ends when something fails before, during or after its provider call: through
// `runWorker` only.

/** A memory store that fails the operations `fails` picks (the rest behave as usual). */
class FlakyStore extends MemoryObjectStore {
  fails: (op: 'get' | 'put' | 'delete', key: string) => boolean = () => false;

  override async get(bucket: string, key: string): Promise<string | undefined> {
    if (this.fails('get', key)) throw new RetryableError('S3_UNAVAILABLE', 'socket hang up');
    return super.get(bucket, key);
  }

  override async put(...args: Parameters<MemoryObjectStore['put']>): Promise<void> {
    if (this.fails('put', args[1])) throw new RetryableError('S3_UNAVAILABLE', 'socket hang up');
    return super.put(...args);
  }

  override async delete(bucket: string, key: string): Promise<void> {
    if (this.fails('delete', key)) throw new RetryableError('S3_UNAVAILABLE', 'socket hang up');
    return super.delete(bucket, key);
  }
}

function setUp(overrides: Partial<WorkerDeps> = {}) {
  const store = new FlakyStore();
  const clock = new AutoClock();
  const sender = new FakeSender(clock);
  const leaseClient = new FakeLeaseClient();
  const deps: WorkerDeps = { store, buckets, sender, leaseClient, clock, stage: 'prod', timeBudgetMs: 120_000, ...overrides };
  return { store, clock, sender, leaseClient, deps };
}

async function outcomeOf(store: MemoryObjectStore, email: string): Promise<OutcomeRecord | undefined> {
  const body = await store.get(buckets.campaigns, keys.outcome(refOf(email)));
  return body === undefined ? undefined : outcomeRecord.parse(JSON.parse(body));
}

async function claimed(store: MemoryObjectStore, email: string): Promise<boolean> {
  return (await store.get(buckets.campaigns, keys.claim(refOf(email)))) !== undefined;
}

function run(deps: WorkerDeps, lease: Lease) {
  return runWorker(deps, { lease });
}

describe('runWorker when the store fails', () => {
  it('reports a key whose rendered message cannot be read as retryable, and writes nothing for it', async () => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    store.fails = (op, key) => op === 'get' && key === keys.rendered(refOf(email));
    // Act
    await run(deps, leaseFor([email]));
    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.requests[0]!.results).toEqual([
      { recipientId: idOf(email), status: 'retryable', code: 'STORE_UNAVAILABLE', reason: expect.stringMatching(/^STORE_UNAVAILABLE: /) },
    ]);
    expect(await outcomeOf(store, email)).toBeUndefined();
    expect(await claimed(store, email)).toBe(false);
  });

  it('reports a key whose suppression cannot be read as retryable, without claiming or sending it, and gives its permit on', async () => {
    const [email, next] = emails(2) as [string, string];
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
    await seedRendered(store, [email, next]);
    store.fails = (op, key) => op === 'get' && key === keys.suppression(refOf(email));
    await run(deps, leaseFor([email, next], { permits: 1 }));
    expect(sender.recipients()).toEqual([next]);
    expect(leaseClient.requests[0]!.results[0]).toEqual({
      recipientId: idOf(email),
      status: 'retryable',
      code: 'SUPPRESSION_READ_FAILED',
      reason: expect.stringMatching(/^SUPPRESSION_READ_FAILED: /),
    });
    expect(await outcomeOf(store, email)).toBeUndefined();
    expect(await claimed(store, email)).toBe(false);
  });

  it('sends nothing when the claim cannot be written nor read back, and spends no permit on it', async () => {
    // Prepare: one permit, the first key's claim fails both ways.
    const [first, second] = emails(2) as [string, string];
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
    await seedRendered(store, [first, second]);
    store.fails = (op, key) => (op === 'put' || op === 'get') && key === keys.claim(refOf(first));
    // Act
    await run(deps, leaseFor([first, second], { permits: 1 }));
    // Assess
    expect(sender.recipients()).toEqual([second]);
    expect(leaseClient.requests[0]!.results[0]).toEqual({
      recipientId: idOf(first),
      status: 'retryable',
      code: 'CLAIM_FAILED',
      reason: expect.stringMatching(/^CLAIM_FAILED: .*socket hang up/),
    });
  });

  it('still reports a sent key whose outcome record could not be written, and keeps its claim', async () => {
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    store.fails = (op, key) => op === 'put' && key === keys.outcome(refOf(email));
    await run(deps, leaseFor([email]));
    expect(sender.calls).toHaveLength(1);
    expect(await outcomeOf(store, email)).toBeUndefined();
    expect(leaseClient.requests[0]!.results).toEqual([expect.objectContaining({ recipientId: idOf(email), status: 'sent' })]);
    expect(await claimed(store, email)).toBe(true);
  });

  it('keeps the claim of a retryable call whose claim cannot be released: never sent twice', async () => {
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    store.fails = (op) => op === 'delete';
    sender.behaviour = () => {
      throw new RetryableError('PROVIDER_UNAVAILABLE', '503');
    };
    await run(deps, leaseFor([email]));
    expect(leaseClient.requests[0]!.results[0]).toMatchObject({ status: 'retryable', code: 'PROVIDER_UNAVAILABLE' });
    expect(await claimed(store, email)).toBe(true);
  });
});

describe('runWorker and the mark that takes its lease', () => {
  it('recognises its own mark after a lost reply, and sends the lease', async () => {
    // Prepare: the mark's write lands, but its reply is lost (the retry would see 412).
    const [email] = emails(1) as [string];
    const { store, sender, deps } = setUp();
    await seedRendered(store, [email]);
    const put = store.put.bind(store);
    let lost = false;
    store.put = async (...args) => {
      await put(...args);
      if (!lost && args[1].includes('/leases/')) {
        lost = true;
        throw new RetryableError('S3_UNAVAILABLE', 'socket hang up');
      }
    };
    // Act
    const summary = await run(deps, leaseFor([email]));
    // Assess
    expect(lost).toBe(true);
    expect(summary.stoppedBecause).toBe('no-lease');
    expect(sender.recipients()).toEqual([email]);
  });
});

describe('runWorker and the outcome records', () => {
  it("overwrites the conductor's own in-doubt record with how the send really ended", async () => {
    // Prepare: the conductor gave up on an earlier lease and recorded the recipient in doubt.
    const [email] = emails(1) as [string];
    const { store, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    const noReport = { version: 1, recipientId: idOf(email), status: 'inDoubt', reason: 'NO_REPORT', at: new Date(START).toISOString() };
    await store.put(buckets.campaigns, keys.outcome(refOf(email)), JSON.stringify(noReport));
    // Act
    await run(deps, leaseFor([email]));
    // Assess
    expect(await outcomeOf(store, email)).toMatchObject({ status: 'sent', leaseId: 'lease-1' });
    expect(leaseClient.requests[0]!.results[0]).toMatchObject({ status: 'sent' });
  });

  it.each([
    { what: 'a key whose rendered message is missing', seed: false, stage: 'prod' as const },
    { what: 'a key QA may not email', seed: true, stage: 'qa' as const },
  ])('never overwrites an outcome another lease recorded with one for $what', async ({ seed, stage }) => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp({ stage, qaAllowList: ['@qa.acme.test'] });
    if (seed) await seedRendered(store, [email]);
    const sent = { version: 1, recipientId: idOf(email), status: 'sent', providerId: '<x@mg>', at: new Date(START).toISOString() };
    await store.put(buckets.campaigns, keys.outcome(refOf(email)), JSON.stringify(sent));
    // Act
    await run(deps, leaseFor([email]));
    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(await outcomeOf(store, email)).toMatchObject({ status: 'sent', providerId: '<x@mg>' });
    expect(leaseClient.requests[0]!.results).toEqual([{ recipientId: idOf(email), status: 'claimedElsewhere' }]);
  });
});

describe('runWorker and a rendered message it cannot trust', () => {
  it.each([
    { what: 'another customer', change: { customerId: 'globex' } },
    { what: 'another campaign', change: { campaignId: 'winter-sale' } },
    { what: 'another recipient', change: { recipientId: idOf('someone.else@example.com') } },
  ])('fails a key whose rendered message is about $what, and sends nothing', async ({ change }) => {
    // Prepare
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    const message: RenderedMessage = renderedFor(email, change);
    await store.put(buckets.rendered, keys.rendered(refOf(email)), JSON.stringify(message));
    // Act
    await run(deps, leaseFor([email]));
    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(await outcomeOf(store, email)).toMatchObject({ status: 'failed', reason: expect.stringMatching(/about another recipient$/) });
    expect(leaseClient.requests[0]!.results[0]).toMatchObject({ status: 'failed' });
  });

  it('fails a key whose rendered message is not valid JSON, and sends nothing', async () => {
    const [email] = emails(1) as [string];
    const { store, sender, deps } = setUp();
    await store.put(buckets.rendered, keys.rendered(refOf(email)), '{ not json');
    await run(deps, leaseFor([email]));
    expect(sender.calls).toHaveLength(0);
    expect(await outcomeOf(store, email)).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^RENDERED_INVALID: /) });
  });
});

describe('runWorker and its permits', () => {
  it.each([
    { what: 'refused', error: () => new PermanentError('PROVIDER_REJECTED', 'bad address') },
    { what: 'in doubt', error: () => new Error('socket hang up') },
  ])('spends the permit of a call the provider $what', async ({ error }) => {
    // Prepare: one permit, the first call fails.
    const [first, second] = emails(2) as [string, string];
    const { store, sender, leaseClient, deps } = setUp({ concurrency: 1 });
    await seedRendered(store, [first, second]);
    sender.behaviour = () => {
      throw error();
    };
    // Act
    await run(deps, leaseFor([first, second], { permits: 1 }));
    // Assess
    expect(sender.recipients()).toEqual([first]);
    expect(leaseClient.requests[0]).toMatchObject({ permitsUsed: 1, unattempted: [idOf(second)] });
  });

  it.each([
    {
      what: 'unsubscribed',
      prepare: (store: MemoryObjectStore, email: string) => store.put(buckets.campaigns, keys.suppression(refOf(email)), '{}'),
    },
    {
      what: 'claimed by another lease',
      prepare: (store: MemoryObjectStore, email: string) => store.put(buckets.campaigns, keys.claim(refOf(email)), '{}'),
    },
  ])('gives the permit of a key $what to the next key', async ({ prepare }) => {
    // Prepare
    const [first, second] = emails(2) as [string, string];
    const { store, sender, deps } = setUp({ concurrency: 1 });
    await seedRendered(store, [first, second]);
    await prepare(store, first);
    // Act
    await run(deps, leaseFor([first, second], { permits: 1 }));
    // Assess
    expect(sender.recipients()).toEqual([second]);
  });

  it('sends a key listed twice in its lease once, and reports it once', async () => {
    const [a, b] = emails(2) as [string, string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [a, b]);
    await run(deps, leaseFor([a, a, b]));
    expect(sender.recipients().sort()).toEqual([a, b].sort());
    expect(leaseClient.requests[0]!.results.map((r) => [r.recipientId, r.status]).sort()).toEqual(
      [
        [idOf(a), 'sent'],
        [idOf(b), 'sent'],
      ].sort(),
    );
    expect(leaseClient.requests[0]!.unattempted).toEqual([]);
  });
});

describe('runWorker, late after its claim', () => {
  /** Every claim write takes `ms`. */
  function slowClaim(store: FlakyStore, clock: AutoClock, ms: number): void {
    const put = store.put.bind(store);
    store.put = async (...args) => {
      await put(...args);
      if (args[1].includes('/claims/')) clock.advance(ms);
    };
  }

  it('sends nothing when its claim ends exactly at sendUntil', async () => {
    const [email] = emails(1) as [string];
    const { store, clock, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    slowClaim(store, clock, 1_000);
    await run(deps, leaseFor([email], { sendUntil: START + 1_000 }));
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.requests[0]!.unattempted).toEqual([idOf(email)]);
  });

  it('sends nothing when its claim leaves less than the reserve of its time budget', async () => {
    const [email] = emails(1) as [string];
    const { store, clock, sender, leaseClient, deps } = setUp({ timeBudgetMs: 10_000 });
    await seedRendered(store, [email]);
    slowClaim(store, clock, 8_500);
    await run(deps, leaseFor([email]));
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.requests[0]!.unattempted).toEqual([idOf(email)]);
    expect(await claimed(store, email)).toBe(false);
  });

  it('sends nothing when its claim ends after the last slice of its schedule, even before sendUntil', async () => {
    const [email] = emails(1) as [string];
    const { store, clock, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    slowClaim(store, clock, 1_500);
    await run(deps, leaseFor([email], { schedule: { start: START, sliceMs: 1_000, permits: [1] }, sendUntil: START + 60_000 }));
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.requests[0]).toMatchObject({ unattempted: [idOf(email)], usedPerSlice: [0] });
  });
});

describe('runWorker when a claim outlasts its slice', () => {
  it('calls at once in the slice it is in when that slice has a permit free', async () => {
    // Prepare: one permit in each of two one-second slices; the claim takes 1.5 s.
    const [email] = emails(1) as [string];
    const { store, clock, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    slowClaimOnce(store, clock, 1_500);
    // Act
    await run(deps, leaseFor([email], { schedule: { start: START, sliceMs: 1_000, permits: [1, 1] }, sendUntil: START + 2_000 }));
    // Assess
    expect(sender.calls.map((c) => c.at - START)).toEqual([1_500]);
    expect(leaseClient.requests[0]).toMatchObject({ usedPerSlice: [0, 1], unattempted: [] });
  });

  it('holds no claim while it waits for a later slice, so a crash then leaves the key unclaimed, not in doubt', async () => {
    // Prepare: permits in slices 0 and 2 only; the first claim takes 1.5 s, into slice 1 (none free).
    const [email] = emails(1) as [string];
    const { store, clock, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    slowClaimOnce(store, clock, 1_500);
    const claimHeldWhileWaiting: boolean[] = [];
    const sleep = clock.sleep.bind(clock);
    clock.sleep = async (ms) => {
      claimHeldWhileWaiting.push(await claimed(store, email));
      return sleep(ms);
    };
    // Act
    await run(deps, leaseFor([email], { schedule: { start: START, sliceMs: 1_000, permits: [1, 0, 1] }, sendUntil: START + 3_000 }));
    // Assess: it waited without its claim, claimed again in slice 2, and called there.
    expect(claimHeldWhileWaiting).toContain(false);
    expect(claimHeldWhileWaiting).not.toContain(true);
    expect(sender.calls.map((c) => c.at - START)).toEqual([2_000]);
    expect(leaseClient.requests[0]).toMatchObject({ usedPerSlice: [0, 0, 1], unattempted: [] });
    expect(leaseClient.requests[0]!.results).toEqual([expect.objectContaining({ recipientId: idOf(email), status: 'sent' })]);
    expect(await outcomeOf(store, email)).toMatchObject({ status: 'sent' });
  });

  it('keeps a claim it could not release and calls in the next slice with a permit (never sent twice, never stranded)', async () => {
    // Prepare: as above, and the claim's release fails.
    const [email] = emails(1) as [string];
    const { store, clock, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    slowClaimOnce(store, clock, 1_500);
    store.fails = (op, key) => op === 'delete' && key === keys.claim(refOf(email));
    // Act
    await run(deps, leaseFor([email], { schedule: { start: START, sliceMs: 1_000, permits: [1, 0, 1] }, sendUntil: START + 3_000 }));
    // Assess
    expect(sender.calls.map((c) => c.at - START)).toEqual([2_000]);
    expect(leaseClient.requests[0]).toMatchObject({ usedPerSlice: [0, 0, 1], unattempted: [] });
    expect(await outcomeOf(store, email)).toMatchObject({ status: 'sent' });
  });
});

describe('runWorker when a claim of a key it never called cannot be released', () => {
  /** Permits in slice 0 only; the claim takes 1.5 s, past the schedule's end: the key is never called. */
  const schedule = { schedule: { start: START, sliceMs: 1_000, permits: [1, 0] }, sendUntil: START + 2_000 };

  it('releases it again before the check-in, so the key goes back unclaimed (not in doubt)', async () => {
    // Prepare: the first release fails, later ones work.
    const [email] = emails(1) as [string];
    const { store, clock, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    slowClaimOnce(store, clock, 1_500);
    let failures = 1;
    store.fails = (op, key) => op === 'delete' && key === keys.claim(refOf(email)) && failures-- > 0;
    // Act
    await run(deps, leaseFor([email], schedule));
    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(await claimed(store, email)).toBe(false);
    expect(leaseClient.requests[0]).toMatchObject({ unattempted: [idOf(email)] });
    expect(leaseClient.requests[0]!.claimHeld).toBeUndefined();
  });

  it('names a claim it still cannot release in the check-in (claimHeld), beside the key given back', async () => {
    // Prepare: every release fails.
    const [email] = emails(1) as [string];
    const { store, clock, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    slowClaimOnce(store, clock, 1_500);
    store.fails = (op, key) => op === 'delete' && key === keys.claim(refOf(email));
    // Act
    await run(deps, leaseFor([email], schedule));
    // Assess
    expect(sender.calls).toHaveLength(0);
    expect(leaseClient.requests[0]).toMatchObject({ unattempted: [idOf(email)], claimHeld: [idOf(email)] });
  });

  it('names the claim of a refused call it cannot release, beside the retryable result', async () => {
    // Prepare: the provider answers 503; every release fails.
    const [email] = emails(1) as [string];
    const { store, sender, leaseClient, deps } = setUp();
    await seedRendered(store, [email]);
    sender.behaviour = () => {
      throw new RetryableError('PROVIDER_UNAVAILABLE', '503');
    };
    store.fails = (op, key) => op === 'delete' && key === keys.claim(refOf(email));
    // Act
    await run(deps, leaseFor([email]));
    // Assess
    expect(leaseClient.requests[0]).toMatchObject({
      results: [expect.objectContaining({ recipientId: idOf(email), status: 'retryable' })],
      claimHeld: [idOf(email)],
    });
  });
});

/** The first claim's write takes `ms` of the clock; later ones take none. */
function slowClaimOnce(store: FlakyStore, clock: AutoClock, ms: number): void {
  const put = store.put.bind(store);
  let slow = true;
  store.put = async (...args) => {
    await put(...args);
    if (slow && args[1].includes('/claims/')) {
      slow = false;
      clock.advance(ms);
    }
  };
}

describe('runWorker taking keys', () => {
  function claimWrites(store: MemoryObjectStore): number {
    return store.calls.filter((c) => c.op === 'put' && c.key.includes('/claims/')).length;
  }

  it('claims no key at or after sendUntil', async () => {
    // Prepare: a second a call; the window closes at 3 s.
    const addresses = emails(5);
    const { store, clock, deps } = setUp({ concurrency: 1 });
    deps.sender = new FakeSender(clock, 1_000);
    await seedRendered(store, addresses);
    // Act
    await run(deps, leaseFor(addresses, { sendUntil: START + 3_000 }));
    // Assess
    expect(claimWrites(store)).toBe(3);
  });

  it('claims no key with less than the reserve of its time budget left', async () => {
    // Prepare: a five-second budget, a second a call: calls start with 5, 4, 3 and 2 s left.
    const addresses = emails(8);
    const { store, clock, deps } = setUp({ concurrency: 1, timeBudgetMs: 5_000 });
    deps.sender = new FakeSender(clock, 1_000);
    await seedRendered(store, addresses);
    // Act
    await run(deps, leaseFor(addresses));
    // Assess
    expect(claimWrites(store)).toBe(4);
  });
});

describe('runWorker settings', () => {
  it.each([
    { what: 'no lanes', change: { concurrency: 0 }, where: 'concurrency' },
    { what: 'a fractional number of lanes', change: { concurrency: 1.5 }, where: 'concurrency' },
    { what: 'a time budget of zero', change: { timeBudgetMs: 0 }, where: 'timeBudgetMs' },
    { what: 'a negative time budget', change: { timeBudgetMs: -1 }, where: 'timeBudgetMs' },
    { what: 'an endless time budget', change: { timeBudgetMs: Number.POSITIVE_INFINITY }, where: 'timeBudgetMs' },
    { what: 'a negative reserve', change: { minBudgetToTakeMs: -1 }, where: 'minBudgetToTakeMs' },
    { what: 'a reserve that is not a number', change: { minBudgetToTakeMs: Number.NaN }, where: 'minBudgetToTakeMs' },
  ])('refuses $what, naming it', async ({ change, where }) => {
    const { deps } = setUp(change);
    const refused = runWorker(deps, { lease: leaseFor(emails(1)) });
    await expect(refused).rejects.toBeInstanceOf(ValidationError);
    await expect(refused).rejects.toMatchObject({
      code: 'WORKER_DEPS_INVALID',
      issues: [{ where, message: expect.stringMatching(/^must be /) }],
    });
  });

  it('accepts a reserve of zero', async () => {
    const { store, sender, deps } = setUp({ minBudgetToTakeMs: 0 });
    await seedRendered(store, emails(1));
    await run(deps, leaseFor(emails(1)));
    expect(sender.calls).toHaveLength(1);
  });
});
