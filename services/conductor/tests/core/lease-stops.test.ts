import { ManualClock, PROVIDER_TIMEOUT_MS, WATCH_HOLD_MS, type Lease } from '@baton/shared';
import type { ActiveLease } from '../../src/core/lease-book';
import { LeaseStops } from '../../src/core/lease-stops';

const T0 = Date.UTC(2026, 11, 1, 16, 0, 0);

/** A lease of `permits` permits in one-second slices from `start`. */
function active(leaseId: string, permits: number[], start = T0): ActiveLease {
  const lease: Lease = {
    leaseId,
    workerId: `w-${leaseId}`,
    customerId: 'acme',
    campaignId: 'c1',
    recipientIds: [],
    schedule: { start, sliceMs: 1_000, permits },
    expiresAt: start + 60_000,
  };
  return { lease } as ActiveLease;
}

async function settled<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

describe('LeaseStops', () => {
  it('answers a first watch at once, and holds a later one until the end of the lease', async () => {
    // Prepare
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);

    // Act
    const first = await stops.watch({ leaseId: 'l1', until: T0 + 3_000, first: true });
    const held = stops.watch({ leaseId: 'l1', until: T0 + 3_000 });

    // Assess
    expect(first).toEqual({ stop: false });
    expect(await settled(held)).toBe('pending');
    clock.advance(3_000);
    expect(await held).toEqual({ stop: false });
  });

  it('holds a watch at most WATCH_HOLD_MS, and not at all once the lease is over', async () => {
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);
    const held = stops.watch({ leaseId: 'l1', until: T0 + 10 * WATCH_HOLD_MS });
    clock.advance(WATCH_HOLD_MS);
    expect(await held).toEqual({ stop: false });
    expect(await stops.watch({ leaseId: 'l1', until: T0 })).toEqual({ stop: false });
  });

  it('answers a held watch "stop" the moment its campaign is paused, with the time of the stop', async () => {
    // Prepare
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);
    const held = stops.watch({ leaseId: 'l1', until: T0 + 5_000 });
    clock.advance(700);

    // Act
    stops.stop('c1', [active('l1', [5, 5])]);

    // Assess
    expect(await held).toEqual({ stop: true, at: T0 + 700 });
    expect(await stops.watch({ leaseId: 'l1', until: T0 + 5_000, first: true })).toEqual({ stop: true, at: T0 + 700 });
    expect(stops.isStopping('c1')).toBe(true);
    expect(stops.isStopping('c2')).toBe(false);
  });

  it('states an upper bound until the workers confirm, then exactly what they counted', async () => {
    // Prepare
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);
    stops.stop('c1', [active('l1', [5, 5]), active('l2', [3])]);

    // Assess: nobody confirmed: every permit, until the last slice ends and a call then times out
    expect(stops.describe('c1')).toMatchObject({
      at: new Date(T0).toISOString(),
      inFlight: 13,
      endsBy: new Date(T0 + 2_000 + PROVIDER_TIMEOUT_MS).toISOString(),
      confirmed: false,
    });
    expect(stops.describe('c1')!.message).toMatch(/^Paused: up to 13 emails may still go out until 16:00:12 UTC \(2 workers have not/);

    // Act: both confirm, 2 and 0 calls on their way
    clock.advance(5);
    await stops.watch({ leaseId: 'l1', until: T0 + 2_000, stopped: { inFlight: 2 } });
    await stops.watch({ leaseId: 'l2', until: T0 + 1_000, stopped: { inFlight: 0 } });

    // Assess
    expect(stops.describe('c1')).toMatchObject({
      inFlight: 2,
      endsBy: new Date(T0 + 5 + PROVIDER_TIMEOUT_MS).toISOString(),
      confirmed: true,
    });
    expect(stops.describe('c1')!.message).toBe(
      'Paused: 2 emails already on their way to the provider when you clicked may still arrive (they are answered by 16:00:10 UTC); nothing else goes out until you click Resume.',
    );
  });

  it('says nothing was on its way when no lease was out, and resolves its wait at once', async () => {
    const stops = new LeaseStops(new ManualClock(T0));
    stops.stop('c1', []);
    await stops.confirmedBy('c1', 60_000);
    expect(stops.describe('c1')).toMatchObject({ inFlight: 0, confirmed: true, endsBy: new Date(T0).toISOString() });
    expect(stops.describe('c1')!.message).toBe(
      'Paused: nothing was on its way to the provider; nothing else goes out until you click Resume.',
    );
  });

  it('waits for the confirmations (or the check-ins) before it answers, at most the time it is given', async () => {
    // Prepare
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);
    stops.stop('c1', [active('l1', [5]), active('l2', [5])]);
    const waiting = stops.confirmedBy('c1', 2_000);

    // Act / Assess
    await stops.watch({ leaseId: 'l1', until: T0 + 1_000, stopped: { inFlight: 1 } });
    expect(await settled(waiting)).toBe('pending');
    stops.ended('l2', { start: T0, sliceMs: 1_000 }, [3], 3);
    expect(await settled(waiting)).toBeUndefined();

    // …and gives up after the time given
    stops.stop('c2', [{ ...active('l3', [5]), lease: { ...active('l3', [5]).lease, campaignId: 'c2' } }]);
    const slow = stops.confirmedBy('c2', 2_000);
    clock.advance(2_000);
    expect(await slow).toBeUndefined();
    expect(stops.describe('c2')!.confirmed).toBe(false);
  });

  it('counts, for a lease that checked in without confirming, the calls of slices ending after the stop less a provider timeout', () => {
    // Prepare: slices of 1 s from T0; stopped at T0 + 12 s; calls in slices 0, 1 and 11
    const clock = new ManualClock(T0 + 12_000);
    const stops = new LeaseStops(clock);
    stops.stop('c1', [
      active(
        'l1',
        Array.from({ length: 12 }, () => 5),
      ),
    ]);

    // Act
    const used = [1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
    stops.ended('l1', { start: T0, sliceMs: 1_000 }, used, 7);

    // Assess: slice 1 ends at T0 + 2 s = stop − 10 s: its calls had timed out by then; slice 11's had not
    expect(stops.describe('c1')).toMatchObject({ inFlight: 4, confirmed: true, endsBy: new Date(T0 + 12_000).toISOString() });
  });

  it('a confirmation that comes after the check-in replaces the bound with the count', async () => {
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);
    stops.stop('c1', [active('l1', [5])]);
    stops.ended('l1', { start: T0, sliceMs: 1_000 }, undefined, 5);
    expect(stops.describe('c1')!.inFlight).toBe(5);
    await stops.watch({ leaseId: 'l1', until: T0 + 1_000, stopped: { inFlight: 1 } });
    expect(stops.describe('c1')!.inFlight).toBe(1);
  });

  it('lets leases be issued again and forgets the stop on resume', async () => {
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);
    stops.stop('c1', [active('l1', [5])]);
    stops.clear('c1');
    expect(stops.isStopping('c1')).toBe(false);
    expect(stops.describe('c1')).toBeUndefined();
    expect(await stops.watch({ leaseId: 'l1', until: T0 + 1_000, first: true })).toEqual({ stop: false });
  });

  it('answers every held watch "go on" when the conductor shuts down or the lease checks in', async () => {
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);
    const a = stops.watch({ leaseId: 'l1', until: T0 + 5_000 });
    const b = stops.watch({ leaseId: 'l2', until: T0 + 5_000 });
    stops.ended('l1', { start: T0, sliceMs: 1_000 }, [1], 1);
    expect(await a).toEqual({ stop: false });
    expect(await settled(b)).toBe('pending');
    stops.releaseWatches();
    expect(await b).toEqual({ stop: false });
  });

  it('forgets a cancelled pause once its leases are over, and keeps them stopped until then', async () => {
    // Prepare: a pause of two leases, then a cancel.
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);
    stops.stop('c1', [active('l1', [5]), active('l2', [5])]);

    // Act
    stops.retire('c1');
    stops.ended('l1', { start: T0, sliceMs: 1_000 }, [1], 1);

    // Assess: l2 still stopped; once it is past its last slice and a provider timeout, nothing is kept.
    expect(await stops.watch({ leaseId: 'l2', until: T0 + 1_000, first: true })).toMatchObject({ stop: true });
    expect(stops.isStopping('c1')).toBe(true);
    clock.advance(1_000 + PROVIDER_TIMEOUT_MS);
    await stops.watch({ leaseId: 'other', until: T0, first: true });
    expect(stops.isStopping('c1')).toBe(false);
    expect(stops.describe('c1')).toBeUndefined();
  });

  it('stops a watch of a lease it did not issue when its campaign is halted, and counts the permits the worker names', async () => {
    // Prepare
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);

    // Act
    const reply = await stops.watch(
      { leaseId: 'old', workerId: 'w-old', until: T0 + 2_000, permits: 7 },
      { campaignId: 'c1', halted: 'paused' },
    );

    // Assess
    expect(reply).toEqual({ stop: true, at: T0 });
    expect(stops.describe('c1')).toMatchObject({ inFlight: 7, confirmed: false });
    await stops.watch({ leaseId: 'old', workerId: 'w-other', until: T0 + 2_000, stopped: { inFlight: 0 } });
    expect(stops.describe('c1')).toMatchObject({ inFlight: 7, confirmed: false });
    await stops.watch({ leaseId: 'old', workerId: 'w-old', until: T0 + 2_000, stopped: { inFlight: 1 } });
    expect(stops.describe('c1')).toMatchObject({ inFlight: 1, confirmed: true });
  });

  it("a cancelled campaign's unknown lease is stopped and forgotten once over, not kept for ever", async () => {
    const clock = new ManualClock(T0);
    const stops = new LeaseStops(clock);
    expect(await stops.watch({ leaseId: 'old', until: T0 + 1_000 }, { campaignId: 'c1', halted: 'cancelled' })).toMatchObject({
      stop: true,
    });
    clock.advance(1_000 + PROVIDER_TIMEOUT_MS);
    await stops.watch({ leaseId: 'other', until: T0, first: true });
    expect(stops.isStopping('c1')).toBe(false);
  });
});
