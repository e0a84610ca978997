import { keys, type Buckets, type Logger, type ObjectStore } from '@baton/shared';
import { sendingGovernorsCheckpoint, type SendingGovernors } from './sending-governors';

export interface GovernorJournalDeps {
  store: ObjectStore;
  buckets: Buckets;
  logger: Logger;
  governors: SendingGovernors;
  leaseHorizonMs: number;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The governors' durable side. Slice limits are stored before any permit of them can be granted
 * (write-ahead), so a conductor restarted at any moment counts everything its predecessor could
 * have granted as used.
 */
export class GovernorJournal {
  /** The save under way, if any: the next one starts after it. */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: GovernorJournalDeps) {}

  /**
   * Restores the last checkpoint. Without a readable one, a conductor that finds campaigns it
   * was sending (or a damaged checkpoint) waits out a window instead: it cannot know what was granted.
   */
  async restore(now: number, wasSending: boolean): Promise<void> {
    const { store, buckets, governors, logger } = this.deps;
    const saved = await store.get(buckets.campaigns, keys.governorCheckpoint());
    const checkpoint = saved === undefined ? undefined : sendingGovernorsCheckpoint.safeParse(safeJson(saved));
    if (checkpoint?.success) {
      governors.restore(checkpoint.data, now);
    } else {
      if (checkpoint)
        logger.error(
          { event: 'governor.checkpoint_invalid', key: keys.governorCheckpoint() },
          'the governor checkpoint is unreadable; waiting out a window instead',
        );
      if (wasSending || checkpoint) governors.assumeRecentlyBusy(now);
    }
    await this.extend(now);
  }

  /** Keeps the governors' slices opened, and durable, two lease horizons ahead. */
  async extend(now: number): Promise<void> {
    const { governors, leaseHorizonMs } = this.deps;
    if (governors.isDurableThrough(now + leaseHorizonMs)) return;
    const until = now + 2 * leaseHorizonMs;
    governors.open(until, now);
    await this.save(now);
    governors.markDurable(until);
  }

  /**
   * Stores the checkpoint (on shutdown, after a push-back or a limit, and before slices become
   * durable). Saves run one after the other, each taking the governors' state when its write
   * starts: a save started earlier (a push-back's, not awaited) can never land after a later one
   * and put back a checkpoint that ends before slices already marked durable.
   */
  save(now: number): Promise<void> {
    const write = this.writing.then(() => this.write(now));
    this.writing = write.catch(() => undefined);
    return write;
  }

  private async write(now: number): Promise<void> {
    const { governors, store, buckets } = this.deps;
    await store.put(buckets.campaigns, keys.governorCheckpoint(), JSON.stringify(governors.checkpoint(now)), {
      contentType: 'application/json',
    });
  }
}
