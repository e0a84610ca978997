import { ManualClock, keys, type SendWindow } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { SendingGovernors } from '../../src/core/sending-governors';
import { DOMAIN, buckets } from '../fixtures';
import { START, begin, harness, ref, report, storedCampaign } from '../harness';

const leased = (h: ReturnType<typeof harness>) => h.invocations.flatMap((i) => i.lease.recipientIds);

describe('Conductor: a campaign scheduled for later', () => {
  async function scheduled(inMs = 30_000) {
    const h = harness();
    await storedCampaign(h.store, 4, 'draft');
    await begin(h);
    const at = h.clock.now() + inMs;
    const view = await h.conductor.send(ref.campaignId, { at });
    return { h, at, view };
  }

  it('renders ahead but sends nothing before its time, and says when it starts', async () => {
    // Act
    const { h, at, view } = await scheduled();
    h.clock.set(at - 1);
    await h.conductor.tick();
    // Assess: "campaign requested" went out at once (rendering runs ahead); no lease yet.
    expect(view).toMatchObject({ status: 'scheduled', sendAt: new Date(at).toISOString() });
    expect(h.published).toHaveLength(1);
    expect(h.invocations).toHaveLength(0);
    expect(h.conductor.getCampaign(ref.campaignId).waiting).toEqual({
      reason: 'scheduled',
      until: new Date(at).toISOString(),
      message: `Scheduled: sending starts at ${new Date(at).toISOString()}`,
    });
    expect(h.conductor.getCampaign(ref.campaignId).etaSeconds).toBeNull();
  });

  it('starts sending within the tick at its time', async () => {
    // Prepare
    const { h, at } = await scheduled();
    // Act
    h.clock.set(at);
    await h.conductor.tick();
    // Assess
    expect(h.conductor.getCampaign(ref.campaignId).status).toBe('sending');
    expect(leased(h)).toHaveLength(4);
    expect(h.invocations[0]!.lease.schedule.start).toBeGreaterThanOrEqual(at);
  });

  it('can be moved later, or brought forward to now, until it starts', async () => {
    // Prepare
    const { h, at } = await scheduled();
    // Act: later by a minute; the old time passes with nothing sent.
    await h.conductor.schedule(ref.campaignId, { sendAt: at + 60_000 });
    h.clock.set(at + 1_000);
    await h.conductor.tick();
    expect(h.invocations).toHaveLength(0);
    // Act: a time already past starts it now; rendering is not requested again.
    const view = await h.conductor.schedule(ref.campaignId, { sendAt: h.clock.now() - 1 });
    await h.conductor.tick();
    // Assess: it says when it really started, not the time it was moved from.
    expect(view.status).toBe('sending');
    expect(view.sendAt).toBe(new Date(at + 1_000).toISOString());
    expect(leased(h)).toHaveLength(4);
    expect(h.published).toHaveLength(1);
  });

  it('is cancelled before it starts with nothing sent, every recipient counted cancelled', async () => {
    // Prepare
    const { h, at } = await scheduled();
    // Act
    await h.conductor.cancel(ref.campaignId);
    h.clock.set(at + 1_000);
    await h.conductor.tick();
    // Assess
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.status).toBe('cancelled');
    expect(view.finishedAt).toBeDefined();
    expect(view.counts).toMatchObject({ cancelled: 4, sent: 0 });
    expect(h.invocations).toHaveLength(0);
  });

  it('keeps its time through a conductor restart', async () => {
    // Prepare
    const { h, at } = await scheduled(300_000);
    // Act: a new conductor on the same store.
    const again = harness({}, 620, h.store, h.clock);
    await again.conductor.start();
    h.clock.set(at - 1_000);
    await again.conductor.tick();
    const before = again.invocations.length;
    h.clock.set(at);
    await again.conductor.tick();
    // Assess
    expect(before).toBe(0);
    expect(again.conductor.getCampaign(ref.campaignId).status).toBe('sending');
    expect(again.invocations.length).toBeGreaterThan(0);
  });

  it('refuses to send it twice and to schedule a campaign already sending', async () => {
    // Prepare
    const { h, at } = await scheduled();
    h.clock.set(at);
    await h.conductor.tick();
    // Act + Assess
    await expect(h.conductor.schedule(ref.campaignId, { sendAt: at + 60_000 })).rejects.toThrow(
      `cannot schedule campaign ${ref.campaignId}: it is sending`,
    );
  });
});

