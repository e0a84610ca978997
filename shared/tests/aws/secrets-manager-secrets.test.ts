import {
  DecryptionFailure,
  GetSecretValueCommand,
  InternalServiceError,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { ManualClock } from '../../src/clock';
import { PermanentError, RetryableError } from '../../src/errors';
import { createLogger } from '../../src/logger';
import { SecretsManagerSecrets, createSecretsManagerSecrets } from '../../src/aws/secrets-manager-secrets';

const sm = mockClient(SecretsManagerClient);
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:baton/mailgun-AbCdEf';
const OTHER_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:baton/lease-token-XyZ123';
const VALUE = 'key-0123456789abcdef';

function throttling(): SecretsManagerServiceException {
  return new SecretsManagerServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'Rate exceeded',
  });
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

let clock: ManualClock;
let secrets: SecretsManagerSecrets;

beforeEach(() => {
  sm.reset();
  clock = new ManualClock(1_000_000);
  secrets = new SecretsManagerSecrets(new SecretsManagerClient({ region: 'eu-west-1' }), {
    clock,
    ttlMs: 60_000,
    maxStaleMs: 120_000,
    retryAfterFailureMs: 10_000,
  });
});

describe('SecretsManagerSecrets.get', () => {
  it('reads the secret string by ARN', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolves({ SecretString: VALUE });

    // Act
    const got = await secrets.get(ARN);

    // Assess
    expect(got).toBe(VALUE);
    expect(sm.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: ARN });
  });

  it('returns one field of a JSON secret when asked for it', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ apiKey: VALUE, note: 'x' }) });

    // Act
    const got = await secrets.get(ARN, { jsonField: 'apiKey' });

    // Assess
    expect(got).toBe(VALUE);
  });

  it('refuses a JSON field that is missing, naming the ARN and the field but not the value', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ key: VALUE }) });

    // Act
    const reading = secrets.get(ARN, { jsonField: 'apiKey' });

    // Assess
    await expect(reading).rejects.toBeInstanceOf(PermanentError);
    await expect(reading).rejects.toMatchObject({ code: 'SECRET_FIELD_MISSING', message: expect.stringContaining(ARN) });
    await expect(reading).rejects.toMatchObject({ message: expect.stringContaining('"apiKey"') });
    await expect(reading).rejects.toMatchObject({ message: expect.not.stringContaining(VALUE) });
  });

  it('refuses a secret that is not JSON when a field is asked for, without quoting it or keeping the parser error', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolves({ SecretString: VALUE });

    // Act
    const error = await secrets.get(ARN, { jsonField: 'apiKey' }).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: 'SECRET_NOT_JSON' });
    expect(String((error as Error).message)).not.toContain(VALUE);
    expect((error as Error).cause).toBeUndefined();
  });

  it('refuses a binary-only or empty secret with a permanent error', async () => {
    // Prepare
    sm.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretBinary: new Uint8Array([1, 2]) });
    sm.on(GetSecretValueCommand, { SecretId: OTHER_ARN }).resolves({ SecretString: '' });

    // Act
    const binary = secrets.get(ARN);
    const empty = secrets.get(OTHER_ARN);

    // Assess
    await expect(binary).rejects.toMatchObject({ code: 'SECRET_NOT_STRING', kind: 'permanent' });
    await expect(empty).rejects.toMatchObject({ code: 'SECRET_EMPTY', kind: 'permanent' });
  });
});

describe('SecretsManagerSecrets error translation', () => {
  it('turns throttling into a retryable error that keeps the cause', async () => {
    // Prepare
    const cause = throttling();
    sm.on(GetSecretValueCommand).rejects(cause);

    // Act
    const error = await secrets.get(ARN).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'SECRET_THROTTLED', cause });
    expect((error as Error).message).toContain(ARN);
  });

  it('turns an internal service error or a reset connection into a retryable error', async () => {
    // Prepare
    sm.on(GetSecretValueCommand, { SecretId: ARN }).rejects(
      new InternalServiceError({ $metadata: { httpStatusCode: 500 }, message: 'oops' }),
    );
    sm.on(GetSecretValueCommand, { SecretId: OTHER_ARN }).rejects(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));

    // Act
    const internal = secrets.get(ARN);
    const reset = secrets.get(OTHER_ARN);

    // Assess
    await expect(internal).rejects.toMatchObject({ code: 'SECRET_UNAVAILABLE', kind: 'retryable' });
    await expect(reset).rejects.toMatchObject({ code: 'SECRET_UNAVAILABLE', kind: 'retryable' });
  });

  it('names the ARN of a secret that does not exist, in a permanent error', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({ $metadata: { httpStatusCode: 400 }, message: "Secrets Manager can't find the specified secret." }),
    );

    // Act
    const reading = secrets.get(ARN);

    // Assess
    await expect(reading).rejects.toBeInstanceOf(PermanentError);
    await expect(reading).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND', message: expect.stringContaining(ARN) });
  });

  it('reports access denied, by IAM or by the KMS key, as a permanent error naming the ARN', async () => {
    // Prepare
    sm.on(GetSecretValueCommand, { SecretId: ARN }).rejects(
      new SecretsManagerServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'not authorized',
      }),
    );
    sm.on(GetSecretValueCommand, { SecretId: OTHER_ARN }).rejects(
      new DecryptionFailure({ $metadata: { httpStatusCode: 400 }, message: 'kms said no' }),
    );

    // Act
    const iam = secrets.get(ARN);
    const kms = secrets.get(OTHER_ARN);

    // Assess
    await expect(iam).rejects.toMatchObject({ code: 'SECRET_ACCESS_DENIED', kind: 'permanent', message: expect.stringContaining(ARN) });
    await expect(kms).rejects.toMatchObject({
      code: 'SECRET_ACCESS_DENIED',
      kind: 'permanent',
      message: expect.stringContaining(OTHER_ARN),
    });
  });

  it('rethrows an error that is neither the SDK nor the network untouched', async () => {
    // Prepare
    const bug = new TypeError('cannot read properties of undefined');
    sm.on(GetSecretValueCommand).rejects(bug);

    // Act
    const reading = secrets.get(ARN);

    // Assess
    await expect(reading).rejects.toBe(bug);
  });
});

