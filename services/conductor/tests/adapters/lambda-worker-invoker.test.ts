import {
  InvokeCommand,
  LambdaClient,
  LambdaServiceException,
  ResourceNotFoundException,
  ServiceException,
  TooManyRequestsException,
} from '@aws-sdk/client-lambda';
import { InDoubtError, PermanentError, RetryableError, type WorkerInvocation } from '@baton/shared';
import { mockClient } from 'aws-sdk-client-mock';
import { ASYNC_PAYLOAD_LIMIT_BYTES, LambdaWorkerInvoker, createLambdaClient } from '../../src/adapters/lambda-worker-invoker';

const lambda = mockClient(LambdaClient);
const FUNCTION = 'arn:aws:lambda:eu-west-1:123456789012:function:baton-qa-worker';

function invocationOf(recipients: number): WorkerInvocation {
  return {
    lease: {
      leaseId: 'lease-1',
      workerId: 'worker-1',
      customerId: 'acme',
      campaignId: 'c-lz0abc-0123456789',
      recipientIds: Array.from({ length: recipients }, (_, i) => i.toString(16).padStart(32, '0')),
      schedule: { start: 1_749_999_940_000, sliceMs: 60_000, permits: [recipients] },
      expiresAt: 1_750_000_120_000,
    },
  } as WorkerInvocation;
}

let invoker: LambdaWorkerInvoker;

beforeEach(() => {
  lambda.reset();
  invoker = new LambdaWorkerInvoker(new LambdaClient({ region: 'eu-west-1' }), { functionName: FUNCTION });
});

