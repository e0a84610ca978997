import { ManualClock, keys, leasePermits, leaseSendUntil, recipientIdFor, type Lease, type WorkerInvocation } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { SendingGovernors } from '../../src/core/sending-governors';
import { maxInAnyWindow } from '../../src/sim/window-stats';
import { CampaignStateError } from '../../src/core/errors';
import { DOMAIN, buckets } from '../fixtures';
import { START, begin, harness, ref, report, resultOf, storedCampaign, sum } from '../harness';

describe('Conductor', () => {
  it('leases rendered recipients in batches of at most BATCH_SIZE to at most MAX_WORKERS workers', async () => {
    // Prepare
    const h = harness();
    await storedCampaign(h.store, 20);
    await begin(h);
    // Act
    await h.conductor.tick();
    // Assess
    expect(h.invocations).toHaveLength(2);
    for (const { lease } of h.invocations) {
      expect(lease.recipientIds).toHaveLength(4);
      expect(leasePermits(lease)).toBe(4);
      expect(lease.domain).toBe(DOMAIN);
      // The permits come as a schedule of one-second slices that ends at `sendUntil`.
      expect(sum(lease.schedule!.permits)).toBe(4);
      expect(leaseSendUntil(lease)).toBe(lease.schedule!.start + lease.schedule!.permits.length * 1_000);
      expect(lease.schedule!.start).toBeGreaterThanOrEqual(h.clock.now() - 500);
    }
    expect(new Set(h.invocations.flatMap((i) => i.lease.recipientIds)).size).toBe(8);
  });

  it('paces a small cap over the window and never schedules more than the cap within reach of one', async () => {
    // Prepare: 10 a minute, five workers that always want more.
    const h = harness({ maxWorkers: 5, batchSize: 50 }, 10);
    await storedCampaign(h.store, 40);
    await begin(h);
    const leases: Lease[] = [];
    const done: Lease[] = [];
    // Act: three minutes of ticks and check-backs.
    for (let t = 0; t < 180; t++) {
      await h.conductor.tick();
      for (const { lease } of h.invocations.splice(0)) leases.push(lease);
      for (const lease of [...leases]) {
        if (leaseSendUntil(lease) > h.clock.now()) continue;
        leases.splice(leases.indexOf(lease), 1);
        const reply = await h.conductor.checkIn(report(lease, 'sent', true));
        if (reply.lease) leases.push(reply.lease);
        done.push(lease);
      }
      h.clock.advance(1_000);
    }
    // Assess: every permit used at the worst moment of its slice (either edge, with the margin).
    const all = done;
    const early: number[] = [];
    const late: number[] = [];
    for (const l of all)
      l.schedule!.permits.forEach((n, k) => {
        for (let c = 0; c < n; c++) {
          early.push(l.schedule!.start + k * 1_000 - 500);
          late.push(l.schedule!.start + (k + 1) * 1_000 + 499);
        }
      });
    expect(sum(all.map((l) => leasePermits(l)))).toBeGreaterThanOrEqual(25);
    expect(maxInAnyWindow(early, 60_000)).toBeLessThanOrEqual(10);
    expect(maxInAnyWindow(late, 60_000)).toBeLessThanOrEqual(10);
  });

  it('hands a worker that checks back its next lease in the reply', async () => {
    const h = harness({ maxWorkers: 1 });
    await storedCampaign(h.store, 8);
    await begin(h);
    await h.conductor.tick();
    const first = h.invocations[0]!.lease;
    const reply = await h.conductor.checkIn(report(first, 'sent', true));
    expect(reply.lease?.workerId).toBe(first.workerId);
    expect(reply.lease?.recipientIds.some((r) => first.recipientIds.includes(r))).toBe(false);
    expect(h.conductor.activeWorkers).toBe(1);
  });

  it('finishes a campaign when every recipient has an outcome, with counts that add up', async () => {
    const h = harness({ maxWorkers: 4, batchSize: 5 });
    await storedCampaign(h.store, 10);
    await begin(h);
    await h.conductor.tick();
    const [a, b] = h.invocations.map((i) => i.lease);
    await h.conductor.checkIn(report(a!, 'sent'));
    await h.conductor.checkIn({
      ...report(b!, 'sent'),
      results: b!.recipientIds.map((recipientId, i) =>
        resultOf(recipientId, (['sent', 'failed', 'suppressed', 'inDoubt', 'sent'] as const)[i]!),
      ),
    });
    await h.conductor.tick();
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.status).toBe('done');
    const c = view.counts;
    expect(c).toMatchObject({
      total: 11,
      stubbed: 10,
      rendered: 10,
      sent: 7,
      failed: 1,
      suppressed: 1,
      inDoubt: 1,
      invalid: 1,
      duplicate: 0,
      cancelled: 0,
      inFlight: 0,
    });
    expect(c.sent + c.failed + c.suppressed + c.inDoubt + c.cancelled + c.invalid + c.duplicate).toBe(c.total);
    const state = JSON.parse((await h.store.get(buckets.campaigns, keys.state(ref)))!);
    expect(state.status).toBe('done');
  });

  it('puts unattempted recipients back in the queue and leases them again', async () => {
    const h = harness({ maxWorkers: 1 });
    await storedCampaign(h.store, 4);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    const [sent, ...rest] = lease.recipientIds;
    await h.conductor.checkIn({ ...report(lease), results: [resultOf(sent!, 'sent')], unattempted: rest, permitsUsed: 1 });
    await h.conductor.tick();
    expect(h.invocations[1]!.lease.recipientIds.sort()).toEqual([...rest].sort());
  });

  it('treats a claimed recipient of an expired lease as in doubt and leases the unclaimed ones again', async () => {
    const h = harness({ maxWorkers: 1, workerTimeBudgetMs: 1_000, leaseGraceMs: 1_000 });
    await storedCampaign(h.store, 4);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    const claimed = lease.recipientIds[0]!;
    await h.store.put(buckets.campaigns, keys.claim({ ...ref, recipientId: claimed }), '{}');
    h.clock.set(lease.expiresAt + 1);
    await h.conductor.tick();
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.counts.inDoubt).toBe(1);
    expect(h.invocations[1]!.lease.recipientIds.sort()).toEqual(lease.recipientIds.slice(1).sort());
    const outcome = JSON.parse((await h.store.get(buckets.campaigns, keys.outcome({ ...ref, recipientId: claimed })))!);
    expect(outcome.status).toBe('inDoubt');
  });

  it('lets a late report from the vanished worker settle a provisional in-doubt', async () => {
    const h = harness({ maxWorkers: 1, workerTimeBudgetMs: 1_000, leaseGraceMs: 1_000 });
    await storedCampaign(h.store, 1);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    await h.store.put(buckets.campaigns, keys.claim({ ...ref, recipientId: lease.recipientIds[0]! }), '{}');
    h.clock.set(lease.expiresAt + 1);
    await h.conductor.tick();
    expect(h.conductor.getCampaign(ref.campaignId).counts.inDoubt).toBe(1);
    await h.conductor.checkIn(report(lease, 'sent'));
    expect(h.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ inDoubt: 0, sent: 1 });
  });

  it('after a restart, never leases a recipient that has an outcome or a claim', async () => {
    const store = new MemoryObjectStore();
    const ids = await storedCampaign(store, 6);
    await store.put(
      buckets.campaigns,
      keys.outcome({ ...ref, recipientId: ids[0]! }),
      JSON.stringify({ version: 1, recipientId: ids[0], status: 'sent', at: 'x' }),
    );
    await store.put(buckets.campaigns, keys.claim({ ...ref, recipientId: ids[1]! }), '{}');
    const h = harness({ maxWorkers: 4, batchSize: 10 }, 100, store);
    await begin(h);
    await h.conductor.tick();
    const leased = h.invocations.flatMap((i) => i.lease.recipientIds);
    expect(leased.sort()).toEqual(ids.slice(2).sort());
    expect(h.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ sent: 1, inDoubt: 1 });
  });

  it('backs off when the provider pushes back: holds for its wait, halves the effective cap, shows it', async () => {
    // Prepare
    const h = harness({ maxWorkers: 2 }, 620);
    await storedCampaign(h.store, 12);
    await begin(h);
    await h.conductor.tick();
    const [throttled, other] = h.invocations.map((i) => i.lease);
    // Act
    await h.conductor.checkIn({
      ...report(throttled!),
      results: [
        {
          recipientId: throttled!.recipientIds[0]!,
          status: 'retryable',
          code: 'PROVIDER_THROTTLED',
          reason: 'PROVIDER_THROTTLED: 429',
          retryAfterMs: 5_000,
        },
      ],
      unattempted: throttled!.recipientIds.slice(1),
      permitsUsed: 1,
    });
    const during = await h.conductor.checkIn(report(other!, 'sent', true));
    // Assess
    // The next lease may be handed out now, but its permits start when the provider's wait ends.
    expect(during.lease!.schedule!.start).toBeGreaterThanOrEqual(h.clock.now() + 5_000);
    expect(h.conductor.getCampaign(ref.campaignId).effectivePerMinute).toBe(310);
    h.clock.advance(5_000);
    await h.conductor.tick();
    // The throttled recipient is leased again once the wait is over.
    const seen: string[] = [];
    const queue = [during.lease!, ...h.invocations.slice(2).map((i) => i.lease)];
    for (let lease = queue.shift(); lease; lease = queue.shift()) {
      seen.push(...lease.recipientIds);
      h.clock.set(Math.max(h.clock.now(), leaseSendUntil(lease)));
      const reply = await h.conductor.checkIn(report(lease, 'sent', true));
      if (reply.lease) queue.push(reply.lease);
    }
    expect(seen).toContain(throttled!.recipientIds[0]);
  });

  it('counts every recipient not yet sent as cancelled once in-flight leases are back', async () => {
    const h = harness({ maxWorkers: 1 });
    await storedCampaign(h.store, 10);
    await begin(h);
    await h.conductor.tick();
    await h.conductor.cancel(ref.campaignId);
    expect(h.conductor.getCampaign(ref.campaignId).status).toBe('cancelled');
    const more = await h.conductor.checkIn(report(h.invocations[0]!.lease, 'sent', true));
    expect(more.lease).toBeNull();
    await h.conductor.tick();
    const c = h.conductor.getCampaign(ref.campaignId).counts;
    expect(c).toMatchObject({ sent: 4, cancelled: 6, inFlight: 0 });
    expect(h.invocations).toHaveLength(1);
  });

  it('stays cancelling (no finishedAt) while a lease is out, and finishes once it is back', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1 });
    await storedCampaign(h.store, 10);
    await begin(h);
    await h.conductor.tick();
    // Act
    await h.conductor.cancel(ref.campaignId);
    await h.conductor.tick();
    const whileOut = h.conductor.getCampaign(ref.campaignId);
    await h.conductor.checkIn(report(h.invocations[0]!.lease, 'sent', true));
    await h.conductor.tick();
    // Assess
    expect(whileOut).toMatchObject({ status: 'cancelled', counts: { inFlight: 4 } });
    expect(whileOut.finishedAt).toBeUndefined();
    expect(h.conductor.getCampaign(ref.campaignId).finishedAt).toBeDefined();
    await expect(h.conductor.cancel(ref.campaignId)).rejects.toBeInstanceOf(CampaignStateError);
  });

  it('publishes once when the same draft is sent five times at once; the others are refused', async () => {
    // Prepare: all five arrive while the first is still publishing.
    const h = harness({});
    await storedCampaign(h.store, 3, 'draft');
    await h.conductor.start();
    // Act
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => h.conductor.send(ref.campaignId)));
    // Assess
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected'))
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(CampaignStateError);
    expect(h.published).toHaveLength(1);
    expect(h.conductor.getCampaign(ref.campaignId).status).toBe('sending');
  });

  it('reads back a finished campaign with the same counts after a restart, from its summary or else the ledger', async () => {
    // Prepare: four recipients, three sent and one in doubt, then done.
    const h = harness({ maxWorkers: 1 });
    const ids = await storedCampaign(h.store, 4);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    await h.conductor.checkIn(
      report(lease, 'sent', false, {
        results: lease.recipientIds.map((recipientId, i) =>
          i === 0 ? { recipientId, status: 'inDoubt', reason: 'PROVIDER_TIMEOUT' } : { recipientId, status: 'sent', providerId: `p${i}` },
        ),
      }),
    );
    await h.conductor.tick();
    const before = h.conductor.getCampaign(ref.campaignId);
    for (const [i, recipientId] of lease.recipientIds.entries())
      await h.store.put(
        buckets.campaigns,
        keys.outcome({ ...ref, recipientId }),
        JSON.stringify({ version: 1, recipientId, status: i === 0 ? 'inDoubt' : 'sent', at: new Date(START).toISOString() }),
      );
    // Act: restart twice, the second time with the summary gone.
    const again = harness({}, 620, h.store, h.clock);
    await again.conductor.start();
    const summary = JSON.parse((await h.store.get(buckets.campaigns, keys.summary(ref)))!);
    await h.store.delete(buckets.campaigns, keys.summary(ref));
    const rebuilt = harness({}, 620, h.store, h.clock);
    await rebuilt.conductor.start();
    // Assess
    expect(before).toMatchObject({ status: 'done', counts: { total: 5, sent: 3, inDoubt: 1, invalid: 1 } });
    expect(again.conductor.getCampaign(ref.campaignId)).toMatchObject({ status: 'done', counts: before.counts });
    expect(summary.inDoubt).toEqual([lease.recipientIds[0]]);
    expect(ids).toContain(lease.recipientIds[0]);
    expect(rebuilt.conductor.getCampaign(ref.campaignId).counts).toEqual(before.counts);
    expect(await h.store.get(buckets.campaigns, keys.summary(ref))).toBeDefined();
  });

  it('writes the outcome record of a result its worker could not record, from the check-in', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1 });
    await storedCampaign(h.store, 2);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    const [unrecorded, recorded] = lease.recipientIds as [string, string];
    // Act
    await h.conductor.checkIn(report(lease, 'sent', false, { unrecorded: [unrecorded] }));
    // Assess
    const written = JSON.parse((await h.store.get(buckets.campaigns, keys.outcome({ ...ref, recipientId: unrecorded })))!);
    expect(written).toMatchObject({ status: 'sent', providerId: `<${unrecorded}@mg.test>`, leaseId: lease.leaseId });
    expect(await h.store.get(buckets.campaigns, keys.outcome({ ...ref, recipientId: recorded }))).toBeUndefined();
  });

  it('ends a cancelled draft at once: nothing was ever out', async () => {
    // Prepare
    const h = harness({});
    await storedCampaign(h.store, 3, 'draft');
    await h.conductor.start();
    // Act
    const view = await h.conductor.cancel(ref.campaignId);
    // Assess
    expect(view.status).toBe('cancelled');
    expect(view.finishedAt).toBeDefined();
    await expect(h.conductor.send(ref.campaignId)).rejects.toBeInstanceOf(CampaignStateError);
    expect(h.published).toHaveLength(0);
  });

  it('issues no lease while a campaign is paused, and goes on after resume', async () => {
    const h = harness({});
    await storedCampaign(h.store, 3);
    await begin(h);
    await h.conductor.pause(ref.campaignId);
    await h.conductor.tick();
    expect(h.invocations).toHaveLength(0);
    await h.conductor.resume(ref.campaignId);
    await h.conductor.tick();
    expect(h.invocations).toHaveLength(1);
  });

  it('stops the leases out at a pause through their watches, requeues what they did not attempt, and says what was on its way', async () => {
    // Prepare: a lease out, its worker watching
    const h = harness({ batchSize: 10 });
    await storedCampaign(h.store, 6);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    const { leaseId, workerId } = lease;
    const until = leaseSendUntil(lease);
    expect(await h.conductor.watch({ leaseId, workerId, until, first: true })).toEqual({ stop: false });
    const held = h.conductor.watch({ leaseId, workerId, until });

    // Act
    const paused = await h.conductor.pause(ref.campaignId);

    // Assess: the watch says stop; the view states the bound until the worker confirms
    expect(await held).toEqual({ stop: true, at: h.clock.now() });
    expect(paused.pause).toMatchObject({ inFlight: leasePermits(lease), confirmed: false });
    await h.conductor.watch({ leaseId, workerId, until, stopped: { inFlight: 1 } });
    const [sent, ...rest] = lease.recipientIds;
    await h.conductor.checkIn(report(lease, 'sent', false, { results: [resultOf(sent!, 'sent')], unattempted: rest, permitsUsed: 1 }));
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.pause).toMatchObject({ inFlight: 1, confirmed: true });
    expect(view.counts).toMatchObject({ sent: 1, queued: 5, inFlight: 0, inDoubt: 0 });
    await h.conductor.tick();
    expect(h.invocations).toHaveLength(1);

    // Act: resume
    const resumed = await h.conductor.resume(ref.campaignId);
    await h.conductor.tick();

    // Assess
    expect(resumed.pause).toBeUndefined();
    expect(h.invocations).toHaveLength(2);
    expect(h.invocations[1]!.lease.recipientIds).toHaveLength(5);
  });

  it('stops, at a pause, a lease issued before a conductor restart, and counts it in what the pause says is on its way', async () => {
    // Prepare: a lease out; the conductor restarts (same store and clock); the worker goes on watching it.
    const first = harness({ batchSize: 10 });
    await storedCampaign(first.store, 6);
    await begin(first);
    await first.conductor.tick();
    const lease = first.invocations[0]!.lease;
    const watch = { leaseId: lease.leaseId, workerId: lease.workerId, until: leaseSendUntil(lease), campaignId: ref.campaignId };
    const h = harness({ batchSize: 10 }, 620, first.store, first.clock);
    await h.conductor.start();
    await h.conductor.tick();
    const held = h.conductor.watch({ ...watch, permits: leasePermits(lease) });

    // Act
    const paused = await h.conductor.pause(ref.campaignId);

    // Assess: the old lease is told to stop, the pause counts its permits until its worker confirms.
    expect(await held).toMatchObject({ stop: true });
    expect(paused.pause).toMatchObject({ inFlight: leasePermits(lease), confirmed: false });
    await h.conductor.watch({ ...watch, stopped: { inFlight: 2 } });
    expect(h.conductor.getCampaign(ref.campaignId).pause).toMatchObject({ inFlight: 2, confirmed: true });
    // A watch that starts after the pause is told to stop at once too.
    expect(await h.conductor.watch({ ...watch, first: true })).toMatchObject({ stop: true });
  });

  it("takes a watch that crosses its lease's check-in for a lease that is over, not one from before a restart", async () => {
    // Prepare: the worker checks its lease in; a watch it sent just before arrives after, once the campaign is paused
    const h = harness({ batchSize: 10 });
    await storedCampaign(h.store, 6);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    await h.conductor.checkIn(report(lease, 'sent'));
    await h.conductor.pause(ref.campaignId);

    // Act
    const late = await h.conductor.watch({
      leaseId: lease.leaseId,
      workerId: lease.workerId,
      until: leaseSendUntil(lease),
      campaignId: ref.campaignId,
      permits: leasePermits(lease),
    });

    // Assess: nothing of it is on its way, and the pause waits for no worker.
    expect(late).toEqual({ stop: false });
    expect(h.conductor.getCampaign(ref.campaignId).pause).toMatchObject({ inFlight: 0, confirmed: true });
  });

  it('tells a watch from a worker the lease was not issued to to stop, and counts nothing it says', async () => {
    // Prepare
    const h = harness({ batchSize: 10 });
    await storedCampaign(h.store, 6);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    const until = leaseSendUntil(lease);
    const paused = h.conductor.pause(ref.campaignId);

    // Act
    const intruder = await h.conductor.watch({ leaseId: lease.leaseId, workerId: 'w-someone-else', until, stopped: { inFlight: 0 } });

    // Assess: the pause still waits for the real worker's word.
    expect(intruder).toMatchObject({ stop: true });
    expect((await paused).pause).toMatchObject({ inFlight: leasePermits(lease), confirmed: false });
    expect(await h.conductor.watch({ leaseId: lease.leaseId, workerId: lease.workerId, until, first: true })).toMatchObject({ stop: true });
  });

  it('issues no lease for a campaign while its pause is being stored', async () => {
    // Prepare: the state write waits until released
    const h = harness({});
    await storedCampaign(h.store, 3);
    await begin(h);
    let release!: () => void;
    const put = h.store.put.bind(h.store);
    h.store.put = async (bucket, key, body, ...more) => {
      if (key === keys.state(ref)) await new Promise<void>((r) => (release = r));
      return put(bucket, key, body, ...more);
    };

    // Act
    const pausing = h.conductor.pause(ref.campaignId);
    await new Promise((r) => setImmediate(r));
    await h.conductor.tick();
    release();
    await pausing;

    // Assess
    expect(h.invocations).toHaveLength(0);
  });

  it('rebuilds the rate chart after a restart from the outcome records of a campaign still sending, accepted sends only', async () => {
    // Prepare: a previous conductor's workers recorded two sends and a failure
    const h = harness({});
    const ids = await storedCampaign(h.store, 4);
    const record = (recipientId: string, status: string, at: number) =>
      h.store.put(
        buckets.campaigns,
        keys.outcome({ ...ref, recipientId }),
        JSON.stringify({
          version: 1,
          recipientId,
          status,
          at: new Date(at).toISOString(),
          ...(status === 'failed' ? { reason: 'no' } : {}),
        }),
      );
    await record(ids[0]!, 'sent', START + 1_000);
    await record(ids[1]!, 'sent', START + 5_000);
    await record(ids[2]!, 'failed', START + 6_000);

    // Act
    await h.conductor.start();
    h.clock.advance(10_000);
    await h.conductor.tick();

    // Assess
    const series = h.conductor.rate(ref.campaignId, 2);
    expect(series.bucketMs).toBe(60_000);
    expect(series.points.at(-1)).toMatchObject({ t: new Date(START).toISOString(), sent: 2, domainSent: 2, cap: 620 });
    expect(h.conductor.getCampaign(ref.campaignId)).toMatchObject({ sentLastMinute: 2, counts: { sent: 2, failed: 1 } });
  });

  it('refuses to send a campaign that is not a draft, and to resume one that is not paused', async () => {
    const h = harness();
    await storedCampaign(h.store, 1, 'draft');
    await begin(h);
    await h.conductor.send(ref.campaignId);
    expect(h.published).toEqual([expect.objectContaining({ version: 1, type: 'campaign.requested', ...ref })]);
    await expect(h.conductor.send(ref.campaignId)).rejects.toBeInstanceOf(CampaignStateError);
    await expect(h.conductor.resume(ref.campaignId)).rejects.toBeInstanceOf(CampaignStateError);
    expect(h.published).toHaveLength(1);
  });

  it('puts a lease back when the worker cannot be started', async () => {
    let fail = true;
    const invocations: WorkerInvocation[] = [];
    const h = harness({ maxWorkers: 1 }, undefined, undefined, undefined, undefined, {
      invoke: async (i) => {
        if (fail) throw new Error('throttled');
        invocations.push(i);
      },
    });
    h.invocations = invocations;
    await storedCampaign(h.store, 2);
    await begin(h);
    await h.conductor.tick();
    expect(h.conductor.activeWorkers).toBe(0);
    fail = false;
    await h.conductor.tick();
    expect(h.invocations[0]!.lease.recipientIds).toHaveLength(2);
    // The failed invoke's permits stay spent: it may have started a worker after all.
    expect(h.governors.snapshots(h.clock.now())[0]!.windowGranted).toBe(4);
  });

  it('with no checkpoint while a campaign was sending, waits until nothing an older conductor granted is within reach', async () => {
    const h = harness();
    await storedCampaign(h.store, 5);
    await h.conductor.start();
    await h.conductor.tick();
    h.clock.advance(60_000);
    await h.conductor.tick();
    expect(h.invocations).toHaveLength(0);
    h.clock.advance(70_000);
    await h.conductor.tick();
    expect(h.invocations.reduce((n, i) => n + leasePermits(i.lease), 0)).toBe(5);
  });

  it('stores a checkpoint before granting from new slices, and a restarted conductor resumes from it at once', async () => {
    // Prepare: a conductor grants, then dies without a word.
    const store = new MemoryObjectStore();
    await storedCampaign(store, 30);
    const clock = new ManualClock(START);
    const first = harness({ maxWorkers: 1, batchSize: 10 }, 620, store, clock);
    await begin(first);
    await first.conductor.tick();
    const before = first.invocations[0]!.lease;
    const checkpoint = JSON.parse((await store.get(buckets.campaigns, keys.governorCheckpoint()))!);
    // Assess the write-ahead: the stored checkpoint covers every slice the lease uses.
    const through = checkpoint.domains[DOMAIN].through;
    expect((through + 1) * 1_000).toBeGreaterThanOrEqual(leaseSendUntil(before));
    // Its worker claimed one recipient and sent another before the conductor died.
    const [claimed, sent] = before.recipientIds;
    await store.put(buckets.campaigns, keys.claim({ ...ref, recipientId: claimed! }), '{}');
    await store.put(
      buckets.campaigns,
      keys.outcome({ ...ref, recipientId: sent! }),
      JSON.stringify({ version: 1, recipientId: sent, status: 'sent', at: 'x' }),
    );
    // Act
    clock.advance(2_000);
    const second = harness({ maxWorkers: 1, batchSize: 10 }, 620, store, clock);
    await second.conductor.start();
    await second.conductor.tick();
    expect(second.invocations).toHaveLength(0); // everything the old one could have granted counts as used
    clock.set((through + 1) * 1_000);
    await second.conductor.tick();
    // Assess: it sends again as soon as the old slices are behind it, from new slices only.
    const after = second.invocations[0]!.lease;
    expect(after.schedule!.start).toBeGreaterThan(through * 1_000);
    expect(after.recipientIds).not.toContain(claimed);
    expect(after.recipientIds).not.toContain(sent);
    expect(second.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ sent: 1, inDoubt: 1 });
  });

  it('shares a domain fairly: a small campaign is not stuck behind a big one', async () => {
    // Prepare: a big campaign, then a small one of another customer.
    const h = harness({ maxWorkers: 1, batchSize: 10 });
    await storedCampaign(h.store, 200);
    const small = { customerId: 'tiny', campaignId: 'c-small-1' };
    await h.store.put(
      buckets.campaigns,
      keys.campaign(small),
      JSON.stringify({
        version: 1,
        ...small,
        name: 'S',
        from: 'a@example.com',
        subject: 'Hi',
        mjml: '<mjml></mjml>',
        audienceKey: keys.audience(small),
        createdAt: new Date(START + 1).toISOString(),
      }),
    );
    await h.store.put(
      buckets.campaigns,
      keys.state(small),
      JSON.stringify({ version: 1, status: 'sending', updatedAt: new Date(START).toISOString() }),
    );
    await h.store.put(
      buckets.campaigns,
      keys.audienceReport(small),
      JSON.stringify({ version: 1, rows: 20, valid: 20, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false }),
    );
    for (let i = 0; i < 20; i++)
      await h.store.put(buckets.rendered, keys.rendered({ ...small, recipientId: recipientIdFor('tiny', `s${i}@example.com`) }), '{}');
    await begin(h);
    // Act: one worker checking back ten times.
    await h.conductor.tick();
    let lease: Lease | null = h.invocations[0]!.lease;
    const campaigns: string[] = [];
    for (let i = 0; i < 10 && lease; i++) {
      campaigns.push(lease.campaignId);
      h.clock.set(leaseSendUntil(lease));
      lease = (await h.conductor.checkIn(report(lease, 'sent', true))).lease;
    }
    // Assess: the two alternate, so the small one is done after four of its leases' worth.
    expect(campaigns.slice(0, 4).sort()).toEqual(['c-small-1', 'c-small-1', 'c-test-1', 'c-test-1']);
    expect(h.conductor.getCampaign('c-small-1').counts.sent).toBe(20);
  });

  it('writes a stub again when rendering has stalled without it, so its event re-runs the renderer', async () => {
    const h = harness({ stallMs: 10_000 });
    const ids = await storedCampaign(h.store, 3);
    const lost = recipientIdFor(ref.customerId, 'lost@example.com');
    await h.store.put(buckets.stubs, keys.stub({ ...ref, recipientId: lost }), '{"stub":1}');
    await h.store.put(
      buckets.campaigns,
      keys.audienceReport(ref),
      JSON.stringify({ version: 1, rows: 4, valid: 4, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false }),
    );
    for (const id of ids) await h.store.put(buckets.stubs, keys.stub({ ...ref, recipientId: id }), '{}');
    await begin(h);
    await h.conductor.tick();
    const rewrites = () => h.store.calls.filter((c) => c.op === 'put' && c.bucket === buckets.stubs && c.key.includes(lost)).length;
    expect(rewrites()).toBe(1); // the original write only
    h.clock.advance(10_000);
    await h.conductor.tick();
    expect(rewrites()).toBe(2);
    expect(h.store.calls.filter((c) => c.op === 'put' && c.bucket === buckets.stubs).length).toBe(5); // no rendered stub rewritten
  });

  it('publishes the campaign again when stubbing never finished', async () => {
    const h = harness({ stallMs: 10_000 });
    await storedCampaign(h.store, 1);
    await h.store.delete(buckets.campaigns, keys.audienceReport(ref));
    await begin(h);
    await h.conductor.tick();
    expect(h.published).toHaveLength(0);
    h.clock.advance(10_000);
    await h.conductor.tick();
    expect(h.published).toEqual([expect.objectContaining({ type: 'campaign.requested', ...ref })]);
  });

  it('records a recipient failed once its retries are used up', async () => {
    const h = harness({ maxWorkers: 1, maxAttempts: 2 });
    await storedCampaign(h.store, 1);
    await begin(h);
    await h.conductor.tick();
    const first = h.invocations[0]!.lease;
    await h.conductor.checkIn({
      ...report(first),
      results: [{ recipientId: first.recipientIds[0]!, status: 'retryable', code: 'PROVIDER_UNREACHABLE', reason: 'PROVIDER_UNREACHABLE' }],
    });
    h.clock.advance(5_000);
    await h.conductor.tick();
    const second = h.invocations[1]!.lease;
    await h.conductor.checkIn({
      ...report(second),
      results: [
        { recipientId: second.recipientIds[0]!, status: 'retryable', code: 'PROVIDER_UNREACHABLE', reason: 'PROVIDER_UNREACHABLE' },
      ],
    });
    await h.conductor.tick();
    expect(h.conductor.getCampaign(ref.campaignId)).toMatchObject({ status: 'done', counts: { failed: 1 } });
    const outcome = JSON.parse((await h.store.get(buckets.campaigns, keys.outcome({ ...ref, recipientId: first.recipientIds[0]! })))!);
    expect(outcome).toMatchObject({ status: 'failed', reason: expect.stringContaining('PROVIDER_UNREACHABLE') });
  });

  it('answers a repeated check-in with the same reply instead of dropping the lease it handed out', async () => {
    const h = harness({ maxWorkers: 1, batchSize: 2 });
    await storedCampaign(h.store, 4);
    await begin(h);
    await h.conductor.tick();
    const request = report(h.invocations[0]!.lease, 'sent', true);
    const first = await h.conductor.checkIn(request);
    const again = await h.conductor.checkIn(request);
    expect(first.lease).not.toBeNull();
    expect(again).toEqual(first);
    expect(h.conductor.getCampaign(ref.campaignId).counts.sent).toBe(2);
  });

  it("takes the ledger's word for a recipient another lease claimed and already sent", async () => {
    const h = harness({ maxWorkers: 1 });
    const [id] = await storedCampaign(h.store, 1);
    await begin(h);
    await h.conductor.tick();
    await h.store.put(
      buckets.campaigns,
      keys.outcome({ ...ref, recipientId: id! }),
      JSON.stringify({ version: 1, recipientId: id, status: 'sent', at: 'x' }),
    );
    await h.conductor.checkIn({
      ...report(h.invocations[0]!.lease),
      results: [{ recipientId: id!, status: 'claimedElsewhere' }],
      permitsUsed: 0,
    });
    expect(h.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ sent: 1, inDoubt: 0 });
  });
  it('hands a renewing worker its next lease while the old one is still out, and counts it once', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 3 });
    await storedCampaign(h.store, 9);
    await begin(h);
    await h.conductor.tick();
    const first = h.invocations[0]!.lease;
    // Act
    const renewed = await h.conductor.renew({ leaseId: first.leaseId, workerId: first.workerId });
    const again = await h.conductor.renew({ leaseId: first.leaseId, workerId: first.workerId });
    const stranger = await h.conductor.renew({ leaseId: first.leaseId, workerId: 'w-someone-else' });
    // Assess
    expect(renewed.lease!.recipientIds.some((r) => first.recipientIds.includes(r))).toBe(false);
    expect(again).toEqual(renewed);
    expect(stranger.lease).toBeNull();
    expect(h.conductor.activeWorkers).toBe(1);
    expect(h.conductor.activeLeases).toBe(2);
    // The old lease checks in afterwards without asking for more: the worker keeps its slot.
    await h.conductor.checkIn(report(first, 'sent', false));
    expect(h.conductor.activeWorkers).toBe(1);
    await h.conductor.tick();
    expect(h.invocations).toHaveLength(1);
  });

  it('sizes a lease to the time the worker has left, and starts its successor before it leaves', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 30, leaseHorizonMs: 10_000 });
    await storedCampaign(h.store, 400);
    await begin(h);
    await h.conductor.tick();
    const first = h.invocations[0]!.lease;
    // Act: 9 s of a 60 s budget left, 2 s kept in reserve: the next lease may reach 7 s ahead at
    // most, and after it the worker will not ask for more (under a tenth of its budget left).
    const reply = await h.conductor.checkIn({ ...report(first, 'sent', true), budgetLeftMs: 9_000, reserveMs: 2_000 });
    await new Promise((resolve) => setImmediate(resolve));
    // Assess
    expect(leaseSendUntil(reply.lease!)).toBeLessThanOrEqual(h.clock.now() + 7_000);
    expect(h.invocations).toHaveLength(2); // the successor, already
    expect(h.invocations[1]!.lease.workerId).not.toBe(first.workerId);
  });

  it('starts a successor at once when a worker leaves, not at the next tick', async () => {
    const h = harness({ maxWorkers: 1 });
    await storedCampaign(h.store, 20);
    await begin(h);
    await h.conductor.tick();
    await h.conductor.checkIn(report(h.invocations[0]!.lease, 'sent', false));
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.invocations).toHaveLength(2);
  });

  it("sends each campaign through its own domain, under that domain's own cap", async () => {
    // Prepare: two domains, a campaign on each.
    const store = new MemoryObjectStore();
    const clock = new ManualClock(START);
    const governors = new SendingGovernors({
      domains: [
        { domain: DOMAIN, perWindowMax: 620 },
        { domain: 'news.example.com', perWindowMax: 62 },
      ],
      windowMs: 60_000,
      sliceMs: 1_000,
      marginMs: 500,
    });
    const { conductor } = harness({ maxWorkers: 4, batchSize: 50 }, 620, store, clock, governors);
    await conductor.start();
    const a = await conductor.createCampaign({
      name: 'A',
      customerId: 'acme',
      from: 'a@example.com',
      subject: 'Hi',
      mjml: '<mjml><mj-body></mj-body></mjml>',
      audienceCsv: 'email\na@example.com\n',
    });
    const b = await conductor.createCampaign({
      name: 'B',
      customerId: 'acme',
      from: 'a@example.com',
      subject: 'Hi',
      mjml: '<mjml><mj-body></mj-body></mjml>',
      audienceCsv: 'email\nb@example.com\n',
      sendingDomain: 'News.Example.com',
    });
    // Assess
    expect(a.sendingDomain).toBe(DOMAIN);
    expect(b).toMatchObject({ sendingDomain: 'news.example.com', perMinuteMax: 62 });
    await expect(
      conductor.createCampaign({
        name: 'C',
        customerId: 'acme',
        from: 'a@example.com',
        subject: 'Hi',
        mjml: '<mjml><mj-body></mj-body></mjml>',
        audienceCsv: 'email\nc@example.com\n',
        sendingDomain: 'other.example.com',
      }),
    ).rejects.toMatchObject({
      issues: [{ where: 'body.sendingDomain', message: `must be one of ${DOMAIN}, news.example.com` }],
    });
  });

  it('keeps a capped customer under its own cap while others use the rest', async () => {
    // Prepare: acme capped at 62 a minute (one a slice); the domain allows 620.
    const store = new MemoryObjectStore();
    await storedCampaign(store, 100);
    const clock = new ManualClock(START);
    const governors = new SendingGovernors({
      domains: [{ domain: DOMAIN, perWindowMax: 620 }],
      customerCaps: { acme: 62 },
      windowMs: 60_000,
      sliceMs: 1_000,
      marginMs: 500,
    });
    const { conductor, invocations } = harness({ maxWorkers: 3, batchSize: 100 }, 620, store, clock, governors);
    await conductor.start();
    clock.advance(130_000);
    // Act
    await conductor.tick();
    // Assess: never more than about one a slice for acme, whatever the domain has free.
    const perSlice = new Map<number, number>();
    for (const { lease } of invocations)
      lease.schedule!.permits.forEach((n, k) =>
        perSlice.set(lease.schedule!.start + k * 1_000, (perSlice.get(lease.schedule!.start + k * 1_000) ?? 0) + n),
      );
    expect(invocations.length).toBeGreaterThan(0);
    for (const n of perSlice.values()) expect(n).toBeLessThanOrEqual(1);
  });

  it('handles a check-in again when the store failed in the middle of it: nothing lost, the worker keeps its slot', async () => {
    // Prepare: one recipient goes unreported, so settling it reads the store — which fails once.
    const h = harness({ maxWorkers: 1, batchSize: 4 });
    await storedCampaign(h.store, 4);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    const request = {
      ...report(lease, 'sent', false),
      results: lease.recipientIds.slice(1).map((recipientId) => resultOf(recipientId, 'sent')),
    };
    const get = h.store.get.bind(h.store);
    let failures = 1;
    h.store.get = async (bucket, key) => {
      if (key.includes('/outcomes/') && failures-- > 0) throw new Error('store unavailable');
      return get(bucket, key);
    };
    // Act
    await expect(h.conductor.checkIn(request)).rejects.toThrow('store unavailable');
    await h.conductor.checkIn(request);
    await h.conductor.tick();
    // Assess: three sent once each, the unreported one leased again.
    expect(h.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ sent: 3, inDoubt: 0 });
    expect(h.invocations[1]!.lease.recipientIds).toEqual([lease.recipientIds[0]]);
  });

  it('takes the outcome records of a restarted conductor\'s workers over its own "in doubt"', async () => {
    // Prepare: two recipients claimed by workers of a conductor that died; one of them then
    // finishes and writes its outcome, as a worker does, and checks in with a lease nobody knows.
    const store = new MemoryObjectStore();
    const [a, b] = await storedCampaign(store, 2);
    for (const id of [a!, b!]) await store.put(buckets.campaigns, keys.claim({ ...ref, recipientId: id }), '{}');
    const h = harness({ maxWorkers: 1 }, 620, store);
    await begin(h);
    await h.conductor.tick();
    expect(h.conductor.getCampaign(ref.campaignId).counts).toMatchObject({ inDoubt: 2 });
    await store.put(
      buckets.campaigns,
      keys.outcome({ ...ref, recipientId: a! }),
      JSON.stringify({ version: 1, recipientId: a, status: 'sent', at: 'x' }),
    );
    // Act
    await h.conductor.checkIn({
      leaseId: 'l-of-the-old-conductor',
      workerId: 'w-old',
      results: [resultOf(a!, 'sent')],
      unattempted: [],
      permitsUsed: 1,
      wantsMore: false,
    });
    h.clock.advance(5_000);
    await h.conductor.tick();
    // Assess: it does not finish while late reports may still come (the lease grace, 10 s), then it does.
    expect(h.conductor.getCampaign(ref.campaignId)).toMatchObject({ status: 'sending', counts: { sent: 1, inDoubt: 1 } });
    h.clock.advance(10_000);
    await h.conductor.tick();
    expect(h.conductor.getCampaign(ref.campaignId)).toMatchObject({ status: 'done', counts: { sent: 1, inDoubt: 1 } });
  });

  it('ends a campaign failed, with the reason, when its audience could not be stubbed', async () => {
    const h = harness({});
    await storedCampaign(h.store, 0);
    const error = { code: 'AUDIENCE_NOT_FOUND', message: 'the audience uploads/acme/a.csv does not exist' };
    await h.store.put(
      buckets.campaigns,
      keys.audienceReport(ref),
      JSON.stringify({ version: 1, rows: 0, valid: 0, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false, error }),
    );
    await begin(h);
    await h.conductor.tick();
    expect(h.conductor.getCampaign(ref.campaignId)).toMatchObject({ status: 'failed', error, counts: { total: 0, sent: 0 } });
    await expect(h.conductor.cancel(ref.campaignId)).rejects.toBeInstanceOf(CampaignStateError);
    expect(JSON.parse((await h.store.get(buckets.campaigns, keys.state(ref)))!)).toMatchObject({ status: 'failed', error });
  });
  it('estimates the time left from the rate since sending began, and gives none before the first send', async () => {
    const h = harness({ maxWorkers: 1, batchSize: 10 });
    await twentyRendered(h);
    expect(h.conductor.getCampaign(ref.campaignId).etaSeconds).toBeNull();
    h.clock.advance(10_000);
    await h.conductor.checkIn(report(h.invocations[0]!.lease, 'sent'));
    // 10 sent in the 10 s since sending began: 60 a minute, so the other 10 take about 10 s.
    expect(h.conductor.getCampaign(ref.campaignId).etaSeconds).toBe(10);
  });

  async function twentyRendered(h: ReturnType<typeof harness>): Promise<void> {
    await storedCampaign(h.store, 0, 'draft');
    await h.store.put(
      buckets.campaigns,
      keys.audienceReport(ref),
      JSON.stringify({ version: 1, rows: 20, valid: 20, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false }),
    );
    for (let i = 0; i < 20; i++)
      await h.store.put(
        buckets.rendered,
        keys.rendered({ ...ref, recipientId: recipientIdFor(ref.customerId, `e${i}@example.com`) }),
        '{}',
      );
    await h.conductor.start();
    await h.conductor.send(ref.campaignId);
    await h.conductor.tick();
  }

  it('gives no time left sooner than the last waiting retry is due', async () => {
    // Prepare: 10 sent in 10 s (the other 10 would take about 10 s), but one waits a minute for its retry
    const h = harness({ maxWorkers: 1, batchSize: 10 });
    await twentyRendered(h);
    const lease = h.invocations[0]!.lease;
    h.clock.advance(10_000);
    const [waiting, ...sent] = lease.recipientIds;
    const results = [
      { recipientId: waiting!, status: 'retryable' as const, code: 'PROVIDER_THROTTLED', reason: 'slow down', retryAfterMs: 60_000 },
      ...sent.map((recipientId) => ({ recipientId, status: 'sent' as const, providerId: `p-${recipientId}` })),
    ];

    // Act
    await h.conductor.checkIn(report(lease, 'sent', false, { results }));

    // Assess
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.counts.retrying).toBe(1);
    expect(view.etaSeconds).toBe(60);
    // 30 s on, the rate says more than the retry: 11 left at 9 per 40 s is 49 s.
    h.clock.advance(30_000);
    expect(h.conductor.getCampaign(ref.campaignId).etaSeconds).toBe(49);
  });

  it('estimates the time left at no more than the effective cap once the provider pushed back', async () => {
    // Prepare: a cap of 100 a minute; of the first 10, one is throttled, which halves the effective cap
    const h = harness({ maxWorkers: 1, batchSize: 10 }, 100);
    await twentyRendered(h);
    const lease = h.invocations[0]!.lease;
    h.clock.advance(10_000);
    const [throttled, ...sent] = lease.recipientIds;
    const results = [
      { recipientId: throttled!, status: 'retryable' as const, code: 'PROVIDER_THROTTLED', reason: '429', retryAfterMs: 1_000 },
      ...sent.map((recipientId) => ({ recipientId, status: 'sent' as const, providerId: `p-${recipientId}` })),
    ];

    // Act
    await h.conductor.checkIn(report(lease, 'sent', false, { results }));

    // Assess: 9 sent in 10 s is 54 a minute, more than the 50 the provider now takes: the 11 left
    // take 14 s at 50 a minute (13 s at the rate seen, which the provider would no longer allow).
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.effectivePerMinute).toBe(50);
    expect(view.etaSeconds).toBe(14);
  });

  it('gives the time until the waiting retry when nothing was sent in the last minute', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 10 });
    await twentyRendered(h);
    const lease = h.invocations[0]!.lease;
    const results = lease.recipientIds.map((recipientId) => ({
      recipientId,
      status: 'retryable' as const,
      code: 'PROVIDER_THROTTLED',
      reason: 'slow down',
      retryAfterMs: 90_000,
    }));

    // Act
    await h.conductor.checkIn(report(lease, 'sent', false, { results }));
    h.clock.advance(70_000);

    // Assess
    expect(h.conductor.getCampaign(ref.campaignId).etaSeconds).toBe(20);
  });

  it('counts only sends the provider accepted as sent in the last minute, not failures or calls in doubt', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 10 });
    await twentyRendered(h);
    const lease = h.invocations[0]!.lease;
    const statuses = ['sent', 'sent', 'sent', 'failed', 'inDoubt'] as const;
    const results = lease.recipientIds
      .slice(0, 5)
      .map((recipientId, i) =>
        statuses[i] === 'sent'
          ? { recipientId, status: 'sent' as const, providerId: `p-${i}` }
          : { recipientId, status: statuses[i]!, reason: 'no' },
      );

    // Act
    h.clock.advance(2_000);
    await h.conductor.checkIn(report(lease, 'sent', false, { results, unattempted: lease.recipientIds.slice(5), permitsUsed: 5 }));

    // Assess
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.counts).toMatchObject({ sent: 3, failed: 1, inDoubt: 1 });
    expect(view.sentLastMinute).toBe(3);
    h.clock.advance(60_000);
    expect(h.conductor.getCampaign(ref.campaignId).sentLastMinute).toBe(0);
  });
});
