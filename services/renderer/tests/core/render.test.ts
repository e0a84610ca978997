import { ManualClock, keys, outcomeRecord, recipientIdFor, renderedMessage, type ObjectStore } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { TemplateCache, compileCampaignTemplate } from '@baton/templating';
import { renderStub, type RenderDeps } from '../../src/core/render';
import { stubCampaign } from '../../src/core/stubber';
import { buckets, caught, keysIn, mjmlBody, publicUrl, ref, unsubscribeSecret, seedCampaign, type SeedOptions } from '../fixtures';

function stubKeyFor(email: string): string {
  return keys.stub({ ...ref, recipientId: recipientIdFor(ref.customerId, email) });
}

async function setUp(seed: SeedOptions) {
  const store = new MemoryObjectStore();
  await seedCampaign(store, seed);
  await stubCampaign({ store, buckets }, ref);
  const compile = jest.fn(compileCampaignTemplate);
  const deps: RenderDeps = {
    store,
    buckets,
    templates: new TemplateCache({ compile }),
    publicUrl,
    unsubscribeSecret,
    clock: new ManualClock(Date.UTC(2025, 0, 2)),
  };
  return { store, deps, compile };
}

async function renderedFor(store: ObjectStore, email: string) {
  const body = await store.get(buckets.rendered, keys.rendered({ ...ref, recipientId: recipientIdFor(ref.customerId, email) }));
  return body === undefined ? undefined : renderedMessage.parse(JSON.parse(body));
}

