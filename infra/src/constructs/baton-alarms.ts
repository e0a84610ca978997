import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** A structured log event worth an alarm whenever it appears. */
export interface LogEventAlarm {
  readonly logGroup: logs.ILogGroup;
  /** The `event` field, exactly as the service logs it. */
  readonly event: string;
  /** The metric (and alarm) name. */
  readonly name: string;
  readonly description: string;
}

export interface FailureQueueAlarm {
  readonly queue: sqs.IQueue;
  readonly name: string;
  readonly description: string;
}

export interface BatonAlarmsProps {
  readonly stage: string;
  readonly alarmEmail?: string;
  readonly failureQueues: readonly FailureQueueAlarm[];
  readonly logEvents: readonly LogEventAlarm[];
  readonly conductor: { readonly service: ecs.FargateService; readonly targetGroup: elbv2.ApplicationTargetGroup };
}

/**
 * What an operator must hear about, sent to the stage's alarm topic (and by email when set):
 * anything in a failure queue, events in the logs that mean a recipient needs attention, and a
 * conductor that is not running or not healthy.
 */
export class BatonAlarms extends Construct {
  readonly topic: sns.Topic;
  readonly namespace: string;

  constructor(scope: Construct, id: string, props: BatonAlarmsProps) {
    super(scope, id);
    this.namespace = `Baton/${props.stage}`;
    this.topic = new sns.Topic(this, 'Topic', { displayName: `Baton ${props.stage} alarms`, enforceSSL: true });
    if (props.alarmEmail !== undefined) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    for (const { queue, name, description } of props.failureQueues) {
      this.alarm(name, description, queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }), {
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    for (const { logGroup, event, name, description } of props.logEvents) {
      const filter = new logs.MetricFilter(this, `${name}Filter`, {
        logGroup,
        // The services log one JSON object per line with a stable `event` name.
        filterPattern: logs.FilterPattern.stringValue('$.event', '=', event),
        metricNamespace: this.namespace,
        metricName: name,
        metricValue: '1',
      });
      this.alarm(name, description, filter.metric({ period: Duration.minutes(5), statistic: 'Sum' }), {
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    // Silence from the conductor is itself the alarm: no data means no task, or no healthy one.
    // Five minutes, so the planned gap of a deployment (stop, then start) does not page anyone.
    const conductorDown = {
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    };
    const { service, targetGroup } = props.conductor;
    this.alarm(
      'ConductorNotRunning',
      'No conductor task is running: nothing is being sent.',
      new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName: 'RunningTaskCount',
        dimensionsMap: { ClusterName: service.cluster.clusterName, ServiceName: service.serviceName },
        period: Duration.minutes(1),
        statistic: 'Minimum',
      }),
      conductorDown,
    );
    this.alarm(
      'ConductorUnhealthy',
      'The conductor fails its /healthz check behind the internal load balancer: workers cannot check in.',
      targetGroup.metrics.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }),
      conductorDown,
    );
  }

  private alarm(
    name: string,
    description: string,
    metric: cloudwatch.IMetric,
    options: Omit<cloudwatch.AlarmProps, 'metric'>,
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, name, { ...options, metric, alarmDescription: description });
    const action = new SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    return alarm;
  }
}
