import { InDoubtError, RetryableError } from '@baton/shared';
import { createMailgunSender } from '@baton/shared/mailgun';
import { startMailgunSink, type MailgunSink } from '../src/mailgun-sink';

const API_KEY = 'key-0123456789abcdef';
const DOMAIN = 'mg.acme.test';

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

const complete: Record<string, string> = {
  from: 'Acme <news@acme.test>',
  to: 'ann@example.com',
  subject: 'Spring sale',
  html: '<p>Hello</p>',
  text: 'Hello',
  'h:List-Unsubscribe': '<https://acme.test/u/1>',
  'v:campaign-id': 'spring-sale',
};

function multipart(fields: Record<string, string>): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return form;
}

describe('startMailgunSink', () => {
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
    sink.setFaults({});
  });

  async function post(body: FormData | URLSearchParams, authorization: string | null = basic('api', API_KEY)) {
    const response = await fetch(`${sink.url}/v3/${DOMAIN}/messages`, {
      method: 'POST',
      headers: authorization === null ? {} : { authorization },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('accepts a multipart message as Mailgun does and keeps its fields, headers and variables', async () => {
    // Act
    const { status, body } = await post(multipart(complete));

    // Assess
    expect(status).toBe(200);
    expect(body).toEqual({ id: expect.stringMatching(/^<.+@mg\.acme\.test>$/), message: 'Queued. Thank you.' });
    expect(sink.messages()).toEqual([
      {
        id: body.id,
        receivedAt: expect.any(Number),
        domain: DOMAIN,
        from: complete.from,
        to: complete.to,
        subject: complete.subject,
        html: complete.html,
        text: complete.text,
        headers: { 'List-Unsubscribe': '<https://acme.test/u/1>' },
        variables: { 'campaign-id': 'spring-sale' },
      },
    ]);
  });

  it('accepts a urlencoded message too, and joins repeated recipients', async () => {
    // Prepare
    const form = new URLSearchParams({ ...complete, to: 'ann@example.com' });
    form.append('to', 'bob@example.com');

    // Act
    const { status } = await post(form);

    // Assess
    expect(status).toBe(200);
    expect(sink.messages()[0]?.to).toBe('ann@example.com, bob@example.com');
  });

  it.each([
    ['no credentials', null],
    ['a wrong key', basic('api', 'key-wrong')],
    ['a wrong user', basic('admin', API_KEY)],
  ])('answers 401 Forbidden to %s and stores nothing', async (_what, authorization) => {
    // Act
    const { status, body } = await post(multipart(complete), authorization);

    // Assess
    expect(status).toBe(401);
    expect(body).toEqual({ message: 'Forbidden' });
    expect(sink.messages()).toEqual([]);
  });

  it.each(['from', 'to', 'subject'])("answers 400 when '%s' is missing", async (field) => {
    // Prepare
    const fields = { ...complete };
    delete fields[field];

    // Act
    const { status, body } = await post(multipart(fields));

    // Assess
    expect(status).toBe(400);
    expect(body).toEqual({ message: `'${field}' parameter is missing` });
    expect(sink.messages()).toEqual([]);
  });

  it('answers 400 when there is neither text nor html', async () => {
    // Prepare
    const { text: _text, html: _html, ...fields } = complete;

    // Act
    const { status, body } = await post(multipart(fields));

    // Assess
    expect(status).toBe(400);
    expect(body.message).toMatch(/at least one of 'text' or 'html'/);
  });

  it.each([
    ['subject', { subject: 'Sale\r\nBcc: everyone@example.com' }],
    ['to', { to: 'ann@example.com\nbob@example.com' }],
    ['h:List-Unsubscribe', { 'h:List-Unsubscribe': '<https://acme.test/u>\nX-Evil: 1' }],
  ])('refuses a line break in %s with a 400', async (field, overrides) => {
    // Act
    const { status, body } = await post(multipart({ ...complete, ...overrides }));

    // Assess
    expect(status).toBe(400);
    expect(body).toEqual({ message: `'${field}' parameter must not contain a line break` });
    expect(sink.messages()).toEqual([]);
  });

  it('answers the next n calls with the injected status, then recovers', async () => {
    // Prepare
    sink.failNext(2, 429);

    // Act
    const first = await post(multipart(complete));
    const second = await post(multipart(complete));
    const third = await post(multipart(complete));

    // Assess
    expect([first.status, second.status, third.status]).toEqual([429, 429, 200]);
    expect(first.body).toEqual({ message: 'Too many requests' });
    expect(sink.messages()).toHaveLength(1);
  });

  it('answers an injected failure with the body given', async () => {
    // Prepare
    sink.failNext(1, 400, { message: "'to' parameter is not a valid address" });

    // Act
    const { status, body } = await post(multipart(complete));

    // Assess
    expect(status).toBe(400);
    expect(body).toEqual({ message: "'to' parameter is not a valid address" });
  });

  it('delays its answers by the latency set', async () => {
    // Prepare
    sink.setLatency(150);
    const started = Date.now();

    // Act
    const { status } = await post(multipart(complete));

    // Assess
    expect(status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('lists what it received, newest last, and answers its health check', async () => {
    // Prepare
    await post(multipart({ ...complete, subject: 'first' }));
    await post(multipart({ ...complete, subject: 'second' }));

    // Act
    const listed = (await (await fetch(`${sink.url}/sink/messages`)).json()) as { subject: string }[];
    const health = await fetch(`${sink.url}/healthz`);

    // Assess
    expect(listed.map((m) => m.subject)).toEqual(['first', 'second']);
    expect(health.status).toBe(200);
  });

  it('closes promptly even while an answer is being delayed', async () => {
    // Prepare
    const other = await startMailgunSink({ apiKey: API_KEY });
    other.setLatency(60_000);
    const pending = fetch(`${other.url}/v3/${DOMAIN}/messages`, {
      method: 'POST',
      headers: { authorization: basic('api', API_KEY) },
      body: multipart(complete),
    }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();

    // Act
    await other.close();
    await pending;

    // Assess
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  describe('drawn faults', () => {
    async function statuses(target: MailgunSink, n: number): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${target.url}/v3/${DOMAIN}/messages`, {
          method: 'POST',
          headers: { authorization: basic('api', API_KEY) },
          body: multipart({ ...complete, to: `r${i}@example.com` }),
        });
        await res.arrayBuffer();
        out.push(res.status);
      }
      return out;
    }

    it('answers a seeded share of calls 503, storing nothing for them, and logs every call', async () => {
      // Prepare
      sink.setFaults({ seed: 7, unavailableShare: 0.5 });

      // Act
      const first = await statuses(sink, 40);
      sink.clear();
      sink.setFaults({ seed: 7, unavailableShare: 0.5 });
      const again = await statuses(sink, 40);

      // Assess: the same seed draws the same sequence, and about half are refused.
      expect(again).toEqual(first);
      const refused = first.filter((s) => s === 503).length;
      expect(refused).toBeGreaterThan(8);
      expect(refused).toBeLessThan(32);
      expect(sink.messages()).toHaveLength(40 - refused);
      const calls = sink.calls();
      expect(calls.map((c) => c.status)).toEqual(first);
      expect(calls.filter((c) => c.outcome === 'refused').every((c) => c.messageId === undefined)).toBe(true);
      expect(calls.filter((c) => c.outcome === 'accepted').map((c) => c.messageId)).toEqual(sink.messages().map((m) => m.id));
      expect(calls[0]).toMatchObject({ to: 'r0@example.com', answeredAt: expect.any(Number) });
      expect(sink.pending()).toBe(0);
    });

    it('logs the recipient id a call carries', async () => {
      // Act
      await post(multipart({ ...complete, 'v:recipient-id': 'abc123' }));

      // Assess
      expect(sink.calls()).toEqual([expect.objectContaining({ outcome: 'accepted', status: 200, recipientId: 'abc123' })]);
    });

    it('throttles every call during its periodic bursts and none between them', async () => {
      // Prepare: 1 s of 429 every 2 s, starting at once.
      sink.setFaults({ bursts: { everyMs: 2_000, forMs: 1_000 } });

      // Act
      const inside = await post(multipart(complete));
      for (let i = 0; i < 300 && sink.inBurst(); i++) await new Promise((r) => setTimeout(r, 5));
      const outside = await post(multipart(complete));

      // Assess
      expect(inside.status).toBe(429);
      expect(inside.body).toEqual({ message: 'Too many requests' });
      expect(outside.status).toBe(200);
      expect(sink.calls().map((c) => c.outcome)).toEqual(['refused', 'accepted']);
    });

    it('starts its bursts only after the delay given', async () => {
      // Prepare
      sink.setFaults({ bursts: { everyMs: 2_000, forMs: 1_000, startAfterMs: 60_000 } });

      // Act
      const { status } = await post(multipart(complete));

      // Assess
      expect(status).toBe(200);
      expect(sink.inBurst(Date.now() + 60_500)).toBe(true);
      expect(sink.inBurst(Date.now() + 61_500)).toBe(false);
    });

    it('stores a message and then resets the connection for a dropped answer: the sender is in doubt', async () => {
      // Prepare
      sink.setFaults({ dropAnswerShare: 1 });
      const sender = createMailgunSender({ url: sink.url, domain: DOMAIN, apiKey: API_KEY, timeoutMs: 5_000 });

      // Act
      const error = await sender
        .send({ from: complete.from!, to: 'ann@example.com', subject: 'Hi', html: '<p>x</p>', text: 'x', headers: {}, variables: {} })
        .then(
          () => undefined,
          (err: unknown) => err,
        );

      // Assess
      expect(error).toBeInstanceOf(InDoubtError);
      expect(sink.messages()).toHaveLength(1);
      expect(sink.calls()).toEqual([expect.objectContaining({ outcome: 'dropped', status: undefined, messageId: sink.messages()[0]!.id })]);
      expect(sink.pending()).toBe(0);
    });

    it('reads as a retryable refusal to the sender when it answers 503', async () => {
      // Prepare
      sink.setFaults({ unavailableShare: 1 });
      const sender = createMailgunSender({ url: sink.url, domain: DOMAIN, apiKey: API_KEY, timeoutMs: 5_000 });

      // Act
      const error = await sender
        .send({ from: complete.from!, to: 'ann@example.com', subject: 'Hi', html: '<p>x</p>', text: 'x', headers: {}, variables: {} })
        .then(
          () => undefined,
          (err: unknown) => err,
        );

      // Assess
      expect(error).toBeInstanceOf(RetryableError);
      expect((error as RetryableError).code).toBe('PROVIDER_UNAVAILABLE');
      expect(sink.messages()).toHaveLength(0);
    });

    it('never answers a hung call, counts it pending, and still closes promptly', async () => {
      // Prepare
      const other = await startMailgunSink({ apiKey: API_KEY });
      other.setFaults({ dropAnswerShare: 1, dropMode: 'hang' });
      const pending = fetch(`${other.url}/v3/${DOMAIN}/messages`, {
        method: 'POST',
        headers: { authorization: basic('api', API_KEY) },
        body: multipart(complete),
        signal: AbortSignal.timeout(10_000),
      }).then(
        () => 'answered',
        () => 'no answer',
      );
      for (let i = 0; i < 100 && other.pending() === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const started = Date.now();

      // Act
      const pendingBefore = other.pending();
      await other.close();

      // Assess
      expect(pendingBefore).toBe(1);
      expect(await pending).toBe('no answer');
      expect(other.messages()).toHaveLength(1);
      expect(other.calls()[0]).toMatchObject({ outcome: 'dropped', answeredAt: expect.any(Number) });
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it.each([
      [{ unavailableShare: 1.5 }, /unavailableShare must be between 0 and 1/],
      [{ dropAnswerShare: -0.1 }, /dropAnswerShare must be between 0 and 1/],
      [{ unavailableStatus: 200 }, /unavailableStatus must be a 4xx or 5xx status/],
      [{ bursts: { everyMs: 100, forMs: 200 } }, /bursts need/],
    ])('refuses nonsense faults %j', (faults, message) => {
      expect(() => sink.setFaults(faults)).toThrow(message);
    });
  });
});
