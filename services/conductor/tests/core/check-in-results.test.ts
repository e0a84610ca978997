import { LONE_REFUSAL_RETRY_MS, THROTTLED_FOR_AT_MOST_MS, THROTTLED_TOO_LONG } from '../../src/core/check-in-results';
import { RetryableError, keys } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { buckets } from '../fixtures';
import { begin, harness, ref, report, resultOf, storedCampaign } from '../harness';

/** How long a recipient a worker reported retryable waits before it is leased again. */
describe('retries of a retryable result', () => {
  async function leasedAgainAfter(results: (ids: readonly string[]) => ReturnType<typeof resultOf>[]): Promise<number | undefined> {
    const h = harness({ maxWorkers: 1, batchSize: 2 });
    await storedCampaign(h.store, 2);
    await begin(h);
    await h.conductor.tick();
    const first = h.invocations[0]!.lease;
    const refused = first.recipientIds[1]!;
    await h.conductor.checkIn({ ...report(first), results: results(first.recipientIds) });
    // Every 250 ms for 6 s: when is the refused recipient in a lease again?
    for (let waited = 250; waited <= 6_000; waited += 250) {
      h.clock.advance(250);
      await h.conductor.tick();
      if (h.invocations.slice(1).some((i) => i.lease.recipientIds.includes(refused))) return waited;
    }
    return undefined;
  }

  it('tries a lone 503 again within a second: the provider took the rest of its lease', async () => {
    // Act
    const after = await leasedAgainAfter((ids) => [resultOf(ids[0]!, 'sent'), resultOf(ids[1]!, 'retryable')]);

    // Assess
    expect(after).toBeGreaterThanOrEqual(LONE_REFUSAL_RETRY_MS);
    expect(after).toBeLessThan(LONE_REFUSAL_RETRY_MS + 1_000);
  });

  it('tries a lone 503 in a lease of its own again within a second when another lease was just sent', async () => {
    // Prepare: two leases of one recipient each.
    const h = harness({ maxWorkers: 2, batchSize: 1 });
    await storedCampaign(h.store, 2);
    await begin(h);
    await h.conductor.tick();
    const [sent, refused] = h.invocations.map((i) => i.lease);
    await h.conductor.checkIn(report(sent!, 'sent'));
    h.clock.advance(500);

    // Act
    await h.conductor.checkIn(report(refused!, 'retryable'));
    let after: number | undefined;
    for (let waited = 250; waited <= 6_000 && after === undefined; waited += 250) {
      h.clock.advance(250);
      await h.conductor.tick();
      if (h.invocations.slice(2).some((i) => i.lease.recipientIds.includes(refused!.recipientIds[0]!))) after = waited;
    }

    // Assess
    expect(after).toBeGreaterThanOrEqual(LONE_REFUSAL_RETRY_MS);
    expect(after).toBeLessThan(LONE_REFUSAL_RETRY_MS + 1_000);
  });

  it('backs off 5 s when the provider took none of the lease (it may be down)', async () => {
    // Act
    const after = await leasedAgainAfter((ids) => [resultOf(ids[0]!, 'retryable'), resultOf(ids[1]!, 'retryable')]);

    // Assess
    expect(after).toBeGreaterThanOrEqual(5_000);
  });

  it('still counts lone 503s towards the attempts, so a recipient refused every time ends failed', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 2, maxAttempts: 2 });
    const ids = await storedCampaign(h.store, 2);
    await begin(h);
    await h.conductor.tick();
    const first = h.invocations[0]!.lease;
    const refused = first.recipientIds[1]!;
    await h.conductor.checkIn({ ...report(first), results: [resultOf(first.recipientIds[0]!, 'sent'), resultOf(refused, 'retryable')] });

    // Act: the second lease holds the refused recipient only; a 503 again, with nothing sent.
    for (let i = 0; i < 40 && h.invocations.length < 2; i++) {
      h.clock.advance(250);
      await h.conductor.tick();
    }
    const second = h.invocations[1]!.lease;
    await h.conductor.checkIn({ ...report(second), results: [resultOf(refused, 'retryable')] });
    await h.conductor.tick();

    // Assess
    expect(second.recipientIds).toEqual([refused]);
    expect(ids).toContain(refused);
    expect(h.conductor.getCampaign(ref.campaignId)).toMatchObject({ status: 'done', counts: { sent: 1, failed: 1 } });
  });
});