describe('Conductor: a send window', () => {
  // START is Saturday 2026-11-21 12:00 UTC; begin() adds 130 s.
  const weekdays: SendWindow = { timeZone: 'UTC', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00' };
  const monday9 = Date.UTC(2026, 10, 23, 9, 0, 0);

  it('leases nothing outside the window, and says when it opens', async () => {
    // Prepare
    const h = harness();
    await storedCampaign(h.store, 4, 'draft');
    await begin(h);
    await h.conductor.schedule(ref.campaignId, { sendWindow: weekdays });
    // Act
    await h.conductor.send(ref.campaignId);
    await h.conductor.tick();
    // Assess
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(h.invocations).toHaveLength(0);
    expect(view.waiting).toEqual({
      reason: 'sendWindow',
      until: new Date(monday9).toISOString(),
      message: 'Outside its send window: sending resumes Mon 09:00 UTC',
    });
  });

  it('sends once it opens, and no lease reaches past its close', async () => {
    // Prepare: Monday 16:59:55, five seconds before the window closes.
    const h = harness({ batchSize: 100 });
    await storedCampaign(h.store, 100, 'draft');
    await begin(h);
    await h.conductor.schedule(ref.campaignId, { sendWindow: weekdays });
    await h.conductor.send(ref.campaignId);
    const close = Date.UTC(2026, 10, 23, 17, 0, 0);
    h.clock.set(close - 5_000);
    // Act
    await h.conductor.tick();
    // Assess
    expect(h.invocations.length).toBeGreaterThan(0);
    for (const { lease } of h.invocations) {
      const end = lease.schedule.start + lease.schedule.sliceMs * lease.schedule.permits.length;
      expect(end).toBeLessThanOrEqual(close);
    }
    expect(h.conductor.getCampaign(ref.campaignId).waiting).toBeUndefined();
  });

  it('never holds up another campaign of the same domain whose window is open', async () => {
    // Prepare: the first campaign (newest, and first in fair share) is closed; a second has no window.
    const second = { customerId: 'globex', campaignId: 'c-test-2' };
    const h = harness({ maxWorkers: 1 });
    await storedCampaign(h.store, 4, 'draft');
    await storedCampaign(h.store, 4, 'sending', { ref: second });
    await begin(h);
    await h.conductor.schedule(ref.campaignId, { sendWindow: weekdays });
    await h.conductor.send(ref.campaignId);
    // Act
    await h.conductor.tick();
    // Assess
    expect(h.invocations.map((i) => i.lease.campaignId)).toEqual([second.campaignId]);
  });

  it('can be cleared, and then sends at once', async () => {
    // Prepare
    const h = harness();
    await storedCampaign(h.store, 4, 'draft');
    await begin(h);
    await h.conductor.schedule(ref.campaignId, { sendWindow: weekdays });
    await h.conductor.send(ref.campaignId);
    // Act
    const view = await h.conductor.schedule(ref.campaignId, { sendWindow: null });
    await h.conductor.tick();
    // Assess
    expect(view.sendWindow).toBeUndefined();
    expect(leased(h)).toHaveLength(4);
    const stored = JSON.parse((await h.store.get(buckets.campaigns, keys.state(ref)))!);
    expect(stored.sendWindow).toBeUndefined();
  });
});

describe('Conductor: the provider says its limit is reached (a 420 with a time)', () => {
  const other = { customerId: 'acme', campaignId: 'c-test-2' };

  const limitReached = (ids: readonly string[]) =>
    ids.map((recipientId) => ({
      recipientId,
      status: 'retryable' as const,
      code: 'PROVIDER_LIMIT_REACHED',
      reason: 'PROVIDER_LIMIT_REACHED: recipient limit exceeded',
      retryAfterMs: 3_600_000,
    }));

  async function twoDomains() {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(START);
    const governors = new SendingGovernors({
      domains: [
        { domain: DOMAIN, perWindowMax: 620 },
        { domain: 'news.example.com', perWindowMax: 620 },
      ],
      windowMs: 60_000,
      sliceMs: 1_000,
      marginMs: 500,
    });
    const h = harness({ maxWorkers: 1, batchSize: 4, maxAttempts: 2 }, 620, store, clock, governors);
    await storedCampaign(store, 4);
    await storedCampaign(store, 4, 'sending', { ref: other, sendingDomain: 'news.example.com' });
    await begin(h);
    return h;
  }

  it('holds only that domain until the limit lifts, keeps the recipient without spending an attempt, and says so', async () => {
    // Prepare
    const h = await twoDomains();
    await h.conductor.tick();
    const first = h.invocations[0]!.lease;
    const limited = first.domain!;
    const hourLater = h.clock.now() + 3_600_000;
    // Act: every recipient of the lease refused with the limit; the worker wants more.
    const response = await h.conductor.checkIn(
      report(first, 'sent', true, {
        results: limitReached(first.recipientIds),
      }),
    );
    // Assess: the next lease goes through the other domain; the limited one waits.
    expect(response.lease?.domain).toBeDefined();
    expect(response.lease!.domain).not.toBe(limited);
    const limitedCampaign = first.campaignId;
    const view = h.conductor.getCampaign(limitedCampaign);
    expect(view.waiting).toMatchObject({ reason: 'providerHold', until: new Date(hourLater).toISOString() });
    expect(view.waiting!.message).toMatch(new RegExp(`sending limit for ${limited.replace(/\./g, '\\.')} is reached; sending resumes at`));
    expect(view.counts.failed).toBe(0);
    // Act: just before it lifts, nothing for that domain; at the time, its recipients go out again.
    await h.conductor.checkIn(report(response.lease!, 'sent', false));
    h.clock.set(hourLater - 2_000);
    await h.conductor.tick();
    expect(h.invocations.slice(1).some((i) => i.lease.domain === limited)).toBe(false);
    h.clock.set(hourLater + 1_000);
    await h.conductor.tick();
    const again = h.invocations.find((i) => i.lease.domain === limited && i.lease.leaseId !== first.leaseId);
    expect(again?.lease.recipientIds.sort()).toEqual([...first.recipientIds].sort());
    expect(again!.lease.schedule.start).toBeGreaterThanOrEqual(hourLater);
    // Act: refused with the limit once more (maxAttempts is 2): still nobody failed.
    await h.conductor.checkIn(report(again!.lease, 'sent', false, { results: limitReached(again!.lease.recipientIds) }));
    // Assess
    expect(h.conductor.getCampaign(limitedCampaign).counts.failed).toBe(0);
  });
});

/**
 * One worker, leases of up to 10, and a campaign of 10 recipients begun on a domain with these
 * calendar limits (UTC), from START: its first lease granted, sent and reported, then a tick.
 */
async function firstLeaseSent(daily: { perDay: number } | { perMonth: number }) {
  const store = new MemoryObjectStore();
  const governors = new SendingGovernors({
    domains: [{ domain: DOMAIN, perWindowMax: 620, daily }],
    windowMs: 60_000,
    sliceMs: 1_000,
    marginMs: 500,
  });
  const h = harness({ maxWorkers: 1, batchSize: 10 }, 620, store, new ManualClock(START), governors);
  await storedCampaign(store, 10);
  await begin(h);
  await h.conductor.tick();
  const lease = h.invocations[0]!.lease;
  await h.conductor.checkIn(report(lease, 'sent'));
  await h.conductor.tick();
  return { h, lease };
}

describe('Conductor: a domain with a daily limit', () => {
  it("leases only the day's limit, says when sending resumes, and sends the rest the next day", async () => {
    // Prepare and act: 6 a day (UTC) for 10 recipients; START is Saturday 12:00 UTC.
    const { h, lease: today } = await firstLeaseSent({ perDay: 6 });
    // Assess
    expect(today.recipientIds).toHaveLength(6);
    expect(h.invocations).toHaveLength(1);
    const view = h.conductor.getCampaign(ref.campaignId);
    const midnight = Date.UTC(2026, 10, 22);
    expect(view.waiting).toEqual({
      reason: 'dailyLimit',
      until: new Date(midnight).toISOString(),
      message: `Today's limit for ${DOMAIN} (6) is reached; sending resumes at 00:00 UTC`,
    });
    expect(view.dailyLimit).toEqual({ day: '2026-11-21', limit: 6, left: 0 });
    // Act: the next day.
    h.clock.set(midnight + 1_000);
    await h.conductor.tick();
    // Assess
    expect(h.invocations[1]!.lease.recipientIds).toHaveLength(4);
    expect(h.conductor.getCampaign(ref.campaignId).dailyLimit).toEqual({ day: '2026-11-22', limit: 6, left: 2 });
  });
});

describe('Conductor: a domain with a monthly limit', () => {
  it('leases only what is left of the month, shows it, and says when sending resumes', async () => {
    // Prepare and act: 6 a month (UTC) for 10 recipients; START is Saturday 2026-11-21 12:00 UTC.
    const { h, lease } = await firstLeaseSent({ perMonth: 6 });
    // Assess
    expect(lease.recipientIds).toHaveLength(6);
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.monthlyLimit).toEqual({ month: '2026-11', limit: 6, left: 0 });
    expect(view.dailyLimit).toBeUndefined();
    expect(view.waiting).toEqual({
      reason: 'monthlyLimit',
      until: '2026-12-01T00:00:00.000Z',
      message: `This month's limit for ${DOMAIN} (6) is reached; sending resumes on 1 Dec at 00:00 UTC`,
    });
    // Act: the next month.
    h.clock.set(Date.UTC(2026, 11, 1, 0, 0, 1));
    await h.conductor.tick();
    // Assess
    expect(h.invocations[1]!.lease.recipientIds).toHaveLength(4);
  });
});

