import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { BatonBuckets } from '../constructs/baton-buckets';
import { BatonSecrets } from '../constructs/baton-secrets';
import type { StageConfig } from '../stage-config';

export interface DataStackProps extends StackProps {
  readonly config: StageConfig;
}

/**
 * The stage's state: its buckets and secrets, all retained. Kept apart from everything that can
 * be rebuilt at will, so that replacing or even deleting the service stack never touches data.
 */
export class DataStack extends Stack {
  readonly buckets: BatonBuckets;
  readonly secrets: BatonSecrets;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    this.buckets = new BatonBuckets(this, 'Buckets', { expiryDays: props.config.expiryDays });
    this.secrets = new BatonSecrets(this, 'Secrets', { stage: props.config.stage });

    // What an operator looks up after a deployment (README: "After the first deployment").
    new CfnOutput(this, 'MailgunApiKeySecretArn', {
      value: this.secrets.mailgunApiKey.secretArn,
      description: 'Put the Mailgun API key here',
    });
    new CfnOutput(this, 'MailgunWebhookSigningKeySecretArn', {
      value: this.secrets.mailgunWebhookSigningKey.secretArn,
      description: "Put Mailgun's HTTP webhook signing key here",
    });
    new CfnOutput(this, 'ApiTokenSecretArn', {
      value: this.secrets.apiToken.secretArn,
      description: 'Bearer token of the console and the campaign API',
    });
    new CfnOutput(this, 'CampaignsBucketName', { value: this.buckets.campaigns.bucketName });
  }
}
