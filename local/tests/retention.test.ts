import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock, keys, recipientIdFor, silentLogger, type CampaignRef } from '@baton/shared';
import { LmdbObjectStore } from '@baton/shared/lmdb-object-store';
import { open } from 'lmdb';
import { LOCAL_BUCKETS } from '../src/compose';
import { dictionaryDropOf, openLocalStore } from '../src/local-store';
import { RetentionSweeper, type FinishedCampaign } from '../src/retention';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-01T12:00:00Z');

describe('RetentionSweeper', () => {
  let dir: string;
  let store: LmdbObjectStore;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'baton-retention-'));
    store = new LmdbObjectStore({ path: dir });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A campaign's objects as the pipeline leaves them: stub, rendered message, claim and outcome per recipient. */
  async function seed(ref: CampaignRef, people: number): Promise<void> {
    const puts: Promise<void>[] = [store.put(LOCAL_BUCKETS.campaigns, keys.campaign(ref), '{}')];
    for (let i = 0; i < people; i++) {
      const r = { ...ref, recipientId: recipientIdFor(ref.customerId, `p${i}@example.com`) };
      puts.push(
        store.put(LOCAL_BUCKETS.stubs, keys.stub(r), '{}'),
        store.put(LOCAL_BUCKETS.rendered, keys.rendered(r), '{}'),
        store.put(LOCAL_BUCKETS.campaigns, keys.claim(r), '{}'),
        store.put(LOCAL_BUCKETS.campaigns, keys.outcome(r), '{}'),
      );
    }
    await Promise.all(puts); // committed together, as the pipeline's concurrent writes are
  }

  async function count(bucket: string, prefix: string): Promise<number> {
    return (await store.list(bucket, prefix, { limit: 100_000 })).keys.length;
  }

  it('deletes the rendered messages of a campaign finished longer ago than the retention, and keeps its stubs (the recipient list reads them) and ledger', async () => {
    // Prepare
    const clock = new ManualClock(T0);
    const done = { customerId: 'acme', campaignId: 'c-done' };
    const running = { customerId: 'acme', campaignId: 'c-running' };
    await seed(done, 1_205); // more than one page of deletes
    await seed(running, 3);
    const campaigns: FinishedCampaign[] = [{ ...done, finishedAt: new Date(T0).toISOString() }, running];
    const sweeper = new RetentionSweeper({
      store,
      buckets: LOCAL_BUCKETS,
      clock,
      logger: silentLogger,
      retentionMs: 24 * HOUR,
      campaigns: () => campaigns,
    });

    // Act: just before the retention ends, then just after.
    clock.set(T0 + 24 * HOUR - 1);
    const early = await sweeper.sweep();
    clock.set(T0 + 24 * HOUR);
    const due = await sweeper.sweep();

    // Assess
    expect(early).toEqual({ campaigns: 0, objects: 0 });
    expect(due).toEqual({ campaigns: 1, objects: 1_205 });
    expect(await count(LOCAL_BUCKETS.stubs, keys.stubsPrefix(done))).toBe(1_205);
    expect(await count(LOCAL_BUCKETS.rendered, keys.renderedPrefix(done))).toBe(0);
    expect(await count(LOCAL_BUCKETS.campaigns, keys.outcomesPrefix(done))).toBe(1_205);
    expect(await count(LOCAL_BUCKETS.campaigns, keys.claimsPrefix(done))).toBe(1_205);
    expect(await store.get(LOCAL_BUCKETS.campaigns, keys.campaign(done))).toBe('{}');
    // A campaign still running keeps everything, however old.
    expect(await count(LOCAL_BUCKETS.stubs, keys.stubsPrefix(running))).toBe(3);
    expect(await count(LOCAL_BUCKETS.rendered, keys.renderedPrefix(running))).toBe(3);
  });

  it("removes, in the data folder's store, the copy of a campaign's first rendered message kept to compress the others against", async () => {
    // Prepare: the data folder's LMDB store (per-campaign dictionaries), two campaigns of
    // rendered messages that name their reader, one finished long ago.
    const folder = mkdtempSync(path.join(os.tmpdir(), 'baton-retention-folder-'));
    const local = openLocalStore(folder, undefined);
    const done = { customerId: 'acme', campaignId: 'c-done' };
    const running = { customerId: 'acme', campaignId: 'c-running' };
    const message = (who: string) => JSON.stringify({ to: `${who}@example.com`, html: `<p>${'Welcome aboard! '.repeat(40)}</p>` });
    for (const [ref, who] of [
      [done, 'first-done'],
      [done, 'second-done'],
      [running, 'first-running'],
    ] as const) {
      const r = { ...ref, recipientId: recipientIdFor(ref.customerId, `${who}@example.com`) };
      await local.put(LOCAL_BUCKETS.rendered, keys.rendered(r), message(who));
      await local.put(LOCAL_BUCKETS.stubs, keys.stub(r), JSON.stringify({ email: `${who}@example.com`, pad: 'x'.repeat(80) }));
    }
    const sweeper = new RetentionSweeper({
      store: local,
      buckets: LOCAL_BUCKETS,
      clock: new ManualClock(T0 + 2 * HOUR),
      logger: silentLogger,
      retentionMs: HOUR,
      campaigns: () => [{ ...done, finishedAt: new Date(T0).toISOString() }, running],
      dropDictionary: dictionaryDropOf(local),
    });

    // Act
    const swept = await sweeper.sweep();
    await (local as LmdbObjectStore).close();

    // Assess: of the dictionaries' texts, the finished campaign's first message is gone; the
    // running campaign's and the stubs' (which retention keeps) stay.
    const root = open({ path: path.join(folder, 'derived'), maxDbs: 32 });
    const texts = [...root.openDB<Buffer, string>('_dictionaries', { encoding: 'binary' }).getRange()].map(({ value }) => value.toString());
    await root.close();
    rmSync(folder, { recursive: true, force: true });
    expect(swept).toEqual({ campaigns: 1, objects: 2 });
    expect(texts.some((t) => t.includes('first-done@') && t.includes('Welcome'))).toBe(false);
    expect(texts.some((t) => t.includes('first-running@') && t.includes('Welcome'))).toBe(true);
    expect(texts.some((t) => t.includes('first-done@') && t.includes('pad'))).toBe(true);
  });

  it('sweeps a campaign once, then leaves it alone', async () => {
    // Prepare
    const clock = new ManualClock(T0 + 2 * HOUR);
    const done = { customerId: 'acme', campaignId: 'c-done' };
    await seed(done, 2);
    const list = jest.fn(() => [{ ...done, finishedAt: new Date(T0).toISOString() }]);
    const sweeper = new RetentionSweeper({
      store,
      buckets: LOCAL_BUCKETS,
      clock,
      logger: silentLogger,
      retentionMs: HOUR,
      campaigns: list,
    });
    const listing = jest.spyOn(store, 'list');

    // Act
    const first = await sweeper.sweep();
    const callsAfterFirst = listing.mock.calls.length;
    const second = await sweeper.sweep();

    // Assess
    expect(first).toEqual({ campaigns: 1, objects: 2 });
    expect(second).toEqual({ campaigns: 0, objects: 0 });
    expect(listing.mock.calls.length).toBe(callsAfterFirst);
  });

  it('sweeps a campaign again once it finished again (a retry reopened it)', async () => {
    // Prepare: swept once; then reopened, sent again and finished later.
    const clock = new ManualClock(T0 + 2 * HOUR);
    const done = { customerId: 'acme', campaignId: 'c-done' };
    await seed(done, 2);
    let finishedAt = new Date(T0).toISOString();
    const sweeper = new RetentionSweeper({
      store,
      buckets: LOCAL_BUCKETS,
      clock,
      logger: silentLogger,
      retentionMs: HOUR,
      campaigns: () => [{ ...done, finishedAt }],
    });
    await sweeper.sweep();
    await seed(done, 1);
    finishedAt = new Date(T0 + 2 * HOUR).toISOString();
    // Act
    clock.set(T0 + 3 * HOUR);
    const again = await sweeper.sweep();
    // Assess
    expect(again).toEqual({ campaigns: 1, objects: 1 });
  });
});
