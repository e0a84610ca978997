import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InDoubtError, RetryableError, type WorkerInvocation } from '@baton/shared';
import { LambdaWorkerInvoker, createLambdaClient } from '../../src/adapters/lambda-worker-invoker';

/**
 * The client that `createLambdaClient` builds, against a loopback HTTP server standing in for
 * Lambda: that a stuck invoke really ends at the request timeout (the SDK only warns unless
 * told to throw), and that nothing is retried behind the conductor's back.
 */

const invocation = {
  lease: {
    leaseId: 'lease-1',
    workerId: 'worker-1',
    customerId: 'acme',
    campaignId: 'c-lz0abc-0123456789',
    recipientIds: ['0'.repeat(32)],
    schedule: { start: 1_749_999_940_000, sliceMs: 60_000, permits: [1] },
    expiresAt: 1_750_000_120_000,
  },
} as WorkerInvocation;

let server: Server;
let requests: IncomingMessage[];
let answer: (req: IncomingMessage, res: ServerResponse) => void;
const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  // The SDK signs every request; the stand-in does not check.
  process.env.AWS_ACCESS_KEY_ID = 'TEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'TEST';
  server = createServer((req, res) => {
    requests.push(req);
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  for (const [name, value] of [
    ['AWS_ACCESS_KEY_ID', savedEnv.id],
    ['AWS_SECRET_ACCESS_KEY', savedEnv.secret],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

beforeEach(() => {
  requests = [];
});

function invokerAt(endpoint: string): LambdaWorkerInvoker {
  const client = createLambdaClient({ region: 'eu-west-1', endpoint, requestTimeoutMs: 300, connectionTimeoutMs: 300 });
  return new LambdaWorkerInvoker(client, { functionName: 'baton-qa-worker' });
}

function endpoint(): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('createLambdaClient with LambdaWorkerInvoker, over HTTP', () => {
  it('sends one Event invocation and resolves on 202', async () => {
    // Prepare
    answer = (_req, res) => res.writeHead(202).end();

    // Act
    await invokerAt(endpoint()).invoke(invocation);

    // Assess
    expect(requests).toHaveLength(1);
    expect(requests[0]!.url).toBe('/2015-03-31/functions/baton-qa-worker/invocations');
    expect(requests[0]!.headers['x-amz-invocation-type']).toBe('Event');
  });

  it('gives up on a request Lambda never answers at the request timeout, as in doubt, without a retry', async () => {
    // Prepare: read the request, never answer
    answer = () => {};
    const started = Date.now();

    // Act
    const invoking = invokerAt(endpoint()).invoke(invocation);

    // Assess
    await expect(invoking).rejects.toBeInstanceOf(InDoubtError);
    await expect(invoking).rejects.toMatchObject({ code: 'WORKER_INVOKE_IN_DOUBT' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(requests).toHaveLength(1);
  });

  it('does not retry a throttled invoke', async () => {
    // Prepare
    answer = (_req, res) =>
      res
        .writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' })
        .end(JSON.stringify({ message: 'Rate Exceeded.', Reason: 'ConcurrentInvocationLimitExceeded' }));

    // Act
    const invoking = invokerAt(endpoint()).invoke(invocation);

    // Assess
    await expect(invoking).rejects.toBeInstanceOf(RetryableError);
    await expect(invoking).rejects.toMatchObject({ code: 'WORKER_INVOKE_THROTTLED' });
    expect(requests).toHaveLength(1);
  });

  it('reports a refused connection as retryable: nothing was sent', async () => {
    // Prepare: a port nobody listens on
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    // Act
    const invoking = invokerAt(`http://127.0.0.1:${port}`).invoke(invocation);

    // Assess
    await expect(invoking).rejects.toBeInstanceOf(RetryableError);
    await expect(invoking).rejects.toMatchObject({ code: 'WORKER_INVOKE_UNAVAILABLE' });
  });
});
