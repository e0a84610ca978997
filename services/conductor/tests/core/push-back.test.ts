import { keys, leaseSendUntil, type Lease } from '@baton/shared';
import { DOMAIN } from '../fixtures';
import { begin, harness, ref, report, storedCampaign, type Harness } from '../harness';

/** A check-in saying the provider answered 429 to the lease's first call; the rest were not tried. */
function throttledReport(lease: Lease, retryAfterMs?: number) {
  return report(lease, 'sent', false, {
    results: [
      {
        recipientId: lease.recipientIds[0]!,
        status: 'retryable',
        code: 'PROVIDER_THROTTLED',
        reason: 'PROVIDER_THROTTLED: 429',
        retryAfterMs,
      },
    ],
    unattempted: lease.recipientIds.slice(1),
    permitsUsed: 1,
  });
}

function effectiveCap(h: Harness): number {
  return h.governors.forDomain(DOMAIN).effectiveCap;
}

/** Five workers, each with a lease issued now. */
async function fiveWorkers(recipients = 60): Promise<{ h: Harness; leases: Lease[] }> {
  const h = harness({ maxWorkers: 5, batchSize: 4 }, 620);
  await storedCampaign(h.store, recipients);
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

describe('recovery on evidence', () => {
  it('successful leases after an episode raise the cap back within a few lease horizons', async () => {
    // Prepare: an episode that took the cap from 620 to 155.
    const { h, leases } = await fiveWorkers(1_000);
    h.clock.advance(500);
    await h.conductor.checkIn(throttledReport(leases[0]!));
    h.clock.advance(500);
    await h.conductor.checkIn(throttledReport(h.invocations.splice(0)[0]!.lease));
    expect(effectiveCap(h)).toBe(155);
    const episodeEnd = h.clock.now();
    // Act: from now on every call goes through; workers check in as their leases end and want more.
    const out = [...leases.slice(1)];
    const levels: number[] = [];
    while (effectiveCap(h) < 620 && h.clock.now() - episodeEnd < 60_000) {
      h.clock.advance(250);
      await h.conductor.tick();
      out.push(...h.invocations.splice(0).map((i) => i.lease));
      for (const lease of out.splice(0)) {
        if (leaseSendUntil(lease) > h.clock.now()) out.push(lease);
        else {
          const next = (await h.conductor.checkIn(report(lease, 'sent', true))).lease;
          if (next) out.push(next);
          if (levels.at(-1) !== effectiveCap(h)) levels.push(effectiveCap(h));
        }
      }
    }
    // Assess: back to the full cap within two lease horizons (10 s each), in rounds of good news.
    expect(effectiveCap(h)).toBe(620);
    expect(h.clock.now() - episodeEnd).toBeLessThanOrEqual(2 * 10_000);
    expect(levels.slice(0, 3)).toEqual([155, 388, 504]); // half the gap to 620 each round
  });

  it('a lease that met a 429 raises nothing, even if some of its calls went through', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 4 }, 620);
    await storedCampaign(h.store, 20);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    // Act: reported in the instant it was issued — planned "at" the cut it causes.
    await h.conductor.checkIn(
      report(lease, 'sent', false, {
        results: [
          { recipientId: lease.recipientIds[0]!, status: 'sent', providerId: 'p0' },
          { recipientId: lease.recipientIds[1]!, status: 'retryable', code: 'PROVIDER_THROTTLED', reason: 'PROVIDER_THROTTLED: 429' },
        ],
        unattempted: lease.recipientIds.slice(2),
        permitsUsed: 2,
      }),
    );
    // Assess
    expect(effectiveCap(h)).toBe(310);
  });

  it('a lease planned after the push-back that sent nothing raises nothing', async () => {
    // Prepare
    const { h, leases } = await fiveWorkers();
    h.clock.advance(500);
    await h.conductor.checkIn(throttledReport(leases[0]!));
    const successor = h.invocations.splice(0)[0]!.lease;
    // Act
    h.clock.advance(2_000);
    await h.conductor.checkIn(
      report(successor, 'sent', false, {
        // A permanent failure is no sign the provider takes the pace.
        results: [{ recipientId: successor.recipientIds[0]!, status: 'failed', reason: 'PROVIDER_REJECTED: bad address' }],
        unattempted: successor.recipientIds.slice(1),
        permitsUsed: 1,
      }),
    );
    // Assess
    expect(effectiveCap(h)).toBe(310);
  });
});
