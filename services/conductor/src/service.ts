import type { FastifyInstance } from 'fastify';
import {
  Ledger,
  configuredCap,
  describeCap,
  sendingDomains,
  type Buckets,
  type CampaignTopic,
  type Clock,
  type Config,
  type Logger,
  type ObjectStore,
  type Sender,
  type ProviderLookup,
} from '@baton/shared';
import { Conductor } from './core/conductor';
import { Feedback } from './core/feedback';
import { Suppressions } from './core/suppressions';
import { WebhookGuard } from './core/webhook-guard';
import { SendingGovernors } from './core/sending-governors';
import type { RenderPool, WorkerInvoker } from './core/ports';
import { createPiscinaRenderPool, type RenderPoolOptions } from './adapters/piscina-render-pool';
import { buildApp } from './http/app';
import type { ConsoleAssetSource } from './http/console-assets';
import { createMetrics } from './http/metrics';
import type { SetupView } from './http/setup-route';

/** The tick while a sending campaign has no rendered recipient yet: the first send follows the click within a second. */
export const FIRST_SEND_TICK_MS = 100;

export interface ConductorServiceDeps {
  config: Config;
  store: ObjectStore;
  buckets: Buckets;
  clock: Clock;
  logger: Logger;
  invoker: WorkerInvoker;
  topic: CampaignTopic;
  testSender?: Sender;
  /** The provider's records, to settle sends in doubt (Mailgun's events API, or the local sink's). */
  lookup?: ProviderLookup;
  apiToken: string;
  leaseToken: string;
  publicUrl: string;
  unsubscribeSecret: string;
  /** MAILGUN_WEBHOOK_SIGNING_KEY (locally the dev secret the sink signs with); without it webhooks are refused. */
  webhookSigningKey?: string;
  plugins?: ((app: FastifyInstance) => Promise<void>)[];
  /** The console's files: built in memory locally, read from the image's folder on AWS. */
  console?: ConsoleAssetSource;
  /** The render pool's threads, queue and time limits (defaults: see piscina-render-pool.ts). */
  renderPool?: RenderPoolOptions;
  /** The one-machine composition with its built-in sink (`GET /api/setup` says so; the console offers the local inbox). */
  local?: boolean;
}

/**
 * The long-running conductor: the core, its tick loop and its HTTP server, built from ports.
 * Both compositions (one machine, ECS Fargate) start it the same way.
 */
export class ConductorService {
  readonly conductor: Conductor;
  readonly governors: SendingGovernors;
  private app: FastifyInstance | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastTickAt = Number.NEGATIVE_INFINITY;
  private readonly metrics: ReturnType<typeof createMetrics>;
  readonly feedback: Feedback;
  readonly suppressions: Suppressions;
  private readonly webhookGuard: WebhookGuard;
  private readonly renderPool: RenderPool;

