import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addBatonStage, type BatonStage } from '../src/baton-stage';
import { resolveStageConfig } from '../src/stage-config';
import { QA, SOURCES, resources, testApp } from './support/synth';

/** Properties that would give a resource a fixed physical name. */
const NAME_PROPERTIES: Record<string, string> = {
  'AWS::S3::Bucket': 'BucketName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::SecretsManager::Secret': 'Name',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::IAM::Policy': 'PolicyName_',
  'AWS::ECS::Cluster': 'ClusterName',
  'AWS::ECS::Service': 'ServiceName',
  'AWS::ElasticLoadBalancingV2::LoadBalancer': 'Name',
  'AWS::ElasticLoadBalancingV2::TargetGroup': 'Name',
  'AWS::CloudWatch::Alarm': 'AlarmName',
  'AWS::EC2::SecurityGroup': 'GroupName',
};

/** Where a template can grant or refer to access: identity policies, resource policies, permissions. */
const POLICY_TYPES = [
  'AWS::IAM::Policy',
  'AWS::IAM::Role',
  'AWS::S3::BucketPolicy',
  'AWS::SQS::QueuePolicy',
  'AWS::SNS::TopicPolicy',
  'AWS::Lambda::Permission',
];

/** Every stack a template reads values from (cross-stack references, either style). */
function stacksReferenced(template: Template): string[] {
  const json = JSON.stringify(template.toJSON());
  const names = [...json.matchAll(/"StackName":"([^"]+)"/g), ...json.matchAll(/"Fn::ImportValue":"([^:"]+):/g)].map((m) => m[1]!);
  return [...new Set(names)];
}

describe('stages', () => {
  // Both stages in one app: a grant that crossed stages would show as a reference between them.
  let qa: BatonStage;
  let prod: BatonStage;
  let templates: Map<Stack, Template>;
  beforeAll(() => {
    const app = testApp();
    qa = addBatonStage(app, resolveStageConfig('qa', QA), SOURCES);
    prod = addBatonStage(app, resolveStageConfig('prod', {}), SOURCES);
    templates = new Map([qa.data, qa.service, prod.data, prod.service].map((s) => [s, Template.fromStack(s)]));
  });
  const stacksOf = (stage: BatonStage) => [stage.data, stage.service];

  it('names each stack after its stage', () => {
    expect([...templates.keys()].map((s) => s.stackName)).toEqual([
      'Baton-qa-Data',
      'Baton-qa-Service',
      'Baton-prod-Data',
      'Baton-prod-Service',
    ]);
  });

  it('keeps stateful resources in their own stack', () => {
    const types = (s: Stack) => new Set(resources(templates.get(s)!).map(([, r]) => r.Type));
    expect([...types(qa.data)].sort()).toEqual(['AWS::S3::Bucket', 'AWS::S3::BucketPolicy', 'AWS::SecretsManager::Secret']);
    expect([...types(qa.service)].filter((t) => t === 'AWS::S3::Bucket' || t === 'AWS::SecretsManager::Secret')).toEqual([]);
  });

  it('lets no qa policy, role or permission refer to a prod resource', () => {
    for (const stack of stacksOf(qa)) {
      const template = templates.get(stack)!;
      expect(stacksReferenced(template).filter((name) => !name.startsWith('Baton-qa-'))).toEqual([]);
      for (const type of POLICY_TYPES) {
        for (const [id, r] of resources(template, type))
          expect({ id, policy: JSON.stringify(r.Properties) }).not.toEqual({ id, policy: expect.stringMatching(/prod/i) });
      }
      expect(stack.dependencies.map((d) => d.stackName).filter((name) => !name.startsWith('Baton-qa-'))).toEqual([]);
    }
  });

  it('grants data access on named resources only, never on every bucket, secret, topic or function', () => {
    for (const [stack, template] of templates) {
      for (const [id, policy] of resources(template, 'AWS::IAM::Policy')) {
        const statements = (policy.Properties as { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } })
          .PolicyDocument.Statement;
        for (const s of statements) {
          const dataActions = ([] as string[]).concat(s.Action).filter((a) => /^(s3|secretsmanager|sns|sqs|lambda|kms):/.test(a));
          if (dataActions.length > 0)
            expect({ stack: stack.stackName, id, dataActions, resource: s.Resource }).not.toMatchObject({ resource: '*' });
        }
      }
    }
  });

  it('tags every stack, and so every resource, with its stage', () => {
    for (const [stage, name] of [
      [qa, 'qa'],
      [prod, 'prod'],
    ] as const) {
      for (const stack of stacksOf(stage)) expect(stack.tags.tagValues()).toEqual({ 'baton:app': 'baton', 'baton:stage': name });
    }
  });

  it('hard-codes no physical name: CloudFormation names every resource', () => {
    for (const [stack, template] of templates) {
      for (const [id, r] of resources(template)) {
        const property = NAME_PROPERTIES[r.Type];
        if (property !== undefined)
          expect({ stack: stack.stackName, id, name: r.Properties?.[property] }).toEqual({ stack: stack.stackName, id, name: undefined });
      }
    }
  });

  it('gives every log group a retention, and every function a log group of the stack', () => {
    for (const template of templates.values()) {
      const groups = resources(template, 'AWS::Logs::LogGroup');
      for (const [, g] of groups) expect(g.Properties?.RetentionInDays).toEqual(expect.any(Number));
      const groupIds = groups.map(([id]) => id);
      for (const [, fn] of resources(template, 'AWS::Lambda::Function')) {
        expect(groupIds).toContain((fn.Properties?.LoggingConfig as { LogGroup: { Ref: string } } | undefined)?.LogGroup.Ref);
      }
      expect(resources(template, 'Custom::LogRetention')).toEqual([]);
    }
  });

  it('protects prod stacks from deletion, not qa ones', () => {
    expect(stacksOf(prod).map((s) => s.terminationProtection)).toEqual([true, true]);
    expect(stacksOf(qa).map((s) => s.terminationProtection)).toEqual([false, false]);
  });

  it('synthesises without an account, a region or any lookup (no cdk.context.json)', () => {
    for (const stack of templates.keys()) expect(stack.environment).toBe('aws://unknown-account/unknown-region');
    const assembly = qa.data.node.root as unknown as { synth(): { manifest: { missing?: unknown[] } } };
    expect(assembly.synth().manifest.missing).toBeUndefined();
  });
});
