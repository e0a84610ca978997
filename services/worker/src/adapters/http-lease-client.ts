import {
  PermanentError,
  RetryableError,
  ValidationError,
  checkInResponse,
  parseJson,
  watchResponse,
  WATCH_HOLD_MS,
  parseWith,
  type CheckInRequest,
  type CheckInResponse,
  type RenewRequest,
  type WatchRequest,
} from '@baton/shared';
import type { LeaseClient } from '../core/ports';

export interface HttpLeaseClientOptions {
  /** The conductor's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** The lease API's bearer token (not the campaign API's). */
  token: string;
  /** Per check-in (default 10 s). */
  timeoutMs?: number;
}

export const CHECK_IN_PATH = '/lease/v1/check-in';
export const RENEW_PATH = '/lease/v1/renew';
export const WATCH_PATH = '/lease/v1/watch';
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The conductor's lease API over HTTP with the global `fetch`. Network failures, timeouts, 5xx,
 * 408 and 429 are `RetryableError`; other 4xx are `PermanentError` carrying the server's message;
 * a 2xx whose body is not a check-in response is a `ValidationError`.
 */
export function createHttpLeaseClient(options: HttpLeaseClientOptions): LeaseClient {
  if (!/^https?:\/\//.test(options.baseUrl)) {
    throw new ValidationError('LEASE_CLIENT_OPTIONS_INVALID', [{ where: 'baseUrl', message: 'must be an http(s) URL' }]);
  }
  if (!options.token) throw new ValidationError('LEASE_CLIENT_OPTIONS_INVALID', [{ where: 'token', message: 'is required' }]);
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function post<T>(path: string, body: unknown, parse: (json: unknown) => T, waitMs: number, signal?: AbortSignal): Promise<T> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([AbortSignal.timeout(waitMs), signal]) : AbortSignal.timeout(waitMs),
      });
      text = await response.text();
    } catch (error) {
      const name = fieldOf(error, 'name');
      const timedOut = name === 'TimeoutError' || name === 'AbortError';
      throw timedOut
        ? new RetryableError('LEASE_API_TIMEOUT', `no answer from the lease API within ${waitMs} ms`, { cause: error })
        : new RetryableError('LEASE_API_UNREACHABLE', `lease API unreachable: ${causeOf(error)}`, { cause: error });
    }

    if (!response.ok) {
      const said = serverMessage(text) || response.statusText;
      const message = `lease API answered ${response.status}: ${said}`;
      if (response.status >= 500 || response.status === 408 || response.status === 429) {
        throw new RetryableError('LEASE_API_UNAVAILABLE', message, retryAfter(response));
      }
      throw new PermanentError(response.status === 401 || response.status === 403 ? 'LEASE_API_AUTH' : 'LEASE_API_REJECTED', message);
    }
    return parse(parseJson(text, 'lease API response'));
  }

  const asCheckIn = (json: unknown) => parseWith(checkInResponse, json, 'LEASE_RESPONSE_INVALID', 'lease API response');
  const asWatch = (json: unknown) => parseWith(watchResponse, json, 'LEASE_RESPONSE_INVALID', 'lease API response');
  return {
    checkIn: (req: CheckInRequest): Promise<CheckInResponse> => post(CHECK_IN_PATH, req, asCheckIn, timeoutMs),
    renew: (req: RenewRequest): Promise<CheckInResponse> => post(RENEW_PATH, req, asCheckIn, timeoutMs),
    // Held by the conductor up to WATCH_HOLD_MS: the timeout is on top of that.
    watch: (req: WatchRequest, signal?: AbortSignal) => post(WATCH_PATH, req, asWatch, WATCH_HOLD_MS + timeoutMs, signal),
  };
}

/** `{ message }` or `{ error }` from a JSON body, else the start of the text. */
function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === 'object' && body !== null) {
      const { message, error } = body as { message?: unknown; error?: unknown };
      if (typeof message === 'string') return message;
      if (typeof error === 'string') return error;
    }
  } catch {
    // not JSON: fall through to the text
  }
  return text.trim().slice(0, 200);
}

function retryAfter(response: Response): { retryAfterMs?: number } {
  const header = response.headers.get('retry-after');
  const seconds = header === null ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? { retryAfterMs: seconds * 1000 } : {};
}

/**
 * A string property of an error. Duck-typed on purpose: fetch's errors come from Node's own
 * realm, so `instanceof Error` fails for them under a test runner's sandbox.
 */
function fieldOf(value: unknown, field: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const found = (value as Record<string, unknown>)[field];
  return typeof found === 'string' ? found : undefined;
}

/** undici hides the socket error in `cause`: `fetch failed` alone says nothing. */
function causeOf(error: unknown): string {
  const message = fieldOf(error, 'message') ?? String(error);
  const code = fieldOf((error as { cause?: unknown } | null)?.cause, 'code');
  return code === undefined ? message : `${message} (${code})`;
}
