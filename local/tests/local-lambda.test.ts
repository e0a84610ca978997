import { silentLogger } from '@baton/shared';
import { LocalLambda } from '../src/local-lambda';

function lambda(handler: (e: number) => Promise<unknown>, concurrency = 1): LocalLambda<number> {
  return new LocalLambda(handler, { name: 'test', concurrency, retryAttempts: 2, retryDelayMs: 10, logger: silentLogger });
}

describe('LocalLambda', () => {
  it('runs every event once with bounded concurrency, retrying failures', async () => {
    // Prepare
    const seen: number[] = [];
    let failOnce = true;
    const f = lambda(async (e) => {
      if (e === 2 && failOnce) {
        failOnce = false;
        throw new Error('once');
      }
      seen.push(e);
    });
    // Act
    for (const e of [1, 2, 3]) f.invoke(e);
    await f.idle();
    // Assess
    expect(seen.sort()).toEqual([1, 2, 3]);
    expect(f.deadLetters).toEqual([]);
  });

  it('stops within its bound: queued events are dropped and a handler that never ends is not waited for', async () => {
    // Prepare: one slot, held forever by the first event; two more wait behind it.
    const started: number[] = [];
    const f = lambda(async (e) => {
      started.push(e);
      await new Promise(() => {});
    });
    for (const e of [1, 2, 3]) f.invoke(e);
    // Act
    const t0 = Date.now();
    const result = await f.drain(100);
    const took = Date.now() - t0;
    f.invoke(4);
    // Assess
    expect(result).toEqual({ dropped: 2, stillRunning: true });
    expect(took).toBeLessThan(2_000);
    expect(started).toEqual([1]);
  });

  it('drains at once when nothing is running', async () => {
    const f = lambda(async () => undefined);
    f.invoke(1);
    await f.idle();
    expect(await f.drain(10_000)).toEqual({ dropped: 0, stillRunning: false });
  });

  it('tells how many events wait for a slot as they queue and start, and none once drained', async () => {
    // Prepare: one slot; each handler waits until released.
    const told: number[] = [];
    const releases: (() => void)[] = [];
    const f = new LocalLambda<number>(() => new Promise<void>((resolve) => releases.push(resolve)), {
      name: 'test',
      concurrency: 1,
      retryAttempts: 0,
      logger: silentLogger,
      onQueued: (queued) => told.push(queued),
    });
    // Act
    for (const e of [1, 2, 3]) f.invoke(e);
    const queuedThen = f.queued;
    releases.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    const queuedAfterOne = f.queued;
    await f.drain(10);
    // Assess
    expect(queuedThen).toBe(2);
    expect(queuedAfterOne).toBe(1);
    expect(told.at(-1)).toBe(0);
    expect(told).toEqual(expect.arrayContaining([1, 2]));
  });
});

describe('LocalLambda with a queue of its own', () => {
  it('starts queued invocations in the order its queue gives', async () => {
    // Prepare: one slot, held by the first event until released; a queue that puts odd events first.
    const started: number[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const waiting: { event: number; attempt: number }[] = [];
    const f = new LocalLambda<number>(
      async (e) => {
        started.push(e);
        if (e === 2) await held;
      },
      {
        name: 'test',
        concurrency: 1,
        retryAttempts: 0,
        logger: silentLogger,
        queue: {
          get length() {
            return waiting.length;
          },
          push: (item) => {
            waiting.push(item);
            waiting.sort((a, b) => (b.event % 2) - (a.event % 2));
          },
          take: () => (waiting.length === 0 ? undefined : { item: waiting.shift()!, finished: () => undefined }),
          clear: () => waiting.splice(0),
        },
      },
    );
    // Act
    for (const e of [2, 4, 1, 3]) f.invoke(e);
    release();
    await f.idle();
    // Assess
    expect(started).toEqual([2, 1, 3, 4]);
  });

  it("tells its queue each invocation's answer when it ends, and nothing for one that threw", async () => {
    // Prepare: a queue that records what each taken event ended with.
    const waiting: { event: number; attempt: number }[] = [];
    const ended: [number, unknown][] = [];
    const f = new LocalLambda<number>(
      async (e) => {
        if (e === 2) throw new Error('no');
        return { ownMs: e * 10 };
      },
      {
        name: 'test',
        concurrency: 1,
        retryAttempts: 0,
        logger: silentLogger,
        queue: {
          get length() {
            return waiting.length;
          },
          push: (item) => void waiting.push(item),
          take: () => {
            const item = waiting.shift();
            return item === undefined ? undefined : { item, finished: (answer?: unknown) => void ended.push([item.event, answer]) };
          },
          clear: () => waiting.splice(0),
        },
      },
    );
    // Act
    for (const e of [1, 2, 3]) f.invoke(e);
    await f.idle();
    // Assess
    expect(ended).toEqual([
      [1, { ownMs: 10 }],
      [2, undefined],
      [3, { ownMs: 30 }],
    ]);
    expect(f.deadLetters.map((d) => d.event)).toEqual([2]);
  });

  it('tells a retried event that its queue holds back as waiting', async () => {
    // Prepare: a queue that starts nothing while `held`; the one event fails once.
    const told: number[] = [];
    const waiting: { event: number; attempt: number }[] = [];
    let held = false;
    let fail = true;
    const f = new LocalLambda<number>(
      async () => {
        if (!fail) return;
        fail = false;
        held = true;
        throw new Error('once');
      },
      {
        name: 'test',
        concurrency: 2,
        retryAttempts: 1,
        retryDelayMs: 5,
        logger: silentLogger,
        onQueued: (queued) => told.push(queued),
        queue: {
          get length() {
            return waiting.length;
          },
          push: (item) => void waiting.push(item),
          take: () => (held || waiting.length === 0 ? undefined : { item: waiting.shift()!, finished: () => undefined }),
          clear: () => waiting.splice(0),
        },
      },
    );
    // Act
    f.invoke(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Assess: the retry waits in the queue, and the producer was told so.
    expect(f.queued).toBe(1);
    expect(told.at(-1)).toBe(1);
    held = false;
    await f.drain(10);
  });
});
