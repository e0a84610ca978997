import { ValidationError, encodeS3EventKey, keys, recipientIdFor, type S3Event } from '@baton/shared';
import type { ObjectStore } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { TemplateCache } from '@baton/templating';
import { stubCampaign } from '../../src/core/stubber';
import { RecordsFailedError } from '../../src/errors';
import { createRenderHandler } from '../../src/handlers/render-handler';
import { buckets, caught, keysIn, mjmlBody, publicUrl, ref, unsubscribeSecret, seedCampaign } from '../fixtures';

function idOf(email: string): string {
  return recipientIdFor(ref.customerId, email);
}

function stubKeyOf(email: string): string {
  return keys.stub({ ...ref, recipientId: idOf(email) });
}

function s3Event(...records: { key: string; eventName?: string; bucket?: string }[]): S3Event {
  return {
    Records: records.map((r) => ({
      eventSource: 'aws:s3',
      eventName: r.eventName ?? 'ObjectCreated:Put',
      s3: { bucket: { name: r.bucket ?? buckets.stubs }, object: { key: r.key } },
    })),
  };
}

async function setUp() {
  const store = new MemoryObjectStore();
  await seedCampaign(store, {
    csv: 'email,count\nann@example.com,1\nbob@example.com,100000000\ncat@example.com,2\n',
    mjml: mjmlBody('<mj-text>Hello {% for i in (1..count) %}*{% endfor %}</mj-text>'),
  });
  await stubCampaign({ store, buckets }, ref);
  const handler = createRenderHandler({ store, buckets, templates: new TemplateCache(), publicUrl, unsubscribeSecret });
  return { store, handler };
}

describe('the render handler', () => {
  it('renders the stub each ObjectCreated record names, decoding its URL-encoded key', async () => {
    // Prepare
    const { store, handler } = await setUp();
    const fullyEncoded = encodeURIComponent(stubKeyOf('cat@example.com'));

    // Act
    await handler(s3Event({ key: encodeS3EventKey(stubKeyOf('ann@example.com')) }, { key: fullyEncoded }));

    // Assess
    expect(keysIn(store, buckets.rendered)).toEqual(
      [
        keys.rendered({ ...ref, recipientId: idOf('ann@example.com') }),
        keys.rendered({ ...ref, recipientId: idOf('cat@example.com') }),
      ].sort(),
    );
  });

  it("answers its renders' own time, summed over its records", async () => {
    // Prepare: each rendered write's own part takes 5 ms; the template compiled by an earlier event
    const { store } = await setUp();
    let now = 0;
    const timedStore: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      put: (...args: Parameters<ObjectStore['put']>) => {
        if (args[0] === buckets.rendered) now += 5;
        return store.put(...args);
      },
    });
    const handler = createRenderHandler({
      store: timedStore,
      buckets,
      templates: new TemplateCache(),
      publicUrl,
      unsubscribeSecret,
      stopwatch: () => now,
    });
    await handler(s3Event({ key: encodeS3EventKey(stubKeyOf('ann@example.com')) }));

    // Act
    const answer = await handler(
      s3Event({ key: encodeS3EventKey(stubKeyOf('ann@example.com')) }, { key: encodeS3EventKey(stubKeyOf('cat@example.com')) }),
    );

    // Assess
    expect(answer).toEqual({ ownMs: 10 });
  });

  it('decodes + as a space and %2B as a plus before reading the key', async () => {
    // Prepare
    const { handler } = await setUp();
    const key = stubKeyOf('ann@example.com');

    // Act
    const plus = await caught(() => handler(s3Event({ key: key.replace('c-spring', 'c+spring') })));
    const encodedPlus = await caught(() => handler(s3Event({ key: key.replace('c-spring', 'c%2Bspring') })));

    // Assess
    expect(plus).toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('"c spring"') });
    expect(encodedPlus).toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining('"c+spring"') });
  });

  it('ignores records that are not ObjectCreated', async () => {
    // Prepare
    const { store, handler } = await setUp();

    // Act
    await handler(s3Event({ key: stubKeyOf('ann@example.com'), eventName: 'ObjectRemoved:Delete' }));

    // Assess
    expect(keysIn(store, buckets.rendered)).toEqual([]);
  });

  it.each([
    ['no Records', {}, 'event.Records'],
    ['an empty Records list', { Records: [] }, 'event.Records'],
    ['a record without s3', { Records: [{ eventName: 'ObjectCreated:Put' }] }, 'event.Records.0.s3'],
    ['something that is not an object', 'hello', 'event'],
  ])('rejects an event with %s with a ValidationError naming where', async (_, event, where) => {
    // Prepare
    const { handler } = await setUp();

    // Act
    const error = await caught(() => handler(event));

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues[0]!.where).toBe(where);
  });

  it('records a failed render as a failed outcome while the other records render', async () => {
    // Prepare
    const { store, handler } = await setUp();

    // Act
    await handler(
      s3Event({ key: stubKeyOf('ann@example.com') }, { key: stubKeyOf('bob@example.com') }, { key: stubKeyOf('cat@example.com') }),
    );

    // Assess
    expect(keysIn(store, buckets.rendered)).toHaveLength(2);
    const outcome = JSON.parse((await store.get(buckets.campaigns, keys.outcome({ ...ref, recipientId: idOf('bob@example.com') })))!);
    expect(outcome).toMatchObject({ status: 'failed', reason: expect.stringContaining('RENDER_FAILED') });
  });

  it('processes every record before throwing a summary of the ones that failed', async () => {
    // Prepare
    const { store, handler } = await setUp();

    // Act
    const error = await caught(() =>
      handler(
        s3Event(
          { key: 'stubs/acme/c-spring/not-a-stub.json' },
          { key: stubKeyOf('ann@example.com') },
          { key: stubKeyOf('cat@example.com'), bucket: 'elsewhere' },
        ),
      ),
    );

    // Assess
    expect(error).toBeInstanceOf(RecordsFailedError);
    expect(error).toMatchObject({
      kind: 'permanent',
      message: expect.stringMatching(/^2 of 3 records failed: #0 .*KEY_INVALID.*; #2 .*not the stubs bucket/),
    });
    expect(keysIn(store, buckets.rendered)).toEqual([keys.rendered({ ...ref, recipientId: idOf('ann@example.com') })]);
  });

  it('refuses to start with a public URL that could break a header', () => {
    // Act
    const act = () =>
      createRenderHandler({
        store: new MemoryObjectStore(),
        buckets,
        templates: new TemplateCache(),
        publicUrl: 'not a url',
        unsubscribeSecret,
      });

    // Assess
    expect(act).toThrow(ValidationError);
  });
});