describe('renderStub', () => {
  it('renders a stub into the rendered bucket under its rendered key', async () => {
    // Prepare
    const { store, deps } = await setUp({ csv: 'email,first_name\nann@example.com,Ann\n' });

    // Act
    const result = await renderStub(deps, stubKeyFor('ann@example.com'));

    // Assess
    const message = await renderedFor(store, 'ann@example.com');
    expect(result).toEqual({
      status: 'rendered',
      key: keys.rendered({ ...ref, recipientId: recipientIdFor('acme', 'ann@example.com') }),
      ownMs: expect.any(Number),
    });
    expect(message).toMatchObject({ to: 'ann@example.com', subject: 'Hi Ann', from: 'Acme <news@acme.example>' });
    expect(message!.html).toContain('Hello Ann');
  });

  it('tells its own time: the synchronous merge and write, not the waits for the store and the template', async () => {
    // Prepare: while it awaits a read or the template, other work holds the thread for a second; the write's own part takes 5 ms.
    const { store, deps } = await setUp({ csv: 'email,first_name\nann@example.com,Ann\n' });
    let now = 0;
    const othersRun = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      now += 1_000;
    };
    const timedStore: ObjectStore = {
      getHead: store.getHead.bind(store),
      putStream: store.putStream.bind(store),
      delete: store.delete.bind(store),
      list: store.list.bind(store),
      get: async (bucket, key) => {
        await othersRun();
        return store.get(bucket, key);
      },
      put: (bucket, key, body, options) => {
        if (bucket === buckets.rendered) now += 5;
        return store.put(bucket, key, body, options);
      },
    };
    const compile = async (input: Parameters<typeof compileCampaignTemplate>[0]) => {
      await othersRun();
      return compileCampaignTemplate(input);
    };

    // Act
    const result = await renderStub(
      { ...deps, store: timedStore, templates: new TemplateCache({ compile }), stopwatch: () => now },
      stubKeyFor('ann@example.com'),
    );

    // Assess
    expect(now).toBeGreaterThan(2_000);
    expect(result).toMatchObject({ status: 'rendered', ownMs: 5 });
  });

  it("tells a failed merge's own time too", async () => {
    // Prepare: a stopwatch that moves on a millisecond each time it is read
    const { deps } = await setUp({
      csv: 'email,count\nbob@example.com,100000000\n',
      mjml: mjmlBody('<mj-text>{% for i in (1..count) %}*{% endfor %}</mj-text>'),
    });
    let now = 0;

    // Act
    const result = await renderStub({ ...deps, stopwatch: () => now++ }, stubKeyFor('bob@example.com'));

    // Assess
    expect(result).toMatchObject({ status: 'failed', ownMs: 1 });
  });

  it('carries unicode merge data from the CSV into the stored html and text intact', async () => {
    // Prepare
    const name = 'Zoë 😀 田中太郎 שָׁלוֹם مرحبا';
    const { store, deps } = await setUp({ csv: `email,first_name\nann@example.com,"${name}"\n` });

    // Act
    await renderStub(deps, stubKeyFor('ann@example.com'));

    // Assess
    const message = await renderedFor(store, 'ann@example.com');
    expect(message!.html).toContain(`Hello ${name}`);
    expect(message!.text).toContain(`Hello ${name}`);
  });

  it('compiles the MJML once for all the recipients of a campaign', async () => {
    // Prepare
    const emails = Array.from({ length: 10 }, (_, i) => `user${i}@example.com`);
    const { store, deps, compile } = await setUp({ csv: ['email', ...emails].join('\n') });

    // Act
    await Promise.all(emails.map((e) => renderStub(deps, stubKeyFor(e))));

    // Assess
    expect(compile).toHaveBeenCalledTimes(1);
    expect(keysIn(store, buckets.rendered)).toHaveLength(10);
  });

  it('gives the same output when run twice', async () => {
    // Prepare
    const { store, deps } = await setUp({ csv: 'email,first_name\nann@example.com,Ann\n' });
    await renderStub(deps, stubKeyFor('ann@example.com'));
    const first = await renderedFor(store, 'ann@example.com');

    // Act
    await renderStub(deps, stubKeyFor('ann@example.com'));

    // Assess
    expect(await renderedFor(store, 'ann@example.com')).toEqual(first);
  });

  it('does nothing when the stub is missing', async () => {
    // Prepare
    const { store, deps } = await setUp({ csv: 'email\n' });

    // Act
    const result = await renderStub(deps, stubKeyFor('ghost@example.com'));

    // Assess
    expect(result).toEqual({ status: 'missing', ownMs: 0 });
    expect(keysIn(store, buckets.rendered)).toEqual([]);
    expect(keysIn(store, buckets.campaigns, 'ledger/')).toEqual([]);
  });

  it('records a failed outcome for a recipient whose merge fails and still renders the others', async () => {
    // Prepare
    const { store, deps } = await setUp({
      csv: 'email,count\nann@example.com,2\nbob@example.com,100000000\n',
      mjml: mjmlBody('<mj-text>{% for i in (1..count) %}*{% endfor %}</mj-text>'),
    });
    const bobId = recipientIdFor('acme', 'bob@example.com');

    // Act
    const ann = await renderStub(deps, stubKeyFor('ann@example.com'));
    const bob = await renderStub(deps, stubKeyFor('bob@example.com'));

    // Assess
    expect(ann.status).toBe('rendered');
    expect(bob).toEqual({ status: 'failed', reason: expect.stringContaining('RENDER_FAILED: html:'), ownMs: expect.any(Number) });
    expect(await renderedFor(store, 'bob@example.com')).toBeUndefined();
    const outcome = outcomeRecord.parse(JSON.parse((await store.get(buckets.campaigns, keys.outcome({ ...ref, recipientId: bobId })))!));
    expect(outcome).toEqual({
      version: 1,
      recipientId: bobId,
      status: 'failed',
      reason: expect.stringMatching(/^render failed: RENDER_FAILED: html: .*limit exceeded/),
      at: '2025-01-02T00:00:00.000Z',
    });
  });

  it('records a failed outcome when the campaign template is invalid', async () => {
    // Prepare
    const { store, deps } = await setUp({ csv: 'email\nann@example.com\n', subject: 'Hi {{ name | nope }}' });

    // Act
    const result = await renderStub(deps, stubKeyFor('ann@example.com'));

    // Assess
    expect(result).toEqual({ status: 'failed', reason: expect.stringContaining('TEMPLATE_INVALID: subject:'), ownMs: 0 });
    expect(keysIn(store, buckets.campaigns, 'ledger/')).toHaveLength(1);
  });

  it('never overwrites an outcome already in the ledger', async () => {
    // Prepare
    const { store, deps } = await setUp({ csv: 'email\nann@example.com\n', subject: 'Hi {{ name | nope }}' });
    const outcomeKey = keys.outcome({ ...ref, recipientId: recipientIdFor('acme', 'ann@example.com') });
    await store.put(buckets.campaigns, outcomeKey, '{"earlier":true}');

    // Act
    const result = await renderStub(deps, stubKeyFor('ann@example.com'));

    // Assess
    expect(result.status).toBe('failed');
    expect(await store.get(buckets.campaigns, outcomeKey)).toBe('{"earlier":true}');
  });

  it('throws, for the runtime to retry, when the store fails', async () => {
    // Prepare
    const { store, deps } = await setUp({ csv: 'email\nann@example.com\n' });
    store.put = async () => {
      throw new Error('connect ECONNREFUSED');
    };

    // Act
    const error = await caught(() => renderStub(deps, stubKeyFor('ann@example.com')));

    // Assess
    expect(error).toEqual(new Error('connect ECONNREFUSED'));
  });

  it('refuses a key that is not a stub key', async () => {
    // Prepare
    const { deps } = await setUp({ csv: 'email\n' });

    // Act
    const error = await caught(() => renderStub(deps, 'stubs/acme/../etc/passwd'));

    // Assess
    expect(error).toMatchObject({ code: 'KEY_INVALID' });
  });
});
