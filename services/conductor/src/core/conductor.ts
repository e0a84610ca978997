import {
  assertRecipientId,
  isValidUnsubscribeSignature,
  keys,
  Ledger,
  LedgerRecordInvalidError,
  stubRecord,
  type Buckets,
  type CampaignRef,
  type CampaignTopic,
  type CheckInRequest,
  type CheckInResponse,
  type Clock,
  type Logger,
  type ObjectStore,
  type RenderedMessage,
  type RenewRequest,
  type RecipientRef,
  type Stage,
  type Sender,
  type SendWindow,
  type LocalSend,
  type ProviderLookup,
  type RecipientStatus,
  type RequeueReport,
} from '@baton/shared';
import { normaliseAddress } from '@baton/templating';
import type { CampaignRun } from './campaign-run';
import { isFinal } from './campaign-status';
import { campaignView, type CampaignView } from './campaign-view';
import { Campaigns, type DamagedCampaign, type NewCampaign } from './campaigns';
import { Dispatcher } from './dispatcher';
import { DoubtSettler } from './doubt-settler';
import type { ComplaintTally } from './feedback';
import { CampaignNotFoundError, CampaignStateError } from './errors';
import { GovernorJournal } from './governor-journal';
import { LeaseBook } from './lease-book';
import { Leasing } from './leasing';
import { WorkerRates } from './pacing';
import { noMetrics, type ConductorMetrics, type RenderPool, type WorkerInvoker } from './ports';
import { inProcessRenderPool } from './render-tasks';
import { Previews } from './previews';
import { listRecipients, type DeliveryOf, type ListedRecipient } from './recipient-list';
import { Reconciler, isStarting } from './reconciler';
import { Requeue } from './requeue';
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
  /** SETTLE_AFTER_MS: how long after a send went in doubt the provider's "no record" is believed (default 15 minutes). */
  settleAfterMs?: number;
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
  /** The provider's records, to settle sends in doubt; without one they stay in doubt. */
  lookup?: ProviderLookup;
  /** Each recipient's delivery record for the recipient list; none by default. */
  deliveryOf?: DeliveryOf;
  /** How many of a campaign's recipients complained (the provider's feedback), for its view. */
  complaints?: (ref: CampaignRef) => ComplaintTally;
  /**
   * Template checks, previews and audience parsing (the service passes its thread pool; core
   * tests may leave it out and get the in-process one).
   */
  renderPool?: RenderPool;
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
  private readonly settler: DoubtSettler;
  private readonly requeues: Requeue;
  private ticking = false;

  constructor(private readonly deps: ConductorDeps) {
    const { store, buckets, clock, logger, governors, settings } = deps;
    const metrics = deps.metrics ?? noMetrics;
    const rates = new WorkerRates(settings.sigma);
    this.ledger = new Ledger({ store, bucket: buckets.campaigns, clock });
    const ledger = this.ledger;
    const qaAllowList = settings.stage === 'qa' ? (settings.qaAllowList ?? []) : undefined;
    const renderPool = deps.renderPool ?? inProcessRenderPool();
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
    this.previews = new Previews({ store, buckets, clock, logger, governors, ledger, testSender: deps.testSender, renderPool, settings });
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

  /** The new draft's view, with `warnings` about its template (an empty list when there are none). */
  /** A new draft; with `sendAt` or `sendWindow`, scheduled (or given its window) at once. */
  async createCampaign(
    input: NewCampaign,
    schedule: { sendAt?: number; sendWindow?: SendWindow; localSend?: LocalSend } = {},
  ): Promise<CampaignView & { warnings: string[] }> {
    const { run, warnings } = await this.campaigns.create(input);
    if (Object.values(schedule).every((v) => v === undefined)) return { ...this.view(run), warnings };
    return { ...(await this.schedule(run.id, schedule)), warnings };
  }

  /** An audience uploaded on its own (see Campaigns.storeUpload); resolves with its key. */
  storeUpload(customerId: string, name: string, csv: string | Uint8Array): Promise<string> {
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
   * Draft → sending, and "campaign requested" goes out. With `at` in the future: draft →
   * scheduled; rendering starts now, sending at `at`. A scheduled campaign sent now starts at
   * once. Sending twice is refused.
   */
  async send(campaignId: string, options: { at?: number } = {}): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    const now = this.deps.clock.now();
    if (run.phase === 'scheduled') return this.reschedule(run, options.at ?? now);
    const requestedAt = new Date(now).toISOString();
    const later = options.at !== undefined && options.at > now;
    // Publish first: if it fails the campaign stays a draft and the marketer can simply retry
    // (the stubber is idempotent, so a publish whose status write failed is harmless too).
    await this.campaigns.move(
      run,
      later ? 'schedule' : 'send',
      { sendRequestedAt: requestedAt, ...(later ? { sendAt: new Date(options.at!).toISOString() } : {}) },
      () => this.deps.topic.publish({ version: 1, type: 'campaign.requested', ...run.ref, requestedAt }),
    );
    this.deps.logger.info(
      { event: later ? 'campaign.scheduled' : 'campaign.send_requested', campaignId, sendAt: run.state.sendAt },
      later ? 'campaign scheduled' : 'campaign send requested',
    );
    return this.view(run);
  }

  /**
   * Schedules a draft, moves a scheduled campaign's start (a time already past starts it now),
   * or sets or clears its send window (until it ends).
   */
  async schedule(
    campaignId: string,
    changes: { sendAt?: number; sendWindow?: SendWindow | null; localSend?: LocalSend | null },
  ): Promise<CampaignView> {
    const run = this.campaigns.get(campaignId);
    if (changes.localSend !== undefined) {
      // Rendered recipients are queued by it: set before anything is rendered, or not at all.
      if (run.phase !== 'draft') throw new CampaignStateError(run.id, run.state.status, 'set the local send time of');
      await this.campaigns.update(run, { localSend: changes.localSend ?? undefined }, 'set the local send time of');
    }
    if (changes.sendWindow !== undefined) {
      await this.campaigns.update(run, { sendWindow: changes.sendWindow ?? undefined }, 'change the send window of');
    }
    if (changes.sendAt === undefined) return this.view(run);
    if (run.phase === 'scheduled') return this.reschedule(run, changes.sendAt);
    return this.send(campaignId, { at: changes.sendAt });
  }

  private async reschedule(run: CampaignRun, at: number): Promise<CampaignView> {
    const sendAt = new Date(at).toISOString();
    if (at > this.deps.clock.now()) await this.campaigns.move(run, 'reschedule', { sendAt });
    else await this.startScheduled(run);
    return this.view(run);
  }

  private async startScheduled(run: CampaignRun): Promise<void> {
    await this.campaigns.move(run, 'start');
    this.deps.logger.info({ event: 'campaign.started', campaignId: run.id, sendAt: run.state.sendAt }, 'scheduled campaign started');
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
      { campaignId: ref.campaignId, reason: 'unsubscribed', ...(await this.addressOf(ref)) },
    );
    if (written === 'written')
      this.deps.logger.info(
        { event: 'recipient.unsubscribed', campaignId: ref.campaignId, recipientId: ref.recipientId },
        'recipient unsubscribed',
      );
  }

  // ---- recipients ---------------------------------------------------------------------------

  /** Every recipient of the campaign and where it is, in a stable order (streamed; see recipient-list.ts). */
  recipients(campaignId: string, options: { status?: RecipientStatus; cursor?: string } = {}): AsyncGenerator<ListedRecipient> {
    const run = this.campaigns.get(campaignId);
    const { store, buckets } = this.deps;
    return listRecipients(
      { store, buckets, ledger: this.ledger, deliveryOf: this.deps.deliveryOf ?? ((ref) => this.deliveryOf(ref)) },
      run,
      options,
    );
  }

  /** What the provider's webhooks said of a recipient (delivered, bounced, complained…), or null. */
  private async deliveryOf(ref: RecipientRef): Promise<{ status: string; at: string; reason?: string } | null> {
    let d: Awaited<ReturnType<Ledger['readDelivery']>>;
    try {
      d = await this.ledger.readDelivery(ref);
    } catch (err) {
      // A damaged delivery record says nothing about the send: the row is listed without it.
      if (err instanceof LedgerRecordInvalidError) return null;
      throw err;
    }
    return d ? { status: d.status, at: d.at, ...(d.reason !== undefined ? { reason: d.reason } : {}) } : null;
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

  /** The recipient's address from its stub, for the suppression list; none when the stub is gone or unreadable. */
  private async addressOf(ref: RecipientRef): Promise<{ email?: string }> {
    try {
      const text = await this.deps.store.get(this.deps.buckets.stubs, keys.stub(ref));
      const stub = text === undefined ? undefined : stubRecord.safeParse(JSON.parse(text));
      return stub?.success === true ? { email: normaliseAddress(stub.data.email) } : {};
    } catch {
      return {};
    }
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
      await this.startDue(now);
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

  /** Scheduled campaigns whose time has come start sending; one whose state cannot be stored is tried at the next tick. */
  private async startDue(now: number): Promise<void> {
    for (const run of this.campaigns.all()) {
      // A time that does not parse never starts it early: it stays scheduled, for all to see.
      if (run.phase !== 'scheduled' || !(Date.parse(run.state.sendAt ?? '') <= now)) continue;
      try {
        await this.startScheduled(run);
      } catch (err) {
        this.deps.logger.error({ event: 'campaign.start_failed', campaignId: run.id, err }, 'a scheduled campaign could not start');
      }
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
    return campaignView(run, this.deps.governors, this.deps.clock.now(), this.deps.complaints?.(run.ref));
  }
}
