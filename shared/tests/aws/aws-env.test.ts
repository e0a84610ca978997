import { ConfigError } from '../../src/errors';
import { AWS_VARIABLE_NAMES, bucketsFromEnv, loadAwsEnv } from '../../src/aws/aws-env';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:baton/prod/mailgun-AbCdEf';

/** Every AWS variable, valid. */
const valid = {
  BATON_CAMPAIGNS_BUCKET: 'baton-prod-campaigns-1a2b3c',
  BATON_STUBS_BUCKET: 'baton-prod-stubs-1a2b3c',
  BATON_RENDERED_BUCKET: 'baton.prod.rendered',
  BATON_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:baton-prod-CampaignRequested-XYZ',
  BATON_WORKER_FUNCTION: 'arn:aws:lambda:eu-west-1:123456789012:function:baton-prod-worker:live',
  BATON_CONDUCTOR_URL: 'http://conductor.baton.internal:8080/',
  MAILGUN_API_KEY_SECRET_ARN: SECRET_ARN,
  BATON_LEASE_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:baton/prod/lease-token-XyZ123',
  BATON_UNSUBSCRIBE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:baton/prod/unsubscribe-Q1w2E3',
  BATON_API_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:baton/prod/api-token-R4t5Y6',
  BATON_DRAIN_MS: '20000',
  BATON_STAGE: 'qa',
  QA_ALLOWED_RECIPIENTS: 'qa@example.com, @QA.example.org',
  WORKER_TIME_BUDGET_MS: '300000',
  MAILGUN_URL: 'https://api.eu.mailgun.net/',
  MAILGUN_DOMAIN: 'mg.example.com',
  BATON_PUBLIC_URL: 'https://baton.example.com',
  LOG_LEVEL: 'debug',
};

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadAwsEnv', () => {
  it('returns every variable asked for, parsed, and nothing else', () => {
    // Act
    const env = loadAwsEnv(['BATON_STUBS_BUCKET', 'BATON_CONDUCTOR_URL', 'WORKER_TIME_BUDGET_MS', 'QA_ALLOWED_RECIPIENTS'], valid);

    // Assess
    expect(env).toEqual({
      BATON_STUBS_BUCKET: 'baton-prod-stubs-1a2b3c',
      BATON_CONDUCTOR_URL: 'http://conductor.baton.internal:8080',
      WORKER_TIME_BUDGET_MS: 300_000,
      QA_ALLOWED_RECIPIENTS: ['qa@example.com', '@qa.example.org'],
    });
    expect(Object.isFrozen(env)).toBe(true);
  });

  it('accepts every variable of a complete, valid environment', () => {
    // Act
    const env = loadAwsEnv(AWS_VARIABLE_NAMES, valid);

    // Assess
    expect(Object.keys(env).sort()).toEqual([...AWS_VARIABLE_NAMES].sort());
  });

  it('ignores variables that were not asked for, however wrong', () => {
    // Prepare
    const env = { BATON_STUBS_BUCKET: 'stubs-bucket', BATON_TOPIC_ARN: 'not an arn', MAILGUN_URL: 'ftp://x' };

    // Act
    const got = loadAwsEnv(['BATON_STUBS_BUCKET'], env);

    // Assess
    expect(got).toEqual({ BATON_STUBS_BUCKET: 'stubs-bucket' });
  });

  it('applies the defaults of the drain bound, the time budget and the log level', () => {
    // Act
    const env = loadAwsEnv(['BATON_DRAIN_MS', 'WORKER_TIME_BUDGET_MS', 'LOG_LEVEL', 'QA_ALLOWED_RECIPIENTS'], { LOG_LEVEL: '' });

    // Assess
    expect(env).toEqual({ BATON_DRAIN_MS: 25_000, WORKER_TIME_BUDGET_MS: 120_000, LOG_LEVEL: 'info', QA_ALLOWED_RECIPIENTS: undefined });
  });

  it('reports every missing required variable at once, one line each', () => {
    // Act
    const error = configErrorOf(() =>
      loadAwsEnv(['BATON_CAMPAIGNS_BUCKET', 'BATON_TOPIC_ARN', 'BATON_STAGE', 'MAILGUN_URL', 'MAILGUN_DOMAIN'], { BATON_TOPIC_ARN: '' }),
    );

    // Assess
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues).toEqual([
      { where: 'BATON_CAMPAIGNS_BUCKET', message: 'is required (unset)' },
      { where: 'BATON_TOPIC_ARN', message: 'is required (unset)' },
      { where: 'BATON_STAGE', message: 'is required (unset)' },
      { where: 'MAILGUN_URL', message: 'is required (unset)' },
      { where: 'MAILGUN_DOMAIN', message: 'is required (unset)' },
    ]);
    expect(error.message.split('\n')).toEqual([
      'invalid configuration:',
      '  BATON_CAMPAIGNS_BUCKET: is required (unset)',
      '  BATON_TOPIC_ARN: is required (unset)',
      '  BATON_STAGE: is required (unset)',
      '  MAILGUN_URL: is required (unset)',
      '  MAILGUN_DOMAIN: is required (unset)',
    ]);
  });

  it('says what was expected and what was got for each malformed variable', () => {
    // Prepare
    const env = {
      BATON_STUBS_BUCKET: 'Stubs_Bucket',
      BATON_TOPIC_ARN: 'arn:aws:sqs:eu-west-1:123456789012:queue',
      BATON_WORKER_FUNCTION: 'my function',
      BATON_CONDUCTOR_URL: 'conductor:8080',
      BATON_DRAIN_MS: '500000',
      BATON_STAGE: 'staging',
      LOG_LEVEL: 'loud',
    };

    // Act
    const error = configErrorOf(() =>
      loadAwsEnv(
        [
          'BATON_STUBS_BUCKET',
          'BATON_TOPIC_ARN',
          'BATON_WORKER_FUNCTION',
          'BATON_CONDUCTOR_URL',
          'BATON_DRAIN_MS',
          'BATON_STAGE',
          'LOG_LEVEL',
        ],
        env,
      ),
    );

    // Assess
    expect(error.issues).toEqual([
      {
        where: 'BATON_STUBS_BUCKET',
        message: 'must be an S3 bucket name (3-63 lower-case letters, digits, dots, dashes) (got "Stubs_Bucket")',
      },
      {
        where: 'BATON_TOPIC_ARN',
        message: 'must be an SNS topic ARN (arn:aws:sns:region:account:name) (got "arn:aws:sqs:eu-west-1:123456789012:queue")',
      },
      { where: 'BATON_WORKER_FUNCTION', message: 'must be a Lambda function name or ARN (got "my function")' },
      { where: 'BATON_CONDUCTOR_URL', message: 'must be an http(s) URL (got "conductor:8080")' },
      { where: 'BATON_DRAIN_MS', message: 'must be at most 120000 (got "500000")' },
      { where: 'BATON_STAGE', message: 'must be one of dev, qa, prod (got "staging")' },
      { where: 'LOG_LEVEL', message: 'must be one of fatal, error, warn, info, debug, trace, silent (got "loud")' },
    ]);
  });

  it('never echoes the value of a secret ARN variable, in case a secret was pasted there', () => {
    // Prepare
    const pasted = 'key-3ax6xnjp29jd6fds4gc373sgvjxteol0';

    // Act
    const error = configErrorOf(() =>
      loadAwsEnv(['MAILGUN_API_KEY_SECRET_ARN', 'BATON_LEASE_TOKEN_SECRET_ARN'], {
        MAILGUN_API_KEY_SECRET_ARN: pasted,
        BATON_LEASE_TOKEN_SECRET_ARN: 'arn:aws:s3:::bucket',
      }),
    );

    // Assess
    expect(error.message).not.toContain(pasted);
    expect(error.issues).toEqual([
      {
        where: 'MAILGUN_API_KEY_SECRET_ARN',
        message: 'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:region:account:secret:name) (got "…")',
      },
      {
        where: 'BATON_LEASE_TOKEN_SECRET_ARN',
        message: 'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:region:account:secret:name) (got "…")',
      },
    ]);
  });

  it('accepts a plain function name, and ARNs of other partitions', () => {
    // Act
    const env = loadAwsEnv(['BATON_WORKER_FUNCTION', 'BATON_TOPIC_ARN', 'BATON_API_TOKEN_SECRET_ARN'], {
      BATON_WORKER_FUNCTION: 'baton-qa-worker',
      BATON_TOPIC_ARN: 'arn:aws-cn:sns:cn-north-1:123456789012:baton',
      BATON_API_TOKEN_SECRET_ARN: 'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:api',
    });

    // Assess
    expect(env.BATON_WORKER_FUNCTION).toBe('baton-qa-worker');
  });

  it('requires the QA allow-list in qa when both are asked for (QA fails closed)', () => {
    // Act
    const error = configErrorOf(() => loadAwsEnv(['BATON_STAGE', 'QA_ALLOWED_RECIPIENTS'], { BATON_STAGE: 'qa' }));

    // Assess
    expect(error.issues).toEqual([
      { where: 'QA_ALLOWED_RECIPIENTS', message: 'is required when BATON_STAGE=qa (QA may only email allowed addresses)' },
    ]);
  });

  it('refuses an allow-list entry that is neither an address nor a domain', () => {
    // Act
    const error = configErrorOf(() =>
      loadAwsEnv(['BATON_STAGE', 'QA_ALLOWED_RECIPIENTS'], { BATON_STAGE: 'qa', QA_ALLOWED_RECIPIENTS: 'qa@example.com, everyone' }),
    );

    // Assess
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({
      where: 'QA_ALLOWED_RECIPIENTS',
      message: expect.stringContaining('entries must be addresses'),
    });
  });
});

describe('bucketsFromEnv', () => {
  it('maps the three bucket variables to the Buckets of the key schema', () => {
    // Act
    const buckets = bucketsFromEnv(valid);

    // Assess
    expect(buckets).toEqual({
      campaigns: 'baton-prod-campaigns-1a2b3c',
      stubs: 'baton-prod-stubs-1a2b3c',
      rendered: 'baton.prod.rendered',
    });
  });

  it('gives a bucket the entry point was not given a name that S3 refuses and that names the variable', () => {
    // Act
    const buckets = bucketsFromEnv({ BATON_CAMPAIGNS_BUCKET: 'campaigns-bucket', BATON_STUBS_BUCKET: 'stubs-bucket' });

    // Assess
    expect(buckets.rendered).toBe('not-configured:BATON_RENDERED_BUCKET');
  });
});