describe("Conductor: sending at a local time in each recipient's own zone", () => {
  it('releases each recipient when the time comes where they are, under one governor, and names the zones it could not read', async () => {
    // Prepare: Monday 2026-11-23 at 09:00 local; Berlin is UTC+1, New York UTC-5; one unknown zone falls back to UTC.
    const h = harness({ batchSize: 10 });
    const ids = await storedCampaign(h.store, 3, 'draft');
    const zones = ['Europe/Berlin', 'America/New_York', 'Mars/Olympus'];
    for (const [i, recipientId] of ids.entries()) {
      const email = `r${i}@example.com`;
      const stub = { version: 1, ...ref, recipientId, email, fields: { email, tz: zones[i]! }, line: i + 2 };
      await h.store.put(buckets.stubs, keys.stub({ ...ref, recipientId }), JSON.stringify(stub));
    }
    await begin(h);
    await h.conductor.schedule(ref.campaignId, { localSend: { date: '2026-11-23', time: '09:00', timeZone: 'UTC', column: 'tz' } });
    await h.conductor.send(ref.campaignId);
    let reported = 0;
    const leasedAt = async (iso: string) => {
      h.clock.set(Date.parse(iso));
      await h.conductor.tick();
      // Each lease's worker sends and reports at once.
      for (const { lease } of h.invocations.slice(reported)) await h.conductor.checkIn(report(lease, 'sent'));
      reported = h.invocations.length;
      return leased(h);
    };
    // Act + Assess: nobody before 09:00 in Berlin (08:00 UTC); then each at their own 09:00.
    expect(await leasedAt('2026-11-23T07:59:00Z')).toEqual([]);
    // The view shows the three waves, and its ETA waits for the last one (New York's, 6 h 1 min on).
    const before = h.conductor.getCampaign(ref.campaignId);
    expect(before.waves).toEqual([
      { at: '2026-11-23T08:00:00.000Z', count: 1, zones: ['Europe/Berlin'] },
      { at: '2026-11-23T09:00:00.000Z', count: 1, zones: ['UTC'] },
      { at: '2026-11-23T14:00:00.000Z', count: 1, zones: ['America/New_York'] },
    ]);
    expect(before.etaSeconds).toBeGreaterThanOrEqual(6 * 3_600 + 60);
    expect(before.etaSeconds).toBeLessThan(6 * 3_600 + 61 + 1);
    expect(await leasedAt('2026-11-23T08:00:01Z')).toEqual([ids[0]]);
    expect(await leasedAt('2026-11-23T09:00:01Z')).toEqual([ids[0], ids[2]]);
    expect(await leasedAt('2026-11-23T13:59:00Z')).toEqual([ids[0], ids[2]]);
    expect(await leasedAt('2026-11-23T14:00:01Z')).toEqual([ids[0], ids[2], ids[1]]);
    expect(h.conductor.getCampaign(ref.campaignId).etaSeconds).toBe(0);
    expect(h.conductor.getCampaign(ref.campaignId).problems).toContainEqual({
      line: 4,
      kind: 'timezone',
      reason: 'unknown time zone "Mars/Olympus": sent at 09:00 UTC',
    });
  });

  it('is set on a draft only: once rendering has begun, the queue is already made', async () => {
    const h = harness();
    await storedCampaign(h.store, 1, 'draft');
    await begin(h);
    await h.conductor.send(ref.campaignId);
    await expect(
      h.conductor.schedule(ref.campaignId, { localSend: { date: '2026-11-23', time: '09:00', timeZone: 'UTC', column: 'timezone' } }),
    ).rejects.toThrow('cannot set the local send time of campaign c-test-1: it is sending');
  });
});
