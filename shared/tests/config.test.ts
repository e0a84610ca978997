import { loadConfig, isAllowedRecipient, sendingDomains } from '../src/config';
import { ConfigError } from '../src/errors';

const API_TOKEN = 'api-token-0123456789abcdef';
const LEASE_TOKEN = 'lease-token-0123456789abcdef';
const UNSUBSCRIBE_SECRET = 'unsubscribe-secret-0123456789';

/** Runs loadConfig and returns the ConfigError it throws (fails the test if it does not throw one). */
function configErrorFor(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('loads the documented defaults from an empty environment', () => {
    // Act
    const config = loadConfig({});

    // Assess
    expect(config).toEqual({
      BATON_STAGE: 'dev',
      BATON_RETENTION_HOURS: 168,
      PER_MINUTE_MAX: 6000,
      GOVERNOR_WINDOW_MS: 60000,
      GOVERNOR_SIGMA: 2,
      GOVERNOR_MARGIN_MS: 150,
      GOVERNOR_SLICE_MS: 200,
      LEASE_HORIZON_MS: 5000,
      SENDING_DOMAINS: undefined,
      DAILY_LIMITS: undefined,
      SETTLE_AFTER_MS: 900_000,
      CUSTOMER_WEIGHTS: undefined,
      CUSTOMER_PER_MINUTE_MAX: undefined,
      MAX_WORKERS: 4,
      BATCH_SIZE: 1000,
      TICK_MS: 1000,
      WORKER_TIME_BUDGET_MS: 120000,
      MAILGUN_URL: undefined,
      MAILGUN_DOMAIN: 'mg.example.com',
      MAILGUN_API_KEY: undefined,
      MAILGUN_WEBHOOK_SIGNING_KEY: undefined,
      MAILGUN_WEBHOOK_MAX_AGE_MS: 600000,
      UPLOAD_BYTES_PER_SECOND: 20000000,
      EXPENSIVE_REQUESTS_AT_ONCE: 4,
      QA_ALLOWED_RECIPIENTS: undefined,
      PORT: 8080,
      BATON_DATA_DIR: '.baton',
      BATON_PUBLIC_URL: undefined,
      BATON_API_TOKEN: undefined,
      BATON_LEASE_TOKEN: undefined,
      LOG_LEVEL: 'info',
    });
  });

  it('refuses governor tuning that cannot pace, naming each variable', () => {
    // Act
    const error = configErrorFor({
      GOVERNOR_WINDOW_MS: '1000',
      GOVERNOR_SLICE_MS: '500',
      GOVERNOR_MARGIN_MS: '300',
      LEASE_HORIZON_MS: '100',
    });
    // Assess
    expect(error.issues).toEqual([
      {
        where: 'GOVERNOR_SLICE_MS',
        message: 'must be at most a quarter of GOVERNOR_WINDOW_MS (1000) so sending is paced within the window (got 500)',
      },
      { where: 'GOVERNOR_MARGIN_MS', message: 'must be at most a quarter of GOVERNOR_WINDOW_MS (1000) (got 300)' },
    ]);
    expect(configErrorFor({ GOVERNOR_SLICE_MS: '400', LEASE_HORIZON_MS: '300' }).issues).toEqual([
      { where: 'LEASE_HORIZON_MS', message: 'must be at least GOVERNOR_SLICE_MS (400)' },
    ]);
  });

  it('reads sending domains, customer weights and caps as name=number lists', () => {
    // Act
    const config = loadConfig({
      SENDING_DOMAINS: 'mg.acme.com=6000, News.Acme.com=1200',
      CUSTOMER_WEIGHTS: 'acme=2,globex=0.5',
      CUSTOMER_PER_MINUTE_MAX: 'acme=3000',
    });
    // Assess
    expect(sendingDomains(config)).toEqual([
      { domain: 'mg.acme.com', perWindowMax: 6000 },
      { domain: 'news.acme.com', perWindowMax: 1200 },
    ]);
    expect(config.CUSTOMER_WEIGHTS).toEqual({ acme: 2, globex: 0.5 });
    expect(config.CUSTOMER_PER_MINUTE_MAX).toEqual({ acme: 3000 });
    expect(sendingDomains(loadConfig({ MAILGUN_DOMAIN: 'mg.solo.com', PER_MINUTE_MAX: '300' }))).toEqual([
      { domain: 'mg.solo.com', perWindowMax: 300 },
    ]);
  });

  it('reads daily limits and warm-ups per sending domain as JSON', () => {
    // Act
    const config = loadConfig({
      SENDING_DOMAINS: 'mg.acme.com=6000,news.acme.com=1200',
      DAILY_LIMITS:
        '{"News.Acme.com": {"perDay": 200000, "timeZone": "Europe/Berlin", "warmUp": {"from": "2026-12-01", "start": 200, "factor": 1.5}}}',
    });
    // Assess
    expect(sendingDomains(config)).toEqual([
      { domain: 'mg.acme.com', perWindowMax: 6000 },
      {
        domain: 'news.acme.com',
        perWindowMax: 1200,
        daily: { perDay: 200000, timeZone: 'Europe/Berlin', warmUp: { from: '2026-12-01', start: 200, factor: 1.5 } },
      },
    ]);
  });

  it('reads a monthly limit with the daily ones, alone or beside a daily limit, and names a bad one', () => {
    const config = loadConfig({ DAILY_LIMITS: '{"mg.example.com": {"perDay": 10000, "perMonth": 200000, "timeZone": "UTC"}}' });
    expect(sendingDomains(config)[0]!.daily).toEqual({ perDay: 10000, perMonth: 200000, timeZone: 'UTC' });
    expect(sendingDomains(loadConfig({ DAILY_LIMITS: '{"mg.example.com": {"perMonth": 5}}' }))[0]!.daily).toEqual({ perMonth: 5 });
    expect(configErrorFor({ DAILY_LIMITS: '{"mg.example.com": {"perMonth": 0}}' }).issues[0]!.message).toMatch(
      /^mg\.example\.com\.perMonth: /,
    );
  });

  it('refuses a daily limit for a domain it does not send through', () => {
    // Act
    const error = configErrorFor({ DAILY_LIMITS: '{"other.example.com": {"perDay": 10}}' });
    // Assess
    expect(error.issues).toEqual([{ where: 'DAILY_LIMITS', message: 'other.example.com is not a sending domain (mg.example.com)' }]);
  });

  it('returns a frozen object', () => {
    // Act
    const config = loadConfig({});

    // Assess
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('treats an empty variable as unset', () => {
    // Act
    const config = loadConfig({ PER_MINUTE_MAX: '', BATON_STAGE: '' });

    // Assess
    expect(config.PER_MINUTE_MAX).toBe(6000);
    expect(config.BATON_STAGE).toBe('dev');
  });

  it('converts numbers and strips trailing slashes from URLs', () => {
    // Act
    const config = loadConfig({
      PER_MINUTE_MAX: '120',
      GOVERNOR_SIGMA: '1.5',
      MAILGUN_URL: 'http://localhost:8025//',
      MAILGUN_API_KEY: 'key-1',
      BATON_PUBLIC_URL: 'https://baton.example.com/',
    });

    // Assess
    expect(config.PER_MINUTE_MAX).toBe(120);
    expect(config.GOVERNOR_SIGMA).toBe(1.5);
    expect(config.MAILGUN_URL).toBe('http://localhost:8025');
    expect(config.BATON_PUBLIC_URL).toBe('https://baton.example.com');
  });

  it.each([
    ['BATON_STAGE', 'staging', 'must be one of dev, qa, prod'],
    ['PER_MINUTE_MAX', 'lots', 'must be a whole number from 1 to 1000000'],
    ['PER_MINUTE_MAX', '0', 'must be at least 1'],
    ['GOVERNOR_WINDOW_MS', '1.5', 'must be a whole number from 1000 to 3600000'],
    ['GOVERNOR_SIGMA', '11', 'must be at most 10'],
    ['GOVERNOR_MARGIN_MS', '-5', 'must be a whole number from 0 to 60000'],
    ['MAX_WORKERS', '1001', 'must be at most 1000'],
    ['BATCH_SIZE', '1e3', 'must be a whole number from 1 to 100000'],
    ['TICK_MS', '5', 'must be at least 10'],
    ['WORKER_TIME_BUDGET_MS', '999', 'must be at least 1000'],
    ['MAILGUN_URL', 'ftp://mail.example.com', 'must be an http(s) URL'],
    ['MAILGUN_DOMAIN', 'localhost', 'must be a domain name'],
    ['QA_ALLOWED_RECIPIENTS', 'alice', 'entries must be addresses (a@example.com) or domains (@example.com)'],
    ['PORT', '65536', 'must be at most 65535'],
    ['BATON_PUBLIC_URL', 'baton.example.com', 'must be an http(s) URL'],
    ['LOG_LEVEL', 'verbose', 'must be one of fatal, error, warn, info, debug, trace, silent'],
    ['UPLOAD_BYTES_PER_SECOND', '20MB', 'must be a whole number from 0 to 10000000000'],
    ['EXPENSIVE_REQUESTS_AT_ONCE', '0', 'must be at least 1'],
    ['GOVERNOR_SLICE_MS', '5', 'must be at least 10'],
    [
      'SENDING_DOMAINS',
      'mg.example.com:6000',
      'entries must be domain=number (1 to 1000000), comma-separated; "mg.example.com:6000" is not',
    ],
    ['SENDING_DOMAINS', 'mg.example.com=10,MG.example.com=20', 'mg.example.com is listed twice'],
    ['DAILY_LIMITS', '{"mg.example.com": 5}', 'mg.example.com: '],
    ['DAILY_LIMITS', 'perDay=5', 'must be JSON: {"mg.example.com": {"perDay": 100000}}'],
    ['DAILY_LIMITS', '{"mg.example.com": {}}', 'mg.example.com: give perDay, warmUp, perMonth or several'],
    [
      'DAILY_LIMITS',
      '{"mg.example.com": {"perDay": 10, "timeZone": "Europe/Paris-ish"}}',
      'mg.example.com.timeZone: must be an IANA time zone',
    ],
    ['CUSTOMER_WEIGHTS', 'acme=0', 'entries must be customer=number (0.01 to 1000), comma-separated; "acme=0" is not'],
    ['CUSTOMER_PER_MINUTE_MAX', 'Acme Corp=10', 'entries must be customer=number (1 to 1000000), comma-separated; "Acme Corp=10" is not'],
  ])('names %s and what was expected when it is %j', (name, value, expected) => {
    // Act
    const error = configErrorFor({ [name]: value });

    // Assess
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues).toEqual([{ where: name, message: expect.stringContaining(expected) }]);
    expect(error.issues[0]!.message.endsWith(`(got ${JSON.stringify(value)})`)).toBe(true);
    expect(error.message).toContain(`  ${name}: ${expected}`);
  });

  it('reports every bad variable at once, one line each', () => {
    // Act
    const error = configErrorFor({ PER_MINUTE_MAX: 'x', PORT: 'y', LOG_LEVEL: 'z' });

    // Assess
    expect(error.issues.map((i) => i.where)).toEqual(['PER_MINUTE_MAX', 'PORT', 'LOG_LEVEL']);
    const lines = error.message.split('\n');
    expect(lines[0]).toBe('invalid configuration:');
    expect(lines.slice(1)).toEqual([
      '  PER_MINUTE_MAX: must be a whole number from 1 to 1000000 (got "x")',
      '  PORT: must be a whole number from 0 to 65535 (got "y")',
      '  LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "z")',
    ]);
  });

  describe('stage rules', () => {
    it('refuses qa without QA_ALLOWED_RECIPIENTS, naming it', () => {
      // Act
      const error = configErrorFor({
        BATON_STAGE: 'qa',
        BATON_API_TOKEN: API_TOKEN,
        BATON_LEASE_TOKEN: LEASE_TOKEN,
        BATON_UNSUBSCRIBE_SECRET: UNSUBSCRIBE_SECRET,
      });

      // Assess
      expect(error.issues).toEqual([
        { where: 'QA_ALLOWED_RECIPIENTS', message: expect.stringContaining('is required when BATON_STAGE=qa') },
      ]);
    });

    it('accepts qa with an allow-list and both tokens', () => {
      // Act
      const config = loadConfig({
        BATON_STAGE: 'qa',
        QA_ALLOWED_RECIPIENTS: '@example.com',
        BATON_API_TOKEN: API_TOKEN,
        BATON_LEASE_TOKEN: LEASE_TOKEN,
        BATON_UNSUBSCRIBE_SECRET: UNSUBSCRIBE_SECRET,
      });

      // Assess
      expect(config.BATON_STAGE).toBe('qa');
      expect(config.QA_ALLOWED_RECIPIENTS).toEqual(['@example.com']);
    });

    it.each(['qa', 'prod'])('requires both tokens in %s', (stage) => {
      // Act
      const error = configErrorFor({ BATON_STAGE: stage, QA_ALLOWED_RECIPIENTS: '@example.com' });

      // Assess
      expect(error.issues).toEqual([
        { where: 'BATON_API_TOKEN', message: `is required when BATON_STAGE=${stage}` },
        { where: 'BATON_LEASE_TOKEN', message: `is required when BATON_STAGE=${stage}` },
        { where: 'BATON_UNSUBSCRIBE_SECRET', message: `is required when BATON_STAGE=${stage}` },
      ]);
    });

    it('requires the lease token in prod even when the api token is set', () => {
      // Act
      const error = configErrorFor({ BATON_STAGE: 'prod', BATON_API_TOKEN: API_TOKEN, BATON_UNSUBSCRIBE_SECRET: UNSUBSCRIBE_SECRET });

      // Assess
      expect(error.issues.map((i) => i.where)).toEqual(['BATON_LEASE_TOKEN']);
    });

    it('runs dev without tokens', () => {
      // Act
      const config = loadConfig({ BATON_STAGE: 'dev' });

      // Assess
      expect(config.BATON_API_TOKEN).toBeUndefined();
    });

    it('reports a bad token once, not also as missing', () => {
      // Act
      const error = configErrorFor({
        BATON_STAGE: 'prod',
        BATON_API_TOKEN: 'short',
        BATON_LEASE_TOKEN: LEASE_TOKEN,
        BATON_UNSUBSCRIBE_SECRET: UNSUBSCRIBE_SECRET,
      });

      // Assess
      expect(error.issues).toEqual([{ where: 'BATON_API_TOKEN', message: 'must be at least 16 characters (got "…")' }]);
    });
  });

  it('refuses the same value for both tokens', () => {
    // Act
    const error = configErrorFor({ BATON_API_TOKEN: API_TOKEN, BATON_LEASE_TOKEN: API_TOKEN });

    // Assess
    expect(error.issues).toEqual([{ where: 'BATON_LEASE_TOKEN', message: expect.stringContaining('must differ from BATON_API_TOKEN') }]);
  });

  it('requires MAILGUN_API_KEY when MAILGUN_URL is set', () => {
    // Act
    const error = configErrorFor({ MAILGUN_URL: 'https://api.eu.mailgun.net' });

    // Assess
    expect(error.issues).toEqual([{ where: 'MAILGUN_API_KEY', message: 'is required when MAILGUN_URL is set' }]);
  });

  it('never echoes a secret in the error', () => {
    // Prepare
    const shortToken = 'tiny-secret-1';
    const sameToken = 'shared-secret-value-123456';

    // Act
    const tooShort = configErrorFor({ BATON_API_TOKEN: shortToken, BATON_LEASE_TOKEN: shortToken.toUpperCase() });
    const same = configErrorFor({
      BATON_API_TOKEN: sameToken,
      BATON_LEASE_TOKEN: sameToken,
      MAILGUN_URL: 'https://x.example.com',
      PORT: 'bad',
    });

    // Assess
    for (const error of [tooShort, same]) {
      const everything = `${error.message}\n${JSON.stringify(error.issues)}`;
      expect(everything).not.toContain(shortToken);
      expect(everything).not.toContain(shortToken.toUpperCase());
      expect(everything).not.toContain(sameToken);
    }
    expect(tooShort.issues.map((i) => i.where)).toEqual(['BATON_API_TOKEN', 'BATON_LEASE_TOKEN']);
  });
});