/** A 429 for the recipient: the provider throttled the call. */
function throttled(recipientId: string, retryAfterMs?: number): ReturnType<typeof resultOf> {
  return {
    recipientId,
    status: 'retryable',
    code: 'PROVIDER_THROTTLED',
    reason: 'PROVIDER_THROTTLED: 429',
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

describe('a throttled recipient', () => {
  /** One worker, one recipient a lease: each lease is checked in with `answer` for its recipient, `stepMs` after it was issued. */
  async function throttleEachLease(options: { maxAttempts: number; leases: number; stepMs: number; retryAfterMs?: number }) {
    const h = harness({ maxWorkers: 1, batchSize: 1, maxAttempts: options.maxAttempts });
    const ids = await storedCampaign(h.store, 1);
    await begin(h);
    const leasedAfter: number[] = [];
    let checkedInAt = h.clock.now();
    for (let k = 0; k < options.leases; k++) {
      for (let waited = 0; waited < 120_000 && h.invocations.length === 0; waited += 50) {
        await h.conductor.tick();
        if (h.invocations.length === 0) h.clock.advance(50);
      }
      const lease = h.invocations.splice(0)[0]?.lease;
      if (!lease) break;
      leasedAfter.push(h.clock.now() - checkedInAt);
      h.clock.advance(options.stepMs);
      await h.conductor.checkIn({ ...report(lease), results: [throttled(lease.recipientIds[0]!, options.retryAfterMs)], permitsUsed: 1 });
      checkedInAt = h.clock.now();
    }
    return { h, leasedAfter, recipientId: ids[0]! };
  }

  it('spends no attempt: throttled more times than the attempts allow, it is leased again and not failed', async () => {
    // Act
    const { h, leasedAfter } = await throttleEachLease({ maxAttempts: 2, leases: 5, stepMs: 1_000 });

    // Assess: five leases of the one recipient, each soon after the last check-in; not failed.
    expect(leasedAfter).toHaveLength(5);
    expect(h.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ failed: 0, sent: 0 });
  });

  it('goes back as soon as the push-back level admits it, not after a back-off doubled per attempt', async () => {
    // Act
    const { leasedAfter } = await throttleEachLease({ maxAttempts: 5, leases: 4, stepMs: 1_000 });

    // Assess: never the 5 s, 10 s, 20 s of a retry's back-off.
    expect(Math.max(...leasedAfter.slice(1))).toBeLessThan(5_000);
  });

  it('waits what the provider asked for, when it said', async () => {
    // Act
    const { leasedAfter } = await throttleEachLease({ maxAttempts: 5, leases: 2, stepMs: 500, retryAfterMs: 8_000 });

    // Assess
    expect(leasedAfter[1]).toBeGreaterThanOrEqual(8_000);
  });

  it('ends failed, named, once the provider has throttled every call for it for the bound: it is not leased forever', async () => {
    // Act: a lease every ~30 s, each throttled, for longer than the bound.
    const leases = Math.ceil(THROTTLED_FOR_AT_MOST_MS / 30_000) + 3;
    const { h, leasedAfter, recipientId } = await throttleEachLease({ maxAttempts: 5, leases, stepMs: 30_000 });
    await h.conductor.tick();

    // Assess: leased until the bound, then failed with the reason (a retryable failure: Retry may send it again).
    expect(leasedAfter.length).toBeLessThan(leases);
    expect(leasedAfter.length).toBeGreaterThanOrEqual(THROTTLED_FOR_AT_MOST_MS / 30_000);
    expect(h.conductor.getCampaign(ref.campaignId)).toMatchObject({ status: 'done', counts: { failed: 1 } });
    const outcome = JSON.parse((await h.store.get(buckets.campaigns, keys.outcome({ ...ref, recipientId })))!);
    expect(outcome.reason).toMatch(new RegExp(`^RETRIES_EXHAUSTED after \\d+ throttled calls over \\d+ min \\(${THROTTLED_TOO_LONG}\\)`));
  });
});

describe('a claim the worker could not remove (claimHeld)', () => {
  it('is removed before the key is leased again, so a key never called is not put in doubt by the next worker', async () => {
    // Prepare: a lease whose worker claimed its key, never called, and could not release the claim.
    const h = harness({ maxWorkers: 1, batchSize: 1 });
    const [recipientId] = await storedCampaign(h.store, 1);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations.splice(0)[0]!.lease;
    const claim = keys.claim({ ...ref, recipientId: recipientId! });
    await h.store.put(buckets.campaigns, claim, JSON.stringify({ leaseId: lease.leaseId }));

    // Act
    await h.conductor.checkIn({ ...report(lease), results: [], unattempted: [recipientId!], claimHeld: [recipientId!], permitsUsed: 0 });
    h.clock.advance(1_000);
    await h.conductor.tick();

    // Assess: the claim is gone and the key is out again, with no outcome.
    expect(await h.store.get(buckets.campaigns, claim)).toBeUndefined();
    expect(h.invocations.map((i) => i.lease.recipientIds)).toEqual([[recipientId]]);
    expect(h.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ inDoubt: 0, inFlight: 1 });
  });

  it('is never removed for a key the lease did not hold', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 1 });
    const [first, other] = await storedCampaign(h.store, 2);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations.splice(0)[0]!.lease;
    const notLeased = lease.recipientIds[0] === first ? other! : first!;
    const claim = keys.claim({ ...ref, recipientId: notLeased });
    await h.store.put(buckets.campaigns, claim, JSON.stringify({ leaseId: 'another' }));

    // Act
    await h.conductor.checkIn({ ...report(lease), claimHeld: [notLeased] });

    // Assess
    expect(await h.store.get(buckets.campaigns, claim)).toBeDefined();
  });
});

