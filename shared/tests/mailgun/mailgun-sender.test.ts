import { createServer } from 'node:net';
import { InDoubtError, PermanentError, RetryableError } from '@baton/shared';
// The real Mailgun-compatible sink, over loopback: mailgun.js is exercised end to end.
import { startMailgunSink, type MailgunSink } from '../../../local/src/mailgun-sink';
import { classifyMailgunError, createMailgunSender } from '../../src/mailgun/mailgun-sender';
import type { OutgoingEmail } from '../../src/ports';

const API_KEY = 'key-0123456789abcdef';
const DOMAIN = 'mg.acme.test';

function email(overrides: Partial<OutgoingEmail> = {}): OutgoingEmail {
  return {
    from: 'Acme <news@acme.test>',
    to: 'ann@example.com',
    subject: 'Spring sale',
    html: '<p>Hello Ann</p>',
    text: 'Hello Ann',
    headers: { 'List-Unsubscribe': '<https://acme.test/u/1>, <mailto:u@acme.test>' },
    variables: { 'customer-id': 'acme', 'campaign-id': 'spring-sale', 'recipient-id': 'ab'.repeat(16), 'lease-id': 'lease-1' },
    ...overrides,
  };
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** A port on loopback that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('createMailgunSender', () => {
  let sink: MailgunSink;

  beforeAll(async () => {
    sink = await startMailgunSink({ apiKey: API_KEY });
  });
  afterAll(async () => {
    await sink.close();
  });
  beforeEach(() => {
    sink.clear();
    sink.setLatency(0);
  });

  function sender(overrides: { apiKey?: string; timeoutMs?: number; url?: string } = {}) {
    return createMailgunSender({
      url: overrides.url ?? sink.url,
      domain: DOMAIN,
      apiKey: overrides.apiKey ?? API_KEY,
      timeoutMs: overrides.timeoutMs ?? 2_000,
    });
  }

  it('sends the message with its h: headers and v: variables and returns the provider id', async () => {
    // Prepare
    const msg = email();

    // Act
    const { providerId } = await sender().send(msg);

    // Assess
    const [stored, ...others] = sink.messages();
    expect(others).toEqual([]);
    expect(stored).toEqual({
      id: providerId,
      receivedAt: expect.any(Number),
      domain: DOMAIN,
      from: msg.from,
      to: msg.to,
      subject: msg.subject,
      html: msg.html,
      text: msg.text,
      headers: { 'List-Unsubscribe': '<https://acme.test/u/1>, <mailto:u@acme.test>', 'List-Id': '<acme.mg.acme.test>' },
      variables: msg.variables,
    });
    expect(providerId).toMatch(/^<.+@mg\.acme\.test>$/);
  });

  it('reads a 420\'s "try again after" from Mailgun\'s body: the limit lifts then', async () => {
    // Prepare: Mailgun's own wording for a daily limit; the sender's clock says it is 06:00:31.
    const message = 'Domain mg.acme.test is not allowed to send: recipient limit exceeded, try again after Mon, 25 Aug 2025 07:00:31 UTC';
    sink.failNext(1, 420, { message });
    const now = Date.parse('2025-08-25T06:00:31Z');
    const limited = createMailgunSender({ url: sink.url, domain: DOMAIN, apiKey: API_KEY, timeoutMs: 2_000, now: () => now });

    // Act
    const error = await caught(limited.send(email()));

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'PROVIDER_LIMIT_REACHED', retryAfterMs: 3_600_000 });
    expect((error as Error).message).toContain('recipient limit exceeded');
    expect(sink.messages()).toEqual([]);
  });

  it('treats a 420 whose time has already passed by our clock as throttling, never a wait of nothing', async () => {
    // Prepare
    sink.failNext(1, 420, { message: 'recipient limit exceeded, try again after Mon, 25 Aug 2025 07:00:31 UTC' });
    const late = createMailgunSender({
      url: sink.url,
      domain: DOMAIN,
      apiKey: API_KEY,
      timeoutMs: 2_000,
      now: () => Date.parse('2025-08-25T07:00:32Z'),
    });

    // Act
    const error = await caught(late.send(email()));

    // Assess
    expect(error).toMatchObject({ code: 'PROVIDER_THROTTLED' });
  });

  it('treats a 420 without a time it can read as throttling', async () => {
    // Prepare
    sink.failNext(1, 420, { message: 'Domain mg.acme.test is not allowed to send: try again after a while' });

    // Act
    const error = await caught(sender().send(email()));

    // Assess
    expect(error).toMatchObject({ code: 'PROVIDER_THROTTLED' });
  });

  it('adds a List-Id naming the customer and the sending domain, and keeps one the message already has', async () => {
    // Act
    await sender().send(email());
    await sender().send({ ...email(), headers: { 'list-id': '<own.example.com>' } });

    // Assess
    const [first, second] = sink.messages();
    expect(first!.headers['List-Id']).toBe('<acme.mg.acme.test>');
    expect(second!.headers).toEqual({ 'list-id': '<own.example.com>' });
  });

  it('turns a 429 into a retryable throttling error', async () => {
    // Prepare
    sink.failNext(1, 429);

    // Act
    const error = await caught(sender().send(email()));

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'PROVIDER_THROTTLED' });
    expect(sink.messages()).toEqual([]);
  });

  it('turns a 503 into a retryable error and a 500 into an in-doubt one', async () => {
    // Prepare
    sink.failNext(1, 503);
    sink.failNext(1, 500);

    // Act
    const unavailable = await caught(sender().send(email()));
    const broken = await caught(sender().send(email()));

    // Assess
    expect(unavailable).toBeInstanceOf(RetryableError);
    expect(unavailable).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
    expect(broken).toBeInstanceOf(InDoubtError);
    expect(broken).toMatchObject({ code: 'PROVIDER_ERROR' });
  });

  it("turns a 400 into a permanent rejection carrying Mailgun's message", async () => {
    // Prepare: the sink refuses an empty subject as Mailgun does
    const msg = email({ subject: '' });

    // Act
    const error = await caught(sender().send(msg));

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'PROVIDER_REJECTED', message: expect.stringContaining("'subject' parameter is missing") });
  });

  it('turns a wrong API key into a permanent authentication error', async () => {
    // Act
    const error = await caught(sender({ apiKey: 'key-wrong' }).send(email()));

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'PROVIDER_AUTH' });
  });

  it('reports an answer slower than the timeout as in doubt, since the provider may have taken it', async () => {
    // Prepare
    sink.setLatency(600);

    // Act
    const error = await caught(sender({ timeoutMs: 150 }).send(email()));

    // Assess
    expect(error).toBeInstanceOf(InDoubtError);
    expect(error).toMatchObject({ code: 'PROVIDER_TIMEOUT' });
    expect(sink.messages()).toHaveLength(1); // it did take it
  });

  it('reports a refused connection as retryable: nothing was sent', async () => {
    // Prepare
    const url = `http://127.0.0.1:${await closedPort()}`;

    // Act
    const error = await caught(sender({ url }).send(email()));

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'PROVIDER_UNREACHABLE' });
  });

  it.each([
    ['a subject', { subject: 'Sale\r\nBcc: everyone@example.com' }],
    ['a recipient', { to: 'ann@example.com\nbob@example.com' }],
    ['a sender', { from: 'news@acme.test\0' }],
    ['a header value', { headers: { 'List-Unsubscribe': '<https://acme.test/u>\r\nX-Evil: 1' } }],
    ['a header name', { headers: { 'X-Evil\r\nBcc': 'x' } }],
  ])('refuses a line break in %s before any call', async (_what, overrides) => {
    // Act
    const error = await caught(sender().send(email(overrides)));

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'HEADER_UNSAFE' });
    expect(sink.messages()).toEqual([]);
  });
});

