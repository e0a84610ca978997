import {
  AuthorizationErrorException,
  KMSDisabledException,
  NotFoundException,
  PublishCommand,
  SNSClient,
  SNSServiceException,
  ThrottledException,
} from '@aws-sdk/client-sns';
import { PermanentError, RetryableError, type CampaignRequestedMessage } from '@baton/shared';
import { mockClient } from 'aws-sdk-client-mock';
import { SnsCampaignTopic } from '../../src/adapters/sns-campaign-topic';

const sns = mockClient(SNSClient);
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:baton-qa-campaign-requested';
const message: CampaignRequestedMessage = {
  version: 1,
  type: 'campaign.requested',
  customerId: 'acme',
  campaignId: 'c-lz0abc-0123456789',
  requestedAt: '2025-06-01T10:00:00.000Z',
};

let topic: SnsCampaignTopic;

beforeEach(() => {
  sns.reset();
  topic = new SnsCampaignTopic(new SNSClient({ region: 'eu-west-1' }), { topicArn: TOPIC });
});

describe('SnsCampaignTopic.publish', () => {
  it('publishes the message as JSON to the topic, with the ids as message attributes', async () => {
    // Prepare
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });

    // Act
    await topic.publish(message);

    // Assess
    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.TopicArn).toBe(TOPIC);
    expect(JSON.parse(input.Message!)).toEqual(message);
    expect(input.MessageAttributes).toEqual({
      type: { DataType: 'String', StringValue: 'campaign.requested' },
      customerId: { DataType: 'String', StringValue: 'acme' },
      campaignId: { DataType: 'String', StringValue: 'c-lz0abc-0123456789' },
    });
  });

  it('turns SNS throttling into a retryable error that keeps the cause', async () => {
    // Prepare
    const cause = new ThrottledException({ $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' });
    sns.on(PublishCommand).rejects(cause);

    // Act
    const error = await topic.publish(message).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'SNS_THROTTLED', cause });
    expect((error as Error).message).toContain(TOPIC);
  });

  it.each([
    [
      'a 429',
      new SNSServiceException({ name: 'TooManyRequests', $fault: 'client', $metadata: { httpStatusCode: 429 }, message: 'slow down' }),
      'SNS_THROTTLED',
    ],
    [
      'a 503',
      new SNSServiceException({ name: 'ServiceUnavailable', $fault: 'server', $metadata: { httpStatusCode: 503 }, message: 'unavailable' }),
      'SNS_UNAVAILABLE',
    ],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'SNS_UNAVAILABLE'],
    [
      'a timeout after sending (the stubber is idempotent)',
      Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' }),
      'SNS_UNAVAILABLE',
    ],
  ])('turns %s into a retryable error', async (_what, cause, code) => {
    // Prepare
    sns.on(PublishCommand).rejects(cause);

    // Act
    const publishing = topic.publish(message);

    // Assess
    await expect(publishing).rejects.toBeInstanceOf(RetryableError);
    await expect(publishing).rejects.toMatchObject({ code, cause });
  });

  it.each([
    [
      'a refused authorisation',
      new AuthorizationErrorException({ $metadata: { httpStatusCode: 403 }, message: 'not authorized' }),
      'SNS_ACCESS_DENIED',
    ],
    [
      'a disabled KMS key on the topic',
      new KMSDisabledException({ $metadata: { httpStatusCode: 400 }, message: 'disabled' }),
      'SNS_ACCESS_DENIED',
    ],
    [
      'a missing topic',
      new NotFoundException({ $metadata: { httpStatusCode: 404 }, message: 'Topic does not exist' }),
      'SNS_PUBLISH_REJECTED',
    ],
    [
      'an invalid parameter',
      new SNSServiceException({ name: 'InvalidParameterException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'bad' }),
      'SNS_PUBLISH_REJECTED',
    ],
  ])('turns %s into a permanent error', async (_what, cause, code) => {
    // Prepare
    sns.on(PublishCommand).rejects(cause);

    // Act
    const publishing = topic.publish(message);

    // Assess
    await expect(publishing).rejects.toBeInstanceOf(PermanentError);
    await expect(publishing).rejects.toMatchObject({ code, cause });
  });

  it('rethrows an error that is neither SNS nor the network untouched', async () => {
    // Prepare
    const bug = new TypeError('x is not a function');
    sns.on(PublishCommand).rejects(bug);

    // Act
    const publishing = topic.publish(message);

    // Assess
    await expect(publishing).rejects.toBe(bug);
  });
});
