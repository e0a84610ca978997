import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';

/**
 * Each helper here does two things in one call: it tells a service where a resource is (an
 * environment variable) and lets it use that resource (an IAM grant). Done separately, the two
 * drift apart: a variable naming a bucket the role cannot read, or a grant nobody uses.
 */

/** Something that runs with an identity and reads its settings from environment variables. */
export interface Consumer extends iam.IGrantable {
  addEnvironment(name: string, value: string): unknown;
}

/** The bucket variables every Baton entry point reads (all three, whatever it touches). */
export type BucketVariable = 'BATON_CAMPAIGNS_BUCKET' | 'BATON_STUBS_BUCKET' | 'BATON_RENDERED_BUCKET';

/**
 * What a service may do in a bucket, as key patterns (`ledger/*`; `*` spans slashes in IAM).
 * Patterns follow the key schema in shared/src/keys.ts.
 */
export interface BucketAccess {
  /** GetObject. Also grants ListBucket: without it S3 answers a missing key with 403, not 404, and "absent" reads as "denied". */
  readonly read?: readonly string[];
  /** PutObject, including conditional creates (If-None-Match). */
  readonly write?: readonly string[];
  readonly delete?: readonly string[];
  /** ListBucket without reading (counting keys). */
  readonly list?: boolean;
}

/** Only the name: the entry point needs every bucket's name, not access to it. */
export const NAME_ONLY: BucketAccess = {};

export function useBucket(consumer: Consumer, variable: BucketVariable, bucket: s3.IBucket, access: BucketAccess): void {
  consumer.addEnvironment(variable, bucket.bucketName);
  const objects = (patterns: readonly string[] | undefined) => (patterns ?? []).map((p) => bucket.arnForObjects(p));
  const read = objects(access.read);
  const write = objects(access.write);
  const remove = objects(access.delete);
  if (read.length > 0) iam.Grant.addToPrincipal({ grantee: consumer, actions: ['s3:GetObject'], resourceArns: read });
  if (write.length > 0) iam.Grant.addToPrincipal({ grantee: consumer, actions: ['s3:PutObject'], resourceArns: write });
  if (remove.length > 0) iam.Grant.addToPrincipal({ grantee: consumer, actions: ['s3:DeleteObject'], resourceArns: remove });
  if (read.length > 0 || access.list === true) {
    iam.Grant.addToPrincipal({ grantee: consumer, actions: ['s3:ListBucket'], resourceArns: [bucket.bucketArn] });
  }
}

/** The secret's ARN, for services that fetch the value themselves (Lambda), with read access. */
export function useSecretArn(consumer: Consumer, variable: `${string}_SECRET_ARN`, secret: secretsmanager.ISecret): void {
  consumer.addEnvironment(variable, secret.secretArn);
  secret.grantRead(consumer);
}

export function useTopicToPublish(consumer: Consumer, variable: string, topic: sns.ITopic): void {
  consumer.addEnvironment(variable, topic.topicArn);
  topic.grantPublish(consumer);
}

export function useFunctionToInvoke(consumer: Consumer, variable: string, fn: lambda.IFunction): void {
  consumer.addEnvironment(variable, fn.functionName);
  fn.grantInvoke(consumer);
}
