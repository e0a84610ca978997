import { RetryableError, keys } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { begin, harness, ref, storedCampaign } from '../harness';
import { buckets } from '../fixtures';

/** A memory store whose ledger reads and writes (or only its writes: a full disk) fail while `down` is set. */
class FlakyLedgerStore extends MemoryObjectStore {
  down: false | 'all' | 'writes' = false;
  private check(key: string, write = false): void {
    if ((this.down === 'all' || (this.down === 'writes' && write)) && (key.includes('/claims/') || key.includes('/outcomes/'))) {
      throw new RetryableError('STORE_UNAVAILABLE', `store down (${key})`);
    }
  }
  override async get(bucket: string, key: string): Promise<string | undefined> {
    this.check(key);
    return super.get(bucket, key);
  }
  override async put(...args: Parameters<MemoryObjectStore['put']>): Promise<void> {
    this.check(args[1], true);
    return super.put(...args);
  }
}

describe('Conductor: a lease expires while the store fails', () => {
  async function expiredDuringOutage(down: 'all' | 'writes' = 'all') {
    const store = new FlakyLedgerStore();
    const h = harness({ maxWorkers: 1, workerTimeBudgetMs: 1_000, leaseGraceMs: 1_000 }, 620, store);
    await storedCampaign(store, 4);
    await begin(h);
    await h.conductor.tick();
    const lease = h.invocations[0]!.lease;
    const claimed = lease.recipientIds[0]!;
    await store.put(buckets.campaigns, keys.claim({ ...ref, recipientId: claimed }), '{}');
    store.down = down;
    h.clock.set(lease.expiresAt + 1);
    await h.conductor.tick();
    return { h, store, lease, claimed };
  }

  it('settles nothing and strands nobody meanwhile: the campaign goes on sending', async () => {
    // Act
    const { h } = await expiredDuringOutage();
    // Assess: nobody in doubt on a guess, nobody leased again on a guess, and not done.
    const view = h.conductor.getCampaign(ref.campaignId);
    expect(view.counts.inDoubt).toBe(0);
    expect(view.status).toBe('sending');
    expect(h.invocations).toHaveLength(1);
  });

  it('settles the lease once the store is back: the claimed recipient in doubt with its record, the others leased again', async () => {
    // Prepare
    const { h, store, lease, claimed } = await expiredDuringOutage();
    // Act
    store.down = false;
    await h.conductor.tick();
    // Assess
    expect(h.conductor.getCampaign(ref.campaignId).counts.inDoubt).toBe(1);
    const outcome = JSON.parse((await store.get(buckets.campaigns, keys.outcome({ ...ref, recipientId: claimed })))!);
    expect(outcome.status).toBe('inDoubt');
    expect(h.invocations[1]!.lease.recipientIds.sort()).toEqual(lease.recipientIds.slice(1).sort());
  });

  it('writes the in-doubt record once writes work again, when only writes failed', async () => {
    // Prepare: the claim can be read, the conductor's own record cannot be written.
    const { h, store, claimed } = await expiredDuringOutage('writes');
    // Act
    store.down = false;
    await h.conductor.tick();
    // Assess
    expect(h.conductor.getCampaign(ref.campaignId).counts.inDoubt).toBe(1);
    const outcome = JSON.parse((await store.get(buckets.campaigns, keys.outcome({ ...ref, recipientId: claimed })))!);
    expect(outcome.status).toBe('inDoubt');
  });
});