describe('SecretsManagerSecrets cache', () => {
  it('serves a value from the cache until its TTL has passed, then reads it again', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'first' }).resolves({ SecretString: 'rotated' });
    await secrets.get(ARN);

    // Act
    clock.advance(59_999);
    const withinTtl = await secrets.get(ARN);
    clock.advance(1);
    const afterTtl = await secrets.get(ARN);

    // Assess
    expect(withinTtl).toBe('first');
    expect(afterTtl).toBe('rotated');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('caches each ARN on its own, and serves every JSON field from one read', async () => {
    // Prepare
    sm.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: JSON.stringify({ apiKey: 'k', user: 'u' }) });
    sm.on(GetSecretValueCommand, { SecretId: OTHER_ARN }).resolves({ SecretString: 'token' });

    // Act
    const got = [
      await secrets.get(ARN, { jsonField: 'apiKey' }),
      await secrets.get(ARN, { jsonField: 'user' }),
      await secrets.get(OTHER_ARN),
    ];

    // Assess
    expect(got).toEqual(['k', 'u', 'token']);
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([ARN, OTHER_ARN]);
  });

  it('shares one request between concurrent reads of the same ARN', async () => {
    // Prepare
    const answer = deferred<{ SecretString: string }>();
    sm.on(GetSecretValueCommand).callsFake(() => answer.promise);

    // Act
    const readers = Array.from({ length: 10 }, () => secrets.get(ARN));
    answer.resolve({ SecretString: VALUE });
    const got = await Promise.all(readers);

    // Assess
    expect(got).toEqual(Array(10).fill(VALUE));
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('shares one failure between concurrent first reads, and asks again on the next read', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).rejectsOnce(throttling()).resolves({ SecretString: VALUE });

    // Act
    const first = await Promise.allSettled([secrets.get(ARN), secrets.get(ARN)]);
    const next = await secrets.get(ARN);

    // Assess
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(next).toBe(VALUE);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('keeps serving the cached value when a refresh fails, and backs off before asking again', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'cached' }).rejects(throttling());
    await secrets.get(ARN);
    clock.advance(60_000);

    // Act
    const onFailure = await secrets.get(ARN);
    clock.advance(9_999);
    const duringBackoff = await secrets.get(ARN);
    const callsDuringBackoff = sm.commandCalls(GetSecretValueCommand).length;
    clock.advance(1);
    const afterBackoff = await secrets.get(ARN);

    // Assess
    expect([onFailure, duringBackoff, afterBackoff]).toEqual(['cached', 'cached', 'cached']);
    expect(callsDuringBackoff).toBe(2);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  it('logs a served stale value with the ARN and the error code, never the value', async () => {
    // Prepare
    const written: string[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void written.push(line) } });
    const logged = new SecretsManagerSecrets(new SecretsManagerClient({ region: 'eu-west-1' }), { clock, ttlMs: 60_000, logger });
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: VALUE }).rejects(throttling());
    await logged.get(ARN);
    clock.advance(60_000);

    // Act
    await logged.get(ARN);

    // Assess
    expect(written).toHaveLength(1);
    expect(JSON.parse(written[0]!)).toMatchObject({ level: 'warn', event: 'secret.refresh_failed', arn: ARN, code: 'SECRET_THROTTLED' });
    expect(written[0]).not.toContain(VALUE);
  });

  it('stops serving a stale value once the stale period is over, and throws the refresh error', async () => {
    // Prepare: TTL 60 s plus 120 s of staleness
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'cached' })
      .rejects(new ResourceNotFoundException({ $metadata: { httpStatusCode: 400 }, message: 'gone' }));
    await secrets.get(ARN);

    // Act
    clock.advance(179_999);
    const lastStale = await secrets.get(ARN);
    clock.advance(1);
    const expired = secrets.get(ARN);

    // Assess
    expect(lastStale).toBe('cached');
    await expect(expired).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
  });

  it('takes a fresh value again after a failed refresh, restarting the TTL', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'old' }).rejectsOnce(throttling()).resolves({ SecretString: 'new' });
    await secrets.get(ARN);
    clock.advance(60_000);
    await secrets.get(ARN); // fails, serves "old"

    // Act
    clock.advance(10_000);
    const refreshed = await secrets.get(ARN);
    clock.advance(59_999);
    const cached = await secrets.get(ARN);

    // Assess
    expect([refreshed, cached]).toEqual(['new', 'new']);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  it('uses five minutes as the default TTL', async () => {
    // Prepare
    const defaults = new SecretsManagerSecrets(new SecretsManagerClient({ region: 'eu-west-1' }), { clock });
    sm.on(GetSecretValueCommand).resolves({ SecretString: VALUE });
    await defaults.get(ARN);

    // Act
    clock.advance(5 * 60_000 - 1);
    await defaults.get(ARN);
    clock.advance(1);
    await defaults.get(ARN);

    // Assess
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });
});

describe('createSecretsManagerSecrets', () => {
  it('builds a reader over its own client', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolves({ SecretString: VALUE });
    const reader = createSecretsManagerSecrets({ region: 'eu-west-1', clock });

    // Act
    const got = await reader.get(ARN);

    // Assess
    expect(got).toBe(VALUE);
  });
});
