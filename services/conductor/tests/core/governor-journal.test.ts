import { keys, silentLogger } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { GovernorJournal } from '../../src/core/governor-journal';
import { sendingGovernorsCheckpoint } from '../../src/core/sending-governors';
import { buckets, testGovernors } from '../fixtures';

/** A store whose next checkpoint write waits until `release()`: a slow disk under the first of two saves. */
class SlowFirstWrite extends MemoryObjectStore {
  private gate: (() => void) | undefined;
  slowNext = false;
  override async put(...args: Parameters<MemoryObjectStore['put']>): Promise<void> {
    if (this.slowNext && args[1] === keys.governorCheckpoint()) {
      this.slowNext = false;
      await new Promise<void>((resolve) => (this.gate = resolve));
    }
    return super.put(...args);
  }
  release(): void {
    this.gate?.();
  }
}

describe('GovernorJournal', () => {
  it('never lets an earlier save land after a later one: the stored checkpoint covers every slice marked durable', async () => {
    // Prepare: a push-back's save (not awaited) is slow; the tick then opens slices further ahead.
    const store = new SlowFirstWrite();
    const governors = testGovernors(620);
    const journal = new GovernorJournal({ store, buckets, logger: silentLogger, governors, leaseHorizonMs: 10_000 });
    const now = Date.UTC(2026, 10, 21, 12);
    await journal.extend(now);
    store.slowNext = true;
    const early = journal.save(now);
    // Act: the tick extends 30 s later, while the early save is still writing.
    const later = journal.extend(now + 30_000);
    await new Promise((resolve) => setImmediate(resolve));
    store.release();
    await Promise.all([early, later]);
    // Assess: what is stored reaches as far as what was marked durable.
    const stored = sendingGovernorsCheckpoint.parse(JSON.parse((await store.get(buckets.campaigns, keys.governorCheckpoint()))!));
    const domain = governors.forDomain(undefined);
    expect(Object.values(stored.domains)[0]!.through).toBeGreaterThanOrEqual(domain.durableThrough);
  });
});
