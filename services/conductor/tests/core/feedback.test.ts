import { Ledger, ManualClock, recipientIdFor, silentLogger } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { Feedback, type ProviderEvent } from '../../src/core/feedback';
import { buckets } from '../fixtures';

describe('Feedback.complaintTally', () => {
  it("counts a campaign's complaints for its own customer only, though another customer's event names the same campaign id", async () => {
    // Prepare: the tally of acme's campaign counted (none yet).
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 12));
    const ledger = new Ledger({ store: new MemoryObjectStore(), bucket: buckets.campaigns, clock });
    const feedback = new Feedback({ ledger, logger: silentLogger });
    const ref = { customerId: 'acme', campaignId: 'c-spring' };
    feedback.complaintTally(ref);
    await new Promise((resolve) => setImmediate(resolve));
    const complaint = (customerId: string, email: string): ProviderEvent => ({
      kind: 'complained',
      customerId,
      campaignId: ref.campaignId,
      recipientId: recipientIdFor(customerId, email),
      email,
      at: new Date(clock.now()).toISOString(),
      test: false,
    });

    // Act
    await feedback.record(complaint('otherco', 'olga@example.com'));
    await feedback.record(complaint('acme', 'ann@example.com'));

    // Assess
    expect(feedback.complaintTally(ref)).toEqual({ complained: 1, complete: true });
  });
});
