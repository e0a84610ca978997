import type { CampaignTopic, Clock, LocalSend, Logger, SendWindow } from '@baton/shared';
import type { CampaignRun } from './campaign-run';
import type { Campaigns } from './campaigns';
import { CampaignStateError } from './errors';

export interface SchedulingDeps {
  campaigns: Campaigns;
  topic: CampaignTopic;
  clock: Clock;
  logger: Logger;
}

/**
 * When a campaign sends: now, at `sendAt` (rendering runs ahead; the tick starts it), inside its
 * send window (the dispatcher reads it), at a local time per recipient (the reconciler releases
 * them). Every move goes through the campaigns module's transition table.
 */
export class Scheduling {
  constructor(private readonly deps: SchedulingDeps) {}

  /** Draft → sending (or → scheduled with `at` ahead), "campaign requested" first; a scheduled one sent now starts. */
  async send(run: CampaignRun, at?: number): Promise<void> {
    const { campaigns, clock, topic, logger } = this.deps;
    const now = clock.now();
    if (run.phase === 'scheduled') return this.reschedule(run, at ?? now);
    const requestedAt = new Date(now).toISOString();
    const later = at !== undefined && at > now;
    // Publish first: if it fails the campaign stays a draft and the marketer can simply retry
    // (the stubber is idempotent, so a publish whose status write failed is harmless too).
    await campaigns.move(
      run,
      later ? 'schedule' : 'send',
      { sendRequestedAt: requestedAt, ...(later ? { sendAt: new Date(at).toISOString() } : {}) },
      () => topic.publish({ version: 1, type: 'campaign.requested', ...run.ref, requestedAt }),
    );
    logger.info(
      { event: later ? 'campaign.scheduled' : 'campaign.send_requested', campaignId: run.id, sendAt: run.state.sendAt },
      later ? 'campaign scheduled' : 'campaign send requested',
    );
  }

  /**
   * Schedules a draft, moves a scheduled campaign's start (a time already past starts it now),
   * sets or clears its send window (until it ends) or its local send time (on a draft only).
   */
  async schedule(
    run: CampaignRun,
    changes: { sendAt?: number; sendWindow?: SendWindow | null; localSend?: LocalSend | null },
  ): Promise<void> {
    const { campaigns } = this.deps;
    if (changes.localSend !== undefined) {
      // Rendered recipients are queued by it: set before anything is rendered, or not at all.
      if (run.phase !== 'draft') throw new CampaignStateError(run.id, run.state.status, 'set the local send time of');
      await campaigns.update(run, { localSend: changes.localSend ?? undefined }, 'set the local send time of');
    }
    if (changes.sendWindow !== undefined) {
      await campaigns.update(run, { sendWindow: changes.sendWindow ?? undefined }, 'change the send window of');
    }
    if (changes.sendAt === undefined) return;
    if (run.phase === 'scheduled') return this.reschedule(run, changes.sendAt);
    return this.send(run, changes.sendAt);
  }

  /** Scheduled campaigns whose time has come start sending; one whose state cannot be stored is tried at the next tick. */
  async startDue(now: number): Promise<void> {
    for (const run of this.deps.campaigns.all()) {
      // A time that does not parse never starts it early: it stays scheduled, for all to see.
      if (run.phase !== 'scheduled' || !(Date.parse(run.state.sendAt ?? '') <= now)) continue;
      try {
        await this.start(run);
      } catch (err) {
        this.deps.logger.error({ event: 'campaign.start_failed', campaignId: run.id, err }, 'a scheduled campaign could not start');
      }
    }
  }

  private async reschedule(run: CampaignRun, at: number): Promise<void> {
    const now = this.deps.clock.now();
    if (at > now) await this.deps.campaigns.move(run, 'reschedule', { sendAt: new Date(at).toISOString() });
    else await this.start(run, now);
  }

  /** Scheduled → sending; brought forward (`startedAt`, now), its `sendAt` says when it really started, not the time it was moved from. */
  private async start(run: CampaignRun, startedAt?: number): Promise<void> {
    await this.deps.campaigns.move(run, 'start', startedAt === undefined ? {} : { sendAt: new Date(startedAt).toISOString() });
    this.deps.logger.info({ event: 'campaign.started', campaignId: run.id, sendAt: run.state.sendAt }, 'scheduled campaign started');
  }
}
