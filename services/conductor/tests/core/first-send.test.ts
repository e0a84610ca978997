import { keys } from '@baton/shared';
import { buckets } from '../fixtures';
import { begin, harness, ref, storedCampaign } from '../harness';

describe('the first send', () => {
  it('is leased at the first tick after the first recipient is rendered, however long the scan interval', async () => {
    // Prepare: a campaign sending, nothing rendered yet, and scans a minute apart.
    const h = harness({ scanIntervalMs: 60_000 });
    const ids = await storedCampaign(h.store, 3);
    for (const recipientId of ids) await h.store.delete(buckets.rendered, keys.rendered({ ...ref, recipientId }));
    await begin(h);
    await h.conductor.tick();
    const startingBefore = h.conductor.starting;

    // Act: one recipient rendered, and the next tick (FIRST_SEND_TICK_MS later, not a scan interval).
    await h.store.put(buckets.rendered, keys.rendered({ ...ref, recipientId: ids[0]! }), '{}');
    h.clock.advance(100);
    await h.conductor.tick();

    // Assess
    expect(startingBefore).toBe(true);
    expect(h.invocations.flatMap((i) => i.lease.recipientIds)).toEqual([ids[0]]);
    expect(h.conductor.starting).toBe(false);
  });
});
