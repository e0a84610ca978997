import { LONE_REFUSAL_RETRY_MS } from '../../src/core/check-in-results';
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
