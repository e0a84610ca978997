import {
  Ledger,
  type CheckInRequest,
  type CheckInResponse,
  type RenderedMessage,
  type RenewRequest,
  type WatchRequest,
  type WatchResponse,
  type SendWindow,
  type LocalSend,
  type RequeueReport,
} from '@baton/shared';
import type { AudienceUpload } from './audience-upload';
import type { ConductorDeps } from './conductor-deps';
import type { CampaignRun } from './campaign-run';
import { isFinal } from './campaign-status';
import { campaignView, type CampaignView } from './campaign-view';
import { Campaigns, type DamagedCampaign, type NewCampaign } from './campaigns';
import { Dispatcher } from './dispatcher';
import { Drafts, type CampaignDefinitionView } from './drafts';
import { DoubtSettler } from './doubt-settler';
import { GovernorJournal } from './governor-journal';
import { LeaseBook } from './lease-book';
import { Leasing } from './leasing';
import { WorkerRates } from './pacing';
import { noMetrics } from './ports';
import { inProcessRenderPool } from './render-tasks';
import { Previews } from './previews';
import { deliveriesFrom, listRecipients, type ListedRecipient, type RecipientListOptions } from './recipient-list';
import { Reconciler, isStarting } from './reconciler';
import { Scheduling } from './scheduling';
import { Requeue } from './requeue';
import { Unsubscribes } from './unsubscribes';
import { SendRates, type RateSeries } from './send-rates';
import { LeaseStops } from './lease-stops';

export type { CampaignView } from './campaign-view';
export type { DamagedCampaign, NewCampaign } from './campaigns';

export type { ConductorDeps, ConductorSettings } from './conductor-deps';

/**
 * The conductor's core, as one facade over modules with one job each: campaigns (their
 * lifecycle), the reconciler (store → picture), the dispatcher (whose turn, how many permits),
 * the lease book and the lease protocol, the governor journal, previews and test sends. Pure
 * apart from its ports; the HTTP layer and the tick loop sit around it.
 */
export class Conductor {
  private readonly campaigns: Campaigns;
  private readonly reconciler: Reconciler;
  private readonly journal: GovernorJournal;
  private readonly book = new LeaseBook();
  private readonly leasing: Leasing;
  private readonly previews: Previews;
  private readonly scheduling: Scheduling;
  private readonly ledger: Ledger;
  private readonly settler: DoubtSettler;
  private readonly requeues: Requeue;
  private readonly unsubscribes: Unsubscribes;
  /** Accepted sends over time: the rate chart and "sent in the last minute". */
  private readonly sendRates: SendRates;
  /** The campaign editor's checks and previews of drafts not stored yet. */
  readonly drafts: Drafts;
  private readonly stops: LeaseStops;
  private ticking = false;

