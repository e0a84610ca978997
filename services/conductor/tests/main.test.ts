import { EventEmitter } from 'node:events';
import { S3Client } from '@aws-sdk/client-s3';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { ConfigError, silentLogger } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { mockClient } from 'aws-sdk-client-mock';
import { serveS3FromMemory } from '../../../shared/tests/object-store/s3-over-memory';
import { loadConductorEnv, startConductorOnAws, stopOnSignals, type ConductorOnAws } from '../src/main';
import type { ConductorService } from '../src/service';

const s3 = mockClient(S3Client);
const sns = mockClient(SNSClient);
mockClient(LambdaClient);

/** What the task definition sets: the AWS names, and the credentials ECS injects from Secrets Manager. */
const env = {
  BATON_STAGE: 'qa',
  QA_ALLOWED_RECIPIENTS: '@qa.example.com',
  BATON_CAMPAIGNS_BUCKET: 'baton-qa-campaigns',
  BATON_STUBS_BUCKET: 'baton-qa-stubs',
  BATON_RENDERED_BUCKET: 'baton-qa-rendered',
  BATON_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:baton-qa-campaign-requested',
  BATON_WORKER_FUNCTION: 'baton-qa-worker',
  BATON_PUBLIC_URL: 'https://baton.qa.example.com',
  BATON_API_TOKEN: 'api-token-0123456789abcdef',
  BATON_LEASE_TOKEN: 'lease-token-0123456789abcdef',
  BATON_UNSUBSCRIBE_SECRET: 'unsubscribe-secret-0123456789',
  MAILGUN_WEBHOOK_SIGNING_KEY: 'webhook-signing-key-0123456789',
  PORT: '0',
  LOG_LEVEL: 'silent',
};

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

beforeEach(() => {
  s3.reset();
  sns.reset();
});

describe('loadConductorEnv', () => {
  it('reads the shared configuration and the AWS names, with the default drain bound', () => {
    // Act
    const { config, aws } = loadConductorEnv(env);

    // Assess
    expect(config.BATON_STAGE).toBe('qa');
    expect(aws).toEqual({
      BATON_CAMPAIGNS_BUCKET: 'baton-qa-campaigns',
      BATON_STUBS_BUCKET: 'baton-qa-stubs',
      BATON_RENDERED_BUCKET: 'baton-qa-rendered',
      BATON_TOPIC_ARN: env.BATON_TOPIC_ARN,
      BATON_WORKER_FUNCTION: 'baton-qa-worker',
      BATON_DRAIN_MS: 25_000,
    });
  });

  it('reports the bad variables of both configurations in one error, one line each', () => {
    // Act
    const error = configErrorOf(() => loadConductorEnv({ ...env, PER_MINUTE_MAX: 'lots', BATON_TOPIC_ARN: '', BATON_DRAIN_MS: '1000000' }));

    // Assess
    expect(error.issues.map((i) => i.where)).toEqual(['PER_MINUTE_MAX', 'BATON_TOPIC_ARN', 'BATON_DRAIN_MS']);
  });

  it('requires the tokens, the unsubscribe secret, the webhook signing key and the public URL on AWS, even in dev', () => {
    // Act
    const error = configErrorOf(() =>
      loadConductorEnv({
        ...env,
        BATON_STAGE: 'dev',
        BATON_API_TOKEN: '',
        BATON_LEASE_TOKEN: '',
        BATON_UNSUBSCRIBE_SECRET: '',
        MAILGUN_WEBHOOK_SIGNING_KEY: '',
        BATON_PUBLIC_URL: '',
      }),
    );

    // Assess
    expect(error.issues).toEqual([
      { where: 'BATON_API_TOKEN', message: 'is required on AWS (unset)' },
      { where: 'BATON_LEASE_TOKEN', message: 'is required on AWS (unset)' },
      { where: 'BATON_UNSUBSCRIBE_SECRET', message: 'is required on AWS (unset)' },
      { where: 'MAILGUN_WEBHOOK_SIGNING_KEY', message: 'is required on AWS (unset)' },
      { where: 'BATON_PUBLIC_URL', message: 'is required on AWS (unset)' },
    ]);
  });
});

