/**
 * The worker Lambda (a lease from the conductor → sends through Mailgun). Module scope validates
 * the environment and builds the S3 store and the Secrets Manager reader once per container.
 *
 * The Mailgun key and the lease token are read on the first invocation, not at import, then
 * cached (5 min, served stale for a while if Secrets Manager fails); the sender and the lease
 * client are rebuilt only when a value changed, e.g. after a rotation. The Lambda context goes
 * through to the handler, which keeps the time budget inside the function's own timeout.
 *
 * Environment: BATON_CAMPAIGNS_BUCKET, BATON_RENDERED_BUCKET, BATON_CONDUCTOR_URL,
 * MAILGUN_API_KEY_SECRET_ARN, BATON_LEASE_TOKEN_SECRET_ARN, MAILGUN_URL, MAILGUN_DOMAIN,
 * BATON_STAGE, QA_ALLOWED_RECIPIENTS (required in qa), WORKER_TIME_BUDGET_MS (default 120000),
 * LOG_LEVEL (default info).
 */
import { createLogger, systemClock } from '@baton/shared';
import { bucketsFromEnv, loadAwsEnv } from '@baton/shared/aws-env';
import { createMailgunSender } from '@baton/shared/mailgun';
import { S3ObjectStore, createS3Client } from '@baton/shared/s3-object-store';
import { createSecretsManagerSecrets } from '@baton/shared/secrets-manager';
import { createHttpLeaseClient } from '../adapters/http-lease-client';
import { PROVIDER_TIMEOUT_MS, minBudgetToTakeFor } from '../core/defaults';
import type { WorkerSummary } from '../core/run-worker';
import { createWorkerHandler, type InvocationContext } from '../handlers/worker-handler';

const env = loadAwsEnv([
  'BATON_CAMPAIGNS_BUCKET',
  'BATON_RENDERED_BUCKET',
  'BATON_CONDUCTOR_URL',
  'MAILGUN_API_KEY_SECRET_ARN',
  'BATON_LEASE_TOKEN_SECRET_ARN',
  'MAILGUN_URL',
  'MAILGUN_DOMAIN',
  'BATON_STAGE',
  'QA_ALLOWED_RECIPIENTS',
  'WORKER_TIME_BUDGET_MS',
  'LOG_LEVEL',
]);
const logger = createLogger({ level: env.LOG_LEVEL, name: 'worker' });
const store = new S3ObjectStore(createS3Client());
const buckets = bucketsFromEnv(env);
const secrets = createSecretsManagerSecrets({ logger });

type WorkerLambdaHandler = (event: unknown, context?: InvocationContext) => Promise<WorkerSummary>;
let built: { apiKey: string; leaseToken: string; handle: WorkerLambdaHandler } | undefined;

async function currentHandler(): Promise<WorkerLambdaHandler> {
  const [apiKey, leaseToken] = await Promise.all([
    secrets.get(env.MAILGUN_API_KEY_SECRET_ARN),
    secrets.get(env.BATON_LEASE_TOKEN_SECRET_ARN),
  ]);
  if (built?.apiKey !== apiKey || built.leaseToken !== leaseToken) {
    const handle = createWorkerHandler({
      store,
      buckets,
      sender: createMailgunSender({ url: env.MAILGUN_URL, domain: env.MAILGUN_DOMAIN, apiKey, timeoutMs: PROVIDER_TIMEOUT_MS }),
      leaseClient: createHttpLeaseClient({ baseUrl: env.BATON_CONDUCTOR_URL, token: leaseToken }),
      clock: systemClock,
      logger,
      stage: env.BATON_STAGE,
      qaAllowList: env.QA_ALLOWED_RECIPIENTS,
      timeBudgetMs: env.WORKER_TIME_BUDGET_MS,
      // No key unless even a call that times out still ends within the budget.
      minBudgetToTakeMs: minBudgetToTakeFor(env.WORKER_TIME_BUDGET_MS),
    });
    built = { apiKey, leaseToken, handle };
  }
  return built.handle;
}

export async function handler(event: unknown, context?: InvocationContext): Promise<WorkerSummary> {
  return (await currentHandler())(event, context);
}
