import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  STUBS_PREFIX,
  createLogger,
  systemClock,
  type CampaignRequestedMessage,
  type Clock,
  type Config,
  type Logger,
  type S3Event,
  type Sender,
  type SnsEvent,
  type WorkerInvocation,
} from '@baton/shared';
import { LmdbObjectStore } from '@baton/shared/lmdb-object-store';
import { createMailgunSender } from '@baton/shared/mailgun';
import { createMailgunLookup } from '@baton/shared/mailgun-lookup';
import { PROVIDER_TIMEOUT_MS, createHttpLeaseClient, createWorkerHandler, minBudgetToTakeFor, type LeaseClient } from '@baton/worker';
import { ConductorService, type ConductorServiceDeps } from '@baton/conductor';
import { CallJournal, journalledClaims, journalledSender } from './call-journal';
import { devSecret } from './dev-secrets';
import { FunctionThread, RenderBacklog, onThreadObjectCreated, type FunctionName } from './function-threads';
import { LocalLambda } from './local-lambda';
import { LOCAL_BUCKETS, dictionaryDropOf, kindOf, openLocalStore, type LocalStore } from './local-store';
import { startMailgunSink, type MailgunSink } from './mailgun-sink';
import { inboxRoutes } from './inbox';
import { createSinkWebhooks, type SinkWebhooks } from './sink-webhooks';
import { PortInUseError, assertPortFree, isAddressInUse } from './port';
import { RetentionSweeper } from './retention';
import { campaignOfRequest, createRenderQueue } from './render-order';

export { LOCAL_BUCKETS, openLocalStore, type LocalStore } from './local-store';

/** A local worker runs in this process: it starts within a tick of the event loop, not a Lambda cold start. */
const LOCAL_WORKER_START_MS = 20;
/** How often the renderer looks at its queue again while a stubber runs (see `FairQueue.producing`). */
const STUBBING_LOOK_MS = 50;

