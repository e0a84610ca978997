import { ValidationError, keys, type SnsEvent } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { RecordsFailedError } from '../../src/errors';
import { createStubberHandler } from '../../src/handlers/stubber-handler';
import { buckets, caught, keysIn, ref, seedCampaign } from '../fixtures';

const requested = { version: 1, type: 'campaign.requested', ...ref, requestedAt: '2025-01-01T00:00:00.000Z' };

function snsEvent(...messages: unknown[]): SnsEvent {
  return {
    Records: messages.map((m, i) => ({
      EventSource: 'aws:sns',
      Sns: { MessageId: `m-${i}`, Message: typeof m === 'string' ? m : JSON.stringify(m) },
    })),
  };
}

async function setUp() {
  const store = new MemoryObjectStore();
  await seedCampaign(store, { csv: 'email\nann@example.com\nbob@example.com\n' });
  return { store, handler: createStubberHandler({ store, buckets }) };
}

describe('the stubber handler', () => {
  it('stubs the campaign a "campaign requested" message names', async () => {
    // Prepare
    const { store, handler } = await setUp();

    // Act
    await handler(snsEvent(requested));

    // Assess
    expect(keysIn(store, buckets.stubs)).toHaveLength(2);
    expect(await store.get(buckets.campaigns, keys.audienceReport(ref))).toBeDefined();
  });

  it('is safe to deliver the same message twice', async () => {
    // Prepare
    const { store, handler } = await setUp();
    await handler(snsEvent(requested));
    const before = new Map(store.objects);

    // Act
    await handler(snsEvent(requested));

    // Assess
    expect(store.objects).toEqual(before);
  });

  it('rejects an event that is not an SNS event with a ValidationError naming where', async () => {
    // Prepare
    const { handler } = await setUp();

    // Act
    const error = await caught(() => handler({ Records: [{ Sns: {} }] }));

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([{ where: 'event.Records.0.Sns.Message', message: expect.any(String) }]);
  });

  it('rejects a message that is not JSON, naming the record', async () => {
    // Prepare
    const { handler } = await setUp();

    // Act
    const error = await caught(() => handler(snsEvent('{not json')));

    // Assess
    expect(error).toMatchObject({
      code: 'JSON_INVALID',
      issues: [{ where: 'event.Records.0.Sns.Message', message: expect.stringContaining('not valid JSON') }],
    });
  });

  it('rejects a message of the wrong shape, naming the field', async () => {
    // Prepare
    const { handler } = await setUp();

    // Act
    const error = await caught(() => handler(snsEvent({ ...requested, campaignId: '../other' })));

    // Assess
    expect(error).toMatchObject({
      code: 'MESSAGE_INVALID',
      issues: [{ where: 'event.Records.0.Sns.Message.campaignId', message: expect.any(String) }],
    });
  });

  it('stubs the good records of an event before reporting the bad ones', async () => {
    // Prepare
    const { store, handler } = await setUp();

    // Act
    const error = await caught(() => handler(snsEvent({ type: 'something else' }, requested)));

    // Assess
    expect(error).toBeInstanceOf(RecordsFailedError);
    expect(error).toMatchObject({
      message: expect.stringMatching(/^1 of 2 records failed: #0 event.Records.0.Sns.Message: MESSAGE_INVALID/),
    });
    expect(keysIn(store, buckets.stubs)).toHaveLength(2);
  });

  it('passes on the clear error of a campaign that does not exist', async () => {
    // Prepare
    const { handler } = await setUp();

    // Act
    const error = await caught(() => handler(snsEvent({ ...requested, campaignId: 'c-missing' })));

    // Assess
    expect(error).toMatchObject({ code: 'CAMPAIGN_NOT_FOUND' });
  });
});
