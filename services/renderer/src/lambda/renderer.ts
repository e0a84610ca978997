/**
 * The renderer Lambda (S3 ObjectCreated on a stub → subject, html and text in the rendered
 * bucket). Module scope validates the environment and the public URL, and builds the store, the
 * template cache and the Secrets Manager reader once per container.
 *
 * The unsubscribe secret is read on the first invocation, not at import (a Secrets Manager
 * hiccup then fails one invocation, which S3's async retry repeats, instead of the init), and
 * re-read when its cache expires; the handler is rebuilt only if the value changed, and the
 * compiled templates survive that.
 *
 * Environment: BATON_CAMPAIGNS_BUCKET, BATON_STUBS_BUCKET, BATON_RENDERED_BUCKET,
 * BATON_UNSUBSCRIBE_SECRET_ARN, BATON_PUBLIC_URL, LOG_LEVEL (default info).
 */
import { createLogger } from '@baton/shared';
import { bucketsFromEnv, loadAwsEnv } from '@baton/shared/aws-env';
import { S3ObjectStore, createS3Client } from '@baton/shared/s3-object-store';
import { createSecretsManagerSecrets } from '@baton/shared/secrets-manager';
import { TemplateCache, checkPublicUrl } from '@baton/templating';
import { createRenderHandler } from '../handlers/render-handler';

const env = loadAwsEnv([
  'BATON_CAMPAIGNS_BUCKET',
  'BATON_STUBS_BUCKET',
  'BATON_RENDERED_BUCKET',
  'BATON_UNSUBSCRIBE_SECRET_ARN',
  'BATON_PUBLIC_URL',
  'LOG_LEVEL',
]);
const publicUrl = checkPublicUrl(env.BATON_PUBLIC_URL);
const logger = createLogger({ level: env.LOG_LEVEL, name: 'renderer' });
const store = new S3ObjectStore(createS3Client());
const buckets = bucketsFromEnv(env);
const templates = new TemplateCache();
const secrets = createSecretsManagerSecrets({ logger });

let built: { unsubscribeSecret: string; handle: (event: unknown) => Promise<unknown> } | undefined;

async function currentHandler(): Promise<(event: unknown) => Promise<unknown>> {
  const unsubscribeSecret = await secrets.get(env.BATON_UNSUBSCRIBE_SECRET_ARN);
  if (built?.unsubscribeSecret !== unsubscribeSecret) {
    built = { unsubscribeSecret, handle: createRenderHandler({ store, buckets, templates, publicUrl, unsubscribeSecret, logger }) };
  }
  return built.handle;
}

export async function handler(event: unknown): Promise<void> {
  await (
    await currentHandler()
  )(event);
}
