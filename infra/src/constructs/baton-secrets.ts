import { RemovalPolicy, SecretValue } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface BatonSecretsProps {
  readonly stage: string;
}

/**
 * The stage's secrets. The API token, the lease token and the unsubscribe secret are generated
 * by Secrets Manager at the first deployment, so nobody ever sees or types them; the Mailgun key
 * and its webhook signing key cannot be generated and start as placeholders the operator replaces
 * (see the README).
 *
 * All are retained: the unsubscribe secret signs links in messages already sent, and a new one
 * would break them; the Mailgun key is the operator's.
 */
export class BatonSecrets extends Construct {
  /** Bearer token of the campaign API and the console. */
  readonly apiToken: secretsmanager.Secret;
  /** Bearer token of the lease API: workers only, distinct from the API token. */
  readonly leaseToken: secretsmanager.Secret;
  /** Signs unsubscribe links. */
  readonly unsubscribeSecret: secretsmanager.Secret;
  readonly mailgunApiKey: secretsmanager.Secret;
  /** Verifies Mailgun's webhooks (`POST /webhooks/mailgun`): Mailgun's, so a placeholder too. */
  readonly mailgunWebhookSigningKey: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: BatonSecretsProps) {
    super(scope, id);
    this.apiToken = this.generated('ApiToken', `Baton ${props.stage}: bearer token of the campaign API and console`);
    this.leaseToken = this.generated('LeaseToken', `Baton ${props.stage}: bearer token of the lease API (workers)`);
    this.unsubscribeSecret = this.generated(
      'UnsubscribeSecret',
      `Baton ${props.stage}: signs unsubscribe links (never rotate casually: sent links stop working)`,
    );
    this.mailgunApiKey = this.placeholder(
      'MailgunApiKey',
      `Baton ${props.stage}: Mailgun API key (set by the operator after the first deployment)`,
    );
    // Until it is replaced every webhook fails verification (401, and Mailgun retries for 8 hours).
    this.mailgunWebhookSigningKey = this.placeholder(
      'MailgunWebhookSigningKey',
      `Baton ${props.stage}: Mailgun HTTP webhook signing key (set by the operator after the first deployment)`,
    );
  }

  private placeholder(id: string, description: string): secretsmanager.Secret {
    return new secretsmanager.Secret(this, id, {
      description,
      // Not a secret: a marker that says what to do. CloudFormation writes it only when the
      // template's value changes, so a redeploy never overwrites the key the operator put.
      secretStringValue: SecretValue.unsafePlainText(
        'REPLACE-ME: aws secretsmanager put-secret-value --secret-id <this ARN> --secret-string <key>',
      ),
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  private generated(id: string, description: string): secretsmanager.Secret {
    return new secretsmanager.Secret(this, id, {
      description,
      // Letters and digits only: the values travel in HTTP headers and environment variables.
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
