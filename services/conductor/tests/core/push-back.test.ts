import { keys, type Lease } from '@baton/shared';
import { DOMAIN } from '../fixtures';
import { begin, harness, ref, report, storedCampaign, type Harness } from '../harness';

/** A check-in saying the provider answered 429 to the lease's first call; the rest were not tried. */
function throttledReport(lease: Lease, retryAfterMs?: number) {
  return report(lease, 'sent', false, {
    results: [{ recipientId: lease.recipientIds[0]!, status: 'retryable', code: 'PROVIDER_THROTTLED', retryAfterMs }],
    unattempted: lease.recipientIds.slice(1),
    permitsUsed: 1,
  });
}

function effectiveCap(h: Harness): number {
  return h.governors.forDomain(DOMAIN).effectiveCap;
}

/** Five workers, each with a lease issued now. */
async function fiveWorkers(): Promise<{ h: Harness; leases: Lease[] }> {
  const h = harness({ maxWorkers: 5, batchSize: 4 }, 620);
  await storedCampaign(h.store, 60);
  await begin(h);
  await h.conductor.tick();
  const leases = h.invocations.splice(0).map((i) => i.lease);
  expect(leases).toHaveLength(5);
  return { h, leases };
}

describe('push-back by episode', () => {
  it('five workers reporting 429s from leases issued before the push-back lower the cap once', async () => {
    // Prepare
    const { h, leases } = await fiveWorkers();
    // Act: the first reports half a second in; the others up to a lease horizon (10 s) later.
    h.clock.advance(500);
    await h.conductor.checkIn(throttledReport(leases[0]!));
    const afterFirst = effectiveCap(h);
    for (const [k, lease] of leases.slice(1).entries()) {
      h.clock.advance([200, 1_000, 3_000, 5_300][k]!);
      await h.conductor.checkIn(throttledReport(lease));
    }
    // Assess
    expect(afterFirst).toBe(310);
    expect(effectiveCap(h)).toBe(310);
  });

  it('a 429 from a lease planned after the push-back lowers the cap again', async () => {
    // Prepare
    const { h, leases } = await fiveWorkers();
    h.clock.advance(500);
    await h.conductor.checkIn(throttledReport(leases[0]!));
    // The throttled worker left; its successor's lease is planned at the lowered level.
    const successor = h.invocations.splice(0).map((i) => i.lease)[0]!;
    expect(successor).toBeDefined();
    // Act
    h.clock.advance(1_000);
    await h.conductor.checkIn(throttledReport(successor));
    // Assess
    expect(effectiveCap(h)).toBe(155);
  });

  it('stores the checkpoint once per push-back, not once per report of it', async () => {
    // Prepare
    const { h, leases } = await fiveWorkers();
    const put = jest.spyOn(h.store, 'put');
    // Act
    for (const lease of leases) {
      h.clock.advance(300);
      await h.conductor.checkIn(throttledReport(lease));
    }
    await new Promise((resolve) => setImmediate(resolve));
    // Assess
    const checkpoints = put.mock.calls.filter(([, key]) => key === keys.governorCheckpoint());
    expect(checkpoints).toHaveLength(1);
    expect(JSON.parse(checkpoints[0]![2] as string).domains[DOMAIN]).toMatchObject({ effectiveCap: 310 });
  });

  it('still honours a wait asked for by a report of an episode already answered', async () => {
    // Prepare
    const { h, leases } = await fiveWorkers();
    h.clock.advance(500);
    await h.conductor.checkIn(throttledReport(leases[0]!));
    // Act: a late report of the same episode, with a stated wait.
    h.clock.advance(500);
    await h.conductor.checkIn(throttledReport(leases[1]!, 5_000));
    const next = (await h.conductor.checkIn(report(leases[2]!, 'sent', true))).lease;
    // Assess
    expect(effectiveCap(h)).toBe(310);
    expect(next!.schedule!.start).toBeGreaterThanOrEqual(h.clock.now() + 5_000);
  });

  it('after a restart keeps the lowered cap, and the late reports of its predecessor lower it no further', async () => {
    // Prepare
    const { h, leases } = await fiveWorkers();
    h.clock.advance(500);
    await h.conductor.checkIn(throttledReport(leases[0]!));
    await new Promise((resolve) => setImmediate(resolve));
    // Act: a new conductor on the same store; the old leases' workers check in with it.
    const restarted = harness({ maxWorkers: 5, batchSize: 4 }, 620, h.store, h.clock);
    await restarted.conductor.start();
    for (const lease of leases.slice(1)) {
      h.clock.advance(300);
      await restarted.conductor.checkIn(throttledReport(lease));
    }
    // Assess
    expect(effectiveCap(restarted)).toBe(310);
    expect(restarted.conductor.getCampaign(ref.campaignId).effectivePerMinute).toBe(310);
  });
});
