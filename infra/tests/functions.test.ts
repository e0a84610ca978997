import { existsSync } from 'node:fs';
import path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { HANDLER_BUNDLING } from '../src/constructs/service-function';
import { workerConcurrency } from '../src/constructs/worker';
import {
  REPO_ROOT,
  SOURCES,
  logicalId,
  resource,
  resources,
  s3Grants,
  statementsOfRole,
  synthStage,
  type SynthesisedStage,
} from './support/synth';

describe('the pipeline functions', () => {
  let qa: SynthesisedStage;
  let ids: { stubber: string; renderer: string; worker: string };
  beforeAll(() => {
    qa = synthStage('qa', { qaAllowedRecipients: 'qa@example.com', maxWorkers: '6' });
    const { intake, renderer, worker } = qa.stacks.service;
    ids = { stubber: logicalId(intake.stubber), renderer: logicalId(renderer.function), worker: logicalId(worker.function) };
  });

  const roleOf = (fn: IFunction) => logicalId(fn.role!);
  const environmentOf = (id: string) =>
    (resource(qa.service, id).Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;

  it('bundles each handler from the entry file its service provides', () => {
    expect(path.relative(REPO_ROOT, SOURCES.stubberEntry)).toBe('services/renderer/src/lambda/stubber.ts');
    expect(path.relative(REPO_ROOT, SOURCES.rendererEntry)).toBe('services/renderer/src/lambda/renderer.ts');
    expect(path.relative(REPO_ROOT, SOURCES.workerEntry)).toBe('services/worker/src/lambda/worker.ts');
    for (const entry of [SOURCES.stubberEntry, SOURCES.rendererEntry, SOURCES.workerEntry]) expect(existsSync(entry)).toBe(true);
  });

  it('runs every handler on Node.js 22, bundled by the local esbuild for node22', () => {
    for (const id of Object.values(ids))
      expect(resource(qa.service, id).Properties).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler' });
    expect(HANDLER_BUNDLING).toMatchObject({ forceDockerBundling: false, target: 'node22' });
  });

  it('starts the renderer on objects created in the stubs bucket under stubs/, and on nothing else', () => {
    const notifications = resources(qa.service, 'Custom::S3BucketNotifications');
    expect(notifications).toHaveLength(1);
    const [, only] = notifications[0]!;
    expect(JSON.stringify(only.Properties?.BucketName)).toContain('StubsBucket');
    expect(only.Properties?.NotificationConfiguration).toEqual({
      LambdaFunctionConfigurations: [
        {
          Events: ['s3:ObjectCreated:*'],
          Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'stubs/' }] } },
          LambdaFunctionArn: { 'Fn::GetAtt': [ids.renderer, 'Arn'] },
        },
      ],
    });
  });

  it('never lets the rendered bucket start the renderer (its own output cannot loop)', () => {
    const mentionsRendered = (r: unknown) => JSON.stringify(r).includes('RenderedBucket');
    expect(resources(qa.service, 'Custom::S3BucketNotifications').filter(([, r]) => mentionsRendered(r.Properties?.BucketName))).toEqual(
      [],
    );
    expect(resources(qa.service, 'AWS::Lambda::Permission').filter(([, r]) => mentionsRendered(r.Properties?.SourceArn))).toEqual([]);
    expect(resource(qa.data, 'RenderedBucket').Properties?.NotificationConfiguration).toBeUndefined();
  });

  it("gives the stubber's SNS subscription a dead-letter queue", () => {
    qa.service.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      Endpoint: { 'Fn::GetAtt': [ids.stubber, 'Arn'] },
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(qa.stacks.service.intake.subscriptionDeadLetters), 'Arn'] } },
    });
  });

  it("sends the stubber's and the renderer's failed async invocations, after two retries, to on-failure queues", () => {
    const { intake, renderer } = qa.stacks.service;
    for (const [fn, queue] of [
      [ids.stubber, intake.failedStubbing],
      [ids.renderer, renderer.failedRendering],
    ] as const) {
      qa.service.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: fn },
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(queue), 'Arn'] } } },
      });
    }
  });

  it('never retries the worker, and drops a lease that waited past its window', () => {
    qa.service.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: ids.worker },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(qa.stacks.service.worker.failedLeases), 'Arn'] } } },
    });
  });

  it('reserves the worker concurrency for MAX_WORKERS plus a little headroom', () => {
    expect(resource(qa.service, ids.worker).Properties?.ReservedConcurrentExecutions).toBe(8);
    expect([1, 4, 8, 40].map(workerConcurrency)).toEqual([3, 6, 10, 50]);
  });

  it("sets the worker's timeout to its time budget plus headroom", () => {
    expect(resource(qa.service, ids.worker).Properties?.Timeout).toBe(150);
  });

  it('keeps every dead-letter and on-failure queue encrypted, TLS-only, for 14 days', () => {
    const queues = resources(qa.service, 'AWS::SQS::Queue');
    expect(queues).toHaveLength(4);
    for (const [id, q] of queues) {
      expect(q.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
      qa.service.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    }
  });

  it('tells every function its stage, its log level and the three buckets', () => {
    for (const id of Object.values(ids)) {
      expect(Object.keys(environmentOf(id))).toEqual(
        expect.arrayContaining(['BATON_STAGE', 'LOG_LEVEL', 'BATON_CAMPAIGNS_BUCKET', 'BATON_STUBS_BUCKET', 'BATON_RENDERED_BUCKET']),
      );
      expect(environmentOf(id).BATON_STAGE).toBe('qa');
    }
  });

  it('tells the renderer the public URL and where the unsubscribe secret is', () => {
    const env = environmentOf(ids.renderer);
    expect(JSON.stringify(env.BATON_UNSUBSCRIBE_SECRET_ARN)).toContain('UnsubscribeSecret');
    expect(JSON.stringify(env.BATON_PUBLIC_URL)).toContain('InternalLoadBalancer');
  });

  it('tells the worker how to send, where its secrets are, and the lease API on the internal load balancer', () => {
    const env = environmentOf(ids.worker);
    expect(env).toMatchObject({
      MAILGUN_DOMAIN: 'mg.example.com',
      MAILGUN_URL: 'https://api.mailgun.net',
      WORKER_TIME_BUDGET_MS: '120000',
      QA_ALLOWED_RECIPIENTS: 'qa@example.com',
    });
    expect(JSON.stringify(env.MAILGUN_API_KEY_SECRET_ARN)).toContain('MailgunApiKey');
    expect(JSON.stringify(env.BATON_LEASE_TOKEN_SECRET_ARN)).toContain('LeaseToken');
    expect(env.BATON_CONDUCTOR_URL).toEqual({
      'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [logicalId(qa.stacks.service.conductor.internalLoadBalancer), 'DNSName'] }]],
    });
  });

  it('lets the stubber read campaigns and audiences, write stubs, its progress and its report, and nothing more in S3', () => {
    expect(s3Grants(qa.service, roleOf(qa.stacks.service.intake.stubber))).toEqual([
      's3:GetObject campaigns/campaigns/*',
      's3:GetObject campaigns/uploads/*',
      's3:ListBucket campaigns',
      's3:PutObject campaigns/campaigns/*/audience-progress.json',
      's3:PutObject campaigns/campaigns/*/audience-report.json',
      's3:PutObject stubs/stubs/*',
    ]);
  });

  it('lets the renderer read campaigns and stubs, write rendered messages and failure outcomes, and nothing more in S3', () => {
    expect(s3Grants(qa.service, roleOf(qa.stacks.service.renderer.function))).toEqual([
      's3:GetObject campaigns/campaigns/*',
      's3:GetObject stubs/stubs/*',
      's3:ListBucket campaigns',
      's3:ListBucket stubs',
      's3:PutObject campaigns/ledger/*/outcomes/*',
      's3:PutObject rendered/rendered/*',
    ]);
  });

  it('lets the worker read rendered messages, suppressions and the ledger, write its claims, outcomes and lease marks, and nothing more in S3', () => {
    expect(s3Grants(qa.service, roleOf(qa.stacks.service.worker.function))).toEqual([
      's3:DeleteObject campaigns/ledger/*/claims/*',
      's3:GetObject campaigns/ledger/*',
      's3:GetObject campaigns/suppressions/*',
      's3:GetObject rendered/rendered/*',
      's3:ListBucket campaigns',
      's3:ListBucket rendered',
      's3:PutObject campaigns/ledger/*/claims/*',
      's3:PutObject campaigns/ledger/*/leases/*',
      's3:PutObject campaigns/ledger/*/outcomes/*',
    ]);
  });

  it('lets each function read only its own secrets', () => {
    const secretsRead = (fn: IFunction) =>
      statementsOfRole(qa.service, roleOf(fn))
        .filter((s) => ([] as string[]).concat(s.Action).includes('secretsmanager:GetSecretValue'))
        .flatMap((s) => ([] as unknown[]).concat(s.Resource))
        .map((r) => /Secrets(\w+?)[0-9A-F]{8}/.exec(JSON.stringify(r))?.[1])
        .sort();
    const { intake, renderer, worker } = qa.stacks.service;
    expect(secretsRead(intake.stubber)).toEqual([]);
    expect(secretsRead(renderer.function)).toEqual(['UnsubscribeSecret']);
    expect(secretsRead(worker.function)).toEqual(['LeaseToken', 'MailgunApiKey']);
  });
});