  constructor(private readonly deps: ConductorDeps) {
    const { store, buckets, clock, logger, governors, settings } = deps;
    const metrics = deps.metrics ?? noMetrics;
    const rates = new WorkerRates(settings.sigma);
    const ledger = (this.ledger = new Ledger({ store, bucket: buckets.campaigns, clock }));
    const qaAllowList = settings.stage === 'qa' ? (settings.qaAllowList ?? []) : undefined;
    const renderPool = deps.renderPool ?? inProcessRenderPool();
    const sendRates = (this.sendRates = SendRates.of(governors));
    this.stops = new LeaseStops(clock);
    this.campaigns = new Campaigns({ store, buckets, clock, logger, governors, qaAllowList, renderPool });
    this.reconciler = new Reconciler({
      store,
      buckets,
      clock,
      logger,
      topic: deps.topic,
      ledger,
      metrics,
      campaigns: this.campaigns,
      settings,
      sendRates,
    });
    this.journal = new GovernorJournal({ store, buckets, logger, governors, leaseHorizonMs: settings.leaseHorizonMs });
    const dispatcher = new Dispatcher(governors, rates, settings, logger);
    this.leasing = new Leasing({
      clock,
      logger,
      metrics,
      invoker: deps.invoker,
      campaigns: this.campaigns,
      book: this.book,
      dispatcher,
      reconciler: this.reconciler,
      ledger,
      rates,
      journal: this.journal,
      settings,
      sendRates,
      stops: this.stops,
    });
    this.settler = new DoubtSettler({
      store,
      buckets,
      clock,
      logger,
      metrics,
      ledger,
      campaigns: this.campaigns,
      reconciler: this.reconciler,
      lookup: deps.lookup,
      settleAfterMs: settings.settleAfterMs ?? 15 * 60_000,
    });
    this.requeues = new Requeue({ store, buckets, ledger, logger, campaigns: this.campaigns, reconciler: this.reconciler });
    const { unsubscribeSecret, publicUrl } = settings;
    this.unsubscribes = new Unsubscribes({ store, buckets, logger, ledger, campaigns: this.campaigns, unsubscribeSecret });
    this.scheduling = new Scheduling({ campaigns: this.campaigns, topic: deps.topic, clock, logger });
    this.previews = new Previews({ store, buckets, clock, logger, governors, ledger, testSender: deps.testSender, renderPool, settings });
    this.drafts = new Drafts({ heads: this.previews.heads, renderPool, publicUrl, defaultDomain: governors.defaultDomain });
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Loads every campaign from the store; those that were sending resume from their ledger. */
  async start(): Promise<void> {
    await this.campaigns.load();
    for (const run of this.campaigns.all()) {
      if (!isFinal(run.phase)) continue;
      try {
        await this.reconciler.restoreFinished(run);
      } catch (err) {
        this.deps.logger.error({ event: 'campaign.restore_failed', campaignId: run.id, err }, 'a finished campaign could not be read back');
      }
    }
    // Whatever a previous conductor granted still counts: its checkpoint says how much.
    await this.journal.restore(this.deps.clock.now(), this.campaigns.wasSending());
    this.deps.logger.info({ event: 'conductor.started', campaigns: this.campaigns.size }, 'conductor started');
  }

  /** Stop handing out work; leases already out finish and check in normally. */
  stop(): void {
    this.leasing.stop();
  }

  get activeWorkers(): number {
    return this.book.workers().size;
  }

  get activeLeases(): number {
    return this.book.size;
  }

  /** Stores the governors' checkpoint now (on shutdown). */
  async checkpoint(): Promise<void> {
    await this.journal.save(this.deps.clock.now());
  }

  // ---- campaign API -------------------------------------------------------------------------

  /** A new draft; with `sendAt` or `sendWindow`, scheduled (or given its window) at once. */
  async createCampaign(
    input: NewCampaign,
    schedule: { sendAt?: number; sendWindow?: SendWindow; localSend?: LocalSend } = {},
  ): Promise<CampaignView & { warnings: string[] }> {
    const { run, warnings } = await this.campaigns.create(input);
    if (Object.values(schedule).every((v) => v === undefined)) return { ...this.view(run), warnings };
    return { ...(await this.schedule(run.id, schedule)), warnings };
  }

  /** An audience uploaded on its own (see Campaigns.storeUpload); resolves with its key and size. */
  storeUpload(customerId: string, name: string, csv: string | Uint8Array | AudienceUpload): Promise<{ key: string; bytes: number }> {
    return this.campaigns.storeUpload(customerId, name, csv);
  }

  listCampaigns(): CampaignView[] {
    return this.campaigns.list().map((r) => this.view(r));
  }

  /** Stored campaigns whose definition cannot be read, with the key and why. */
  damagedCampaigns(): DamagedCampaign[] {
    return this.campaigns.damaged();
  }

  getCampaign(campaignId: string): CampaignView {
    return this.view(this.campaigns.get(campaignId));
  }

  /**
   * Draft → sending, and "campaign requested" goes out; with `at` in the future, scheduled (see
   * scheduling.ts). Sending twice is refused.
   */
  async send(campaignId: string, options: { at?: number } = {}): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    await this.scheduling.send(run, options.at);
    return this.view(run);
  }

