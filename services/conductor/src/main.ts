/**
 * The conductor on ECS Fargate: the composition root of the long-running service on AWS.
 *
 * Configuration comes from the environment: `loadConfig` for the settings every composition
 * shares, and the AWS-only names (buckets, topic, worker function, drain bound) from aws-env.
 * ECS injects the credentials (BATON_API_TOKEN, BATON_LEASE_TOKEN, BATON_UNSUBSCRIBE_SECRET,
 * MAILGUN_API_KEY) as environment variables from Secrets Manager, so no Secrets Manager client
 * is needed here; a rotated value reaches the service when its task is replaced.
 *
 * On SIGTERM (ECS stopping the task) or SIGINT it stops leasing, waits up to BATON_DRAIN_MS
 * (default 25 s) for leases out to check in, closes and exits 0. ECS kills the task
 * `stopTimeout` after SIGTERM (30 s by default): keep the drain bound below it.
 */
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import {
  ConfigError,
  createLogger,
  describeError,
  loadConfig,
  PROVIDER_TIMEOUT_MS,
  systemClock,
  type Config,
  type InputIssue,
  type Logger,
} from '@baton/shared';
import { bucketsFromEnv, loadAwsEnv, type AwsEnv } from '@baton/shared/aws-env';
import { createMailgunSender } from '@baton/shared/mailgun';
import { createMailgunLookup } from '@baton/shared/mailgun-lookup';
import { S3ObjectStore, createS3Client } from '@baton/shared/s3-object-store';
import { LambdaWorkerInvoker, createLambdaClient } from './adapters/lambda-worker-invoker';
import { SnsCampaignTopic } from './adapters/sns-campaign-topic';
import { ConductorService } from './service';
import { consoleFromFolder } from './http/console-assets';

const AWS_NAMES = [
  'BATON_CAMPAIGNS_BUCKET',
  'BATON_STUBS_BUCKET',
  'BATON_RENDERED_BUCKET',
  'BATON_TOPIC_ARN',
  'BATON_WORKER_FUNCTION',
  'BATON_DRAIN_MS',
] as const;
/** Optional in `loadConfig` (dev generates them), but nothing may be generated on a Fargate task. */
const REQUIRED_ON_AWS = [
  'BATON_API_TOKEN',
  'BATON_LEASE_TOKEN',
  'BATON_UNSUBSCRIBE_SECRET',
  'MAILGUN_WEBHOOK_SIGNING_KEY',
  'BATON_PUBLIC_URL',
] as const;

type Env = Record<string, string | undefined>;

export interface ConductorOnAws {
  service: ConductorService;
  url: string;
  drainMs: number;
  logger: Logger;
}

/** Clients are injected by tests; on AWS the SDK's defaults (region and credentials from the task) apply. */
export interface AwsClients {
  s3?: S3Client;
  sns?: SNSClient;
  lambda?: LambdaClient;
}

/**
 * Both configurations, every bad variable of either reported in one `ConfigError`, plus the
 * settings that are optional in development but required on AWS.
 */
export function loadConductorEnv(env: Env): { config: Config; aws: AwsEnv<(typeof AWS_NAMES)[number]> } {
  const issues: InputIssue[] = [];
  let config: Config | undefined;
  let aws: AwsEnv<(typeof AWS_NAMES)[number]> | undefined;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
  }
  try {
    aws = loadAwsEnv(AWS_NAMES, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
  }
  for (const name of REQUIRED_ON_AWS) {
    if ((env[name] ?? '') === '' && !issues.some((i) => i.where === name)) {
      issues.push({ where: name, message: 'is required on AWS (unset)' });
    }
  }
  if (issues.length > 0 || config === undefined || aws === undefined) throw new ConfigError(issues);
  return { config, aws };
}