  constructor(private readonly deps: ConductorServiceDeps) {
    const { config } = deps;
    this.metrics = createMetrics({ windowMs: config.GOVERNOR_WINDOW_MS });
    this.renderPool = createPiscinaRenderPool({ logger: deps.logger, ...deps.renderPool });
    this.governors = new SendingGovernors({
      domains: sendingDomains(config),
      customerCaps: config.CUSTOMER_PER_MINUTE_MAX,
      windowMs: config.GOVERNOR_WINDOW_MS,
      sliceMs: config.GOVERNOR_SLICE_MS,
      marginMs: config.GOVERNOR_MARGIN_MS,
    });
    const { store, buckets, clock, logger } = deps;
    const ledger = new Ledger({ store, bucket: buckets.campaigns, clock });
    this.feedback = new Feedback({ ledger, logger, metrics: this.metrics.feedback });
    this.suppressions = new Suppressions({ ledger, logger });
    this.webhookGuard = new WebhookGuard({
      store,
      bucket: buckets.campaigns,
      clock,
      logger,
      signingKey: deps.webhookSigningKey,
      maxAgeMs: config.MAILGUN_WEBHOOK_MAX_AGE_MS,
    });
    this.conductor = new Conductor({
      store: deps.store,
      buckets: deps.buckets,
      clock: deps.clock,
      logger: deps.logger,
      governors: this.governors,
      invoker: deps.invoker,
      topic: deps.topic,
      testSender: deps.testSender,
      lookup: deps.lookup,
      renderPool: this.renderPool,
      metrics: this.metrics.hooks,
      complaints: (ref) => this.feedback.complaintTally(ref),
      settings: {
        stage: config.BATON_STAGE,
        maxWorkers: config.MAX_WORKERS,
        batchSize: config.BATCH_SIZE,
        workerTimeBudgetMs: config.WORKER_TIME_BUDGET_MS,
        // After a lease's last slice: its slowest call (provider timeout) and the check-in.
        leaseGraceMs: 30_000,
        leaseHorizonMs: config.LEASE_HORIZON_MS,
        sigma: config.GOVERNOR_SIGMA,
        customerWeights: config.CUSTOMER_WEIGHTS,
        scanIntervalMs: Math.max(config.TICK_MS, 500),
        stallMs: 30_000,
        maxAttempts: 5,
        publicUrl: deps.publicUrl,
        unsubscribeSecret: deps.unsubscribeSecret,
        qaAllowList: config.QA_ALLOWED_RECIPIENTS,
        settleAfterMs: config.SETTLE_AFTER_MS,
        // A pause answers once the workers confirmed the stop (a few ms), or after this with an upper bound.
        pauseConfirmMs: 2_000,
      },
    });
  }

