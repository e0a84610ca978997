import { ObjectExistsError } from '../src/errors';
import { createLogger, scrub, type Logger } from '../src/logger';

/** A logger writing to memory, and the lines it wrote, parsed. */
function capture(settings: { level?: string; name?: string } = {}): {
  log: Logger;
  lines: () => Record<string, unknown>[];
  raw: () => string;
} {
  const written: string[] = [];
  const log = createLogger({ ...settings, destination: { write: (line: string) => void written.push(line) } });
  return {
    log,
    raw: () => written.join(''),
    lines: () => written.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const secrets = {
  email: 'alice.smith@example.com',
  otherEmail: 'Bob+news@Mail.Example.ORG',
  html: '<p>Dear Alice, your exclusive offer</p>',
  text: 'Dear Alice, your exclusive offer',
  subject: 'Your exclusive spring offer',
  apiToken: 'api-token-0123456789abcdef',
  leaseToken: 'lease-token-0123456789abcdef',
  mailgunKey: 'key-3ax6xnjp29jd6fds4gc373sgvjxteol0',
};

describe('createLogger', () => {
  it('writes the event name and ids, and none of the addresses, bodies or secrets', () => {
    // Prepare
    const { log, raw, lines } = capture({ name: 'worker' });

    // Act
    log.info(
      {
        event: 'message.sent',
        customerId: 'acme',
        campaignId: 'c-1',
        leaseId: 'lease-42',
        recipientId: '0123456789abcdef0123456789abcdef',
        to: secrets.email,
        from: secrets.otherEmail,
        subject: secrets.subject,
        html: secrets.html,
        text: secrets.text,
        fields: { firstName: 'Alice' },
        apiKey: secrets.mailgunKey,
        token: secrets.apiToken,
        leaseToken: secrets.leaseToken,
        headers: { Authorization: `Bearer ${secrets.apiToken}` },
        config: { BATON_API_TOKEN: secrets.apiToken, BATON_LEASE_TOKEN: secrets.leaseToken, MAILGUN_API_KEY: secrets.mailgunKey },
      },
      'sent',
    );

    // Assess
    const output = raw();
    for (const value of Object.values(secrets)) expect(output).not.toContain(value);
    expect(output).not.toContain('Alice');
    expect(lines()[0]).toMatchObject({
      level: 'info',
      service: 'worker',
      event: 'message.sent',
      customerId: 'acme',
      campaignId: 'c-1',
      leaseId: 'lease-42',
      recipientId: '0123456789abcdef0123456789abcdef',
      to: '[redacted]',
      html: '[redacted]',
      leaseToken: '[redacted]',
      config: { BATON_API_TOKEN: '[redacted]', BATON_LEASE_TOKEN: '[redacted]', MAILGUN_API_KEY: '[redacted]' },
      msg: 'sent',
    });
  });

  it('masks addresses inside message strings and interpolated values', () => {
    // Prepare
    const { log, raw, lines } = capture();

    // Act
    log.warn(`bounce from ${secrets.email}`);
    log.warn('bounce from %s', secrets.otherEmail);
    log.warn('details %j', { note: `reply to <${secrets.email}>` });

    // Assess
    expect(raw()).not.toContain(secrets.email);
    expect(raw()).not.toContain(secrets.otherEmail);
    expect(lines().map((l) => l.msg)).toEqual(['bounce from [email]', 'bounce from [email]', 'details {"note":"reply to <[email]>"}']);
  });

  it('masks an address with an apostrophe whole, in the message and in fields, and the line stays valid JSON', () => {
    // Prepare
    const { log, raw, lines } = capture();

    // Act
    log.warn({ event: 'bounce', detail: "for o'brien@example.com" }, "bounce from o'brien@example.com, retrying");
    log.warn("first line\no'brien@example.com");

    // Assess
    expect(raw()).not.toContain('brien');
    expect(lines()[0]).toMatchObject({ detail: 'for [email]', msg: 'bounce from [email], retrying' });
    expect(lines()[1]).toMatchObject({ msg: 'first line\n[email]' });
  });

  it('masks addresses in nested objects and arrays under harmless names', () => {
    // Prepare
    const { log, raw, lines } = capture();

    // Act
    log.info({ event: 'audience.rejected', detail: { rows: [{ line: 7, reason: `duplicate of ${secrets.email}` }] } });

    // Assess
    expect(raw()).not.toContain(secrets.email);
    expect(lines()[0]).toMatchObject({ detail: { rows: [{ line: 7, reason: 'duplicate of [email]' }] } });
  });

  it('masks addresses in error messages, whether the error is the argument or a field', () => {
    // Prepare
    const { log, raw, lines } = capture();
    const error = new Error(`mailbox full: ${secrets.email}`);

    // Act
    log.error(error);
    log.error({ event: 'send.failed', err: error });
    log.error({ event: 'send.failed', err: error }, 'failed');

    // Assess
    expect(raw()).not.toContain(secrets.email);
    for (const line of lines()) expect(line.err).toEqual({ type: 'Error', message: 'mailbox full: [email]' });
    expect(lines().map((l) => l.msg)).toEqual(['mailbox full: [email]', 'mailbox full: [email]', 'failed']);
  });

  it("keeps a Baton error's class name and stable code", () => {
    // Prepare
    const { log, lines } = capture();

    // Act
    log.warn({ event: 'claim.lost', err: new ObjectExistsError('campaigns', 'ledger/acme/c-1/claims/ab/x') });

    // Assess
    expect(lines()[0]!.err).toEqual({
      type: 'ObjectExistsError',
      code: 'OBJECT_EXISTS',
      message: 'object already exists: campaigns/ledger/acme/c-1/claims/ab/x',
    });
  });

  it("scrubs a child logger's bindings, and its children's", () => {
    // Prepare
    const { log, raw, lines } = capture();

    // Act
    const child = log.child({ campaignId: 'c-1', email: secrets.email, note: `for ${secrets.otherEmail}` });
    child.child({ leaseId: 'lease-7', leaseToken: secrets.leaseToken }).info({ event: 'lease.started' });

    // Assess
    expect(raw()).not.toContain(secrets.email);
    expect(raw()).not.toContain(secrets.otherEmail);
    expect(raw()).not.toContain(secrets.leaseToken);
    expect(lines()[0]).toMatchObject({
      campaignId: 'c-1',
      leaseId: 'lease-7',
      email: '[redacted]',
      note: 'for [email]',
      leaseToken: '[redacted]',
      event: 'lease.started',
    });
  });

  it('writes objects nested too deep to inspect as [truncated], not as they are', () => {
    // Prepare
    const { log, raw } = capture();
    let deep: Record<string, unknown> = { html: secrets.html };
    for (let i = 0; i < 10; i++) deep = { level: deep };

    // Act
    log.info({ event: 'deep', deep });

    // Assess
    expect(raw()).not.toContain(secrets.html);
    expect(raw()).toContain('[truncated]');
  });

  it('writes dates as ISO strings', () => {
    // Prepare
    const { log, lines } = capture();

    // Act
    log.info({ event: 'tick', at: new Date('2025-05-01T12:00:00.000Z') });

    // Assess
    expect(lines()[0]!.at).toBe('2025-05-01T12:00:00.000Z');
  });

  it('writes nothing below its level', () => {
    // Prepare
    const { log, lines } = capture({ level: 'warn' });

    // Act
    log.info({ event: 'quiet' });
    log.warn({ event: 'loud' });

    // Assess
    expect(lines().map((l) => l.event)).toEqual(['loud']);
  });
});

describe('scrub', () => {
  it.each([
    "o'brien@example.com",
    'a!b@example.com',
    'a#b@example.com',
    'a$b@example.com',
    'a%b@example.com',
    'a&b@example.com',
    'a*b@example.com',
    'a+b@example.com',
    'a-b@example.com',
    'a/b@example.com',
    'a=b@example.com',
    'a?b@example.com',
    'a^b@example.com',
    'a_b@example.com',
    'a`b@example.com',
    'a{b}@example.com',
    'a|b@example.com',
    'a~b@example.com',
    "!#$%&'*+-/=?^_`{|}~@example.com",
    'first.last@sub.example.co.uk',
    'zoë@example.com',
  ])('scrubs %s whole, leaving no part of the address', (address) => {
    // Act
    const result = scrub(`bounce for ${address} today`);

    // Assess
    expect(result).toBe('bounce for [email] today');
  });

  it.each([
    ["quoted 'o'brien@example.com' here", "quoted '[email]' here"],
    ['<a&b@example.com>, (c+d@example.org); "e=f@example.net"', '<[email]>, ([email]); "[email]"'],
    ['[x~y@example.com]: sent', '[[email]]: sent'],
    ['mailto:o.brien@example.com.', 'mailto:[email].'],
    ["Ann's and o'brien@example.com's mail", "Ann's and [email]'s mail"],
    ['line 7:a|b@example.com,8:c@example.com', 'line 7:[email],8:[email]'],
  ])('eats nothing around an address: %s', (line, scrubbed) => {
    // Act
    const result = scrub(line);

    // Assess
    expect(result).toBe(scrubbed);
  });

  it.each(["a'", 'a', 'a.', 'a@', "'a"])('scrubs 200 KB of %s repeated in milliseconds, not seconds', (unit) => {
    // Prepare: a run of local-part characters that never becomes an address
    const line = unit.repeat(200_000 / unit.length);

    // Act
    const started = performance.now();
    scrub(line);
    const elapsedMs = performance.now() - started;

    // Assess
    expect(elapsedMs).toBeLessThan(100);
  });

  it('leaves a log line without addresses exactly as it was', () => {
    // Prepare
    const line = "campaign c-1: 3 sent, 1 in doubt; user's note {a|b} ~ 50% off! key=stubs/acme/c-1/ab/x.json @ 12:00";

    // Act
    const result = scrub(line);

    // Assess
    expect(result).toBe(line);
  });

  it('leaves numbers, booleans, null and undefined alone', () => {
    // Act
    const result = scrub({ a: 1, b: true, c: null, d: undefined });

    // Assess
    expect(result).toEqual({ a: 1, b: true, c: null, d: undefined });
  });

  it('redacts sensitive names whatever their case', () => {
    // Act
    const result = scrub({ Email: 'x', SUBJECT: 'y', Password: 'z', mjml: '<mjml/>', audienceCsv: 'email\n' });

    // Assess
    expect(result).toEqual({
      Email: '[redacted]',
      SUBJECT: '[redacted]',
      Password: '[redacted]',
      mjml: '[redacted]',
      audienceCsv: '[redacted]',
    });
  });

  it('does not mistake ids for secrets', () => {
    // Act
    const result = scrub({ recipientId: 'r', leaseId: 'l', campaignId: 'c', customerId: 'u', key: 'stubs/acme/c-1/ab/x.json' });

    // Assess
    expect(result).toEqual({ recipientId: 'r', leaseId: 'l', campaignId: 'c', customerId: 'u', key: 'stubs/acme/c-1/ab/x.json' });
  });
});
