/**
 * What an AWS SDK v3 error (or a network error under it) says, read by shape rather than by
 * class: each client package has its own exception classes, and errors thrown by Node's HTTP
 * stack are not SDK classes at all. No SDK import here, so every adapter can share it.
 *
 * Adapters turn the `AwsFailure` into Baton's hierarchy with their own codes; the distinction
 * between `unreachable` (no request ever left) and `timeout` (it may have arrived) matters to
 * callers for which a repeat is not harmless.
 */

export type AwsFailure =
  /** The service asked us to slow down (throttling codes, 429). */
  | 'throttled'
  /** The service is temporarily unable (5xx, its own timeout answers). */
  | 'unavailable'
  /** No connection was made: the request never reached the service. */
  | 'unreachable'
  /** The connection broke or went quiet after the request was sent: it may have taken effect. */
  | 'timeout'
  /** Credentials or permissions refused (403, AccessDenied, expired token). */
  | 'access-denied'
  /** The named resource does not exist (404, *NotFound*). */
  | 'not-found'
  /** Any other 4xx: the same request gets the same answer. */
  | 'rejected';

export interface AwsErrorFacts {
  /** The error's names: the service's code, the Node code, the class name, whichever it has. */
  codes: string[];
  status: number | undefined;
  /** Whether the error came from an SDK client (it carries `$metadata` or `$fault`). */
  fromSdk: boolean;
  message: string | undefined;
}

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $response?: { statusCode?: unknown };
  cause?: unknown;
}

function shapeOf(err: unknown): SdkErrorShape {
  return typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
}

export function awsErrorFacts(err: unknown): AwsErrorFacts {
  const e = shapeOf(err);
  // undici and some handlers put the socket error in `cause`: its code is the useful one.
  const cause = shapeOf(e.cause);
  const codes = [e.name, e.Code, e.code, cause.code].filter((c): c is string => typeof c === 'string' && c.length > 0);
  const rawStatus = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  return {
    codes,
    status: typeof rawStatus === 'number' ? rawStatus : undefined,
    fromSdk: e.$metadata !== undefined || e.$fault !== undefined,
    message: typeof e.message === 'string' ? e.message : undefined,
  };
}

const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'Throttled',
  'ThrottledException',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ProvisionedThroughputExceededException',
  'EC2ThrottledException',
  'KMSThrottlingException',
]);
const UNAVAILABLE = new Set([
  'InternalError',
  'InternalFailure',
  'InternalServiceError',
  'InternalServiceErrorException',
  'ServiceException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'ResourceNotReadyException',
  'ResourceConflictException',
]);
/** Node and undici codes for a connection that was never made. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
/** Codes for a connection that broke or stalled once the request may have gone out. */
const TIMEOUT = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET', 'TimeoutError', 'NetworkingError']);
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'AuthorizationError',
  'AuthorizationErrorException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidAccessKeyId',
  'MissingAuthenticationToken',
  'KMSAccessDeniedException',
  // No credentials could be found at all: a deployment mistake, not a passing fault.
  'CredentialsProviderError',
]);
const NOT_FOUND = new Set(['ResourceNotFoundException', 'NotFound', 'NotFoundException']);

/**
 * Sorts an error into one failure class, or `undefined` when it is neither the SDK's nor the
 * network's (a bug in our code: callers rethrow it untouched).
 */
export function classifyAwsError(err: unknown): AwsFailure | undefined {
  const { codes, status, fromSdk, message } = awsErrorFacts(err);
  const has = (set: Set<string>) => codes.some((c) => set.has(c));
  if (has(THROTTLED) || status === 429) return 'throttled';
  // The SDK names a connect timeout like any other timeout; only its message tells that no request left.
  if (has(UNREACHABLE) || (codes.includes('TimeoutError') && /did not establish a connection/.test(message ?? ''))) return 'unreachable';
  if (has(TIMEOUT)) return 'timeout';
  // Named refusals first: Lambda's KMSAccessDeniedException, for one, arrives as a 502.
  if (has(ACCESS_DENIED)) return 'access-denied';
  if (has(UNAVAILABLE) || (status !== undefined && status >= 500)) return 'unavailable';
  if (status === 403 || status === 401) return 'access-denied';
  if (has(NOT_FOUND) || status === 404) return 'not-found';
  if (status !== undefined && status >= 400) return 'rejected';
  // A service error with no usable status (a proxy's garbled answer): worth another try.
  if (fromSdk) return 'unavailable';
  return undefined;
}

/** `ThrottlingException (400)`: the part of an SDK error that is safe to put in a message. */
export function describeAwsError(err: unknown): string {
  const { codes, status, message } = awsErrorFacts(err);
  const name = codes[0] ?? 'error';
  return `${name}${status !== undefined ? ` (${status})` : ''}${message !== undefined && message !== name ? `: ${message}` : ''}`;
}
