import { keys, unsubscribeSignature, type Logger } from '@baton/shared';
import { UNSUBSCRIBE_SECRET, buckets } from '../fixtures';
import { START, begin, harness, ref, report, storedCampaign } from '../harness';

/** A logger that keeps the `event` of every line. */
function recordingLogger(): { logger: Logger; events: string[] } {
  const events: string[] = [];
  const logger: Logger = {
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: (obj: object) => void events.push(String((obj as { event?: string }).event)),
    error: (obj: object) => void events.push(String((obj as { event?: string }).event)),
    fatal: () => {},
    child: () => logger,
  } as unknown as Logger;
  return { logger, events };
}

describe('a damaged stored object', () => {
  it('counts a recipient whose outcome record is unreadable as in doubt, names the key once, and sends the rest', async () => {
    // Prepare: four rendered recipients; one has an outcome record cut short.
    const { logger, events } = recordingLogger();
    const h = harness({ maxWorkers: 1, batchSize: 10 }, undefined, undefined, undefined, undefined, undefined, logger);
    const ids = await storedCampaign(h.store, 4);
    const damagedKey = keys.outcome({ ...ref, recipientId: ids[0]! });
    await h.store.put(buckets.campaigns, damagedKey, '{"version":1,"recipientId":"');
    await begin(h);
    // Act
    await h.conductor.tick();
    await h.conductor.tick();
    await h.conductor.tick();
    // Assess
    const lease = h.invocations[0]!.lease;
    expect([...lease.recipientIds].sort()).toEqual(ids.slice(1).sort());
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.counts).toMatchObject({ inDoubt: 1, inFlight: 3 });
    expect(view.attention).toEqual([{ key: damagedKey, reason: expect.stringContaining('not valid JSON') }]);
    expect(events).not.toContain('campaign.scan_failed');
    expect(events.filter((e) => e === 'campaign.object_damaged')).toHaveLength(1);
  });

  it('goes on sending while the audience report is unreadable, names it, and finishes once it reads again', async () => {
    // Prepare
    const h = harness({ maxWorkers: 1, batchSize: 10 });
    await storedCampaign(h.store, 3);
    const reportKey = keys.audienceReport(ref);
    const good = (await h.store.get(buckets.campaigns, reportKey))!;
    await h.store.put(buckets.campaigns, reportKey, good.slice(0, 20));
    await begin(h);
    // Act: recipients go out although the report is damaged.
    await h.conductor.tick();
    const whileDamaged = h.conductor.getCampaign(ref.campaignId);
    await h.conductor.checkIn(report(h.invocations[0]!.lease, 'sent'));
    await h.store.put(buckets.campaigns, reportKey, good); // as the stubber's re-drive rewrites it
    await h.conductor.tick();
    await h.conductor.tick();
    // Assess
    expect(h.invocations[0]!.lease.recipientIds).toHaveLength(3);
    expect(whileDamaged.attention).toEqual([{ key: reportKey, reason: expect.stringContaining('not valid JSON') }]);
    expect(h.conductor.getCampaign(ref.campaignId)).toMatchObject({ status: 'done', attention: [], counts: { sent: 3, total: 4 } });
  });

  it('holds a campaign whose state is unreadable paused, named, and lets an operator resume it without a second send', async () => {
    // Prepare: one of two recipients already sent, then the state object is damaged.
    const h = harness({ maxWorkers: 1, batchSize: 10 });
    const ids = await storedCampaign(h.store, 2);
    await h.store.put(
      buckets.campaigns,
      keys.outcome({ ...ref, recipientId: ids[0]! }),
      JSON.stringify({ version: 1, recipientId: ids[0], status: 'sent', at: new Date(START).toISOString() }),
    );
    await h.store.put(buckets.campaigns, keys.state(ref), '{"version":1,"status":"sen');
    await begin(h);
    // Act
    await h.conductor.tick();
    const held = h.conductor.getCampaign(ref.campaignId);
    const leasedWhileHeld = h.invocations.length;
    await h.conductor.resume(ref.campaignId);
    await h.conductor.tick();
    await h.conductor.tick();
    // Assess
    expect(held).toMatchObject({ status: 'paused', attention: [{ key: keys.state(ref) }] });
    expect(leasedWhileHeld).toBe(0);
    expect(h.invocations.flatMap((i) => i.lease.recipientIds)).toEqual([ids[1]]);
    expect(h.conductor.getCampaign(ref.campaignId).attention).toEqual([]);
  });

  it('lists a campaign whose definition is unreadable as damaged, and its unsubscribe links still work', async () => {
    // Prepare
    const h = harness();
    const ids = await storedCampaign(h.store, 1);
    await h.store.put(buckets.campaigns, keys.campaign(ref), '{"version":1,"customerId":"ac');
    await h.conductor.start();
    const recipient = { ...ref, recipientId: ids[0]! };
    // Act
    await h.conductor.unsubscribe(recipient, unsubscribeSignature(UNSUBSCRIBE_SECRET, recipient));
    // Assess
    expect(h.conductor.listCampaigns()).toEqual([]);
    expect(h.conductor.damagedCampaigns()).toEqual([
      { ...ref, key: keys.campaign(ref), reason: expect.stringContaining('not valid JSON') },
    ]);
    expect(await h.store.get(buckets.campaigns, keys.suppression({ customerId: ref.customerId, recipientId: ids[0]! }))).toBeDefined();
  });
});