/** Builds the service from the environment and starts it on 0.0.0.0:PORT. */
export async function startConductorOnAws(env: Env = process.env, clients: AwsClients = {}): Promise<ConductorOnAws> {
  const { config, aws } = loadConductorEnv(env);
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'conductor' });
  const functionName = aws.BATON_WORKER_FUNCTION;

  // Test sends go straight to the provider (the worker Lambdas send everything else).
  const testSender =
    config.MAILGUN_URL !== undefined && config.MAILGUN_API_KEY !== undefined
      ? createMailgunSender({
          url: config.MAILGUN_URL,
          domain: config.MAILGUN_DOMAIN,
          apiKey: config.MAILGUN_API_KEY,
          timeoutMs: PROVIDER_TIMEOUT_MS,
        })
      : undefined;
  // Settles sends in doubt from Mailgun's events (never by resending).
  const lookup =
    config.MAILGUN_URL !== undefined && config.MAILGUN_API_KEY !== undefined
      ? createMailgunLookup({
          url: config.MAILGUN_URL,
          domain: config.MAILGUN_DOMAIN,
          apiKey: config.MAILGUN_API_KEY,
          timeoutMs: PROVIDER_TIMEOUT_MS,
        })
      : undefined;

  const service = new ConductorService({
    config,
    store: new S3ObjectStore(clients.s3 ?? createS3Client()),
    buckets: bucketsFromEnv(aws),
    clock: systemClock,
    logger,
    invoker: new LambdaWorkerInvoker(clients.lambda ?? createLambdaClient(), { functionName }),
    topic: new SnsCampaignTopic(clients.sns ?? new SNSClient({}), { topicArn: aws.BATON_TOPIC_ARN }),
    testSender,
    lookup,
    // loadConductorEnv has refused a missing one of these.
    apiToken: config.BATON_API_TOKEN!,
    leaseToken: config.BATON_LEASE_TOKEN!,
    unsubscribeSecret: config.BATON_UNSUBSCRIBE_SECRET!,
    webhookSigningKey: config.MAILGUN_WEBHOOK_SIGNING_KEY!,
    publicUrl: config.BATON_PUBLIC_URL!,
    // Built into the image beside main.js (services/conductor/Dockerfile).
    console: consoleFromFolder(path.join(__dirname, 'console')),
  });
  // Every interface of the task: the load balancer and the workers reach it from outside.
  const url = await service.start({ host: '0.0.0.0', port: config.PORT });
  logger.info(
    { event: 'task.listening', port: config.PORT, stage: config.BATON_STAGE, testSends: testSender !== undefined },
    'conductor listening',
  );
  return { service, url, drainMs: aws.BATON_DRAIN_MS, logger };
}

interface SignalSource {
  on(signal: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown;
}

/**
 * On the first SIGTERM or SIGINT: drain, then exit 0 (1 if stopping failed). A second signal
 * while draining exits 1 at once (someone insists).
 */
export function stopOnSignals(
  running: ConductorOnAws,
  signals: SignalSource = process,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      running.logger.warn({ event: 'task.stop_forced', signal }, 'second signal while draining; exiting now');
      exit(1);
      return;
    }
    stopping = true;
    running.logger.info({ event: 'task.stopping', signal, drainMs: running.drainMs }, 'stopping: no new leases, draining leases out');
    running.service.stop(running.drainMs).then(
      () => {
        running.logger.info({ event: 'task.stopped' }, 'conductor stopped');
        exit(0);
      },
      (err: unknown) => {
        running.logger.error({ event: 'task.stop_failed', reason: describeError(err) }, 'conductor did not stop cleanly');
        exit(1);
      },
    );
  };
  signals.on('SIGTERM', onSignal);
  signals.on('SIGINT', onSignal);
}

async function main(): Promise<void> {
  try {
    stopOnSignals(await startConductorOnAws());
  } catch (err) {
    // No logger yet when the configuration is refused: its message lists every bad variable.
    process.stderr.write(`conductor failed to start: ${err instanceof ConfigError ? err.message : describeError(err)}\n`);
    process.exit(1);
  }
}

if (require.main === module) void main();
