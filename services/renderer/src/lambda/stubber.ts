/**
 * The stubber Lambda (SNS "campaign requested" → one stub per recipient). Module scope runs once
 * per container: it validates the environment (a bad variable fails the init, naming it) and
 * builds the S3 store; the handler is the one `local/` runs, unchanged.
 *
 * Environment: BATON_CAMPAIGNS_BUCKET, BATON_STUBS_BUCKET, LOG_LEVEL (default info).
 */
import { createLogger } from '@baton/shared';
import { bucketsFromEnv, loadAwsEnv } from '@baton/shared/aws-env';
import { S3ObjectStore, createS3Client } from '@baton/shared/s3-object-store';
import { createStubberHandler } from '../handlers/stubber-handler';

const env = loadAwsEnv(['BATON_CAMPAIGNS_BUCKET', 'BATON_STUBS_BUCKET', 'LOG_LEVEL']);

export const handler: (event: unknown) => Promise<void> = createStubberHandler({
  store: new S3ObjectStore(createS3Client()),
  buckets: bucketsFromEnv(env),
  logger: createLogger({ level: env.LOG_LEVEL, name: 'stubber' }),
});