describe('classifyMailgunError', () => {
  const apiError = (status: number, message: string, details = '') => ({ type: 'MailgunAPIError', status, message, details });

  it.each([
    [apiError(400, 'ECONNRESET', 'socket hang up'), InDoubtError, 'PROVIDER_TIMEOUT'],
    [apiError(400, 'ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.1:443'), InDoubtError, 'PROVIDER_TIMEOUT'],
    [apiError(400, 'ENOTFOUND', 'getaddrinfo ENOTFOUND api.mailgun.net'), RetryableError, 'PROVIDER_UNREACHABLE'],
    [apiError(400, 'EPROTO', 'something odd'), InDoubtError, 'PROVIDER_NETWORK'],
    [apiError(420, 'Enhance Your Calm', 'slow down'), RetryableError, 'PROVIDER_THROTTLED'],
    [apiError(403, 'Forbidden', 'Domain not allowed'), PermanentError, 'PROVIDER_AUTH'],
    [apiError(502, 'Bad Gateway'), InDoubtError, 'PROVIDER_ERROR'],
    [apiError(400, 'Bad Request', "'to' parameter is not a valid address"), PermanentError, 'PROVIDER_REJECTED'],
    [new Error('boom'), InDoubtError, 'PROVIDER_UNKNOWN'],
  ])('classifies %o', (error, kind, code) => {
    // Act
    const classified = classifyMailgunError(error);

    // Assess
    expect(classified).toBeInstanceOf(kind);
    expect(classified.code).toBe(code);
    expect(classified.cause).toBe(error);
  });
});