  /** Loads campaigns, starts the tick loop and listens; resolves with the bound URL. */
  async start(options: { host?: string; port?: number } = {}): Promise<string> {
    await this.conductor.start();
    this.app = await buildApp({
      conductor: this.conductor,
      registry: this.metrics.registry,
      beforeMetrics: () => this.refreshGauges(),
      setup: () => this.setup(),
      apiToken: this.deps.apiToken,
      leaseToken: this.deps.leaseToken,
      logger: this.deps.logger,
      plugins: this.deps.plugins,
      console: this.deps.console,
      uploadBytesPerSecond: this.deps.config.UPLOAD_BYTES_PER_SECOND,
      expensivePerToken: this.deps.config.EXPENSIVE_REQUESTS_AT_ONCE,
      feedback: {
        webhooks: { guard: this.webhookGuard, feedback: this.feedback, logger: this.deps.logger },
        suppressions: this.suppressions,
      },
    });
    const url = await this.app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? this.deps.config.PORT });
    this.scheduleTick();
    return url;
  }

  /**
   * Graceful (SIGTERM): stop leasing, give leases out now up to `drainMs` to check in (their
   * results are recorded), store the governors' checkpoint, then close. Leases still out after
   * that are settled by the next conductor from the ledger; their permits are in the checkpoint.
   */
  async stop(drainMs = 10_000): Promise<void> {
    if (!this.app) return; // never started, or killed
    this.conductor.stop();
    const deadline = this.deps.clock.now() + drainMs;
    while (this.conductor.activeLeases > 0 && this.deps.clock.now() < deadline) await this.deps.clock.sleep(50);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      await this.conductor.checkpoint();
    } catch (err) {
      this.deps.logger.error({ event: 'conductor.checkpoint_failed', err }, 'final checkpoint failed; the last one stands');
    }
    await this.closeApp(this.app);
    await this.renderPool.close();
    this.deps.logger.info({ event: 'conductor.stopped', leasesOut: this.conductor.activeLeases }, 'conductor stopped');
  }

  /**
   * The process dies (tests of durability): no drain, no final checkpoint, connections cut.
   * Whatever the next conductor needs must already be in the store.
   */
  async kill(): Promise<void> {
    this.conductor.stop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.app?.server.closeAllConnections();
    await this.app?.close();
    this.app = undefined;
    await this.renderPool.close();
  }

  /**
   * Closes the server. Node closes idle keep-alive connections when the close begins, but a
   * connection busy then (a check-in, a webhook) stays open after its answer until its keep-alive
   * timeout (72 s): those are closed as soon as they go idle.
   */
  private async closeApp(app: FastifyInstance): Promise<void> {
    const idle = setInterval(() => app.server.closeIdleConnections(), 50);
    try {
      await app.close();
    } finally {
      clearInterval(idle);
    }
  }

  /**
   * Ticks every TICK_MS; meanwhile it looks every FIRST_SEND_TICK_MS whether a campaign is waiting
   * for its first rendered recipient and then ticks at once: a send clicked just after a tick
   * does not wait out the rest of TICK_MS before its first lease.
   */
  private scheduleTick(): void {
    const { config } = this.deps;
    this.timer = setTimeout(
      () => {
        // Real time, as the timer's: the cadence of the loop, not the conductor's clock.
        const now = performance.now();
        if (!this.conductor.starting && now - this.lastTickAt < config.TICK_MS) {
          if (this.timer) this.scheduleTick();
          return;
        }
        this.lastTickAt = now;
        this.conductor
          .tick()
          .catch((err) => this.deps.logger.error({ event: 'conductor.tick_failed', err }, 'tick failed'))
          .finally(() => {
            if (this.timer) this.scheduleTick();
          });
      },
      Math.min(FIRST_SEND_TICK_MS, config.TICK_MS),
    );
  }

  /** `GET /api/setup`: what this conductor is configured with, in the words the console and the CLI use. */
  setup(): SetupView {
    const { config } = this.deps;
    const domains = sendingDomains(config).map((d) => d.domain);
    const customers = new Set([...Object.keys(config.CUSTOMER_WEIGHTS ?? {}), ...Object.keys(config.CUSTOMER_PER_MINUTE_MAX ?? {})]);
    for (const c of this.conductor.listCampaigns()) customers.add(c.customerId);
    return {
      stage: config.BATON_STAGE,
      sendingDomains: domains,
      ...(customers.size > 0 ? { customers: [...customers].sort() } : {}),
      cap: configuredCap(config),
      caps: Object.fromEntries(domains.map((d) => [d, configuredCap(config, d)])),
      local: this.deps.local === true,
    };
  }

  private refreshGauges(): void {
    const now = this.deps.clock.now();
    this.metrics.gauges.activeWorkers.set(this.conductor.activeWorkers);
    this.metrics.gauges.activeLeases.set(this.conductor.activeLeases);
    const { gauges } = this.metrics;
    gauges.capInfo.reset();
    for (const g of this.governors.snapshots(now)) {
      const cap = describeCap(g.cap, this.governors.settings.windowMs);
      const effective = describeCap(g.effectiveCap, this.governors.settings.windowMs);
      this.metrics.gauges.windowIssued.set({ domain: g.domain }, g.windowGranted);
      this.metrics.gauges.cap.set({ domain: g.domain }, cap.perWindow);
      this.metrics.gauges.effectiveCap.set({ domain: g.domain }, effective.perWindow);
      gauges.capPerMinute.set({ domain: g.domain }, cap.perMinute);
      gauges.effectiveCapPerMinute.set({ domain: g.domain }, effective.perMinute);
      gauges.capInfo.set({ domain: g.domain, cap: cap.text, effective_cap: effective.text }, 1);
      if (g.today) {
        this.metrics.gauges.dailyLimit.set({ domain: g.domain }, g.today.limit);
        this.metrics.gauges.dailyLeft.set({ domain: g.domain }, Math.max(0, g.today.limit - g.today.granted));
      }
      if (g.month) {
        this.metrics.gauges.monthlyLimit.set({ domain: g.domain }, g.month.limit);
        this.metrics.gauges.monthlyLeft.set({ domain: g.domain }, Math.max(0, g.month.limit - g.month.granted));
      }
    }
    this.metrics.gauges.campaigns.reset();
    for (const c of this.conductor.listCampaigns()) this.metrics.gauges.campaigns.inc({ status: c.status });
  }
}
