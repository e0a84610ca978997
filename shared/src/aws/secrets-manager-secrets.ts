import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { systemClock, type Clock } from '../clock';
import { PermanentError, RetryableError } from '../errors';
import { silentLogger, type Logger } from '../logger';
import { awsErrorFacts, classifyAwsError, describeAwsError } from './sdk-errors';

/**
 * Secrets read from AWS Secrets Manager by ARN, for the Lambdas' module scope: fetched on first
 * use (not at import, so a cold start that fails to reach Secrets Manager fails an invocation
 * the runtime retries, not the container's init), then cached.
 *
 * - A value is reused for `ttlMs` (default 5 min), so a rotation reaches warm containers.
 * - Concurrent reads of one ARN share one request.
 * - When a refresh fails, the cached value is still served until `maxStaleMs` past its TTL
 *   (default 15 min), and Secrets Manager is not asked again for `retryAfterFailureMs`
 *   (default 30 s): an outage of Secrets Manager does not stop sending, nor does every
 *   invocation wait for its errors. With nothing cached, the error is thrown.
 *
 * Errors name the ARN, never the value (nor a JSON parser's message, which quotes its input).
 */

export interface SecretReadOptions {
  /** The secret is a JSON object: return this string field (`{"apiKey":"…"}` → `apiKey`). */
  jsonField?: string;
}

/** Reads a secret string by ARN. */
export interface SecretSource {
  get(arn: string, options?: SecretReadOptions): Promise<string>;
}

export interface SecretsManagerSecretsOptions {
  ttlMs?: number;
  maxStaleMs?: number;
  retryAfterFailureMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export const DEFAULT_SECRET_TTL_MS = 5 * 60_000;
export const DEFAULT_SECRET_MAX_STALE_MS = 15 * 60_000;
export const DEFAULT_SECRET_RETRY_AFTER_FAILURE_MS = 30_000;

interface Entry {
  value?: string;
  fetchedAt?: number;
  failedAt?: number;
  inFlight?: Promise<string>;
}

export class SecretsManagerSecrets implements SecretSource {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxStaleMs: number;
  private readonly retryAfterFailureMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(
    private readonly client: SecretsManagerClient,
    options: SecretsManagerSecretsOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_SECRET_TTL_MS;
    this.maxStaleMs = options.maxStaleMs ?? DEFAULT_SECRET_MAX_STALE_MS;
    this.retryAfterFailureMs = options.retryAfterFailureMs ?? DEFAULT_SECRET_RETRY_AFTER_FAILURE_MS;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  async get(arn: string, options: SecretReadOptions = {}): Promise<string> {
    const raw = await this.raw(arn);
    return options.jsonField === undefined ? raw : fieldOf(raw, options.jsonField, arn);
  }

  private async raw(arn: string): Promise<string> {
    const entry = this.entries.get(arn) ?? {};
    this.entries.set(arn, entry);
    const now = this.clock.now();
    if (entry.value !== undefined && entry.fetchedAt !== undefined) {
      if (now < entry.fetchedAt + this.ttlMs) return entry.value;
      const backingOff = entry.failedAt !== undefined && now < entry.failedAt + this.retryAfterFailureMs;
      if (backingOff && this.usableStale(entry, now)) return entry.value;
    }
    entry.inFlight ??= this.refresh(arn, entry).finally(() => {
      entry.inFlight = undefined;
    });
    return entry.inFlight;
  }

  private async refresh(arn: string, entry: Entry): Promise<string> {
    try {
      const value = await this.fetch(arn);
      entry.value = value;
      entry.fetchedAt = this.clock.now();
      entry.failedAt = undefined;
      return value;
    } catch (err) {
      const now = this.clock.now();
      if (entry.value === undefined || !this.usableStale(entry, now)) throw err;
      entry.failedAt = now;
      this.logger.warn(
        { event: 'secret.refresh_failed', arn, code: (err as { code?: string }).code, ageMs: now - (entry.fetchedAt ?? now) },
        'could not refresh a secret; serving the cached value',
      );
      return entry.value;
    }
  }

  private usableStale(entry: Entry, now: number): boolean {
    return entry.fetchedAt !== undefined && now < entry.fetchedAt + this.ttlMs + this.maxStaleMs;
  }

  private async fetch(arn: string): Promise<string> {
    let out;
    try {
      out = await this.client.send(new GetSecretValueCommand({ SecretId: arn }));
    } catch (err) {
      throw translateSecretsManagerError(err, arn);
    }
    if (typeof out.SecretString !== 'string') {
      throw new PermanentError('SECRET_NOT_STRING', `secret ${arn} has no string value (binary secrets are not supported)`);
    }
    if (out.SecretString.length === 0) throw new PermanentError('SECRET_EMPTY', `secret ${arn} is empty`);
    return out.SecretString;
  }
}

/**
 * A reader with its own client (the SDK's defaults: region and credentials from the runtime), for
 * an entry point's module scope, so that callers need not depend on the SDK package themselves.
 */
export function createSecretsManagerSecrets(options: SecretsManagerSecretsOptions & { region?: string } = {}): SecretsManagerSecrets {
  const { region, ...rest } = options;
  return new SecretsManagerSecrets(new SecretsManagerClient(region !== undefined ? { region } : {}), rest);
}

function fieldOf(raw: string, field: string, arn: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // The parser's message quotes the input, i.e. the secret: neither it nor the cause is kept.
    throw new PermanentError('SECRET_NOT_JSON', `secret ${arn} is not a JSON object, so it has no field "${field}"`);
  }
  const value =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>)[field] : undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new PermanentError('SECRET_FIELD_MISSING', `secret ${arn} has no non-empty string field "${field}"`);
  }
  return value;
}

/**
 * Secrets Manager's errors in Baton's hierarchy. Reading is harmless to repeat, so every
 * transport failure is retryable; a KMS key the role may not use is an access problem.
 */
function translateSecretsManagerError(err: unknown, arn: string): unknown {
  const what = `Secrets Manager GetSecretValue ${arn}: ${describeAwsError(err)}`;
  if (awsErrorFacts(err).codes.includes('DecryptionFailure')) return new PermanentError('SECRET_ACCESS_DENIED', what, { cause: err });
  switch (classifyAwsError(err)) {
    case 'throttled':
      return new RetryableError('SECRET_THROTTLED', what, { cause: err });
    case 'unavailable':
    case 'unreachable':
    case 'timeout':
      return new RetryableError('SECRET_UNAVAILABLE', what, { cause: err });
    case 'access-denied':
      return new PermanentError('SECRET_ACCESS_DENIED', what, { cause: err });
    case 'not-found':
      return new PermanentError('SECRET_NOT_FOUND', what, { cause: err });
    case 'rejected':
      return new PermanentError('SECRET_REQUEST_REJECTED', what, { cause: err });
    case undefined:
      return err;
  }
}
