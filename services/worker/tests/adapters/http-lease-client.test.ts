import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PermanentError, RetryableError, ValidationError, type CheckInRequest } from '@baton/shared';
import { createHttpLeaseClient } from '../../src/adapters/http-lease-client';
import { leaseFor, emails } from '../fakes';

const TOKEN = 'lease-token-0123456789';

interface Received {
  method: string | undefined;
  url: string | undefined;
  authorization: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

type Answer = (res: ServerResponse) => void;

/** A tiny conductor stand-in: records each request and answers with the next scripted answer. */
async function startServer(answers: Answer[]): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({
        method: req.method,
        url: req.url,
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: JSON.parse(body || 'null'),
      });
      const answer = answers.shift();
      if (answer) answer(res); // no answer: leave the request hanging
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return (res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
}

const request: CheckInRequest = { leaseId: 'lease-1', workerId: 'worker-1', results: [], unattempted: [], permitsUsed: 0, wantsMore: true };

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('createHttpLeaseClient', () => {
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('posts the check-in as JSON with the bearer token and returns the next lease', async () => {
    // Prepare
    const next = leaseFor(emails(2), { leaseId: 'lease-2' });
    server = await startServer([json(200, { lease: next })]);
    const client = createHttpLeaseClient({ baseUrl: `${server.url}/`, token: TOKEN });

    // Act
    const response = await client.checkIn(request);

    // Assess
    expect(response).toEqual({ lease: next });
    expect(server.received).toEqual([
      { method: 'POST', url: '/lease/v1/check-in', authorization: `Bearer ${TOKEN}`, contentType: 'application/json', body: request },
    ]);
  });

  it('posts a watch to /lease/v1/watch and returns whether to stop', async () => {
    // Prepare
    server = await startServer([json(200, { stop: true, at: 1_700_000_000_000 })]);
    const client = createHttpLeaseClient({ baseUrl: server.url, token: TOKEN });
    const watch = { leaseId: 'lease-1', workerId: 'worker-1', until: 1_700_000_005_000 };

    // Act
    const response = await client.watch!(watch);

    // Assess
    expect(response).toEqual({ stop: true, at: 1_700_000_000_000 });
    expect(server.received).toEqual([
      { method: 'POST', url: '/lease/v1/watch', authorization: `Bearer ${TOKEN}`, contentType: 'application/json', body: watch },
    ]);
  });

  it('gives up a held watch when its signal aborts, as a retryable error', async () => {
    // Prepare: the server never answers
    server = await startServer([]);
    const client = createHttpLeaseClient({ baseUrl: server.url, token: TOKEN });
    const over = new AbortController();

    // Act
    const pending = caught(client.watch!({ leaseId: 'lease-1', workerId: 'worker-1', until: 0 }, over.signal));
    setTimeout(() => over.abort(), 50);

    // Assess
    expect(await pending).toMatchObject({ code: 'LEASE_API_TIMEOUT' });
  });

  it('returns a null lease when the conductor has no more work', async () => {
    // Prepare
    server = await startServer([json(200, { lease: null })]);

    // Act
    const response = await createHttpLeaseClient({ baseUrl: server.url, token: TOKEN }).checkIn(request);

    // Assess
    expect(response).toEqual({ lease: null });
  });

  it("turns a 5xx into a retryable error with the server's message and its Retry-After", async () => {
    // Prepare
    server = await startServer([json(503, { message: 'conductor restarting' }, { 'retry-after': '2' })]);

    // Act
    const error = await caught(createHttpLeaseClient({ baseUrl: server.url, token: TOKEN }).checkIn(request));

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({
      code: 'LEASE_API_UNAVAILABLE',
      retryAfterMs: 2_000,
      message: expect.stringContaining('conductor restarting'),
    });
  });

  it("turns a 4xx into a permanent error with the server's message", async () => {
    // Prepare
    server = await startServer([json(409, { error: 'lease lease-1 is not held by worker-1' }), json(401, { message: 'bad token' })]);
    const client = createHttpLeaseClient({ baseUrl: server.url, token: TOKEN });

    // Act
    const conflict = await caught(client.checkIn(request));
    const unauthorised = await caught(client.checkIn(request));

    // Assess
    expect(conflict).toBeInstanceOf(PermanentError);
    expect(conflict).toMatchObject({
      code: 'LEASE_API_REJECTED',
      message: 'lease API answered 409: lease lease-1 is not held by worker-1',
    });
    expect(unauthorised).toMatchObject({ code: 'LEASE_API_AUTH' });
  });

  it('refuses a response that is not a check-in response, naming the field', async () => {
    // Prepare
    server = await startServer([json(200, { lease: { leaseId: 'x' } })]);

    // Act
    const error = await caught(createHttpLeaseClient({ baseUrl: server.url, token: TOKEN }).checkIn(request));

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.where)).toContain('lease API response.lease.workerId');
  });

  it('gives up on a conductor that does not answer in time, as retryable', async () => {
    // Prepare
    server = await startServer([]);

    // Act
    const error = await caught(createHttpLeaseClient({ baseUrl: server.url, token: TOKEN, timeoutMs: 100 }).checkIn(request));

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'LEASE_API_TIMEOUT' });
  });

  it('reports a conductor that cannot be reached as retryable', async () => {
    // Prepare
    server = await startServer([]);
    const url = server.url;
    await server.close();
    server = undefined;

    // Act
    const error = await caught(createHttpLeaseClient({ baseUrl: url, token: TOKEN }).checkIn(request));

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'LEASE_API_UNREACHABLE', message: expect.stringContaining('ECONNREFUSED') });
  });
});
