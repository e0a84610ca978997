import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  audienceReport,
  campaignDefinition,
  campaignState,
  isAllowedRecipient,
  keys,
  listAll,
  newCampaignId,
  recipientIdFor,
  outcomeRecord,
  parseJson,
  parseKey,
  parseWith,
  ObjectExistsError,
  ValidationError,
  ID_PATTERN,
  assertRecipientId,
  isValidUnsubscribeSignature,
  leaseSendUntil,
  type Buckets,
  type CampaignDefinition,
  type CampaignState,
  type CampaignStatus,
  type CampaignTopic,
  type CheckInRequest,
  type CheckInResponse,
  type RenewRequest,
  type Clock,
  type Lease,
  type Logger,
  type ObjectStore,
  type OutcomeRecord,
  type OutcomeStatus,
  type RenderedMessage,
  type Stage,
  type SuppressionRecord,
} from '@baton/shared';
import { TemplateCache, parseAudience, renderMessage, validateCampaignTemplate, type AudienceRecipient } from '@baton/renderer';
import { CampaignRun, type CampaignCounts } from './campaign-run';
import { CampaignNotFoundError, CampaignStateError, NoPermitError } from './errors';
import type { SliceGrant, Governor } from './governor';
import { FairShare } from './fair-share';
import { WorkerRates, planGrant } from './pacing';
import { sendingGovernorsCheckpoint, type SendingGovernors } from './sending-governors';
import { noMetrics, type ConductorMetrics, type TestSender, type WorkerInvoker } from './ports';

export interface ConductorSettings {
  stage: Stage;
  maxWorkers: number;
  batchSize: number;
  workerTimeBudgetMs: number;
  /** A lease not checked in this long after its worker's budget ran out is treated as abandoned. */
  leaseGraceMs: number;
  /** How often a campaign's buckets are listed for newly rendered recipients. */
  scanIntervalMs: number;
  /**
   * Rendering that has not moved for this long is re-driven: stubs with neither a rendered
   * object nor an outcome are written again (their event re-runs the renderer), and a campaign
   * with no audience report yet has its "campaign requested" published again. Both handlers are
   * idempotent, so a re-drive that races a slow original is harmless.
   */
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
  testSender?: TestSender;
  metrics?: ConductorMetrics;
  settings: ConductorSettings;
}

const id = z.string().regex(new RegExp(ID_PATTERN), { message: 'must be lower-case letters, digits and dashes (2-63)' });

/** What `POST /api/campaigns` accepts. */
export const createCampaignInput = z
  .object({
    name: z.string().trim().min(1, { message: 'is required' }).max(200),
    customerId: id,
    from: z.string().min(3).max(320),
    subject: z.string().min(1, { message: 'is required' }).max(998),
    mjml: z.string().min(1, { message: 'is required' }).max(2_000_000),
    audienceCsv: z.string().min(1).max(200_000_000).optional(),
    /** An object already in the campaigns bucket, under `uploads/{customerId}/`. */
    audienceKey: z.string().min(1).max(1024).optional(),
    /** One of the configured sending domains; the default domain when absent. */
    sendingDomain: z.string().trim().toLowerCase().optional(),
  })
  .strict()
  .refine((v) => (v.audienceCsv === undefined) !== (v.audienceKey === undefined), {
    message: 'give exactly one of audienceCsv or audienceKey',
    path: ['audienceCsv'],
  });
export type CreateCampaignInput = z.input<typeof createCampaignInput>;

export interface CampaignView {
  id: string;
  customerId: string;
  name: string;
  subject: string;
  status: CampaignStatus;
  createdAt: string;
  sendRequestedAt?: string;
  finishedAt?: string;
  counts: CampaignCounts;
  /** Sends in the last minute for this campaign, against the cap. */
  sentLastMinute: number;
  sendingDomain: string;
  /** The domain's cap, per minute. */
  perMinuteMax: number;
  /** The cap as the governor applies it now (lower after the provider pushed back), per minute. */
  effectivePerMinute: number;
  etaSeconds: number | null;
  problems: { line: number; kind: string; reason: string }[];
  /** Why a `failed` campaign failed. */
  error?: { code: string; message: string };
}

interface ActiveLease {
  lease: Lease;
  run: CampaignRun;
  grant: SliceGrant;
  governors: Governor[];
  /** Results already settled by a check-in that then failed: its retry skips them. */
  settled: Set<string>;
}

/** How long a worker takes to start after it is invoked (a Lambda cold start, roughly): its first slices wait for it. */
const INVOKE_LEAD_MS = 400;

/** How far ahead a test send looks for a free permit before answering 429. */
const TEST_SEND_LOOKAHEAD_MS = 3_000;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Until when a worker can still start calls, by what it said of its budget. */
function usableUntil(request: { budgetLeftMs?: number; reserveMs?: number }, now: number): number {
  return request.budgetLeftMs === undefined ? Number.POSITIVE_INFINITY : now + request.budgetLeftMs - (request.reserveMs ?? 0);
}

const TERMINAL: ReadonlySet<CampaignStatus> = new Set(['done', 'cancelled', 'failed']);

/**
 * The conductor's core: campaigns' lifecycle, and every tick, which recipients go to which
 * worker under the governor's permits. Pure apart from its ports; the HTTP layer and the tick
 * loop sit around it.
 */