describe('a claim neither the worker nor the conductor can remove yet', () => {
  it('keeps the key in flight (not in doubt, not leased) until a later tick removes it, then leases it again', async () => {
    // Prepare: the store refuses deletes of the claim for now.
    let refuse = true;
    class FlakyStore extends MemoryObjectStore {
      override async delete(bucket: string, key: string): Promise<void> {
        if (refuse && key.includes('/claims/')) throw new RetryableError('STORE_UNAVAILABLE', 'EROFS');
        return super.delete(bucket, key);
      }
    }
    const h = harness({ maxWorkers: 1, batchSize: 1 }, 620, new FlakyStore());
    const [recipientId] = await storedCampaign(h.store, 1);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations.splice(0)[0]!.lease;
    const claim = keys.claim({ ...ref, recipientId: recipientId! });
    await h.store.put(buckets.campaigns, claim, JSON.stringify({ leaseId: lease.leaseId }));

    // Act: the check-in is answered all the same; the store then recovers.
    await h.conductor.checkIn({ ...report(lease), results: [], unattempted: [recipientId!], claimHeld: [recipientId!], permitsUsed: 0 });
    h.clock.advance(1_000);
    await h.conductor.tick();
    const whileRefused = { counts: h.conductor.getCampaign(ref.campaignId).counts, leased: h.invocations.length };
    refuse = false;
    h.clock.advance(1_000);
    await h.conductor.tick();
    h.clock.advance(1_000);
    await h.conductor.tick();

    // Assess
    expect(whileRefused).toEqual({ counts: expect.objectContaining({ inFlight: 1, inDoubt: 0 }), leased: 0 });
    expect(await h.store.get(buckets.campaigns, claim)).toBeUndefined();
    expect(h.invocations.map((i) => i.lease.recipientIds)).toEqual([[recipientId]]);
  });
});
