import type { CampaignDefinition } from '@baton/shared';
import { CampaignRun } from '../../src/core/campaign-run';

const definition: CampaignDefinition = {
  version: 1,
  customerId: 'acme',
  campaignId: 'c-run-1',
  name: 'Test',
  from: 'a@example.com',
  subject: 'Hi',
  mjml: '<mjml></mjml>',
  audienceKey: 'campaigns/acme/c-run-1/audience.csv',
  createdAt: '2026-11-21T12:00:00.000Z',
};

function sendingRun(valid: number): CampaignRun {
  const run = new CampaignRun(definition, { version: 1, status: 'sending', updatedAt: definition.createdAt });
  run.setReport({ version: 1, rows: valid, valid, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false });
  return run;
}

describe('CampaignRun.resolve', () => {
  it('never lets a provisional in-doubt replace a real outcome', () => {
    // Prepare
    const run = sendingRun(1);
    run.resolve('r1', 'sent');
    // Act
    const changed = run.resolve('r1', 'inDoubt', true);
    // Assess
    expect(changed).toBe(false);
    expect(run.recipientsWith('sent')).toEqual(['r1']);
    expect(run.isUnreported('r1')).toBe(false);
    expect(run.counts()).toMatchObject({ sent: 1, inDoubt: 0 });
  });

  it('lets a second provisional outcome change nothing: only a real report replaces the first', () => {
    // Prepare
    const run = sendingRun(1);
    expect(run.resolve('r1', 'inDoubt', true)).toBe(true);
    // Act
    const changed = run.resolve('r1', 'failed', true);
    // Assess
    expect(changed).toBe(false);
    expect(run.recipientsWith('inDoubt')).toEqual(['r1']);
    expect(run.isUnreported('r1')).toBe(true);
    expect(run.counts()).toMatchObject({ inDoubt: 1, failed: 0 });
  });

  it('lets a real report replace a provisional in-doubt once, and keeps it from then on', () => {
    // Prepare
    const run = sendingRun(2);
    run.resolve('r1', 'inDoubt', true);
    run.resolve('r2', 'inDoubt', true);
    // Act
    const replaced = run.resolve('r1', 'sent');
    const again = run.resolve('r1', 'failed');
    const provisionalAgain = run.resolve('r1', 'inDoubt', true);
    // Assess
    expect([replaced, again, provisionalAgain]).toEqual([true, false, false]);
    expect(run.recipientsWith('sent')).toEqual(['r1']);
    expect(run.unreported()).toEqual(['r2']);
    expect(run.counts()).toMatchObject({ sent: 1, failed: 0, inDoubt: 1 });
    expect(run.isComplete()).toBe(true);
  });
});

describe('CampaignRun.take', () => {
  it('never hands out again a recipient settled after it was queued, and counts it once', () => {
    // Prepare: r1 out, back to the queue (its lease expired), then its late report says sent.
    const run = sendingRun(2);
    run.addRendered('r1');
    run.addRendered('r2');
    expect(run.take(2, 0)).toEqual(['r1', 'r2']);
    run.requeue('r1');
    run.resolve('r1', 'sent');
    // Act
    const taken = run.take(2, 0);
    // Assess
    expect(taken).toEqual([]);
    expect(run.counts()).toMatchObject({ sent: 1, inFlight: 1, queued: 0, retrying: 0 });
  });
});

describe('CampaignRun.counts before the audience report', () => {
  it('counts every recipient already known, even when the stub listing saw fewer (stubbing goes on meanwhile)', () => {
    // Prepare: the stubs were listed at 2; the rendered listing, a moment later, found 3.
    const run = new CampaignRun(definition, { version: 1, status: 'sending', updatedAt: definition.createdAt });
    run.noteStubbed(2);
    for (const id of ['r1', 'r2', 'r3']) run.addRendered(id);
    run.take(3, 0);
    run.resolve('r1', 'sent');
    // Act
    const c = run.counts();
    // Assess
    expect(c).toMatchObject({ total: 3, sent: 1, inFlight: 2, queued: 0 });
  });
});
