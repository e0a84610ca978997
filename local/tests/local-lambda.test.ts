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
});