describe('QA allow-list', () => {
  it('parses a comma-separated list, trimming, lower-casing and dropping empty entries', () => {
    // Act
    const config = loadConfig({ QA_ALLOWED_RECIPIENTS: ' Alice@Example.com, ,@QA.Example.org ,' });

    // Assess
    expect(config.QA_ALLOWED_RECIPIENTS).toEqual(['alice@example.com', '@qa.example.org']);
  });

  it.each([['bob'], ['@nodot'], ['a@b@c.com'], ['a b@c.com']])('refuses the entry %j', (entry) => {
    // Act
    const error = configErrorFor({ QA_ALLOWED_RECIPIENTS: `ok@example.com,${entry}` });

    // Assess
    expect(error.issues.map((i) => i.where)).toEqual(['QA_ALLOWED_RECIPIENTS']);
  });

  describe('isAllowedRecipient', () => {
    const allowList = loadConfig({ QA_ALLOWED_RECIPIENTS: 'alice@example.com,@qa.example.org' }).QA_ALLOWED_RECIPIENTS!;

    it.each([
      ['an exact address', 'alice@example.com'],
      ['an exact address in another case, with spaces', '  ALICE@Example.COM '],
      ['any address at an allowed domain', 'anyone@qa.example.org'],
      ['an address at an allowed domain written in upper case', 'Someone@QA.EXAMPLE.ORG'],
    ])('allows %s', (_what, address) => {
      // Act
      const result = isAllowedRecipient(allowList, address);

      // Assess
      expect(result).toBe(true);
    });

    it.each([
      ['another address at an exact entry’s domain', 'bob@example.com'],
      ['a subdomain of an allowed domain', 'x@sub.qa.example.org'],
      ['a domain that merely ends the same', 'x@evilqa.example.org'],
      ['an address hiding the domain in its local part', 'qa.example.org@evil.com'],
      ['a bare domain', '@qa.example.org'],
      ['something that is not an address', 'alice'],
      ['a list smuggling a real address before an allowed one', 'real@victim.com,qa@qa.example.org'],
      ['a display-name form', 'Real <real@victim.com> qa@qa.example.org'],
      ['two at-signs', 'real@victim.com@qa.example.org'],
    ])('refuses %s', (_what, address) => {
      // Act
      const result = isAllowedRecipient(allowList, address);

      // Assess
      expect(result).toBe(false);
    });

    it('allows nobody with an empty list', () => {
      // Act
      const result = isAllowedRecipient([], 'alice@example.com');

      // Assess
      expect(result).toBe(false);
    });
  });
});

describe('loadConfig: the one-machine store and its retention', () => {
  it('takes BATON_STORE and BATON_RETENTION_HOURS, and names a bad value', () => {
    // Act
    const config = loadConfig({ BATON_STORE: 'fs', BATON_RETENTION_HOURS: '0' });
    const bad = (() => {
      try {
        loadConfig({ BATON_STORE: 'sqlite', BATON_RETENTION_HOURS: '-1' });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();

    // Assess
    expect(config).toMatchObject({ BATON_STORE: 'fs', BATON_RETENTION_HOURS: 0 });
    expect(bad).toMatch(/BATON_STORE.*lmdb or fs/);
    expect(bad).toMatch(/BATON_RETENTION_HOURS/);
  });
});
