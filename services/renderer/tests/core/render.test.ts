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

/** A measured time: a number, not negative (`expect.any(Number)` would take NaN). */
const aTime = {
  asymmetricMatch: (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value >= 0,
  toString: () => 'a finite number ≥ 0',
};

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
      ownMs: aTime,
    });
    expect(message).toMatchObject({ to: 'ann@example.com', subject: 'Hi Ann', from: 'Acme <news@acme.example>' });
    expect(message!.html).toContain('Hello Ann');
  });

  /** `store` with reads that wait while other work holds the thread a second, and a rendered write whose own part takes 5 ms. */
  function timedStore(store: ObjectStore, clock: { now: number }): ObjectStore {
    return {
      getHead: store.getHead.bind(store),
      putStream: store.putStream.bind(store),
      delete: store.delete.bind(store),
      list: store.list.bind(store),
      get: async (bucket, key) => {
        await new Promise((resolve) => setImmediate(resolve));
        clock.now += 1_000;
        return store.get(bucket, key);
      },
      put: (bucket, key, body, options) => {
        if (bucket === buckets.rendered) clock.now += 5;
        return store.put(bucket, key, body, options);
      },
    };
  }

  it('tells its own time: its synchronous work (the merge and the write), not its waits for the store', async () => {
    // Prepare: the template already compiled by an earlier render
    const { store, deps } = await setUp({ csv: 'email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n' });
    const clock = { now: 0 };
    const timed = { ...deps, store: timedStore(store, clock), stopwatch: () => clock.now };
    await renderStub(timed, stubKeyFor('bob@example.com'));
    const before = clock.now;

    // Act
    const result = await renderStub(timed, stubKeyFor('ann@example.com'));

    // Assess
    expect(clock.now - before).toBe(1_005);
    expect(result).toMatchObject({ status: 'rendered', ownMs: 5 });
  });

  it("counts the template's compile to the render that started it, not to those that waited for it, nor the definition's load", async () => {
    // Prepare: MJML's compile holds the thread 300 ms
    const { store, deps } = await setUp({ csv: 'email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n' });
    const clock = { now: 0 };
    const compile = async (input: Parameters<typeof compileCampaignTemplate>[0]) => {
      clock.now += 300;
      return compileCampaignTemplate(input);
    };
    const timed = { ...deps, store: timedStore(store, clock), templates: new TemplateCache({ compile }), stopwatch: () => clock.now };

    // Act
    const results = await Promise.all(['ann@example.com', 'bob@example.com'].map((email) => renderStub(timed, stubKeyFor(email))));

    // Assess: the definition's load (a read) is a wait, not counted
    expect(results.map((r) => r.ownMs)).toEqual([305, 5]);
  });

  it("tells a failed merge's own time too: one stopped at Liquid's 1 s render limit took at least that", async () => {
    // Prepare
    const { deps } = await setUp({
      csv: 'email\nbob@example.com\n',
      mjml: mjmlBody('<mj-text>{% for a in (1..100000) %}{% for b in (1..100000) %}x{% endfor %}{% endfor %}</mj-text>'),
    });

    // Act
    const result = await renderStub(deps, stubKeyFor('bob@example.com'));

    // Assess
    expect(result).toMatchObject({ status: 'failed', reason: expect.stringContaining('limit') });
    expect(result.ownMs).toBeGreaterThanOrEqual(990);
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
    expect(bob).toEqual({ status: 'failed', reason: expect.stringContaining('RENDER_FAILED: html:'), ownMs: aTime });
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
    expect(result).toEqual({ status: 'failed', reason: expect.stringContaining('TEMPLATE_INVALID: subject:'), ownMs: aTime });
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
