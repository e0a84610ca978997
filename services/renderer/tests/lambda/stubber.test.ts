import { S3Client } from '@aws-sdk/client-s3';
import { keys, STUBS_PREFIX, type SnsEvent } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { mockClient } from 'aws-sdk-client-mock';
import { serveS3FromMemory } from '../../../../shared/tests/object-store/s3-over-memory';
import { buckets, caught, ref, seedCampaign } from '../fixtures';

type StubberModule = typeof import('../../src/lambda/stubber');

const s3 = mockClient(S3Client);
const env = { BATON_CAMPAIGNS_BUCKET: buckets.campaigns, BATON_STUBS_BUCKET: buckets.stubs, LOG_LEVEL: 'silent' };

/** Requires the entry module with `vars` as the whole environment of its module scope. */
function requireWith<T>(vars: Record<string, string>, load: () => T): T {
  const saved = process.env;
  process.env = { ...vars };
  try {
    return load();
  } finally {
    process.env = saved;
  }
}

function snsEventFor(message: unknown): SnsEvent {
  return { Records: [{ EventSource: 'aws:sns', Sns: { MessageId: 'm-1', Message: JSON.stringify(message) } }] };
}

beforeEach(() => s3.reset());

describe('the stubber Lambda entry', () => {
  it('fails at import, as a new container would, naming every missing variable', async () => {
    // Act: a module registry of its own, so the failed module scope is not cached for the next test
    const error = await caught(() =>
      requireWith({ LOG_LEVEL: 'silent' }, () => jest.isolateModules(() => require('../../src/lambda/stubber'))),
    );

    // Assess
    expect(error).toMatchObject({ name: 'ConfigError', code: 'CONFIG_INVALID' });
    expect((error as Error).message).toMatch(/BATON_CAMPAIGNS_BUCKET: is required[\s\S]*BATON_STUBS_BUCKET: is required/);
  });

  it('exports a handler that stubs a requested campaign into the buckets the environment names', async () => {
    // Prepare: S3 answered from memory
    const memory = new MemoryObjectStore();
    serveS3FromMemory(s3, memory);
    await seedCampaign(memory, { csv: 'email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n' });
    const { handler } = requireWith(env, () => require('../../src/lambda/stubber') as StubberModule);

    // Act
    await handler(snsEventFor({ version: 1, type: 'campaign.requested', ...ref, requestedAt: '2025-06-01T10:00:00.000Z' }));

    // Assess
    const stubs = [...memory.objects.keys()].filter((k) => k.startsWith(`${buckets.stubs}/${STUBS_PREFIX}`));
    expect(stubs).toHaveLength(2);
    expect(memory.objects.has(`${buckets.campaigns}/${keys.audienceReport(ref)}`)).toBe(true);
  });

  it('refuses a malformed SNS event with an error naming the field', async () => {
    // Prepare
    const { handler } = requireWith(env, () => require('../../src/lambda/stubber') as StubberModule);

    // Act
    const error = await caught(() => handler({ Records: [{ Sns: {} }] }));

    // Assess
    expect(error).toMatchObject({ code: 'EVENT_INVALID', message: expect.stringContaining('event.Records.0.Sns.Message') });
  });
});
