import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { InDoubtError, PermanentError, RetryableError, type WorkerInvocation } from '@baton/shared';
import { classifyAwsError, describeAwsError } from '@baton/shared/aws-errors';
import type { WorkerInvoker } from '../core/ports';

/** Lambda's limit on an asynchronous (`Event`) invocation's payload. */
export const ASYNC_PAYLOAD_LIMIT_BYTES = 1_048_576;

export interface LambdaClientSettings {
  region?: string;
  /** Another endpoint than AWS's (LocalStack, a test server). */
  endpoint?: string;
  /** Give up on connecting after this long (default 3 s): nothing was sent, so the conductor may retry. */
  connectionTimeoutMs?: number;
  /**
   * Give up on Lambda's answer after this long (default 10 s). An `Event` invoke is answered as
   * soon as it is queued, so this only bounds how long a stuck call can hold up a tick.
   */
  requestTimeoutMs?: number;
}

/**
 * The Lambda client for worker invocations: one attempt per call. The SDK would otherwise retry
 * a throttled or timed-out invoke on its own (3 attempts), and the conductor, which owns the
 * permits and the recipients of the lease, is the one to decide about another attempt.
 */
export function createLambdaClient(settings: LambdaClientSettings = {}): LambdaClient {
  return new LambdaClient({
    ...(settings.region !== undefined ? { region: settings.region } : {}),
    ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint } : {}),
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: settings.connectionTimeoutMs ?? 3_000,
      requestTimeout: settings.requestTimeoutMs ?? 10_000,
      // Without this the handler only warns when the request timeout passes, and keeps waiting.
      throwOnRequestTimeout: true,
    },
  });
}

export interface LambdaWorkerInvokerOptions {
  /** Name or ARN (optionally qualified) of the worker function. */
  functionName: string;
  /** Default `ASYNC_PAYLOAD_LIMIT_BYTES`. */
  maxPayloadBytes?: number;
}

/**
 * Starts a worker with an asynchronous (`Event`) invocation: resolves once Lambda has queued it
 * (202), not when the worker ends. The function should have `MaximumRetryAttempts: 0`: a failed
 * worker's recipients come back through the conductor, never through a blind re-run.
 *
 * Every failure rejects (the conductor then requeues the lease's recipients and keeps its
 * permits spent, so a worker that did start after all can never overspend the window):
 * - payload over the async limit, checked before any call  → PermanentError WORKER_PAYLOAD_TOO_LARGE
 * - TooManyRequestsException, 429 (concurrency exhausted)  → RetryableError WORKER_INVOKE_THROTTLED
 * - 5xx, a function not ready or being updated, no connection → RetryableError WORKER_INVOKE_UNAVAILABLE
 * - timeout or reset after the request went out            → InDoubtError   WORKER_INVOKE_IN_DOUBT
 * - AccessDenied, bad credentials                          → PermanentError WORKER_INVOKE_ACCESS_DENIED
 * - no such function, any other 4xx                        → PermanentError WORKER_INVOKE_REJECTED
 * - an answer other than 202, or a FunctionError            → PermanentError WORKER_INVOKE_FAILED
 */
export class LambdaWorkerInvoker implements WorkerInvoker {
  private readonly maxPayloadBytes: number;

  constructor(
    private readonly client: LambdaClient,
    private readonly options: LambdaWorkerInvokerOptions,
  ) {
    this.maxPayloadBytes = options.maxPayloadBytes ?? ASYNC_PAYLOAD_LIMIT_BYTES;
  }

  async invoke(invocation: WorkerInvocation): Promise<void> {
    const { leaseId } = invocation.lease;
    const payload = Buffer.from(JSON.stringify(invocation), 'utf8');
    if (payload.byteLength > this.maxPayloadBytes) {
      throw new PermanentError(
        'WORKER_PAYLOAD_TOO_LARGE',
        `lease ${leaseId}: the invocation is ${payload.byteLength} bytes, over Lambda's ${this.maxPayloadBytes}-byte limit for asynchronous invocations (lower BATCH_SIZE)`,
      );
    }
    let out;
    try {
      out = await this.client.send(
        new InvokeCommand({ FunctionName: this.options.functionName, InvocationType: 'Event', Payload: payload }),
      );
    } catch (err) {
      throw translateLambdaError(err, this.options.functionName, leaseId);
    }
    if (out.StatusCode !== 202 || out.FunctionError !== undefined) {
      const said = out.FunctionError !== undefined ? `function error ${out.FunctionError}` : `status ${out.StatusCode ?? 'missing'}`;
      throw new PermanentError(
        'WORKER_INVOKE_FAILED',
        `Lambda Invoke ${this.options.functionName} (lease ${leaseId}): ${said}, expected 202`,
      );
    }
  }
}

function translateLambdaError(err: unknown, functionName: string, leaseId: string): unknown {
  const what = `Lambda Invoke ${functionName} (lease ${leaseId}): ${describeAwsError(err)}`;
  switch (classifyAwsError(err)) {
    case 'throttled':
      return new RetryableError('WORKER_INVOKE_THROTTLED', what, { cause: err });
    case 'unavailable':
    case 'unreachable':
      return new RetryableError('WORKER_INVOKE_UNAVAILABLE', what, { cause: err });
    case 'timeout':
      return new InDoubtError('WORKER_INVOKE_IN_DOUBT', `${what} (the worker may have started)`, { cause: err });
    case 'access-denied':
      return new PermanentError('WORKER_INVOKE_ACCESS_DENIED', what, { cause: err });
    case 'not-found':
    case 'rejected':
      return new PermanentError('WORKER_INVOKE_REJECTED', what, { cause: err });
    case undefined:
      return err;
  }
}