export class Conductor {
  private readonly runs = new Map<string, CampaignRun>();
  private readonly leases = new Map<string, ActiveLease>();
  /** Workers that hold a lease now, with how many (two while one is renewed and not yet checked in). */
  private readonly workers = new Map<string, number>();
  /** Workers on their last lease (too little time left for another): their successors may start now. */
  private readonly leaving = new Set<string>();
  /** Leases that expired: a late check-in still settles their recipients, in the right campaign. */
  private readonly expired = new Map<string, ActiveLease>();
  /** The reply to each recent check-in, so a worker that retries one gets the same answer. */
  private readonly answered = new Map<string, { at: number; response: CheckInResponse }>();
  /** Check-ins being handled now, by lease and worker. */
  private readonly checkingIn = new Map<string, Promise<CheckInResponse>>();
  private readonly metrics: ConductorMetrics;
  /** Compiled templates and each campaign's first recipient, for previews and test sends. */
  private readonly templates = new TemplateCache();
  private readonly samples = new Map<string, AudienceRecipient | undefined>();
  private readonly rates: WorkerRates;
  private readonly fairness = new Map<string, FairShare>();
  private readonly unknownDomainWarned = new Set<string>();
  private roundRobin = 0;
  private ticking = false;
  private stopping = false;

  constructor(private readonly deps: ConductorDeps) {
    this.metrics = deps.metrics ?? noMetrics;
    this.rates = new WorkerRates(deps.settings.sigma);
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Loads every campaign from the store; those that were sending resume from their ledger. */
  async start(): Promise<void> {
    const { store, buckets } = this.deps;
    for await (const key of listAll(store, buckets.campaigns, 'campaigns/')) {
      if (!key.endsWith('/campaign.json')) continue;
      try {
        const ref = parseKey.campaign(key);
        const definition = parseWith(
          campaignDefinition,
          parseJson((await store.get(buckets.campaigns, key)) ?? '', key),
          'CAMPAIGN_INVALID',
          key,
        );
        const stateText = await store.get(buckets.campaigns, keys.state(ref));
        const state = stateText
          ? parseWith(campaignState, parseJson(stateText, keys.state(ref)), 'CAMPAIGN_INVALID', keys.state(ref))
          : { version: 1 as const, status: 'draft' as const, updatedAt: definition.createdAt };
        this.runs.set(definition.campaignId, new CampaignRun(definition, state));
      } catch (err) {
        this.deps.logger.error({ event: 'campaign.load_failed', key, err }, 'a stored campaign could not be loaded');
      }
    }
    // Whatever a previous conductor granted still counts: its checkpoint says how much.
    const now = this.deps.clock.now();
    const saved = await store.get(buckets.campaigns, keys.governorCheckpoint());
    const checkpoint = saved === undefined ? undefined : sendingGovernorsCheckpoint.safeParse(safeJson(saved));
    if (checkpoint?.success) {
      this.deps.governors.restore(checkpoint.data, now);
    } else {
      if (checkpoint)
        this.deps.logger.error(
          { event: 'governor.checkpoint_invalid', key: keys.governorCheckpoint() },
          'the governor checkpoint is unreadable; waiting out a window instead',
        );
      const wasSending = [...this.runs.values()].some(
        (r) => (r.state.status === 'sending' || r.state.status === 'paused') && r.state.finishedAt === undefined,
      );
      if (wasSending || checkpoint) this.deps.governors.assumeRecentlyBusy(now);
    }
    await this.extendGovernors(now);
    this.deps.logger.info({ event: 'conductor.started', campaigns: this.runs.size }, 'conductor started');
  }

  /** Stop handing out work; leases already out finish and check in normally. */
  stop(): void {
    this.stopping = true;
  }

  get activeWorkers(): number {
    return this.workers.size;
  }

  get activeLeases(): number {
    return this.leases.size;
  }

  // ---- campaign API -------------------------------------------------------------------------

  async createCampaign(body: unknown): Promise<CampaignView> {
    const input = parseWith(createCampaignInput, body, 'CAMPAIGN_INVALID', 'body');
    const now = this.deps.clock.now();
    const { store, buckets } = this.deps;
    await validateCampaignTemplate({ from: input.from, subject: input.subject, mjml: input.mjml });

    const sendingDomain = input.sendingDomain ?? this.deps.governors.defaultDomain;
    if (!this.deps.governors.has(sendingDomain)) {
      throw new ValidationError('CAMPAIGN_INVALID', [
        { where: 'body.sendingDomain', message: `must be one of ${this.deps.governors.domainNames().join(', ')}` },
      ]);
    }
    const campaignId = newCampaignId(now);
    const ref = { customerId: input.customerId, campaignId };
    let audienceKey: string;
    if (input.audienceCsv !== undefined) {
      parseAudience(input.audienceCsv, input.customerId); // rejects a CSV with no header or no email column
      audienceKey = keys.audience(ref);
      await store.put(buckets.campaigns, audienceKey, input.audienceCsv, { contentType: 'text/csv' });
    } else {
      audienceKey = input.audienceKey!;
      const allowed = `uploads/${input.customerId}/`;
      if (!audienceKey.startsWith(allowed) || audienceKey.includes('..')) {
        throw new ValidationError('CAMPAIGN_INVALID', [{ where: 'body.audienceKey', message: `must be under ${allowed}` }]);
      }
      const csv = await store.get(buckets.campaigns, audienceKey);
      if (csv === undefined) throw new ValidationError('CAMPAIGN_INVALID', [{ where: 'body.audienceKey', message: 'no such object' }]);
      parseAudience(csv, input.customerId);
    }
    const definition: CampaignDefinition = {
      version: 1,
      customerId: input.customerId,
      campaignId,
      name: input.name,
      from: input.from,
      subject: input.subject,
      mjml: input.mjml,
      audienceKey,
      sendingDomain,
      createdAt: new Date(now).toISOString(),
    };
    const state: CampaignState = { version: 1, status: 'draft', updatedAt: definition.createdAt };
    await store.put(buckets.campaigns, keys.campaign(ref), JSON.stringify(definition), { ifNoneMatch: '*' });
    await this.saveState(ref, state);
    const run = new CampaignRun(definition, state);
    this.runs.set(campaignId, run);
    this.deps.logger.info({ event: 'campaign.created', campaignId, customerId: input.customerId }, 'campaign created');
    return this.view(run);
  }

  listCampaigns(): CampaignView[] {
    return [...this.runs.values()].sort((a, b) => (a.definition.createdAt < b.definition.createdAt ? 1 : -1)).map((r) => this.view(r));
  }

  getCampaign(campaignId: string): CampaignView {
    return this.view(this.run(campaignId));
  }

  /** Draft → sending, and "campaign requested" goes out. Sending twice is refused. */
  async send(campaignId: string): Promise<CampaignView> {
    const run = this.run(campaignId);
    if (run.state.status !== 'draft') throw new CampaignStateError(campaignId, run.state.status, 'send');
    const now = new Date(this.deps.clock.now()).toISOString();
    // Publish first: if it fails the campaign stays a draft and the marketer can simply retry
    // (the stubber is idempotent, so a publish whose status write failed is harmless too).
    await this.deps.topic.publish({ version: 1, type: 'campaign.requested', ...run.ref, requestedAt: now });
    await this.setStatus(run, 'sending', { sendRequestedAt: now });
    this.deps.logger.info({ event: 'campaign.send_requested', campaignId }, 'campaign send requested');
    return this.view(run);
  }

  async pause(campaignId: string): Promise<CampaignView> {
    const run = this.run(campaignId);
    if (run.state.status !== 'sending') throw new CampaignStateError(campaignId, run.state.status, 'pause');
    await this.setStatus(run, 'paused');
    return this.view(run);
  }

  async resume(campaignId: string): Promise<CampaignView> {
    const run = this.run(campaignId);
    if (run.state.status !== 'paused') throw new CampaignStateError(campaignId, run.state.status, 'resume');
    await this.setStatus(run, 'sending');
    return this.view(run);
  }

  /** No new lease for it; leases already out finish (their calls may still go out), then the rest count as cancelled. */
  async cancel(campaignId: string): Promise<CampaignView> {
    const run = this.run(campaignId);
    if (TERMINAL.has(run.state.status)) throw new CampaignStateError(campaignId, run.state.status, 'cancel');
    await this.setStatus(run, 'cancelled');
    return this.view(run);
  }

  /** The campaign rendered for its first audience row (or the given fields). */
  async preview(campaignId: string, to?: string): Promise<RenderedMessage> {
    const run = this.run(campaignId);
    const first = await this.sampleRecipient(run);
    const email = to ?? first?.email ?? 'preview@example.com';
    const compiled = await this.templates.get(run.ref, async () => run.definition);
    // A test goes out under the tester's own id, so its unsubscribe link can never suppress
    // the audience's first recipient.
    const recipientId =
      to !== undefined ? recipientIdFor(run.definition.customerId, to.trim().toLowerCase()) : (first?.recipientId ?? '0'.repeat(32));
    return renderMessage(
      compiled,
      { ...run.ref, recipientId, email, fields: { ...(first?.fields ?? {}), email } },
      { publicUrl: this.deps.settings.publicUrl, unsubscribeSecret: this.deps.settings.unsubscribeSecret },
    );
  }

  /** The audience's first valid recipient, read once per campaign from the start of the file. */
  private async sampleRecipient(run: CampaignRun): Promise<AudienceRecipient | undefined> {
    if (this.samples.has(run.id)) return this.samples.get(run.id);
    const csv = (await this.deps.store.get(this.deps.buckets.campaigns, run.definition.audienceKey)) ?? '';
    // The first 64 KiB nearly always hold the first row whole: trust it when another row follows
    // (so it was not cut) or the slice is the whole file; else read everything.
    const head = csv.slice(0, 65_536);
    const fromHead = parseAudience(head, run.definition.customerId).recipients;
    const first =
      head.length === csv.length || fromHead.length > 1 ? fromHead[0] : parseAudience(csv, run.definition.customerId).recipients[0];
    this.samples.set(run.id, first);
    return first;
  }

  /** Sends the preview to one address now, under the governor like any other send. */
  async testSend(campaignId: string, body: unknown): Promise<{ providerId: string }> {
    const { to } = parseWith(
      z.object({ to: z.email({ message: 'must be an email address' }) }).strict(),
      body,
      'TEST_SEND_INVALID',
      'body',
    );
    const { settings, testSender, governors, clock } = this.deps;
    if (!testSender) throw new CampaignStateError(campaignId, 'not configured', 'test-send');
    if (settings.stage === 'qa' && !isAllowedRecipient(settings.qaAllowList ?? [], to)) {
      throw new ValidationError('QA_NOT_ALLOWED', [{ where: 'body.to', message: 'is not in QA_ALLOWED_RECIPIENTS' }]);
    }
    const message = await this.preview(campaignId, to);
    const now = clock.now();
    // A permit like any worker's: of one slice, used while the clock is in it. The first slice
    // with one free in the next couple of seconds (under a low cap most slices have none).
    const run = this.run(campaignId);
    const chain = governors.chain(run.definition.sendingDomain, run.definition.customerId);
    const main = chain[0]!;
    let slice = main.sliceOf(now);
    if (now - main.sliceStart(slice) > governors.sliceMs / 2) slice++;
    const last = main.sliceOf(now + TEST_SEND_LOOKAHEAD_MS);
    while (slice <= last && chain.some((g) => g.free(slice) < 1)) slice++;
    if (slice > last) throw new NoPermitError(Math.max(1000, TEST_SEND_LOOKAHEAD_MS));
    for (const g of chain) g.take(slice, 1);
    if (main.sliceStart(slice) > now) await clock.sleep(main.sliceStart(slice) - now);
    // A late wake-up must not carry the call past its slice (the permit is spent either way).
    if (clock.now() >= main.sliceStart(slice + 1)) throw new NoPermitError(governors.sliceMs * 2);
    const domain = run.definition.sendingDomain ?? governors.defaultDomain;
    const result = await testSender.send({ ...message, subject: `[TEST] ${message.subject}` }, { domain });
    this.deps.logger.info({ event: 'campaign.test_sent', campaignId }, 'test message sent');
    return result;
  }

  /**
   * Records that a recipient wants no more mail from this customer (List-Unsubscribe, RFC 8058
   * one click). Idempotent; workers check it before every send, so it takes effect at once.
   */
  async unsubscribe(ref: { customerId: string; campaignId: string; recipientId: string }, signature: string): Promise<void> {
    const key = keys.suppression({ customerId: ref.customerId, recipientId: assertRecipientId(ref.recipientId) });
    const run = this.run(ref.campaignId);
    // A wrong signature looks exactly like an unknown campaign: nothing to learn by guessing.
    if (
      run.definition.customerId !== ref.customerId ||
      !isValidUnsubscribeSignature(this.deps.settings.unsubscribeSecret, ref, signature)
    ) {
      throw new CampaignNotFoundError(ref.campaignId);
    }
    const record: SuppressionRecord = {
      version: 1,
      at: new Date(this.deps.clock.now()).toISOString(),
      campaignId: ref.campaignId,
      reason: 'unsubscribed',
    };
    try {
      await this.deps.store.put(this.deps.buckets.campaigns, key, JSON.stringify(record), { ifNoneMatch: '*' });
      this.deps.logger.info(
        { event: 'recipient.unsubscribed', campaignId: ref.campaignId, recipientId: ref.recipientId },
        'recipient unsubscribed',
      );
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw err;
    }
  }

  // ---- the tick -----------------------------------------------------------------------------

  /** One round: expire abandoned leases, look for newly rendered recipients, hand out work. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.deps.clock.now();
      await this.extendGovernors(now);
      await this.expireLeases(now);
      for (const run of this.runs.values()) {
        if (run.state.status === 'draft' || run.state.finishedAt !== undefined) continue;
        if (now - run.lastScanAt >= this.deps.settings.scanIntervalMs) {
          try {
            await this.scan(run, now);
          } catch (err) {
            this.deps.logger.error({ event: 'campaign.scan_failed', campaignId: run.id, err }, 'scan failed; will retry');
          }
        }
      }
      await this.topUpWorkers();
      for (const run of this.runs.values()) await this.finishIfComplete(run);
    } finally {
      this.ticking = false;
    }
  }

  /** Starts workers until MAX_WORKERS hold leases or nothing is left to lease now. */
  private async topUpWorkers(): Promise<void> {
    while (!this.stopping && this.workers.size - this.leaving.size < this.deps.settings.maxWorkers) {
      const workerId = `w-${randomBytes(6).toString('hex')}`;
      // A new worker needs a moment to start (a Lambda cold start): its schedule begins after it.
      const lease = this.nextLease(workerId, this.deps.clock.now(), Number.POSITIVE_INFINITY, INVOKE_LEAD_MS);
      if (!lease || !(await this.invoke(lease))) break;
    }
  }

  /**
   * A worker whose lease has no call left to start asks for its next lease before checking
   * this one in. A repeated request gets the same answer.
   */
  async renew(request: RenewRequest): Promise<CheckInResponse> {
    const key = `${request.leaseId}:${request.workerId}:renew`;
    const replay = this.answered.get(key);
    if (replay) return replay.response;
    const active = this.leases.get(request.leaseId);
    if (!active || active.lease.workerId !== request.workerId || this.stopping) return { lease: null };
    const now = this.deps.clock.now();
    const response = { lease: this.nextLease(request.workerId, now, usableUntil(request, now)) ?? null };
    this.answered.set(key, { at: now, response });
    if (response.lease) this.noteBudget(request.workerId, response.lease, request, now);
    return response;
  }

  /** A worker reports a lease's results; with time left, it gets the next lease in the reply. */
  async checkIn(request: CheckInRequest): Promise<CheckInResponse> {
    const now = this.deps.clock.now();
    // Keyed by worker too: only the lease's own worker ever gets its reply.
    const replay = this.answered.get(`${request.leaseId}:${request.workerId}`);
    if (replay) return replay.response;
    // The same check-in sent again while the first is still being handled waits for its answer.
    const key = `${request.leaseId}:${request.workerId}`;
    const inProgress = this.checkingIn.get(key);
    if (inProgress) return inProgress;
    const active = this.leases.get(request.leaseId);
    if (!active || active.lease.workerId !== request.workerId) {
      await this.settleLateResults(request);
      return { lease: null };
    }
    this.leases.delete(request.leaseId);
    const handling = this.applyCheckIn(active, request, now).then(
      (response) => {
        this.answered.set(key, { at: now, response });
        for (const [id, a] of this.answered) if (a.at < now - 10 * 60_000) this.answered.delete(id);
        return response;
      },
      (err: unknown) => {
        // Nothing is lost: the lease is out again, so the worker's retry (or its expiry) settles it.
        this.leases.set(request.leaseId, active);
        throw err;
      },
    );
    this.checkingIn.set(key, handling);
    try {
      return await handling;
    } finally {
      this.checkingIn.delete(key);
    }
  }

  /**
   * Settles a check-in in two steps: first everything that reads or writes the store (it may
   * fail; a retry skips the results already settled), then the governor, the rates and the
   * next lease, which cannot fail.
   */
  private async applyCheckIn(active: ActiveLease, request: CheckInRequest, now: number): Promise<CheckInResponse> {
    const { run, lease } = active;
    let throttled: { retryAfterMs: number | undefined } | undefined;
    const leased = new Set(lease.recipientIds);
    const reported = new Set<string>();
    for (const r of request.results) {
      if (!leased.has(r.recipientId) || reported.has(r.recipientId)) continue;
      reported.add(r.recipientId);
      if (r.status === 'retryable' && r.code === 'PROVIDER_THROTTLED') {
        throttled = { retryAfterMs: Math.max(throttled?.retryAfterMs ?? 0, r.retryAfterMs ?? 0) || undefined };
      }
      if (active.settled.has(r.recipientId)) continue;
      switch (r.status) {
        case 'retryable': {
          const attempts = (run.attempts.get(r.recipientId) ?? 0) + 1;
          run.attempts.set(r.recipientId, attempts);
          if (attempts >= this.deps.settings.maxAttempts) {
            const reason = `RETRIES_EXHAUSTED after ${attempts} attempts: ${r.reason ?? 'retryable'}`;
            run.resolve(r.recipientId, 'failed');
            this.metrics.outcome('failed');
            await this.recordOutcome(run, r.recipientId, 'failed', reason);
          } else {
            // Back off: 5 s, 10 s, 20 s… unless the provider said how long.
            run.requeueAt(r.recipientId, now + (r.retryAfterMs ?? 5_000 * 2 ** (attempts - 1)));
            this.metrics.retry('provider');
          }
          break;
        }
        case 'claimedElsewhere':
          // Another lease holds the claim (the key was requeued after an expiry): never send
          // again. The ledger may already say how it ended; if not, in doubt until a report comes.
          await this.settleFromLedger(run, r.recipientId, now);
          break;
        default:
          if (run.resolve(r.recipientId, r.status)) this.metrics.outcome(r.status);
          if (r.status === 'sent' || r.status === 'failed' || r.status === 'inDoubt') run.recordSend(now);
      }
      active.settled.add(r.recipientId);
    }
    for (const recipientId of request.unattempted) {
      if (!leased.has(recipientId) || reported.has(recipientId)) continue;
      reported.add(recipientId);
      run.requeue(recipientId);
      this.metrics.retry('unattempted');
    }
    const unaccounted = lease.recipientIds.filter((r) => !reported.has(r) && run.inFlight.has(r));
    if (unaccounted.length > 0) await this.settleUnknown(run, unaccounted, now);
    // The worker is done with this lease: what it did not use goes back, slice by slice.
    for (const g of active.governors) g.release(active.grant, request.usedPerSlice, now);
    if (throttled) {
      active.governors[0]!.pushBack(now, throttled.retryAfterMs);
      this.deps.logger.warn(
        {
          event: 'governor.push_back',
          domain: lease.domain,
          effectiveCap: active.governors[0]!.effectiveCap,
          retryAfterMs: throttled.retryAfterMs,
        },
        'provider pushed back',
      );
      // A restart must not forget it.
      void this.checkpoint().catch((err) =>
        this.deps.logger.error({ event: 'governor.checkpoint_failed', err }, 'checkpoint after a push-back failed'),
      );
    }
    this.rates.observe(request.workerId, request.timing, request.lanes);

    const next = request.wantsMore && !this.stopping ? this.nextLease(request.workerId, now, usableUntil(request, now)) : undefined;
    this.releaseWorker(request.workerId);
    if (next) {
      this.noteBudget(request.workerId, next, request, now);
      return { lease: next };
    }
    if (!this.workers.has(request.workerId)) {
      // The worker is leaving: start its successor now rather than at the next tick.
      this.rates.forget(request.workerId);
      void this.topUpWorkers().catch((err) => this.deps.logger.error({ event: 'worker.top_up_failed', err }, 'could not start workers'));
    }
    return { lease: null };
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * The next lease for a worker: a sending domain in turn, within it the campaign whose
   * customer (then campaign) is furthest behind its fair share, and a schedule of permits sized
   * to what this worker is predicted to get through over the lease's horizon.
   */
  private nextLease(workerId: string, now: number, usableUntil = Number.POSITIVE_INFINITY, leadMs = 0): Lease | undefined {
    const { governors, settings } = this.deps;
    const byDomain = new Map<string, CampaignRun[]>();
    for (const r of this.runs.values()) {
      if (r.state.status !== 'sending' || !r.ledgerLoaded || r.readyCount(now) === 0) continue;
      const domain = r.definition.sendingDomain ?? governors.defaultDomain;
      if (!governors.has(domain)) {
        // Its domain was taken out of SENDING_DOMAINS: never send through another one unasked.
        if (!this.unknownDomainWarned.has(r.id))
          this.deps.logger.error(
            { event: 'campaign.domain_unknown', campaignId: r.id, domain },
            'campaign waits: its sending domain is not configured',
          );
        this.unknownDomainWarned.add(r.id);
        continue;
      }
      byDomain.set(domain, [...(byDomain.get(domain) ?? []), r]);
    }
    const domains = [...byDomain.keys()].sort();
    for (let d = 0; d < domains.length; d++) {
      const domain = domains[(this.roundRobin + d) % domains.length]!;
      const fair = this.fairShare(domain);
      let candidates = byDomain.get(domain)!;
      while (candidates.length > 0) {
        const run = fair.pick(candidates.map((r) => ({ customerId: r.definition.customerId, campaignId: r.id, run: r })))!.run;
        const chain = governors.chain(domain, run.definition.customerId);
        const domainGov = chain[0]!;
        const pace = Math.ceil(domainGov.effectiveCap / domainGov.reach);
        const grant = planGrant(chain, {
          now,
          want: Math.min(settings.batchSize, run.readyCount(now)),
          horizonMs: settings.leaseHorizonMs,
          predicted: this.rates.predict(workerId, settings.leaseHorizonMs),
          notAfter: usableUntil,
          notBefore: now + leadMs,
          unknownPerSlice: Math.max(1, Math.ceil((2 * pace) / settings.maxWorkers)),
        });
        if (grant) {
          this.roundRobin = (this.roundRobin + d + 1) % domains.length;
          return this.issue(workerId, run, domain, chain, grant, now);
        }
        // The domain has nothing free, or only this customer is at its own cap: try the others.
        if (chain.length === 1) break;
        candidates = candidates.filter((c) => c.definition.customerId !== run.definition.customerId);
      }
    }
    return undefined;
  }

  private issue(workerId: string, run: CampaignRun, domain: string, chain: Governor[], grant: SliceGrant, now: number): Lease {
    const permits = grant.permits.reduce((a, b) => a + b, 0);
    this.fairShare(domain).charge(run.definition.customerId, run.id, permits);
    const recipientIds = run.take(permits, now);
    const sendUntil = grant.start + grant.permits.length * grant.sliceMs;
    const lease: Lease = {
      leaseId: `l-${randomBytes(8).toString('hex')}`,
      workerId,
      ...run.ref,
      recipientIds,
      domain,
      schedule: grant,
      // A live worker checks in soon after its last slice; this long after it, it is gone.
      expiresAt: Math.max(now, sendUntil) + this.deps.settings.leaseGraceMs,
    };
    this.leases.set(lease.leaseId, { lease, run, grant, governors: chain, settled: new Set() });
    this.workers.set(workerId, (this.workers.get(workerId) ?? 0) + 1);
    this.metrics.leaseIssued(permits);
    this.deps.logger.debug(
      { event: 'lease.issued', leaseId: lease.leaseId, campaignId: run.id, permits, slices: grant.permits.length },
      'lease issued',
    );
    return lease;
  }

  /** One lease of this worker is over. */
  private releaseWorker(workerId: string): void {
    const n = (this.workers.get(workerId) ?? 0) - 1;
    if (n > 0) this.workers.set(workerId, n);
    else {
      this.workers.delete(workerId);
      this.leaving.delete(workerId);
    }
  }

  /**
   * A worker that will not want another lease after this one (workers ask for more only with
   * a tenth of their budget, and at least 5 s, left) is leaving: start its successor now, so
   * the successor's cold start overlaps this last lease instead of leaving its slices empty.
   */
  private noteBudget(workerId: string, lease: Lease, request: { budgetLeftMs?: number; reserveMs?: number }, now: number): void {
    if (request.budgetLeftMs === undefined || this.leaving.has(workerId)) return;
    const afterLease = request.budgetLeftMs - (leaseSendUntil(lease) - now);
    // It will not ask again, or what it could still use after this lease is less than a lease.
    const wantsNoMore = afterLease <= Math.max(0.1 * this.deps.settings.workerTimeBudgetMs, 5_000);
    const tooShortForAnother = afterLease - (request.reserveMs ?? 0) < this.deps.settings.leaseHorizonMs;
    if (!wantsNoMore && !tooShortForAnother) return;
    this.leaving.add(workerId);
    void this.topUpWorkers().catch((err) => this.deps.logger.error({ event: 'worker.top_up_failed', err }, 'could not start workers'));
  }

  private fairShare(domain: string): FairShare {
    let fair = this.fairness.get(domain);
    if (!fair) {
      const weights = this.deps.settings.customerWeights ?? {};
      fair = new FairShare((customerId) => weights[customerId] ?? 1);
      this.fairness.set(domain, fair);
    }
    return fair;
  }

  /**
   * Keeps the governors' slices opened and durable two lease horizons ahead: the checkpoint is
   * stored before any permit of a newly opened slice can be granted (write-ahead), so a
   * conductor restarted at any moment knows everything its predecessor could have granted.
   */
  private async extendGovernors(now: number): Promise<void> {
    const { governors, settings, store, buckets } = this.deps;
    if (governors.isDurableThrough(now + settings.leaseHorizonMs)) return;
    const until = now + 2 * settings.leaseHorizonMs;
    governors.open(until, now);
    await store.put(buckets.campaigns, keys.governorCheckpoint(), JSON.stringify(governors.checkpoint(now)), {
      contentType: 'application/json',
    });
    governors.markDurable(until);
  }

  /** Stores the governors' checkpoint now (on shutdown, and after a push-back). */
  async checkpoint(): Promise<void> {
    const { governors, store, buckets, clock } = this.deps;
    await store.put(buckets.campaigns, keys.governorCheckpoint(), JSON.stringify(governors.checkpoint(clock.now())), {
      contentType: 'application/json',
    });
  }

  /** False when the worker could not be started (its lease is undone; try again next tick). */
  private async invoke(lease: Lease): Promise<boolean> {
    try {
      await this.deps.invoker.invoke({ lease });
      return true;
    } catch (err) {
      const active = this.leases.get(lease.leaseId);
      this.leases.delete(lease.leaseId);
      this.releaseWorker(lease.workerId);
      // The recipients go back, but not the permits: an invoke that timed out may have started
      // the worker after all, and its claims keep it from sending what is leased again.
      if (active) for (const r of lease.recipientIds) active.run.requeue(r);
      this.deps.logger.error({ event: 'worker.invoke_failed', leaseId: lease.leaseId, err }, 'could not start a worker');
      return false;
    }
  }

  /** Leases whose worker vanished: claimed recipients become in doubt, the rest go back. */
  private async expireLeases(now: number): Promise<void> {
    for (const [leaseId, old] of this.expired) if (old.lease.expiresAt < now - 60 * 60_000) this.expired.delete(leaseId);
    for (const [leaseId, active] of this.leases) {
      if (active.lease.expiresAt > now) continue;
      this.leases.delete(leaseId);
      this.expired.set(leaseId, active);
      this.releaseWorker(active.lease.workerId);
      this.deps.logger.warn({ event: 'lease.expired', leaseId, campaignId: active.run.id }, 'lease expired without a check-in');
      await this.settleUnknown(
        active.run,
        active.lease.recipientIds.filter((r) => active.run.inFlight.has(r)),
        now,
      );
    }
  }

  /**
   * Recipients whose fate nobody reported: the worker's own outcome record if it wrote one;
   * else a claim means the send may have happened (in doubt); else back to the queue.
   */
  private async settleUnknown(run: CampaignRun, recipientIds: string[], now: number): Promise<void> {
    for (const recipientId of recipientIds) {
      if (await this.settleFromRecord(run, recipientId)) continue;
      const claimed = await this.deps.store.get(this.deps.buckets.campaigns, keys.claim({ ...run.ref, recipientId }));
      if (claimed !== undefined) {
        run.resolve(recipientId, 'inDoubt', true);
        run.lastProvisionalAt = now;
        await this.recordOutcome(run, recipientId, 'inDoubt', 'NO_REPORT: claimed but never reported');
      } else {
        run.requeue(recipientId);
        this.metrics.retry('expired');
      }
    }
  }

  /**
   * A check-in for a lease that expired (or that a restarted conductor never issued): its real
   * outcomes replace provisional in-doubts; anything else it says is settled by the ledger.
   */
  private async settleLateResults(request: CheckInRequest): Promise<void> {
    const expired = this.expired.get(request.leaseId);
    this.deps.logger.warn(
      { event: 'lease.late_check_in', leaseId: request.leaseId, known: expired !== undefined },
      'check-in for an expired or unknown lease',
    );
    if (!expired) {
      // A lease of a conductor that has since restarted: the worker's word is not evidence, but
      // the outcome records it wrote are. Settle the recipients it names that are in doubt only
      // for want of a report.
      for (const r of request.results) {
        for (const run of this.runs.values()) {
          if (run.provisional.has(r.recipientId)) await this.settleFromRecord(run, r.recipientId);
        }
      }
      return;
    }
    if (expired.lease.workerId !== request.workerId) return;
    this.expired.delete(request.leaseId);
    const { run, lease } = expired;
    for (const r of request.results) {
      if (!lease.recipientIds.includes(r.recipientId)) continue;
      if (r.status === 'sent' || r.status === 'failed' || r.status === 'suppressed' || r.status === 'inDoubt') {
        if (run.provisional.has(r.recipientId)) run.resolve(r.recipientId, r.status);
      }
    }
  }

  /** How a recipient claimed by someone else ended, if the ledger says; in doubt until it does. */
  private async settleFromLedger(run: CampaignRun, recipientId: string, now: number): Promise<void> {
    if (await this.settleFromRecord(run, recipientId)) return;
    run.resolve(recipientId, 'inDoubt', true);
    run.lastProvisionalAt = now;
  }

  /** The recipient's outcome record, if there is one that says how it ended; false if none does. */
  private async settleFromRecord(run: CampaignRun, recipientId: string): Promise<boolean> {
    const text = await this.deps.store.get(this.deps.buckets.campaigns, keys.outcome({ ...run.ref, recipientId }));
    const record = text === undefined ? undefined : outcomeRecord.safeParse(safeJson(text));
    if (!record?.success || record.data.status === 'inDoubt') return false;
    if (run.resolve(recipientId, record.data.status)) this.metrics.outcome(record.data.status);
    return true;
  }

  /** The conductor's own record, written only if no worker wrote one. */
  private async recordOutcome(run: CampaignRun, recipientId: string, status: OutcomeStatus, reason: string): Promise<void> {
    const record: OutcomeRecord = { version: 1, recipientId, status, reason, at: new Date(this.deps.clock.now()).toISOString() };
    try {
      await this.deps.store.put(this.deps.buckets.campaigns, keys.outcome({ ...run.ref, recipientId }), JSON.stringify(record), {
        ifNoneMatch: '*',
      });
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw err;
    }
  }

  /**
   * Reads the store for one campaign: the audience report, newly rendered recipients, and —
   * once, before anything is queued — the ledger, so a restarted conductor never resends.
   */
  private async scan(run: CampaignRun, now: number): Promise<void> {
    run.lastScanAt = now;
    const { store, buckets } = this.deps;
    if (run.report === undefined) {
      const text = await store.get(buckets.campaigns, keys.audienceReport(run.ref));
      if (text !== undefined) {
        run.report = parseWith(audienceReport, parseJson(text, 'audience report'), 'REPORT_INVALID', 'audience report');
      } else {
        run.stubbedSeen = 0;
        for await (const _ of listAll(store, buckets.stubs, keys.stubsPrefix(run.ref))) run.stubbedSeen++;
      }
    }
    if (!run.ledgerLoaded) {
      await this.loadLedger(run);
      run.ledgerLoaded = true;
    }
    if (run.report === undefined || run.renderedSeen < run.report.valid) {
      let seen = 0;
      for await (const key of listAll(store, buckets.rendered, keys.renderedPrefix(run.ref))) {
        seen++;
        run.addRendered(parseKey.rendered(key).recipientId);
      }
      run.renderedSeen = seen;
      // Recipients that will never be rendered (the renderer recorded a failure) are found in the ledger.
      if (run.report !== undefined && run.renderedSeen + run.countOf('failed') < run.report.valid) await this.loadOutcomes(run);
      await this.redriveIfStalled(run, now);
    }
  }

  /**
   * Events can be lost (a crash with events queued, a dead-lettered render, a stubber that
   * never ran): when rendering has not moved for `stallMs`, drive the missing work again.
   */
  private async redriveIfStalled(run: CampaignRun, now: number): Promise<void> {
    const progress = run.report === undefined ? run.stubbedSeen : run.renderedSeen + run.countOf('failed');
    if (progress !== run.lastProgress) {
      run.lastProgress = progress;
      run.lastProgressAt = now;
      return;
    }
    if (now - run.lastProgressAt < this.deps.settings.stallMs) return;
    run.lastProgressAt = now;
    const { store, buckets, logger } = this.deps;
    if (run.report === undefined) {
      await this.deps.topic.publish({ version: 1, type: 'campaign.requested', ...run.ref, requestedAt: new Date(now).toISOString() });
      logger.warn({ event: 'campaign.republished', campaignId: run.id }, 'stubbing has not finished; campaign requested again');
      return;
    }
    let redriven = 0;
    for await (const key of listAll(store, buckets.stubs, keys.stubsPrefix(run.ref))) {
      const { recipientId } = parseKey.stub(key);
      if (run.isKnown(recipientId) || run.outcomes.has(recipientId)) continue;
      const body = await store.get(buckets.stubs, key);
      if (body === undefined) continue;
      await store.put(buckets.stubs, key, body, { contentType: 'application/json' }); // the write's event re-runs the renderer
      redriven++;
    }
    if (redriven > 0)
      logger.warn({ event: 'campaign.rerender', campaignId: run.id, recipients: redriven }, 'stubs never rendered were written again');
  }

  private async loadLedger(run: CampaignRun): Promise<void> {
    await this.loadOutcomes(run);
    const { store, buckets } = this.deps;
    for await (const key of listAll(store, buckets.campaigns, keys.claimsPrefix(run.ref))) {
      const { recipientId } = parseKey.ledger(key);
      if (run.outcomes.has(recipientId)) continue;
      // Claimed by a worker of an earlier conductor, with no outcome: it may have been sent.
      run.resolve(recipientId, 'inDoubt', true);
      run.lastProvisionalAt = this.deps.clock.now();
      await this.recordOutcome(run, recipientId, 'inDoubt', 'NO_REPORT: claimed before a conductor restart');
    }
  }

  private async loadOutcomes(run: CampaignRun): Promise<void> {
    const { store, buckets } = this.deps;
    for await (const key of listAll(store, buckets.campaigns, keys.outcomesPrefix(run.ref))) {
      const { recipientId } = parseKey.ledger(key);
      if (run.inFlight.has(recipientId) || (run.outcomes.has(recipientId) && !run.provisional.has(recipientId))) continue;
      const text = await store.get(buckets.campaigns, key);
      if (text === undefined) continue;
      const record = parseWith(outcomeRecord, parseJson(text, key), 'OUTCOME_INVALID', key);
      if (run.resolve(recipientId, record.status)) this.metrics.outcome(record.status);
    }
  }

  private async finishIfComplete(run: CampaignRun): Promise<void> {
    if (run.state.status !== 'sending' && run.state.status !== 'cancelled') return;
    if (run.state.finishedAt !== undefined || !run.isComplete()) return;
    if (run.provisional.size > 0) {
      // In doubt only for want of a report: a worker that outlived its lease (or its conductor)
      // may still write how it ended. Read those records now and then, and finish once none is
      // left or the lease grace has passed.
      const now = this.deps.clock.now();
      if (now - run.provisionalReadAt >= this.deps.settings.scanIntervalMs) {
        run.provisionalReadAt = now;
        for (const recipientId of [...run.provisional]) await this.settleFromRecord(run, recipientId);
      }
      if (run.provisional.size > 0 && now - run.lastProvisionalAt < this.deps.settings.leaseGraceMs) return;
    }
    const finishedAt = new Date(this.deps.clock.now()).toISOString();
    if (run.report?.error) await this.setStatus(run, 'failed', { finishedAt, error: run.report.error });
    else if (run.state.status === 'sending') await this.setStatus(run, 'done', { finishedAt });
    else await this.setStatus(run, 'cancelled', { finishedAt });
    this.deps.logger.info(
      { event: 'campaign.finished', campaignId: run.id, status: run.state.status, counts: run.counts() },
      'campaign finished',
    );
  }

  private async setStatus(run: CampaignRun, status: CampaignStatus, extra: Partial<CampaignState> = {}): Promise<void> {
    const state: CampaignState = { ...run.state, ...extra, status, updatedAt: new Date(this.deps.clock.now()).toISOString() };
    await this.saveState(run.ref, state);
    run.state = state;
  }

  private async saveState(ref: { customerId: string; campaignId: string }, state: CampaignState): Promise<void> {
    await this.deps.store.put(this.deps.buckets.campaigns, keys.state(ref), JSON.stringify(state));
  }

  private run(campaignId: string): CampaignRun {
    const run = this.runs.get(campaignId);
    if (!run) throw new CampaignNotFoundError(campaignId);
    return run;
  }

  private view(run: CampaignRun): CampaignView {
    const now = this.deps.clock.now();
    const counts = run.counts();
    const sentLastMinute = run.sentInLast(60_000, now);
    const governor = this.deps.governors.forDomain(run.definition.sendingDomain);
    const perMinute = (n: number) => Math.round((n * 60_000) / governor.settings.windowMs);
    const perMinuteMax = perMinute(governor.cap);
    const remaining = run.report ? Math.max(0, run.report.valid - run.outcomes.size) : null;
    // The rate over the last minute, or over the time since sending began if that is shorter
    // (early on a full minute would understate it); no estimate until something was sent.
    const sinceSend = run.state.sendRequestedAt ? now - Date.parse(run.state.sendRequestedAt) : 60_000;
    const span = Math.min(60_000, Math.max(sinceSend, 1_000));
    const rate = Math.min(perMinuteMax, (run.sentInLast(span, now) * 60_000) / span);
    return {
      id: run.id,
      customerId: run.definition.customerId,
      name: run.definition.name,
      subject: run.definition.subject,
      status: run.state.status,
      createdAt: run.definition.createdAt,
      ...(run.state.sendRequestedAt ? { sendRequestedAt: run.state.sendRequestedAt } : {}),
      ...(run.state.finishedAt ? { finishedAt: run.state.finishedAt } : {}),
      counts,
      sentLastMinute,
      sendingDomain: run.definition.sendingDomain ?? this.deps.governors.defaultDomain,
      perMinuteMax,
      effectivePerMinute: perMinute(governor.effectiveCap),
      etaSeconds: run.state.status === 'sending' && remaining !== null && rate > 0 ? Math.ceil((remaining / rate) * 60) : null,
      problems: run.report?.problems.slice(0, 100) ?? [],
      ...(run.state.error ? { error: run.state.error } : {}),
    };
  }
}
