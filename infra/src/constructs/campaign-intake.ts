import { Duration } from 'aws-cdk-lib';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as sns from 'aws-cdk-lib/aws-sns';
import { LambdaSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { KEY_PATTERNS } from '../key-patterns';
import { failureQueue } from './queues';
import { ServiceFunction, type FunctionBasics } from './service-function';
import { NAME_ONLY } from './wiring';

export interface CampaignIntakeProps {
  readonly basics: FunctionBasics;
}

/**
 * "Campaign requested": the topic the conductor publishes to, and the stubber subscribed to it.
 *
 * Two ways a request can be lost, each caught in its own queue: SNS failing to hand the message
 * to Lambda (the subscription's dead-letter queue), and the stubber failing on every attempt
 * (the async invocation's on-failure destination). Stubbing is idempotent, so Lambda's two
 * default retries are safe; the conductor also republishes a campaign whose stubbing stalled.
 */
export class CampaignIntake extends Construct {
  readonly topic: sns.Topic;
  readonly stubber: ServiceFunction;
  readonly subscriptionDeadLetters: sqs.Queue;
  readonly failedStubbing: sqs.Queue;

  constructor(scope: Construct, id: string, props: CampaignIntakeProps) {
    super(scope, id);
    // Messages carry ids only (customer and campaign), so no customer key is needed; TLS is.
    this.topic = new sns.Topic(this, 'Topic', { displayName: `Baton ${props.basics.stage}: campaign requested`, enforceSSL: true });

    this.failedStubbing = failureQueue(this, 'FailedStubbing');
    this.stubber = new ServiceFunction(this, 'Stubber', {
      ...props.basics,
      entry: props.basics.sources.stubberEntry,
      description: 'Baton stubber: campaign requested -> one stub per recipient',
      // One invocation reads a whole audience and writes its stubs.
      timeout: Duration.minutes(15),
      memorySize: 2048,
      retryAttempts: 2,
      onFailure: new SqsDestination(this.failedStubbing),
      bucketAccess: {
        campaigns: {
          read: [KEY_PATTERNS.campaignFiles, KEY_PATTERNS.uploads],
          write: [KEY_PATTERNS.audienceReports, KEY_PATTERNS.audienceProgress],
        },
        stubs: { write: [KEY_PATTERNS.stubs] },
        rendered: NAME_ONLY,
      },
    });

    this.subscriptionDeadLetters = failureQueue(this, 'SubscriptionDeadLetters');
    this.topic.addSubscription(new LambdaSubscription(this.stubber, { deadLetterQueue: this.subscriptionDeadLetters }));
  }
}
