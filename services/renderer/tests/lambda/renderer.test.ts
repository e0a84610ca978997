import type * as S3Sdk from '@aws-sdk/client-s3';
import type * as SecretsSdk from '@aws-sdk/client-secrets-manager';
import { encodeS3EventKey, keys, parseJson, recipientIdFor, unsubscribeUrl, type RenderedMessage, type S3Event } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { serveS3FromMemory } from '../../../../shared/tests/object-store/s3-over-memory';
import { stubCampaign } from '../../src/core/stubber';
import { buckets, caught, ref, seedCampaign } from '../fixtures';

type RendererModule = typeof import('../../src/lambda/renderer');

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:baton/qa/unsubscribe-Q1w2E3';
const SECRET = 'unsubscribe-secret-from-secrets-manager';
const env = {
  BATON_CAMPAIGNS_BUCKET: buckets.campaigns,
  BATON_STUBS_BUCKET: buckets.stubs,
  BATON_RENDERED_BUCKET: buckets.rendered,
  BATON_UNSUBSCRIBE_SECRET_ARN: SECRET_ARN,
  BATON_PUBLIC_URL: 'https://baton.qa.example.com/',
  LOG_LEVEL: 'silent',
};

interface Container {
  handler: RendererModule['handler'];
  secretsManager: AwsClientStub<SecretsSdk.SecretsManagerClient>;
  GetSecretValueCommand: typeof SecretsSdk.GetSecretValueCommand;
}

/**
 * Loads the entry as a new container would: a module registry of its own (so nothing is cached
 * from another test), `vars` as the whole environment, and that registry's SDK clients mocked,
 * S3 answered from `memory`.
 */
function newContainer(vars: Record<string, string>, memory = new MemoryObjectStore()): Container {
  const saved = process.env;
  process.env = { ...vars };
  let container: Container | undefined;
  try {
    jest.isolateModules(() => {
      const s3Sdk = require('@aws-sdk/client-s3') as typeof S3Sdk;
      const secretsSdk = require('@aws-sdk/client-secrets-manager') as typeof SecretsSdk;
      serveS3FromMemory(mockClient(s3Sdk.S3Client), memory, s3Sdk);
      const secretsManager = mockClient(secretsSdk.SecretsManagerClient);
      const { handler } = require('../../src/lambda/renderer') as RendererModule;
      container = { handler, secretsManager, GetSecretValueCommand: secretsSdk.GetSecretValueCommand };
    });
  } finally {
    process.env = saved;
  }
  return container!;
}

function s3EventFor(key: string, eventName = 'ObjectCreated:Put'): S3Event {
  return {
    Records: [{ eventSource: 'aws:s3', eventName, s3: { bucket: { name: buckets.stubs }, object: { key: encodeS3EventKey(key) } } }],
  };
}

describe('the renderer Lambda entry', () => {
  it('fails at import on a bad public URL or a missing secret ARN, naming each', async () => {
    // Act
    const error = await caught(() => newContainer({ ...env, BATON_PUBLIC_URL: 'baton.example.com', BATON_UNSUBSCRIBE_SECRET_ARN: '' }));

    // Assess
    expect(error).toMatchObject({ name: 'ConfigError' });
    expect((error as Error).message).toMatch(/BATON_UNSUBSCRIBE_SECRET_ARN: is required[\s\S]*BATON_PUBLIC_URL: must be an http\(s\) URL/);
  });

  it('reads no secret at import, then the unsubscribe secret once, and signs links with it', async () => {
    // Prepare
    const memory = new MemoryObjectStore();
    await seedCampaign(memory, { csv: 'email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n' });
    await stubCampaign({ store: memory, buckets }, ref);
    const recipientIds = ['ann@example.com', 'bob@example.com'].map((e) => recipientIdFor(ref.customerId, e));

    // Act
    const { handler, secretsManager, GetSecretValueCommand } = newContainer(env, memory);
    secretsManager.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: SECRET });
    const readsAtImport = secretsManager.commandCalls(GetSecretValueCommand).length;
    for (const recipientId of recipientIds) await handler(s3EventFor(keys.stub({ ...ref, recipientId })));

    // Assess
    expect(readsAtImport).toBe(0);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    for (const recipientId of recipientIds) {
      const body = memory.objects.get(`${buckets.rendered}/${keys.rendered({ ...ref, recipientId })}`);
      const rendered = parseJson(body ?? '', 'rendered') as RenderedMessage;
      expect(rendered.headers['List-Unsubscribe']).toContain(
        unsubscribeUrl('https://baton.qa.example.com', SECRET, { ...ref, recipientId }),
      );
    }
  });

  it('fails the invocation, for the runtime to retry, while the secret cannot be read, and recovers after', async () => {
    // Prepare
    const { handler, secretsManager, GetSecretValueCommand } = newContainer(env);
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
      .resolves({ SecretString: SECRET });
    const ignored = s3EventFor(keys.stub({ ...ref, recipientId: '0'.repeat(32) }), 'ObjectRemoved:Delete');

    // Act
    const error = await caught(() => handler(ignored));
    const retried = handler(ignored);

    // Assess
    expect(error).toMatchObject({ code: 'SECRET_UNAVAILABLE', kind: 'retryable' });
    await expect(retried).resolves.toBeUndefined();
  });
});
