import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { OVERRIDE_KEYS, StageConfigError, resolveStageConfig, tuningEnvironment } from '../src/stage-config';

function problemsOf(act: () => unknown): readonly string[] {
  try {
    act();
  } catch (err) {
    if (err instanceof StageConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a StageConfigError');
}

describe('stage configuration', () => {
  it('refuses qa without an allow-list, saying how to give one', () => {
    // Act
    const problems = problemsOf(() => resolveStageConfig('qa', {}));

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^qaAllowedRecipients: is required for the qa stage/)]);
    expect(problems[0]).toContain('-c qaAllowedRecipients=');
    expect(problems[0]).toContain('QA_ALLOWED_RECIPIENTS');
  });

  it('gives prod working defaults with no context beyond the stage', () => {
    // Act
    const config = resolveStageConfig('prod', {});

    // Assess
    expect(config).toMatchObject({
      stage: 'prod',
      terminationProtection: true,
      logRetention: RetentionDays.SIX_MONTHS,
      console: { expose: false },
      tuning: { PER_MINUTE_MAX: 6000, MAX_WORKERS: 8, GOVERNOR_WINDOW_MS: 60_000, MAILGUN_URL: 'https://api.mailgun.net' },
    });
    expect(config.tuning.QA_ALLOWED_RECIPIENTS).toBeUndefined();
  });

  it('refuses a stage other than qa or prod, and a missing one', () => {
    expect(problemsOf(() => resolveStageConfig('dev'))).toEqual(['stage: must be one of qa, prod (got "dev")']);
    expect(problemsOf(() => resolveStageConfig(undefined))[0]).toContain('-c stage=qa');
  });

  it('applies context overrides, given as strings or JSON values, to the tuning', () => {
    // Act
    const config = resolveStageConfig('prod', {
      perMinuteMax: '1200',
      maxWorkers: 12,
      governorSliceMs: '250',
      governorSigma: '1.5',
      sendingDomains: 'mg.example.com=1200, news.example.com=300',
      mailgunUrl: 'https://api.eu.mailgun.net/',
    });

    // Assess
    expect(config.tuning).toMatchObject({
      PER_MINUTE_MAX: 1200,
      MAX_WORKERS: 12,
      GOVERNOR_SLICE_MS: 250,
      GOVERNOR_SIGMA: 1.5,
      SENDING_DOMAINS: 'mg.example.com=1200,news.example.com=300',
      MAILGUN_URL: 'https://api.eu.mailgun.net',
    });
  });

  it('reports every bad value at once, each with its context key and what was given', () => {
    // Act
    const problems = problemsOf(() =>
      resolveStageConfig('qa', {
        qaAllowedRecipients: 'not an address',
        perMinuteMax: '-5',
        mailgunUrl: 'http://api.mailgun.net',
        maxWorkrs: '3',
      }),
    );

    // Assess
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^maxWorkrs: is not a setting/),
        'perMinuteMax: must be a whole number from 1 to 1000000 (got "-5")',
        'mailgunUrl: must be an https URL without query or fragment (got "http://api.mailgun.net")',
        expect.stringMatching(/^qaAllowedRecipients: must be addresses/),
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('refuses a worker time budget that would not fit in a Lambda run', () => {
    expect(problemsOf(() => resolveStageConfig('prod', { workerTimeBudgetMs: '900000' }))).toEqual([
      'workerTimeBudgetMs: must be a whole number from 1000 to 870000 (got "900000")',
    ]);
  });

  it('refuses at synth the tuning the conductor would refuse at start, naming the context key', () => {
    expect(problemsOf(() => resolveStageConfig('prod', { governorMarginMs: '20000' }))).toEqual([
      'governorMarginMs (GOVERNOR_MARGIN_MS): must be at most a quarter of GOVERNOR_WINDOW_MS (60000) (got 20000)',
    ]);
    expect(problemsOf(() => resolveStageConfig('prod', { governorSliceMs: '1000', leaseHorizonMs: '500' }))).toEqual([
      'leaseHorizonMs (LEASE_HORIZON_MS): must be at least GOVERNOR_SLICE_MS (1000)',
    ]);
    expect(problemsOf(() => resolveStageConfig('prod', { customerWeights: 'acme=5000' }))).toEqual([
      expect.stringMatching(/^customerWeights \(CUSTOMER_WEIGHTS\): entries must be customer=number \(0\.01 to 1000\)/),
    ]);
  });

  it('exposes the console only over HTTPS: a certificate is required', () => {
    expect(problemsOf(() => resolveStageConfig('prod', { exposeConsole: 'true' }))).toEqual([
      'certificateArn: is required with exposeConsole=true (the console is exposed over HTTPS only)',
    ]);
  });

  it('turns the tuning into environment variables, leaving unset ones to the service', () => {
    // Prepare
    const { tuning } = resolveStageConfig('qa', { qaAllowedRecipients: 'qa@example.com' });

    // Act
    const env = tuningEnvironment(tuning);

    // Assess
    expect(env).toEqual({
      BATCH_SIZE: '1000',
      GOVERNOR_WINDOW_MS: '60000',
      MAILGUN_DOMAIN: 'mg.example.com',
      MAILGUN_URL: 'https://api.mailgun.net',
      MAX_WORKERS: '2',
      PER_MINUTE_MAX: '300',
      QA_ALLOWED_RECIPIENTS: 'qa@example.com',
      TICK_MS: '1000',
      WORKER_TIME_BUDGET_MS: '120000',
    });
  });

  it('offers an override for each tuning variable the issue names', () => {
    expect(OVERRIDE_KEYS).toEqual(
      expect.arrayContaining([
        'perMinuteMax',
        'governorWindowMs',
        'maxWorkers',
        'batchSize',
        'tickMs',
        'workerTimeBudgetMs',
        'governorMarginMs',
        'governorSliceMs',
        'governorSigma',
        'mailgunDomain',
        'mailgunUrl',
        'qaAllowedRecipients',
        'sendingDomains',
        'leaseHorizonMs',
        'customerWeights',
        'customerPerMinuteMax',
      ]),
    );
  });
});