describe('LambdaWorkerInvoker.invoke', () => {
  it('invokes the worker asynchronously with the invocation as its JSON payload', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    const invocation = invocationOf(3);

    // Act
    await invoker.invoke(invocation);

    // Assess
    const input = lambda.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect(input.FunctionName).toBe(FUNCTION);
    expect(input.InvocationType).toBe('Event');
    expect(JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8'))).toEqual(invocation);
  });

  it('refuses a payload over the asynchronous limit before calling Lambda, saying how big it was', async () => {
    // Prepare: 32 hex digits and quotes per id, so 40,000 ids pass 1 MiB
    const invocation = invocationOf(40_000);

    // Act
    const invoking = invoker.invoke(invocation);

    // Assess
    await expect(invoking).rejects.toBeInstanceOf(PermanentError);
    await expect(invoking).rejects.toMatchObject({
      code: 'WORKER_PAYLOAD_TOO_LARGE',
      message: expect.stringMatching(
        new RegExp(`lease lease-1: the invocation is \\d+ bytes, over Lambda's ${ASYNC_PAYLOAD_LIMIT_BYTES}-byte limit`),
      ),
    });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it('accepts a payload of exactly the limit', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    const invocation = invocationOf(10);
    const size = Buffer.byteLength(JSON.stringify(invocation));
    const exact = new LambdaWorkerInvoker(new LambdaClient({ region: 'eu-west-1' }), { functionName: FUNCTION, maxPayloadBytes: size });

    // Act
    const invoking = exact.invoke(invocation);

    // Assess
    await expect(invoking).resolves.toBeUndefined();
  });

  it.each([
    ['a 200 (a synchronous answer)', { StatusCode: 200 }, /status 200, expected 202/],
    ['no status at all', {}, /status missing, expected 202/],
    ['a function error', { StatusCode: 202, FunctionError: 'Unhandled' }, /function error Unhandled/],
  ])('treats %s as a failure', async (_what, answer, message) => {
    // Prepare
    lambda.on(InvokeCommand).resolves(answer);

    // Act
    const invoking = invoker.invoke(invocationOf(1));

    // Assess
    await expect(invoking).rejects.toBeInstanceOf(PermanentError);
    await expect(invoking).rejects.toMatchObject({ code: 'WORKER_INVOKE_FAILED', message: expect.stringMatching(message) });
  });

  it('turns TooManyRequestsException into a retryable error that keeps the cause', async () => {
    // Prepare
    const cause = new TooManyRequestsException({
      $metadata: { httpStatusCode: 429 },
      message: 'Rate Exceeded.',
      Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
    });
    lambda.on(InvokeCommand).rejects(cause);

    // Act
    const error = await invoker.invoke(invocationOf(1)).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'WORKER_INVOKE_THROTTLED', cause });
    expect((error as Error).message).toContain('lease lease-1');
  });

  it.each([
    [
      'a bare 429',
      new LambdaServiceException({ name: 'Unknown', $fault: 'client', $metadata: { httpStatusCode: 429 }, message: 'slow' }),
      'WORKER_INVOKE_THROTTLED',
    ],
    [
      "Lambda's ServiceException",
      new ServiceException({ $metadata: { httpStatusCode: 500 }, message: 'internal' }),
      'WORKER_INVOKE_UNAVAILABLE',
    ],
    [
      'a function being updated',
      new LambdaServiceException({
        name: 'ResourceConflictException',
        $fault: 'client',
        $metadata: { httpStatusCode: 409 },
        message: 'update in progress',
      }),
      'WORKER_INVOKE_UNAVAILABLE',
    ],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'WORKER_INVOKE_UNAVAILABLE'],
    [
      'a connect timeout (nothing was sent)',
      Object.assign(
        new Error(
          '@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 3000 ms.',
        ),
        { name: 'TimeoutError' },
      ),
      'WORKER_INVOKE_UNAVAILABLE',
    ],
  ])('turns %s into a retryable error', async (_what, cause, code) => {
    // Prepare
    lambda.on(InvokeCommand).rejects(cause);

    // Act
    const invoking = invoker.invoke(invocationOf(1));

    // Assess
    await expect(invoking).rejects.toBeInstanceOf(RetryableError);
    await expect(invoking).rejects.toMatchObject({ code, cause });
  });

  it.each([
    [
      'a request timeout',
      Object.assign(new Error('a request has exceeded the configured 10000 ms requestTimeout.'), {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      }),
    ],
    ['a reset connection', Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' })],
  ])('turns %s after sending into an in-doubt error: the worker may have started', async (_what, cause) => {
    // Prepare
    lambda.on(InvokeCommand).rejects(cause);

    // Act
    const invoking = invoker.invoke(invocationOf(1));

    // Assess
    await expect(invoking).rejects.toBeInstanceOf(InDoubtError);
    await expect(invoking).rejects.toMatchObject({ code: 'WORKER_INVOKE_IN_DOUBT', cause });
  });

  it.each([
    [
      'a missing function',
      new ResourceNotFoundException({ $metadata: { httpStatusCode: 404 }, message: 'Function not found' }),
      'WORKER_INVOKE_REJECTED',
    ],
    [
      'a refused permission',
      new LambdaServiceException({ name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'no' }),
      'WORKER_INVOKE_ACCESS_DENIED',
    ],
    [
      'a payload Lambda refuses',
      new LambdaServiceException({
        name: 'RequestTooLargeException',
        $fault: 'client',
        $metadata: { httpStatusCode: 413 },
        message: 'too large',
      }),
      'WORKER_INVOKE_REJECTED',
    ],
  ])('turns %s into a permanent error', async (_what, cause, code) => {
    // Prepare
    lambda.on(InvokeCommand).rejects(cause);

    // Act
    const invoking = invoker.invoke(invocationOf(1));

    // Assess
    await expect(invoking).rejects.toBeInstanceOf(PermanentError);
    await expect(invoking).rejects.toMatchObject({ code, cause });
  });

  it('rethrows an error that is neither Lambda nor the network untouched', async () => {
    // Prepare
    const bug = new TypeError('x is not a function');
    lambda.on(InvokeCommand).rejects(bug);

    // Act
    const invoking = invoker.invoke(invocationOf(1));

    // Assess
    await expect(invoking).rejects.toBe(bug);
  });
});

describe('createLambdaClient', () => {
  it('makes one attempt per call, leaving retries to the conductor', async () => {
    // Prepare
    const client = createLambdaClient({ region: 'eu-west-1' });

    // Act
    const maxAttempts = await client.config.maxAttempts();

    // Assess
    expect(maxAttempts).toBe(1);
  });
});
