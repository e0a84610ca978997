import { Duration } from 'aws-cdk-lib';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { KEY_PATTERNS, STUBS_PREFIX } from '../key-patterns';
import { failureQueue } from './queues';
import { ServiceFunction, type FunctionBasics } from './service-function';
import { useSecretArn } from './wiring';

export interface RendererProps {
  readonly basics: FunctionBasics;
  readonly unsubscribeSecret: secretsmanager.ISecret;
  /** The address unsubscribe links point at. */
  readonly publicUrl: string;
}

/**
 * The renderer, started by the stubs bucket for each new stub.
 *
 * The notification is on the stubs bucket, for keys under `stubs/` only, and the renderer writes
 * to the other bucket: its own output can never start it again. S3 invokes asynchronously;
 * rendering is idempotent, so the default two retries are safe, and what still fails lands in
 * an on-failure queue (the conductor also re-drives stubs that never got rendered).
 */
export class Renderer extends Construct {
  readonly function: ServiceFunction;
  readonly failedRendering: sqs.Queue;

  constructor(scope: Construct, id: string, props: RendererProps) {
    super(scope, id);
    this.failedRendering = failureQueue(this, 'FailedRendering');
    this.function = new ServiceFunction(this, 'Function', {
      ...props.basics,
      entry: props.basics.sources.rendererEntry,
      description: 'Baton renderer: stub -> subject, html and text',
      timeout: Duration.minutes(1),
      // MJML compiles faster with more CPU, which Lambda scales with memory.
      memorySize: 1024,
      retryAttempts: 2,
      onFailure: new SqsDestination(this.failedRendering),
      environment: { BATON_PUBLIC_URL: props.publicUrl },
      bucketAccess: {
        campaigns: { read: [KEY_PATTERNS.campaignFiles], write: [KEY_PATTERNS.outcomes] },
        stubs: { read: [KEY_PATTERNS.stubs] },
        rendered: { write: [KEY_PATTERNS.rendered] },
      },
    });
    useSecretArn(this.function, 'BATON_UNSUBSCRIBE_SECRET_ARN', props.unsubscribeSecret);

    // The bucket lives in the stateful stack. Subscribing through the bucket itself would put the
    // notification there, referring to this function while the function refers to the bucket: a
    // cycle between the stacks. Through a reference, the notification lives here, one-way.
    const stubs = s3.Bucket.fromBucketAttributes(this, 'StubsBucket', {
      bucketArn: props.basics.buckets.stubs.bucketArn,
      bucketName: props.basics.buckets.stubs.bucketName,
    });
    stubs.addEventNotification(s3.EventType.OBJECT_CREATED, new LambdaDestination(this.function), { prefix: STUBS_PREFIX });
  }
}