  /** Schedules a draft or moves its start; sets its send window or its local send time. */
  async schedule(
    campaignId: string,
    changes: { sendAt?: number; sendWindow?: SendWindow | null; localSend?: LocalSend | null },
  ): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    await this.scheduling.schedule(run, changes);
    return this.view(run);
  }

  /**
   * Nothing new starts: the campaign's leases are stopped before the state is stored (their
   * workers hear it through their watches and start no further call), and none is issued for it
   * until Resume. Answers once the workers have said what was still on its way (or after
   * `pauseConfirmMs`), with the view's `pause` saying exactly that.
   */
  async pause(campaignId: string): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    try {
      await this.campaigns.move(run, 'pause', {}, async () => this.leasing.stopCampaign(run));
    } catch (err) {
      // Not paused after all (refused, or the state could not be stored): it goes on sending.
      if (run.phase !== 'paused') this.stops.clear(run.id);
      throw err;
    }
    await this.stops.confirmedBy(run.id, this.deps.settings.pauseConfirmMs ?? 0);
    return this.view(run);
  }

  async resume(campaignId: string): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    await this.campaigns.move(run, 'resume');
    this.stops.clear(run.id);
    return this.view(run);
  }

  /** No new lease for it; leases already out finish (their calls may still go out), then the rest count as cancelled. */
  async cancel(campaignId: string): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    if (run.phase === 'draft') await this.campaigns.move(run, 'discard', { finishedAt: new Date(this.deps.clock.now()).toISOString() });
    else await this.campaigns.move(run, 'cancel');
    // A paused campaign's stops stay until its leases are over, then go (no resume will clear them).
    this.stops.retire(run.id);
    return this.view(run);
  }

  /** Accepted sends per bucket over the last `minutes`, the campaign's and its domain's, against the cap and the effective cap. */
  rate(campaignId: string, minutes: number): RateSeries {
    const run = this.campaigns.get(campaignId);
    const domain = run.definition.sendingDomain ?? this.deps.governors.defaultDomain;
    return this.sendRates.series(run.id, domain, minutes, this.deps.governors.forDomain(domain).effectiveCap, this.deps.clock.now());
  }

  /** The campaign rendered for its first audience row (or the given address, or data row `row` of its audience). */
  async preview(campaignId: string, to?: string, row?: number): Promise<RenderedMessage> {
    return this.previews.preview(this.campaigns.get(campaignId), to, row);
  }

  /** Deletes a campaign that never started (see Campaigns.remove). */
  async deleteCampaign(campaignId: string): Promise<void> {
    const run = this.campaigns.get(campaignId);
    await this.campaigns.remove(run);
    this.previews.heads.forget(run.definition.audienceKey);
  }

  /** What a clone of the campaign is created from. */
  definition(campaignId: string): CampaignDefinitionView {
    return this.drafts.definition(this.campaigns.get(campaignId));
  }

  /** Sends the preview to one address now, under the governor like any other send. */
  async testSend(campaignId: string, to: string): Promise<{ providerId: string }> {
    return this.previews.testSend(this.campaigns.get(campaignId), to);
  }

  /** A signed one-click unsubscribe (see unsubscribes.ts). */
  unsubscribe(ref: { customerId: string; campaignId: string; recipientId: string }, signature: string): Promise<void> {
    return this.unsubscribes.unsubscribe(ref, signature);
  }

  // ---- recipients ---------------------------------------------------------------------------

  /** Every recipient of the campaign and where it is, in a stable order (streamed; see recipient-list.ts). */
  recipients(campaignId: string, options: RecipientListOptions = {}): AsyncGenerator<ListedRecipient> {
    const run = this.campaigns.get(campaignId);
    const { store, buckets } = this.deps;
    return listRecipients(
      { store, buckets, ledger: this.ledger, deliveryOf: this.deps.deliveryOf ?? deliveriesFrom(this.ledger) },
      run,
      options,
    );
  }

  /** Re-queues the recipients that failed for a retryable reason (never permanent failures, suppressed or in doubt). */
  retry(campaignId: string): Promise<RequeueReport> {
    return this.requeues.requeue(this.campaigns.get(campaignId), 'failed');
  }

  /** Re-queues the recipients the provider has no record of (`notAccepted`): the marketer's explicit resend. */
  resend(campaignId: string, status: 'notAccepted'): Promise<RequeueReport> {
    return this.requeues.requeue(this.campaigns.get(campaignId), status);
  }

  /** One batch of in-doubt recipients asked about at the provider, awaited (the tick starts them in the background). */
  settleInDoubt(): Promise<number> {
    return this.settler.settleBatch();
  }

  // ---- the tick and the lease API -----------------------------------------------------------

  /** One round: expire abandoned leases, look for newly rendered recipients, hand out work. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.deps.clock.now();
      for (const g of this.deps.governors.snapshots(now)) this.sendRates.noteLevel(g.domain, g.effectiveCap, now);
      await this.journal.extend(now);
      await this.leasing.expireLeases(now);
      await this.scheduling.startDue(now);
      for (const run of this.campaigns.all()) {
        if (run.phase === 'draft' || run.state.finishedAt !== undefined) continue;
        await this.reconciler.scanIfDue(run, now);
      }
      await this.leasing.topUpWorkers();
      for (const run of this.campaigns.all()) await this.reconciler.finishIfComplete(run);
      // Beside the tick, not in it: a slow provider must not hold up sending.
      this.settler.kick();
    } finally {
      this.ticking = false;
    }
  }

  /** Some campaign is sending and its first rendered recipient is not seen yet: tick soon, not in a full TICK_MS. */
  get starting(): boolean {
    for (const run of this.campaigns.all()) if (isStarting(run)) return true;
    return false;
  }

  /** A worker watches a lease while it may still start calls: a stop reaches it at once. */
  watch(request: WatchRequest): Promise<WatchResponse> {
    return this.leasing.watch(request);
  }

  /** A worker asks for its next lease while its current one's last calls finish. */
  renew(request: RenewRequest): Promise<CheckInResponse> {
    return this.leasing.renew(request);
  }

  /** A worker reports a lease's results; with time left, it gets the next lease in the reply. */
  checkIn(request: CheckInRequest): Promise<CheckInResponse> {
    return this.leasing.checkIn(request);
  }

  private view(run: CampaignRun): CampaignView {
    const pause = run.phase === 'paused' ? this.stops.describe(run.id) : undefined;
    return campaignView(run, this.deps.governors, this.deps.clock.now(), this.deps.complaints?.(run.ref), this.sendRates, pause);
  }
}