describe('startConductorOnAws', () => {
  it('listens on every interface, serves /healthz, and publishes a campaign sent through the API to the SNS topic', async () => {
    // Prepare: S3 answered from memory, starting empty
    const memory = new MemoryObjectStore();
    serveS3FromMemory(s3, memory);
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const clients = {
      s3: new S3Client({ region: 'eu-west-1' }),
      sns: new SNSClient({ region: 'eu-west-1' }),
      lambda: new LambdaClient({ region: 'eu-west-1' }),
    };
    const running = await startConductorOnAws(env, clients);
    try {
      const base = `http://127.0.0.1:${new URL(running.url).port}`;
      const auth = { authorization: `Bearer ${env.BATON_API_TOKEN}`, 'content-type': 'application/json' };

      // Act
      const health = await fetch(`${base}/healthz`);
      const created = await fetch(`${base}/api/campaigns`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({
          name: 'Smoke',
          customerId: 'acme',
          from: 'Acme <news@acme.example>',
          subject: 'Hello {{ first_name }}',
          mjml: '<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ first_name }}</mj-text></mj-column></mj-section></mj-body></mjml>',
          audienceCsv: 'email,first_name\nqa@qa.example.com,Q\n',
        }),
      });
      const { id } = (await created.json()) as { id: string };
      const sent = await fetch(`${base}/api/campaigns/${id}/send`, { method: 'POST', headers: auth, body: '{}' });

      // Assess
      expect(running.url).toMatch(/^http:\/\/(0\.0\.0\.0|\[::\]|127\.0\.0\.1):\d+$/);
      expect(health.status).toBe(200);
      expect(created.status).toBe(201);
      expect(sent.status).toBe(202);
      const publish = sns.commandCalls(PublishCommand)[0]!.args[0].input;
      expect(publish.TopicArn).toBe(env.BATON_TOPIC_ARN);
      expect(JSON.parse(publish.Message!)).toMatchObject({ type: 'campaign.requested', customerId: 'acme', campaignId: id });
      expect([...memory.objects.keys()].some((k) => k.startsWith(`${env.BATON_CAMPAIGNS_BUCKET}/campaigns/acme/${id}/`))).toBe(true);
    } finally {
      await running.service.stop(0);
    }
  });
});

describe('stopOnSignals', () => {
  function fakeRunning(stop: (drainMs: number) => Promise<void>): ConductorOnAws {
    return { service: { stop } as unknown as ConductorService, url: 'http://0.0.0.0:8080', drainMs: 25_000, logger: silentLogger };
  }

  it('drains with the configured bound on SIGTERM, then exits 0', async () => {
    // Prepare
    const signals = new EventEmitter();
    const drained: number[] = [];
    const exited = new Promise<number>((resolve) =>
      stopOnSignals(
        fakeRunning(async (ms) => void drained.push(ms)),
        signals,
        resolve,
      ),
    );

    // Act
    signals.emit('SIGTERM', 'SIGTERM');

    // Assess
    expect(await exited).toBe(0);
    expect(drained).toEqual([25_000]);
  });

  it('exits 1 when stopping fails', async () => {
    // Prepare
    const signals = new EventEmitter();
    const exited = new Promise<number>((resolve) =>
      stopOnSignals(
        fakeRunning(async () => Promise.reject(new Error('close failed'))),
        signals,
        resolve,
      ),
    );

    // Act
    signals.emit('SIGINT', 'SIGINT');

    // Assess
    expect(await exited).toBe(1);
  });

  it('exits 1 at once on a second signal while draining, and drains only once', () => {
    // Prepare
    const signals = new EventEmitter();
    const codes: number[] = [];
    let stops = 0;
    stopOnSignals(
      fakeRunning(() => (stops++, new Promise<void>(() => {}))),
      signals,
      (code) => codes.push(code),
    );

    // Act
    signals.emit('SIGTERM', 'SIGTERM');
    signals.emit('SIGINT', 'SIGINT');

    // Assess
    expect(stops).toBe(1);
    expect(codes).toEqual([1]);
  });
});
