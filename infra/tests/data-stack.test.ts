import { Match } from 'aws-cdk-lib/assertions';
import { BatonBuckets } from '../src/constructs/baton-buckets';
import { resource, resources, synthStage, type SynthesisedStage } from './support/synth';

const BUCKET_IDS = Object.values(BatonBuckets.LOGICAL_IDS);

describe('the data stack (buckets and secrets)', () => {
  let qa: SynthesisedStage;
  beforeAll(() => {
    qa = synthStage('qa');
  });

  it('keeps the buckets under stable logical ids', () => {
    expect(BUCKET_IDS).toEqual(['CampaignsBucket', 'StubsBucket', 'RenderedBucket']);
    expect(
      resources(qa.data, 'AWS::S3::Bucket')
        .map(([id]) => id)
        .sort(),
    ).toEqual([...BUCKET_IDS].sort());
  });

  it.each(BUCKET_IDS)('encrypts %s at rest', (id) => {
    expect(resource(qa.data, id).Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
  });

  it.each(BUCKET_IDS)('blocks every kind of public access to %s', (id) => {
    expect(resource(qa.data, id).Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
  });

  it.each(BUCKET_IDS)('denies any request to %s not made over TLS', (id) => {
    qa.data.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('expires stubs and rendered messages, and never the campaigns bucket (the system of record)', () => {
    const expiry = (id: string) =>
      ((resource(qa.data, id).Properties?.LifecycleConfiguration as { Rules: { ExpirationInDays?: number }[] }).Rules ?? [])
        .map((r) => r.ExpirationInDays)
        .filter((d) => d !== undefined);
    expect(expiry('StubsBucket')).toEqual([qa.config.expiryDays.stubs]);
    expect(expiry('RenderedBucket')).toEqual([qa.config.expiryDays.rendered]);
    expect(expiry('CampaignsBucket')).toEqual([]);
  });

  it('retains every bucket and secret when the stack is deleted or the resource replaced', () => {
    const stateful = [...resources(qa.data, 'AWS::S3::Bucket'), ...resources(qa.data, 'AWS::SecretsManager::Secret')];
    expect(stateful).toHaveLength(8);
    for (const [, r] of stateful) expect([r.DeletionPolicy, r.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
  });

  it('generates the API token, the lease token and the unsubscribe secret; the Mailgun key and its webhook signing key are placeholders to replace', () => {
    const secrets = resources(qa.data, 'AWS::SecretsManager::Secret').map(([, r]) => r.Properties ?? {});
    const generated = secrets.filter((p) => p.GenerateSecretString !== undefined);
    expect(generated).toHaveLength(3);
    for (const p of generated) expect(p.GenerateSecretString).toMatchObject({ PasswordLength: 48, ExcludePunctuation: true });
    expect(secrets.filter((p) => typeof p.SecretString === 'string' && p.SecretString.startsWith('REPLACE-ME'))).toHaveLength(2);
  });
});
