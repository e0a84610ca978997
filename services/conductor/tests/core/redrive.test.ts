import { keys, type CampaignState } from '@baton/shared';
import { CampaignRun } from '../../src/core/campaign-run';
import { buckets } from '../fixtures';
import { START, harness, ref, storedCampaign } from '../harness';

describe('re-driving stalled work after a restart', () => {
  it('asks for stubbing again within two scans when it was requested long ago, not after a fresh stall timer', async () => {
    // Prepare: sent a minute ago, stubbing never finished (no report), then the conductor restarts.
    const h = harness({ stallMs: 30_000 });
    await storedCampaign(h.store, 2);
    await h.store.delete(buckets.campaigns, keys.audienceReport(ref));
    const state: CampaignState = {
      version: 1,
      status: 'sending',
      updatedAt: new Date(START).toISOString(),
      sendRequestedAt: new Date(START).toISOString(),
    };
    await h.store.put(buckets.campaigns, keys.state(ref), JSON.stringify(state));
    h.clock.set(START + 60_000);
    await h.conductor.start();
    // Act
    await h.conductor.tick();
    h.clock.advance(1_000);
    await h.conductor.tick();
    // Assess
    expect(h.published).toEqual([expect.objectContaining({ type: 'campaign.requested', ...ref })]);
  });

  it('waits the stall time for a campaign sent just now', async () => {
    // Prepare
    const h = harness({ stallMs: 30_000 });
    await storedCampaign(h.store, 2);
    await h.store.delete(buckets.campaigns, keys.audienceReport(ref));
    const now = new Date(START).toISOString();
    await h.store.put(
      buckets.campaigns,
      keys.state(ref),
      JSON.stringify({ version: 1, status: 'sending', updatedAt: now, sendRequestedAt: now }),
    );
    await h.conductor.start();
    // Act
    await h.conductor.tick();
    h.clock.advance(29_000);
    await h.conductor.tick();
    const early = h.published.length;
    h.clock.advance(1_000);
    await h.conductor.tick();
    // Assess
    expect(early).toBe(0);
    expect(h.published).toHaveLength(1);
  });
});

describe('counts while a campaign runs', () => {
  it('never lowers the stubbed or rendered count when a listing sees fewer', () => {
    const run = new CampaignRun(
      {
        version: 1,
        ...ref,
        name: 'n',
        from: 'a@example.com',
        subject: 's',
        mjml: '<mjml></mjml>',
        audienceKey: keys.audience(ref),
        createdAt: new Date(START).toISOString(),
      },
      { version: 1, status: 'sending', updatedAt: new Date(START).toISOString() },
    );
    run.noteStubbed(11_200);
    run.noteStubbed(2_000);
    run.noteRendered(500);
    run.noteRendered(100);
    expect(run.counts()).toMatchObject({ stubbed: 11_200, rendered: 500 });
  });
});
