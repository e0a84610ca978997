import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { PermanentError, RetryableError, type CampaignRequestedMessage, type CampaignTopic } from '@baton/shared';
import { classifyAwsError, describeAwsError } from '@baton/shared/aws-errors';

export interface SnsCampaignTopicOptions {
  topicArn: string;
}

/**
 * "Campaign requested" on SNS, for the stubber. The body is the message's JSON (ids only, far
 * under SNS's 256 KiB); the ids are repeated as message attributes so a subscription can filter
 * on them without parsing the body.
 *
 * A publish is safe to repeat (the stubber is idempotent), so every throttling or transport
 * failure is `RetryableError`, even a timeout after the request went out:
 * - Throttled, ThrottlingException, 429                    → RetryableError SNS_THROTTLED
 * - 5xx, timeouts, refused or reset connections            → RetryableError SNS_UNAVAILABLE
 * - AuthorizationError, bad credentials, a KMS key refused → PermanentError SNS_ACCESS_DENIED
 * - NotFound (no such topic), any other 4xx               → PermanentError SNS_PUBLISH_REJECTED
 * The SDK error is kept as `cause`; an error from neither SNS nor the network is rethrown as is.
 */
export class SnsCampaignTopic implements CampaignTopic {
  constructor(
    private readonly client: SNSClient,
    private readonly options: SnsCampaignTopicOptions,
  ) {}

  async publish(message: CampaignRequestedMessage): Promise<void> {
    const command = new PublishCommand({
      TopicArn: this.options.topicArn,
      Message: JSON.stringify(message),
      MessageAttributes: {
        type: { DataType: 'String', StringValue: message.type },
        customerId: { DataType: 'String', StringValue: message.customerId },
        campaignId: { DataType: 'String', StringValue: message.campaignId },
      },
    });
    try {
      await this.client.send(command);
    } catch (err) {
      throw translateSnsError(err, this.options.topicArn, message);
    }
  }
}

/** KMS refusals arrive as their own 400 codes: they are the topic's key policy, not the request. */
const KMS_REFUSED = /^KMS(AccessDenied|Disabled|InvalidState|NotFound|OptInRequired)/;

function translateSnsError(err: unknown, topicArn: string, message: CampaignRequestedMessage): unknown {
  const what = `SNS Publish ${topicArn} (campaign ${message.customerId}/${message.campaignId}): ${describeAwsError(err)}`;
  const name = (err as { name?: unknown } | null)?.name;
  if (typeof name === 'string' && KMS_REFUSED.test(name)) return new PermanentError('SNS_ACCESS_DENIED', what, { cause: err });
  switch (classifyAwsError(err)) {
    case 'throttled':
      return new RetryableError('SNS_THROTTLED', what, { cause: err });
    case 'unavailable':
    case 'unreachable':
    case 'timeout':
      return new RetryableError('SNS_UNAVAILABLE', what, { cause: err });
    case 'access-denied':
      return new PermanentError('SNS_ACCESS_DENIED', what, { cause: err });
    case 'not-found':
    case 'rejected':
      return new PermanentError('SNS_PUBLISH_REJECTED', what, { cause: err });
    case undefined:
      return err;
  }
}
