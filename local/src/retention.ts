import { keys, listAll, type Buckets, type CampaignRef, type Clock, type Logger, type ObjectStore } from '@baton/shared';

/** A campaign that has finished, and when. */
export interface FinishedCampaign extends CampaignRef {
  /** ISO time; campaigns without one are still running and are never swept. */
  finishedAt?: string;
}

export interface RetentionDeps {
  store: ObjectStore;
  buckets: Buckets;
  clock: Clock;
  logger: Logger;
  /** How long after a campaign finished its rendered messages are kept (BATON_RETENTION_HOURS). */
  retentionMs: number;
  /** The campaigns the conductor knows, finished or not. */
  campaigns: () => FinishedCampaign[];
  /**
   * The store's copy of a scope's first body kept to compress the others against (the LMDB
   * store's `dropDictionary`), removed once the scope is empty; absent for a store without one.
   */
  dropDictionary?: (bucket: string, scope: string) => Promise<boolean>;
}

/** Deletes issued at once while sweeping (one page of a listing): they commit together. */
const DELETE_PAGE = 1_000;

/**
 * Retention on one machine: the rendered messages (most of the disk) of a campaign that finished
 * more than `retentionMs` ago are deleted, and so is the store's copy of the first of them, which
 * it compresses the others against (a dictionary of the campaign's messages). The stubs stay,
 * small as they are: the recipient list reads each recipient's address from its stub. The
 * definition, audience report and ledger stay too. A retry or resend after retention skips the recipients whose message is gone (it says so).
 */
export class RetentionSweeper {
  /** Campaigns already swept by this process: a sweep of them again would find nothing. */
  private readonly swept = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly deps: RetentionDeps) {}

  /** One pass over the finished campaigns; returns how many objects it deleted. */
  async sweep(): Promise<{ campaigns: number; objects: number }> {
    const now = this.deps.clock.now();
    let campaigns = 0;
    let objects = 0;
    for (const campaign of this.deps.campaigns()) {
      // With its finish time: a campaign reopened by a retry and finished again is swept again.
      const id = `${campaign.customerId}/${campaign.campaignId}@${campaign.finishedAt}`;
      if (campaign.finishedAt === undefined || this.swept.has(id)) continue;
      const finished = Date.parse(campaign.finishedAt);
      if (!Number.isFinite(finished) || now - finished < this.deps.retentionMs) continue;
      const ref = { customerId: campaign.customerId, campaignId: campaign.campaignId };
      const prefix = keys.renderedPrefix(ref);
      const deleted = await this.deleteAll(this.deps.buckets.rendered, prefix);
      // The data folder's store compresses a campaign's messages against the first, under their prefix.
      await this.deps.dropDictionary?.(this.deps.buckets.rendered, prefix);
      this.swept.add(id);
      campaigns += 1;
      objects += deleted;
      if (deleted > 0) {
        this.deps.logger.info(
          { event: 'retention.swept', campaignId: campaign.campaignId, deleted },
          'rendered messages of a finished campaign deleted',
        );
      }
    }
    return { campaigns, objects };
  }

  /** Sweeps now and then every `everyMs`; a failed sweep is logged and tried again at the next. */
  start(everyMs: number): void {
    const run = () => {
      if (this.running) return;
      this.running = this.sweep()
        .catch((err: unknown) => this.deps.logger.error({ event: 'retention.failed', err }, 'retention sweep failed; will retry'))
        .finally(() => (this.running = undefined));
    };
    run();
    this.timer = setInterval(run, everyMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep under way. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async deleteAll(bucket: string, prefix: string): Promise<number> {
    const { store } = this.deps;
    let deleted = 0;
    let page: string[] = [];
    const flush = async () => {
      await Promise.all(page.map((key) => store.delete(bucket, key)));
      deleted += page.length;
      page = [];
    };
    for await (const key of listAll(store, bucket, prefix, DELETE_PAGE)) {
      page.push(key);
      if (page.length >= DELETE_PAGE) await flush();
    }
    await flush();
    return deleted;
  }
}
