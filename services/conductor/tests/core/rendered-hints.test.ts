import { ManualClock, keys } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { MAX_RENDERED_HINTS } from '../../src/core/campaign-run';
import { RELIST_WITH_HINTS_MS } from '../../src/core/reconciler';
import { buckets } from '../fixtures';
import { START, begin, harness, ref, storedCampaign, type Harness } from '../harness';

/** Three recipients, the last not rendered yet; the conductor started and its first scan done (it lists). */
async function started(): Promise<{ h: Harness; ids: string[] }> {
  const h = harness({ scanIntervalMs: 500, batchSize: 10 });
  const ids = await storedCampaign(h.store, 3);
  await h.store.delete(buckets.rendered, keys.rendered({ ...ref, recipientId: ids[2]! }));
  await begin(h);
  await h.conductor.tick();
  return { h, ids };
}

function leased(h: Harness): string[] {
  return h.invocations.flatMap((i) => i.lease.recipientIds);
}

function renderedListings(h: Harness): number {
  return h.store.calls.filter((c) => c.op === 'list' && c.bucket === buckets.rendered).length;
}

/** Renders `recipientId` (its object written) and, unless `hint` is false, tells the conductor. */
async function render(h: Harness, recipientId: string, hint = true): Promise<void> {
  const key = keys.rendered({ ...ref, recipientId });
  await h.store.put(buckets.rendered, key, '{}');
  if (hint) h.conductor.renderedHint(key);
}

describe('hints of rendered recipients', () => {
  it("queues a hinted recipient at the campaign's next scan without listing the rendered bucket, and counts it", async () => {
    // Prepare
    const { h, ids } = await started();
    await render(h, ids[2]!);
    const listings = renderedListings(h);

    // Act
    h.clock.advance(500);
    await h.conductor.tick();

    // Assess
    expect(leased(h)).toContain(ids[2]);
    expect(renderedListings(h)).toBe(listings);
    expect(h.conductor.getCampaign(ref.campaignId).counts.rendered).toBe(3);
  });

  it('still lists the bucket within RELIST_WITH_HINTS_MS, so a rendered recipient whose hint was lost is found', async () => {
    // Prepare: hints are flowing (one told), the last recipient's hint lost
    const { h, ids } = await started();
    h.conductor.renderedHint(keys.rendered({ ...ref, recipientId: ids[0]! }));
    await render(h, ids[2]!, false);

    // Act
    h.clock.advance(500);
    await h.conductor.tick();
    const soon = leased(h).includes(ids[2]!);
    h.clock.advance(RELIST_WITH_HINTS_MS);
    await h.conductor.tick();

    // Assess
    expect(soon).toBe(false);
    expect(leased(h)).toContain(ids[2]);
  });

  it('lists the bucket at the next scan when more hints came than a campaign holds', async () => {
    // Prepare: the hints past MAX_RENDERED_HINTS are dropped, the last recipient's among them
    const { h, ids } = await started();
    const other = keys.rendered({ ...ref, recipientId: ids[0]! });
    for (let n = 0; n < MAX_RENDERED_HINTS; n++) h.conductor.renderedHint(other);
    await render(h, ids[2]!);
    const listings = renderedListings(h);

    // Act
    h.clock.advance(500);
    await h.conductor.tick();

    // Assess
    expect(renderedListings(h)).toBe(listings + 1);
    expect(leased(h)).toContain(ids[2]);
  });

  it('lists a large campaign no more than a fiftieth of the time: a listing that took 1 s waits 50 s', async () => {
    // Prepare: listing the rendered bucket takes a second of the clock; hints are flowing
    const clock = new ManualClock(START);
    const store = new (class extends MemoryObjectStore {
      override async list(bucket: string, prefix: string, options?: Parameters<MemoryObjectStore['list']>[2]) {
        if (bucket === buckets.rendered) clock.advance(1_000);
        return super.list(bucket, prefix, options);
      }
    })();
    const h = harness({ scanIntervalMs: 500, batchSize: 10 }, 620, store, clock);
    const ids = await storedCampaign(h.store, 3);
    await h.store.delete(buckets.rendered, keys.rendered({ ...ref, recipientId: ids[2]! }));
    await begin(h);
    await h.conductor.tick();
    h.conductor.renderedHint(keys.rendered({ ...ref, recipientId: ids[0]! }));
    await render(h, ids[2]!, false);

    // Act
    h.clock.advance(RELIST_WITH_HINTS_MS);
    await h.conductor.tick();
    const after10s = leased(h).includes(ids[2]!);
    h.clock.advance(50_000 - RELIST_WITH_HINTS_MS);
    await h.conductor.tick();

    // Assess
    expect(after10s).toBe(false);
    expect(leased(h)).toContain(ids[2]);
  });

  it("ignores a hint for a key that is no rendered object's, or for another customer's campaign of that id", async () => {
    // Prepare
    const { h, ids } = await started();
    h.conductor.renderedHint('rendered/../../etc/passwd');
    h.conductor.renderedHint(keys.rendered({ ...ref, customerId: 'globex', recipientId: ids[2]! }));

    // Act
    h.clock.advance(500);
    await h.conductor.tick();

    // Assess: nothing rendered for this campaign, nothing counted
    expect(leased(h)).not.toContain(ids[2]);
    expect(h.conductor.getCampaign(ref.campaignId).counts.rendered).toBe(2);
  });

  it('counts a recipient hinted twice, or hinted and listed, once', async () => {
    // Prepare
    const { h, ids } = await started();
    await render(h, ids[2]!);
    h.conductor.renderedHint(keys.rendered({ ...ref, recipientId: ids[2]! }));
    h.conductor.renderedHint(keys.rendered({ ...ref, recipientId: ids[0]! }));

    // Act: the hints, then a listing of all three
    h.clock.advance(500);
    await h.conductor.tick();
    const afterHints = h.conductor.getCampaign(ref.campaignId).counts.rendered;
    h.clock.advance(RELIST_WITH_HINTS_MS);
    await h.conductor.tick();

    // Assess
    expect(afterHints).toBe(3);
    expect(h.conductor.getCampaign(ref.campaignId).counts.rendered).toBe(3);
    expect(leased(h).filter((id) => id === ids[2])).toHaveLength(1);
  });
});