/** Stubbing runs at once (each may be a whole audience) and renders at once, in the function thread. */
const STUBBER_CONCURRENCY = 2;
const RENDER_CONCURRENCY = 32;

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
  /**
   * The console's files (default: built in memory at the first request for the page; `npm start`
   * serves those its build wrote beside main.js).
   */
  console?: ConductorServiceDeps['console'];
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
  logger.info({ event: 'store.opened', kind: kindOf(store), dataDir }, 'local store opened');

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
  const mailgunSender = createMailgunSender({
    url: mailgunUrl,
    domain: config.MAILGUN_DOMAIN,
    apiKey: mailgunKey,
    timeoutMs: PROVIDER_TIMEOUT_MS,
  });
  // A crash-proof record of each send's claim and call, for the fault suite (BATON_CALL_JOURNAL).
  const journal = config.BATON_CALL_JOURNAL === undefined ? undefined : new CallJournal(config.BATON_CALL_JOURNAL);
  const sender: Sender = journal ? journalledSender(mailgunSender, journal) : mailgunSender;

  // The lease API's address is known only once the conductor listens.
  let leaseClient: LeaseClient | undefined;
  const lateLeaseClient: LeaseClient = {
    checkIn: (req) => leaseClient!.checkIn(req),
    renew: (req) => leaseClient!.renew(req),
    watch: (req, signal) => leaseClient!.watch!(req, signal),
  };

  // Unsubscribe links name the conductor's public address; by default the port it really bound.
  let publicUrl = config.BATON_PUBLIC_URL ?? `http://localhost:${config.PORT}`;
  // The stubber and the renderer run in a thread of their own (function-threads.ts), made once
  // the conductor listens (the renderer's links name its address); events wait till then.
  let threadReady: (made: FunctionThread) => void = () => undefined;
  const threadMade = new Promise<FunctionThread>((resolve) => (threadReady = resolve));
  const inThread = (fn: FunctionName) => async (event: unknown) => (await threadMade).run(fn, event);
  const renderBacklog = new RenderBacklog();
  // Campaigns take turns by render time used: a slow one cannot hold the others' renders back.
  const renderQueue = createRenderQueue();
  const stubInThread = inThread('stubber');
  // The stubber shares the thread with the renders: while it writes a campaign's stubs, that
  // campaign holds its turn in the renders' order (charged the stubber's time), so another
  // campaign's slow renders do not start each time its renders catch up with its stubs.
  const stubbing = async (event: SnsEvent) => {
    const done = renderQueue.producing(campaignOfRequest(event));
    // Its turn comes with time, not only with events: the renderer looks again meanwhile.
    const looking = setInterval(() => renderer.poke(), STUBBING_LOOK_MS);
    try {
      await stubInThread(event);
    } finally {
      clearInterval(looking);
      done();
      renderer.poke();
    }
  };
  const stubber = new LocalLambda<SnsEvent>(stubbing, {
    name: 'stubber',
    concurrency: STUBBER_CONCURRENCY,
    retryAttempts: 2,
    logger,
  });
  const renderer = new LocalLambda<S3Event>(inThread('renderer'), {
    name: 'renderer',
    concurrency: RENDER_CONCURRENCY,
    retryAttempts: 2,
    logger,
    // The stubber's writes wait while this many stub events are queued (MAX_RENDER_BACKLOG).
    onQueued: (queued) => renderBacklog.setQueued(queued),
    queue: renderQueue,
  });
  const createdChannel = `baton-object-created-${randomBytes(8).toString('hex')}`;
  const worker = new LocalLambda<WorkerInvocation>(
    createWorkerHandler({
      store: journal ? journalledClaims(store, journal) : store,
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
    // The conductor owns retries of sends: a failed worker is never re-run blindly. Room for twice
    // MAX_WORKERS: a worker near the end of its budget is leaving, and the conductor starts its
    // successor while it sends its last lease (as on AWS, where nothing queues it); with only
    // MAX_WORKERS slots the successor waited for one, and its first lease's slices went by unused.
    { name: 'worker', concurrency: 2 * config.MAX_WORKERS, retryAttempts: 0, logger },
  );

  // Stubs written here (the conductor's re-drive) and in the stubber's thread both trigger the renderer.
  const unsubscribeHere = store.onObjectCreated({ bucket: buckets.stubs, prefix: STUBS_PREFIX }, (event) => renderer.invoke(event));
  const unsubscribeThreads = onThreadObjectCreated(createdChannel, renderBacklog, (event) => renderer.invoke(event));
  const unsubscribe = () => {
    unsubscribeHere();
    unsubscribeThreads();
  };
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
    // In this process a worker starts at once: its first slice need not wait out a cold start.
    invoker: { invoke: async (invocation) => worker.invoke(invocation), startLeadMs: LOCAL_WORKER_START_MS },
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
    // Loaded only when wanted: the console's build brings esbuild into the process.
    console: options.console ?? (async () => (await import('@baton/console')).consoleFiles()),
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
    journal?.close();
    if (store instanceof LmdbObjectStore) await store.close();
    throw isAddressInUse(err) ? new PortInUseError(config.PORT, { cause: err }) : err;
  }
  leaseClient = createHttpLeaseClient({ baseUrl: url, token: leaseToken });
  sinkWebhooks?.setTarget(`${url}/webhooks/mailgun`);
  if (config.BATON_PUBLIC_URL === undefined) publicUrl = `http://localhost:${new URL(url).port}`;
  const thread = new FunctionThread(
    {
      dataDir,
      storeKind: kindOf(store),
      logLevel: logger.level,
      channel: createdChannel,
      publicUrl,
      unsubscribeSecret,
      renderBacklog: renderBacklog.buffer,
    },
    // On a busy machine the conductor's thread (the API, the tick, the in-process workers) goes
    // first: rendering only has to stay ahead of sending, and stubbing ahead of rendering.
    { concurrency: STUBBER_CONCURRENCY + RENDER_CONCURRENCY, niceIncrement: 5 },
  );
  threadReady(thread);

  const retention = new RetentionSweeper({
    store,
    buckets,
    clock,
    logger,
    retentionMs: config.BATON_RETENTION_HOURS * 3_600_000,
    campaigns: () =>
      service.conductor.listCampaigns().map((c) => ({ customerId: c.customerId, campaignId: c.id, finishedAt: c.finishedAt })),
    dropDictionary: dictionaryDropOf(store),
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
      await thread.close();
      await sinkWebhooks?.settled();
      await sink?.close();
      journal?.close();
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
