import { keys, recipientIdFor } from '@baton/shared';
import { REDRIVE_PER_SCAN } from '../../src/core/reconciler';
import { buckets } from '../fixtures';
import { begin, harness, ref, storedCampaign } from '../harness';

describe('re-driving a large campaign', () => {
  it('writes at most REDRIVE_PER_SCAN stubs a scan and goes on at the next scan, without waiting for another stall', async () => {
    // Prepare: 3 rendered, and REDRIVE_PER_SCAN + 100 stubs that were never rendered.
    const h = harness({ stallMs: 10_000 });
    const rendered = await storedCampaign(h.store, 3);
    const lost = Array.from({ length: REDRIVE_PER_SCAN + 100 }, (_, i) => recipientIdFor(ref.customerId, `lost${i}@example.com`));
    for (const id of [...rendered, ...lost]) await h.store.put(buckets.stubs, keys.stub({ ...ref, recipientId: id }), '{}');
    const valid = rendered.length + lost.length;
    await h.store.put(
      buckets.campaigns,
      keys.audienceReport(ref),
      JSON.stringify({ version: 1, rows: valid, valid, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false }),
    );
    await begin(h);
    await h.conductor.tick();
    const rewrites = () => h.store.calls.filter((c) => c.op === 'put' && c.bucket === buckets.stubs).length - valid;

    // Act: the stall is noticed; then one scan interval later.
    h.clock.advance(10_000);
    await h.conductor.tick();
    const first = rewrites();
    h.clock.advance(1_000);
    await h.conductor.tick();
    const second = rewrites();
    h.clock.advance(1_000);
    await h.conductor.tick();

    // Assess: every lost stub written again once, none that was rendered.
    expect(first).toBe(REDRIVE_PER_SCAN);
    expect(second).toBe(lost.length);
    expect(rewrites()).toBe(lost.length);
    const rewritten = h.store.calls.filter((c) => c.op === 'put' && c.bucket === buckets.stubs).map((c) => c.key);
    for (const id of rendered) expect(rewritten.filter((k) => k.includes(id))).toHaveLength(1);
  });
});
