import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type * as SecretsSdk from '@aws-sdk/client-secrets-manager';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { startMailgunSink, type MailgunSink } from '../../../../local/src/mailgun-sink';
import { serveS3FromMemory } from '../../../../shared/tests/object-store/s3-over-memory';
import { CHECK_IN_PATH } from '../../src/adapters/http-lease-client';
import { buckets, emails, idOf, leaseFor, seedRendered } from '../fakes';

type WorkerModule = typeof import('../../src/lambda/worker');

const MAILGUN_KEY_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:baton/qa/mailgun-AbCdEf';
const LEASE_TOKEN_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:baton/qa/lease-token-XyZ123';
const MAILGUN_KEY = 'key-from-secrets-manager-0123';
const LEASE_TOKEN = 'lease-token-from-secrets-manager-0123';

let sink: MailgunSink;
let conductor: Server;
let checkIns: { authorization: string | undefined; body: unknown }[];
let env: Record<string, string>;

beforeAll(async () => {
  sink = await startMailgunSink({ host: '127.0.0.1', port: 0, apiKey: MAILGUN_KEY });
  // The conductor's lease API, reduced to what a worker needs: record the check-in, no more work.
  conductor = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => {
      // A renewal (asked while the last calls are in flight) is not a check-in.
      if (req.url === CHECK_IN_PATH) checkIns.push({ authorization: req.headers.authorization, body: JSON.parse(text) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ lease: null }));
    });
  });
  await new Promise<void>((resolve) => conductor.listen(0, '127.0.0.1', resolve));
  env = {
    BATON_CAMPAIGNS_BUCKET: buckets.campaigns,
    BATON_RENDERED_BUCKET: buckets.rendered,
    BATON_CONDUCTOR_URL: `http://127.0.0.1:${(conductor.address() as AddressInfo).port}`,
    MAILGUN_API_KEY_SECRET_ARN: MAILGUN_KEY_ARN,
    BATON_LEASE_TOKEN_SECRET_ARN: LEASE_TOKEN_ARN,
    MAILGUN_URL: sink.url,
    MAILGUN_DOMAIN: 'mg.acme.test',
    BATON_STAGE: 'prod',
    LOG_LEVEL: 'silent',
  };
});

afterAll(async () => {
  await sink.close();
  conductor.closeAllConnections();
  await new Promise((resolve) => conductor.close(resolve));
});

beforeEach(() => {
  sink.clear();
  checkIns = [];
});

interface Container {
  handler: WorkerModule['handler'];
  secretsManager: AwsClientStub<SecretsSdk.SecretsManagerClient>;
  GetSecretValueCommand: typeof SecretsSdk.GetSecretValueCommand;
}

/** Loads the entry as a new container would: its own module registry, `vars` as the environment, S3 from `memory`. */
function newContainer(vars: Record<string, string>, memory = new MemoryObjectStore()): Container {
  const saved = process.env;
  process.env = { ...vars };
  let container: Container | undefined;
  try {
    jest.isolateModules(() => {
      const s3Sdk = require('@aws-sdk/client-s3') as typeof S3Sdk;
      const secretsSdk = require('@aws-sdk/client-secrets-manager') as typeof SecretsSdk;
      serveS3FromMemory(mockClient(s3Sdk.S3Client), memory, s3Sdk);
      const secretsManager = mockClient(secretsSdk.SecretsManagerClient);
      secretsManager.on(secretsSdk.GetSecretValueCommand, { SecretId: MAILGUN_KEY_ARN }).resolves({ SecretString: MAILGUN_KEY });
      secretsManager.on(secretsSdk.GetSecretValueCommand, { SecretId: LEASE_TOKEN_ARN }).resolves({ SecretString: LEASE_TOKEN });
      const { handler } = require('../../src/lambda/worker') as WorkerModule;
      container = { handler, secretsManager, GetSecretValueCommand: secretsSdk.GetSecretValueCommand };
    });
  } finally {
    process.env = saved;
  }
  return container!;
}

function liveLease(addresses: readonly string[], leaseId = 'lease-1') {
  const now = Date.now();
  return leaseFor(addresses, { leaseId, schedule: { start: now, sliceMs: 60_000, permits: [addresses.length] }, expiresAt: now + 120_000 });
}

describe('the worker Lambda entry', () => {
  it('fails at import, naming each missing or malformed variable, QA list included', async () => {
    // Act
    let error: unknown;
    try {
      newContainer({ ...env, BATON_STAGE: 'qa', BATON_CONDUCTOR_URL: 'conductor', MAILGUN_API_KEY_SECRET_ARN: '' });
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toMatchObject({ name: 'ConfigError' });
    expect((error as Error).message.split('\n').slice(1)).toEqual([
      '  BATON_CONDUCTOR_URL: must be an http(s) URL (got "conductor")',
      '  MAILGUN_API_KEY_SECRET_ARN: is required (unset)',
      '  QA_ALLOWED_RECIPIENTS: is required when BATON_STAGE=qa (QA may only email allowed addresses)',
    ]);
  });

  it('reads no secret at import; on the first lease, sends with the Mailgun key and checks in with the lease token from Secrets Manager', async () => {
    // Prepare
    const memory = new MemoryObjectStore();
    const addresses = emails(2);
    await seedRendered(memory, addresses);

    // Act
    const { handler, secretsManager, GetSecretValueCommand } = newContainer(env, memory);
    const readsAtImport = secretsManager.commandCalls(GetSecretValueCommand).length;
    const summary = await handler({ lease: liveLease(addresses) }, { getRemainingTimeInMillis: () => 60_000 });

    // Assess
    expect(readsAtImport).toBe(0);
    expect(summary).toMatchObject({ sent: 2, leases: 1 });
    expect(
      sink
        .messages()
        .map((m) => m.variables['recipient-id'])
        .sort(),
    ).toEqual(addresses.map(idOf).sort());
    expect(checkIns).toHaveLength(1);
    expect(checkIns[0]!.authorization).toBe(`Bearer ${LEASE_TOKEN}`);
  });

  it('keeps both secrets cached across invocations of a warm container', async () => {
    // Prepare
    const memory = new MemoryObjectStore();
    const { handler, secretsManager, GetSecretValueCommand } = newContainer(env, memory);
    await seedRendered(memory, emails(2));

    // Act
    await handler({ lease: liveLease(emails(1), 'lease-1') });
    await handler({ lease: liveLease(emails(2).slice(1), 'lease-2') });

    // Assess
    expect(sink.messages()).toHaveLength(2);
    expect(
      secretsManager
        .commandCalls(GetSecretValueCommand)
        .map((c) => c.args[0].input.SecretId)
        .sort(),
    ).toEqual([LEASE_TOKEN_ARN, MAILGUN_KEY_ARN].sort());
  });

  it('refuses a malformed invocation with an error naming the field, sending nothing', async () => {
    // Prepare
    const { handler } = newContainer(env);

    // Act
    const valid = liveLease(emails(1));
    const attempt = handler({ lease: { ...valid, schedule: { ...valid.schedule, permits: [-1] } } });

    // Assess
    await expect(attempt).rejects.toMatchObject({
      code: 'EVENT_INVALID',
      message: expect.stringContaining('event.lease.schedule.permits.0'),
    });
    expect(sink.messages()).toHaveLength(0);
  });
});
