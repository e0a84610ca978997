import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  STUBS_PREFIX,
  createLogger,
  systemClock,
  type Buckets,
  type CampaignRequestedMessage,
  type Clock,
  type Config,
  type Logger,
  type S3Event,
  type SnsEvent,
  type WorkerInvocation,
} from '@baton/shared';
import { FsObjectStore } from '@baton/shared/fs-object-store';
import { LmdbObjectStore } from '@baton/shared/lmdb-object-store';
import { createMailgunSender } from '@baton/shared/mailgun';
import { createMailgunLookup } from '@baton/shared/mailgun-lookup';
import { createRenderHandler, createStubberHandler } from '@baton/renderer';
import { TemplateCache } from '@baton/templating';
import { PROVIDER_TIMEOUT_MS, createHttpLeaseClient, createWorkerHandler, minBudgetToTakeFor, type LeaseClient } from '@baton/worker';
import { ConductorService } from '@baton/conductor';
import { consoleFiles } from '@baton/console';
import { devSecret } from './dev-secrets';
import { LocalLambda } from './local-lambda';
import { startMailgunSink, type MailgunSink } from './mailgun-sink';
import { inboxRoutes } from './inbox';
import { createSinkWebhooks, type SinkWebhooks } from './sink-webhooks';
import { PortInUseError, assertPortFree, isAddressInUse } from './port';
import { RetentionSweeper } from './retention';

export const LOCAL_BUCKETS: Buckets = { campaigns: 'campaigns', stubs: 'stubs', rendered: 'rendered' };

/** The one-machine stand-in for S3: either embedded store, both with S3-shaped events. */
export type LocalStore = LmdbObjectStore | FsObjectStore;

/**
 * The data folder's object store: LMDB in `{dataDir}/store` (the default), or one file per
 * object under `{dataDir}/objects` (`BATON_STORE=fs`, or unset when that folder already exists:
 * a data folder made before the LMDB store keeps working). docs/benchmarks.md says why LMDB.
 */
export function openLocalStore(dataDir: string, kind: 'lmdb' | 'fs' | undefined): LocalStore {
  const objects = path.join(dataDir, 'objects');
  // The filesystem store unless asked (or the folder already holds an LMDB store): in the kill -9
  // fault runs on LMDB, 1 of 5 had a sliding window over the cap, not yet explained (docs/benchmarks.md).
  const chosen = kind ?? (existsSync(path.join(dataDir, 'store')) && !existsSync(objects) ? 'lmdb' : 'fs');
  if (chosen === 'lmdb') return new LmdbObjectStore({ path: path.join(dataDir, 'store') });
  // Stubs and rendered messages are derived again when lost (the conductor re-drives them): they
  // skip fsync. Definitions and the ledger are synced before a write is acknowledged.
  return new FsObjectStore(objects, { derivedBuckets: [LOCAL_BUCKETS.stubs, LOCAL_BUCKETS.rendered] });
}

/** How often finished campaigns are checked for stubs and rendered messages past their retention. */
export const RETENTION_SWEEP_MS = 10 * 60_000;

/** How long a stop waits for in-process functions after the conductor has drained. */
export const STOP_FUNCTIONS_MS = 3_000;

export interface LocalOptions {
  config: Config;
  /** Defaults to the system clock. */
  clock?: Clock;
  logger?: Logger;
  host?: string;
  /** Seed the sample campaign when the store holds none (default true; never in the qa stage). */
  seedSample?: boolean;
}

export interface LocalBaton {
  url: string;
  apiToken: string;
  /** `environment` when BATON_API_TOKEN gave it (never print it then); `data-dir` when it was generated and kept in the data folder. */
  apiTokenSource: 'environment' | 'data-dir';
  store: LocalStore;
  service: ConductorService;
  /** The built-in Mailgun-compatible sink, when MAILGUN_URL is unset. */
  sink: MailgunSink | undefined;
  /** The webhooks the sink posts to the conductor (delivered, bounced, complained…), with the sink. */
  sinkWebhooks: SinkWebhooks | undefined;
  functions: { stubber: LocalLambda<SnsEvent>; renderer: LocalLambda<S3Event>; worker: LocalLambda<WorkerInvocation> };
  /** Deletes stubs and rendered messages of campaigns finished more than BATON_RETENTION_HOURS ago. */
  retention: RetentionSweeper;
  stop(): Promise<void>;
  /**
   * Kills the conductor as a crash would (for tests): no drain, no checkpoint. Workers already
   * running carry on like orphaned Lambdas, their check-ins failing. Call `stop()` afterwards to
   * release everything else.
   */
  killConductor(): Promise<void>;
}

