import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/**
 * A queue that only collects what could not be delivered or processed, for an operator to look
 * at (each one has an alarm). Kept for SQS's maximum of 14 days; encrypted and TLS-only like
 * everything else, since a message names campaigns and recipients.
 */
export function failureQueue(scope: Construct, id: string): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
}
