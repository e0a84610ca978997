import {
  assertRecipientId,
  isValidUnsubscribeSignature,
  Ledger,
  type Buckets,
  type CampaignTopic,
  type CheckInRequest,
  type CheckInResponse,
  type Clock,
  type Logger,
  type ObjectStore,
  type RenderedMessage,
  type RenewRequest,
  type Stage,
  type Sender,
} from '@baton/shared';
import type { CampaignRun } from './campaign-run';
import { isFinal } from './campaign-status';
import { campaignView, type CampaignView } from './campaign-view';
import { Campaigns, type DamagedCampaign, type NewCampaign } from './campaigns';
import { Dispatcher } from './dispatcher';
import { CampaignNotFoundError } from './errors';
import { GovernorJournal } from './governor-journal';
import { LeaseBook } from './lease-book';
import { Leasing } from './leasing';
import { WorkerRates } from './pacing';
import { noMetrics, type ConductorMetrics, type WorkerInvoker } from './ports';
import { Previews } from './previews';
import { Reconciler, isStarting } from './reconciler';
import type { SendingGovernors } from './sending-governors';

export type { CampaignView } from './campaign-view';
export type { DamagedCampaign, NewCampaign } from './campaigns';

export interface ConductorSettings {
  stage: Stage;
  maxWorkers: number;
  batchSize: number;
  workerTimeBudgetMs: number;
  /** A lease not checked in this long after its worker's budget ran out is treated as abandoned. */
  leaseGraceMs: number;
  /** How often a campaign's buckets are listed for newly rendered recipients. */
  scanIntervalMs: number;
  /** Rendering that has not moved for this long is re-driven (see the reconciler). */
  stallMs: number;
  /** Retryable results a recipient may have before it is recorded failed. */
  maxAttempts: number;
  /** How far ahead one lease's schedule reaches. */
  leaseHorizonMs: number;
  /** Standard deviations taken off a worker's predicted keys (GOVERNOR_SIGMA). */
  sigma: number;
  /** Fair-share weight per customer (default 1). */
  customerWeights?: Readonly<Record<string, number>>;
  publicUrl: string;
  /** Signs unsubscribe links in previews and verifies them on `/unsubscribe`. */
  unsubscribeSecret: string;
  qaAllowList?: readonly string[];
}

export interface ConductorDeps {
  store: ObjectStore;
  buckets: Buckets;
  clock: Clock;
  logger: Logger;
  governors: SendingGovernors;
  invoker: WorkerInvoker;
  topic: CampaignTopic;
  testSender?: Sender;
  metrics?: ConductorMetrics;
  settings: ConductorSettings;
}

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
  private readonly ledger: Ledger;
  private ticking = false;

  constructor(private readonly deps: ConductorDeps) {
    const { store, buckets, clock, logger, governors, settings } = deps;
    const metrics = deps.metrics ?? noMetrics;
    const rates = new WorkerRates(settings.sigma);
    this.ledger = new Ledger({ store, bucket: buckets.campaigns, clock });
    const ledger = this.ledger;
    this.campaigns = new Campaigns({ store, buckets, clock, logger, governors });
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
    });
    this.previews = new Previews({ store, buckets, clock, logger, governors, ledger, testSender: deps.testSender, settings });
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

  async createCampaign(input: NewCampaign): Promise<CampaignView> {
    return this.view(await this.campaigns.create(input));
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

  /** Draft → sending, and "campaign requested" goes out. Sending twice is refused. */
  async send(campaignId: string): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    const now = new Date(this.deps.clock.now()).toISOString();
    // Publish first: if it fails the campaign stays a draft and the marketer can simply retry
    // (the stubber is idempotent, so a publish whose status write failed is harmless too).
    await this.campaigns.move(run, 'send', { sendRequestedAt: now }, () =>
      this.deps.topic.publish({ version: 1, type: 'campaign.requested', ...run.ref, requestedAt: now }),
    );
    this.deps.logger.info({ event: 'campaign.send_requested', campaignId }, 'campaign send requested');
    return this.view(run);
  }

  async pause(campaignId: string): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    await this.campaigns.move(run, 'pause');
    return this.view(run);
  }

  async resume(campaignId: string): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    await this.campaigns.move(run, 'resume');
    return this.view(run);
  }

  /** No new lease for it; leases already out finish (their calls may still go out), then the rest count as cancelled. */
  async cancel(campaignId: string): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    if (run.phase === 'draft') await this.campaigns.move(run, 'discard', { finishedAt: new Date(this.deps.clock.now()).toISOString() });
    else await this.campaigns.move(run, 'cancel');
    return this.view(run);
  }

  /** The campaign rendered for its first audience row (or the given address). */
  async preview(campaignId: string, to?: string): Promise<RenderedMessage> {
    return this.previews.preview(this.campaigns.get(campaignId), to);
  }

  /** Sends the preview to one address now, under the governor like any other send. */
  async testSend(campaignId: string, to: string): Promise<{ providerId: string }> {
    return this.previews.testSend(this.campaigns.get(campaignId), to);
  }

  /**
   * Records that a recipient wants no more mail from this customer (List-Unsubscribe, RFC 8058
   * one click). Idempotent; workers check it before every send, so it takes effect at once.
   */
  async unsubscribe(ref: { customerId: string; campaignId: string; recipientId: string }, signature: string): Promise<void> {
    assertRecipientId(ref.recipientId);
    // The signed link carries all the suppression needs: it works whatever state the campaign's
    // own objects are in. A wrong signature looks exactly like an unknown campaign.
    const known = this.campaigns.find(ref.campaignId);
    const otherCustomer = known !== undefined && known.definition.customerId !== ref.customerId;
    if (otherCustomer || !isValidUnsubscribeSignature(this.deps.settings.unsubscribeSecret, ref, signature)) {
      throw new CampaignNotFoundError(ref.campaignId);
    }
    const written = await this.ledger.suppress(
      { customerId: ref.customerId, recipientId: ref.recipientId },
      { campaignId: ref.campaignId, reason: 'unsubscribed' },
    );
    if (written === 'written')
      this.deps.logger.info(
        { event: 'recipient.unsubscribed', campaignId: ref.campaignId, recipientId: ref.recipientId },
        'recipient unsubscribed',
      );
  }

  // ---- the tick and the lease API -----------------------------------------------------------

  /** One round: expire abandoned leases, look for newly rendered recipients, hand out work. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.deps.clock.now();
      await this.journal.extend(now);
      await this.leasing.expireLeases(now);
      for (const run of this.campaigns.all()) {
        if (run.phase === 'draft' || run.state.finishedAt !== undefined) continue;
        await this.reconciler.scanIfDue(run, now);
      }
      await this.leasing.topUpWorkers();
      for (const run of this.campaigns.all()) await this.reconciler.finishIfComplete(run);
    } finally {
      this.ticking = false;
    }
  }

  /** Some campaign is sending and its first rendered recipient is not seen yet: tick soon, not in a full TICK_MS. */
  get starting(): boolean {
    for (const run of this.campaigns.all()) if (isStarting(run)) return true;
    return false;
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
    return campaignView(run, this.deps.governors, this.deps.clock.now());
  }
}