/**
 * The one-machine composition: every service of the AWS deployment, in one process.
 *  - S3      → a filesystem object store under BATON_DATA_DIR, emitting S3-shaped events
 *  - SNS     → an in-process topic delivering SNS-shaped events to the stubber
 *  - Lambda  → in-process functions with bounded concurrency and async retries
 *  - Mailgun → MAILGUN_URL, or the built-in Mailgun-compatible sink when it is unset
 */
export async function startLocalBaton(options: LocalOptions): Promise<LocalBaton> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL, name: 'baton' });
  const host = options.host ?? '127.0.0.1';
  // Before anything starts or logs: a taken port must not follow a line saying Baton started.
  await assertPortFree(host, config.PORT);
  const dataDir = path.resolve(config.BATON_DATA_DIR);
  await fs.mkdir(dataDir, { recursive: true });
  const buckets = LOCAL_BUCKETS;
  const store = openLocalStore(dataDir, config.BATON_STORE);
  logger.info({ event: 'store.opened', kind: store instanceof LmdbObjectStore ? 'lmdb' : 'fs', dataDir }, 'local store opened');

  const apiToken =
    config.BATON_API_TOKEN ??
    (await devSecret(path.join(dataDir, 'api-token'), 'the console link and the CLI will then use the new token')).value;
  const leaseToken = config.BATON_LEASE_TOKEN ?? randomBytes(24).toString('hex');
  // Kept across restarts, or links in messages already sent would stop working.
  const unsubscribeSecret =
    config.BATON_UNSUBSCRIBE_SECRET ??
    (await devSecret(path.join(dataDir, 'unsubscribe-secret'), 'unsubscribe links in messages already sent will then stop working')).value;
  const mailgunKey = config.MAILGUN_API_KEY ?? randomBytes(16).toString('hex');
  // Kept across restarts like Mailgun's own: webhooks signed before a restart still verify.
  const webhookSigningKey =
    config.MAILGUN_WEBHOOK_SIGNING_KEY ??
    (await devSecret(path.join(dataDir, 'mailgun-webhook-signing-key'), "the built-in sink's webhooks are signed with the new key")).value;

  let sink: MailgunSink | undefined;
  let sinkWebhooks: SinkWebhooks | undefined;
  let mailgunUrl = config.MAILGUN_URL;
  if (mailgunUrl === undefined) {
    const webhooks = createSinkWebhooks({ signingKey: webhookSigningKey, logger, clock });
    sinkWebhooks = webhooks;
    sink = await startMailgunSink({ host: '127.0.0.1', port: 0, apiKey: mailgunKey, logger, onStored: (m) => webhooks.onStored(m) });
    mailgunUrl = sink.url;
  }
  const sender = createMailgunSender({
    url: mailgunUrl,
    domain: config.MAILGUN_DOMAIN,
    apiKey: mailgunKey,
    timeoutMs: PROVIDER_TIMEOUT_MS,
  });

  // The lease API's address is known only once the conductor listens.
  let leaseClient: LeaseClient | undefined;
  const lateLeaseClient: LeaseClient = {
    checkIn: (req) => leaseClient!.checkIn(req),
    renew: (req) => leaseClient!.renew(req),
    watch: (req, signal) => leaseClient!.watch!(req, signal),
  };

  // Unsubscribe links name the conductor's public address; by default the port it really bound.
  let publicUrl = config.BATON_PUBLIC_URL ?? `http://localhost:${config.PORT}`;
  let renderHandler: ((event: unknown) => Promise<void>) | undefined;
  const stubber = new LocalLambda<SnsEvent>(createStubberHandler({ store, buckets, logger }), {
    name: 'stubber',
    concurrency: 2,
    retryAttempts: 2,
    logger,
  });
  const renderer = new LocalLambda<S3Event>((event) => renderHandler!(event), {
    name: 'renderer',
    concurrency: 32,
    retryAttempts: 2,
    logger,
  });
  const worker = new LocalLambda<WorkerInvocation>(
    createWorkerHandler({
      store,
      buckets,
      sender,
      leaseClient: lateLeaseClient,
      clock,
      logger,
      stage: config.BATON_STAGE,
      qaAllowList: config.QA_ALLOWED_RECIPIENTS,
      timeBudgetMs: config.WORKER_TIME_BUDGET_MS,
      // A worker takes no new key unless even a call that times out would end within its budget.
      minBudgetToTakeMs: minBudgetToTakeFor(config.WORKER_TIME_BUDGET_MS),
    }),
    // The conductor owns retries of sends: a failed worker is never re-run blindly.
    { name: 'worker', concurrency: config.MAX_WORKERS, retryAttempts: 0, logger },
  );

  const unsubscribe = store.onObjectCreated({ bucket: buckets.stubs, prefix: STUBS_PREFIX }, (event) => renderer.invoke(event));
  const topic = {
    publish: async (message: CampaignRequestedMessage) => {
      stubber.invoke({
        Records: [{ EventSource: 'aws:sns', Sns: { MessageId: randomBytes(8).toString('hex'), Message: JSON.stringify(message) } }],
      });
    },
  };

  const plugins: ((app: FastifyInstance) => Promise<void>)[] = [];
  if (sink) plugins.push(inboxRoutes(sink));

  const service = new ConductorService({
    config,
    store,
    buckets,
    clock,
    logger,
    invoker: { invoke: async (invocation) => worker.invoke(invocation) },
    topic,
    testSender: sender,
    // The sink answers Mailgun's events API from its log, so in-doubt sends settle locally too.
    lookup: createMailgunLookup({ url: mailgunUrl, domain: config.MAILGUN_DOMAIN, apiKey: mailgunKey, timeoutMs: PROVIDER_TIMEOUT_MS }),
    apiToken,
    leaseToken,
    publicUrl,
    unsubscribeSecret,
    webhookSigningKey,
    plugins,
    console: consoleFiles,
    local: sink !== undefined,
  });
  let url: string;
  try {
    url = await service.start({ host, port: config.PORT });
  } catch (err) {
    // Taken between the check and now, or any other failure: release what already runs.
    await service.kill().catch(() => undefined);
    unsubscribe();
    sinkWebhooks?.stop();
    await sink?.close();
    if (store instanceof LmdbObjectStore) await store.close();
    throw isAddressInUse(err) ? new PortInUseError(config.PORT, { cause: err }) : err;
  }
  leaseClient = createHttpLeaseClient({ baseUrl: url, token: leaseToken });
  sinkWebhooks?.setTarget(`${url}/webhooks/mailgun`);
  if (config.BATON_PUBLIC_URL === undefined) publicUrl = `http://localhost:${new URL(url).port}`;
  renderHandler = createRenderHandler({ store, buckets, templates: new TemplateCache(), publicUrl, unsubscribeSecret, logger });

  const retention = new RetentionSweeper({
    store,
    buckets,
    clock,
    logger,
    retentionMs: config.BATON_RETENTION_HOURS * 3_600_000,
    campaigns: () =>
      service.conductor.listCampaigns().map((c) => ({ customerId: c.customerId, campaignId: c.id, finishedAt: c.finishedAt })),
  });
  retention.start(RETENTION_SWEEP_MS);

  // Not in qa: the sample's readers are not on QA_ALLOWED_RECIPIENTS, so its create is refused.
  if (options.seedSample !== false && config.BATON_STAGE !== 'qa' && service.conductor.listCampaigns().length === 0) {
    await service.conductor.createCampaign(sampleCampaign());
    logger.info({ event: 'sample.created' }, 'sample campaign created');
  }

  return {
    url,
    apiToken,
    apiTokenSource: config.BATON_API_TOKEN === undefined ? 'data-dir' : 'environment',
    store,
    service,
    sink,
    sinkWebhooks,
    functions: { stubber, renderer, worker },
    retention,
    killConductor: () => service.kill(),
    async stop() {
      // Bounded at every stage: the conductor's drain, then at most STOP_FUNCTIONS_MS for the
      // functions still running. Stubbing and rendering left undone resume after a restart (the
      // conductor re-drives them); a worker cut short is settled from the ledger.
      // Webhooks not yet posted are dropped, as Mailgun's would be while the conductor is away.
      sinkWebhooks?.stop();
      await retention.stop();
      await service.stop();
      unsubscribe();
      const drained = await Promise.all([stubber, renderer, worker].map((f) => f.drain(STOP_FUNCTIONS_MS)));
      const [stubs, renders, workers] = drained;
      logger.info(
        {
          event: 'baton.functions_stopped',
          droppedStubbing: stubs!.dropped,
          droppedRenders: renders!.dropped,
          cutShort: drained.some((d) => d.stillRunning),
        },
        workers!.stillRunning ? 'stopped; a worker was cut short' : 'stopped',
      );
      await sinkWebhooks?.settled();
      await sink?.close();
      if (store instanceof LmdbObjectStore) await store.close();
    },
  };
}

/** The sample campaign offered on first start: a welcome email to 50 example.com readers. */
export function sampleCampaign() {
  const dir = path.join(__dirname, '..', 'sample');
  return {
    name: 'Welcome (sample)',
    customerId: 'sample-co',
    from: 'Baton Sample <hello@example.com>',
    subject: 'Welcome aboard, {{ first_name }}!',
    mjml: readFileSync(path.join(dir, 'welcome.mjml'), 'utf8'),
    audienceCsv: readFileSync(path.join(dir, 'audience.csv'), 'utf8'),
  };
}
