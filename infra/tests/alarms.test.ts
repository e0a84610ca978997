import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { REPO_ROOT, logicalId, resources, synthStage, type SynthesisedStage } from './support/synth';

/** The `event` names the services log, read from their sources (not their tests). */
function loggedEvents(): Set<string> {
  const events = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'tests') walk(full);
      } else if (entry.name.endsWith('.ts')) {
        for (const m of readFileSync(full, 'utf8').matchAll(/event: '([^']+)'/g)) events.add(m[1]!);
      }
    }
  };
  walk(path.join(REPO_ROOT, 'services'));
  return events;
}

interface Alarm {
  Namespace: string;
  MetricName: string;
  Dimensions?: { Name: string; Value: unknown }[];
  ComparisonOperator: string;
  Threshold: number;
  TreatMissingData: string;
  AlarmActions: unknown[];
}

describe('alarms', () => {
  let qa: SynthesisedStage;
  let alarms: Alarm[];
  beforeAll(() => {
    qa = synthStage('qa', { qaAllowedRecipients: 'qa@example.com', alarmEmail: 'oncall@example.com' });
    alarms = resources(qa.service, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties as unknown as Alarm);
  });

  it('goes off when any dead-letter or on-failure queue holds a message', () => {
    const { intake, renderer, worker } = qa.stacks.service;
    for (const queue of [intake.subscriptionDeadLetters, intake.failedStubbing, renderer.failedRendering, worker.failedLeases]) {
      expect(alarms).toContainEqual(
        expect.objectContaining({
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(queue), 'QueueName'] } }],
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Threshold: 1,
        }),
      );
    }
  });

  it.each([
    ['render.failed', 'RenderFailed', 'renderer'],
    ['key.in-doubt', 'SendInDoubt', 'worker'],
  ] as const)('counts %s in the logs and goes off when one appears', (event, metric, service) => {
    const { renderer, worker } = qa.stacks.service;
    const logGroup = service === 'renderer' ? renderer.function.logGroup : worker.function.logGroup;
    qa.service.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalId(logGroup) },
      FilterPattern: `{ $.event = "${event}" }`,
      MetricTransformations: [Match.objectLike({ MetricName: metric, MetricNamespace: 'Baton/qa', MetricValue: '1' })],
    });
    expect(alarms).toContainEqual(expect.objectContaining({ Namespace: 'Baton/qa', MetricName: metric, Threshold: 1 }));
  });

  it('alarms only on event names the services really log', () => {
    const filtered = resources(qa.service, 'AWS::Logs::MetricFilter').map(
      ([, r]) => /"([^"]+)"/.exec(String(r.Properties?.FilterPattern))?.[1],
    );
    expect(filtered.length).toBeGreaterThanOrEqual(2);
    const logged = loggedEvents();
    for (const event of filtered) expect({ event, logged: logged.has(event!) }).toEqual({ event, logged: true });
  });

  it('goes off when no conductor task runs, or none is healthy, treating silence as trouble', () => {
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'ECS/ContainerInsights',
        MetricName: 'RunningTaskCount',
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'breaching',
      }),
    );
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'AWS/ApplicationELB',
        MetricName: 'HealthyHostCount',
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'breaching',
      }),
    );
    qa.service.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
  });

  it('sends every alarm to the stage alarm topic, which emails the operator when asked', () => {
    const topic = logicalId(qa.stacks.service.alarms.topic);
    for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([{ Ref: topic }]);
    qa.service.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: topic },
    });
  });
});
