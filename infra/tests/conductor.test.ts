import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { drainTimes } from '../src/constructs/conductor';
import { REPO_ROOT, SOURCES, logicalId, resource, resources, statementsOfRole, synthStage, type SynthesisedStage } from './support/synth';

const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

interface ContainerDefinition {
  Image: unknown;
  Environment: { Name: string; Value: unknown }[];
  Secrets: { Name: string; ValueFrom: unknown }[];
  StopTimeout: number;
}

function containerOf(stage: SynthesisedStage): ContainerDefinition {
  const tasks = resources(stage.service, 'AWS::ECS::TaskDefinition');
  expect(tasks).toHaveLength(1);
  const [container] = tasks[0]![1].Properties?.ContainerDefinitions as ContainerDefinition[];
  return container!;
}

function environmentOf(stage: SynthesisedStage): Record<string, unknown> {
  return Object.fromEntries(containerOf(stage).Environment.map((e) => [e.Name, e.Value]));
}

describe('the conductor on Fargate', () => {
  let qa: SynthesisedStage;
  let exposed: SynthesisedStage;
  beforeAll(() => {
    qa = synthStage('qa');
    exposed = synthStage('prod', {
      exposeConsole: 'true',
      certificateArn: CERTIFICATE,
      publicUrl: 'https://baton.example.com',
      perMinuteMax: '1200',
      maxWorkers: '5',
      governorSliceMs: '250',
      governorMarginMs: '100',
      governorSigma: '1.5',
      sendingDomains: 'mg.example.com=1200',
      mailgunDomain: 'mg.example.com',
      mailgunUrl: 'https://api.eu.mailgun.net',
    });
  });

  it('runs exactly one task, and a deployment stops it before starting the next', () => {
    qa.service.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 1,
      DeploymentConfiguration: Match.objectLike({ MaximumPercent: 100, MinimumHealthyPercent: 0 }),
      AvailabilityZoneRebalancing: 'DISABLED',
      LaunchType: 'FARGATE',
    });
  });

  it('gives the conductor a short drain after SIGTERM (check-ins cannot reach it once deregistered), inside the stop timeout', () => {
    const env = environmentOf(qa);
    expect(containerOf(qa).StopTimeout).toBe(30);
    expect(env.BATON_DRAIN_MS).toBe('10000');
    // Whatever the window, the drain fits inside the stop timeout, and that inside Fargate's 120 s.
    for (const window of [1_000, 60_000, 3_600_000]) {
      const { drainMs, stopTimeout } = drainTimes({ GOVERNOR_WINDOW_MS: window });
      expect(drainMs).toBeLessThan(stopTimeout.toMilliseconds());
      expect(stopTimeout.toSeconds()).toBeLessThanOrEqual(120);
    }
  });

  it('builds the image from the repository root with exactly what its Dockerfile copies', () => {
    // The staged build context: what Docker gets, and what the image's hash covers.
    const hash = /:([0-9a-f]{64})"/.exec(JSON.stringify(containerOf(qa).Image))![1]!;
    const context = path.join((qa.stacks.service.node.root as App).outdir, `asset.${hash}`);
    const dockerfile = readFileSync(path.join(REPO_ROOT, SOURCES.conductorDockerfile), 'utf8');
    const copied = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
    expect(copied).toEqual(expect.arrayContaining(['package-lock.json', 'services/conductor/src']));
    for (const source of copied) expect({ source, staged: existsSync(path.join(context, source)) }).toEqual({ source, staged: true });
    // Not this app, its tests or node_modules: changing them must not restart the conductor.
    for (const absent of ['infra/src', 'infra/tests', 'services/conductor/tests', 'node_modules', 'README.md']) {
      expect({ absent, staged: existsSync(path.join(context, absent)) }).toEqual({ absent, staged: false });
    }
  });

  it('checks health on /healthz', () => {
    qa.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/healthz',
      Port: 8080,
      Matcher: { HttpCode: '200' },
    });
  });

  it('passes the stage tuning to the task environment', () => {
    expect(environmentOf(qa)).toMatchObject({
      BATON_STAGE: 'qa',
      PORT: '8080',
      PER_MINUTE_MAX: '300',
      GOVERNOR_WINDOW_MS: '60000',
      MAX_WORKERS: '2',
      BATCH_SIZE: '1000',
      TICK_MS: '1000',
      WORKER_TIME_BUDGET_MS: '120000',
      MAILGUN_DOMAIN: 'mg.example.com',
      MAILGUN_URL: 'https://api.mailgun.net',
      QA_ALLOWED_RECIPIENTS: 'qa@example.com,@qa.example.com',
    });
  });

  it('passes context overrides of the tuning to the task environment', () => {
    expect(environmentOf(exposed)).toMatchObject({
      BATON_STAGE: 'prod',
      PER_MINUTE_MAX: '1200',
      MAX_WORKERS: '5',
      GOVERNOR_SLICE_MS: '250',
      GOVERNOR_MARGIN_MS: '100',
      GOVERNOR_SIGMA: '1.5',
      SENDING_DOMAINS: 'mg.example.com=1200',
      MAILGUN_URL: 'https://api.eu.mailgun.net',
      BATON_PUBLIC_URL: 'https://baton.example.com',
    });
    expect(environmentOf(exposed).QA_ALLOWED_RECIPIENTS).toBeUndefined();
  });

  it('tells the conductor its buckets, topic and worker, and injects its five secrets from Secrets Manager', () => {
    const env = environmentOf(qa);
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining([
        'BATON_CAMPAIGNS_BUCKET',
        'BATON_STUBS_BUCKET',
        'BATON_RENDERED_BUCKET',
        'BATON_TOPIC_ARN',
        'BATON_WORKER_FUNCTION',
      ]),
    );
    expect(env.BATON_TOPIC_ARN).toEqual({ Ref: logicalId(qa.stacks.service.intake.topic) });
    expect(env.BATON_WORKER_FUNCTION).toEqual({ Ref: logicalId(qa.stacks.service.worker.function) });
    const secrets = containerOf(qa).Secrets;
    expect(secrets.map((s) => s.Name).sort()).toEqual([
      'BATON_API_TOKEN',
      'BATON_LEASE_TOKEN',
      'BATON_UNSUBSCRIBE_SECRET',
      'MAILGUN_API_KEY',
      'MAILGUN_WEBHOOK_SIGNING_KEY',
    ]);
    for (const name of [
      'BATON_API_TOKEN',
      'BATON_LEASE_TOKEN',
      'BATON_UNSUBSCRIBE_SECRET',
      'MAILGUN_API_KEY',
      'MAILGUN_WEBHOOK_SIGNING_KEY',
    ]) {
      expect(JSON.stringify(env)).not.toContain(name);
    }
  });

  it('lets the conductor publish to its own topic and invoke its own worker', () => {
    const { conductor, intake, worker } = qa.stacks.service;
    const statements = statementsOfRole(qa.service, logicalId(conductor.service.taskDefinition.taskRole));
    const workerId = logicalId(worker.function);
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'sns:Publish', Resource: { Ref: logicalId(intake.topic) } }));
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 'lambda:InvokeFunction',
        Resource: [{ 'Fn::GetAtt': [workerId, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [workerId, 'Arn'] }, ':*']] }],
      }),
    );
  });

  it('puts the lease API and the console on an internal load balancer by default, open to the workers only', () => {
    const balancers = resources(qa.service, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    expect(balancers.map(([, b]) => b.Properties?.Scheme)).toEqual(['internal']);
    const lb = qa.stacks.service.conductor.internalLoadBalancer;
    const lbGroup = logicalId(lb.connections.securityGroups[0]!);
    const ingress = resources(qa.service, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) =>
      JSON.stringify(r.Properties?.GroupId).includes(lbGroup),
    );
    expect(ingress.map(([, r]) => r.Properties)).toEqual([
      expect.objectContaining({
        FromPort: 80,
        ToPort: 80,
        SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(qa.stacks.service.worker.securityGroup), 'GroupId'] },
      }),
    ]);
    expect(resource(qa.service, lbGroup).Properties?.SecurityGroupIngress).toBeUndefined();
  });

  it('serves the console on the internet over HTTPS only when exposed, never the lease API', () => {
    exposed.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    exposed.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Protocol: 'HTTPS',
      Port: 443,
      Certificates: [{ CertificateArn: CERTIFICATE }],
      SslPolicy: Match.stringLikeRegexp('TLS'),
    });
    const publicId = logicalId(exposed.stacks.service.conductor.publicLoadBalancer!);
    const publicListeners = resources(exposed.service, 'AWS::ElasticLoadBalancingV2::Listener').filter(([, l]) =>
      JSON.stringify(l.Properties?.LoadBalancerArn).includes(publicId),
    );
    expect(publicListeners.map(([, l]) => l.Properties?.Protocol)).toEqual(['HTTPS']);
    // An allow-list: the public listener answers 404 to everything but the console, its API,
    // unsubscribe links, Mailgun's webhooks and health — so no spelling of /lease or /metrics gets through.
    const listener = publicListeners[0]![1];
    expect(listener.Properties?.DefaultActions).toEqual([
      expect.objectContaining({ Type: 'fixed-response', FixedResponseConfig: expect.objectContaining({ StatusCode: '404' }) }),
    ]);
    const rules = resources(exposed.service, 'AWS::ElasticLoadBalancingV2::ListenerRule');
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0]!;
    expect(rule.Properties?.Conditions).toEqual([
      { Field: 'path-pattern', PathPatternConfig: { Values: ['/', '/api/*', '/unsubscribe/*', '/webhooks/mailgun', '/healthz'] } },
    ]);
    expect(JSON.stringify(rule.Properties?.Actions)).toContain('forward');
    // The workers still use the internal one.
    expect(
      resources(exposed.service, 'AWS::ElasticLoadBalancingV2::LoadBalancer')
        .map(([, b]) => b.Properties?.Scheme)
        .sort(),
    ).toEqual(['internal', 'internet-facing']);
  });

  it('warns at synth when unsubscribe links would name an unreachable load balancer', () => {
    Annotations.fromStack(qa.stacks.service).hasWarning('/Baton-qa-Service/Conductor', Match.stringLikeRegexp('publicUrl'));
    expect(Annotations.fromStack(exposed.stacks.service).findWarning('*', Match.stringLikeRegexp('publicUrl'))).toEqual([]);
  });
});
