import { VirtualClock } from '../../src/sim/virtual-clock';

describe('the virtual clock', () => {
  it('runs every continuation an event started, however long the chain of awaits, before the next event', async () => {
    // Prepare
    const clock = new VirtualClock(0);
    const seen: string[] = [];
    const chain = async (depth: number): Promise<void> => {
      if (depth > 0) return chain(depth - 1);
      await Promise.resolve();
      seen.push(`chain ended at ${clock.now()}`);
    };
    clock.at(10, () => {
      void (async () => {
        for (let i = 0; i < 5_000; i++) await Promise.resolve();
        await chain(500);
        seen.push('loop ended');
      })();
    });
    clock.at(10, () => seen.push('second event at 10'));
    clock.at(20, () => seen.push('event at 20'));
    // Act
    await clock.run();
    // Assess
    expect(seen).toEqual(['chain ended at 10', 'loop ended', 'second event at 10', 'event at 20']);
  });

  it('wakes sleepers in time order, and those at the same time in the order they slept', async () => {
    const clock = new VirtualClock(1_000);
    const woke: string[] = [];
    void clock.sleep(50).then(() => woke.push(`a ${clock.now()}`));
    void clock.sleep(20).then(() => woke.push(`b ${clock.now()}`));
    void clock.sleep(50).then(() => woke.push(`c ${clock.now()}`));
    await clock.run();
    expect(woke).toEqual(['b 1020', 'a 1050', 'c 1050']);
  });

  it('stops at `until` and when `stop` says so', async () => {
    const clock = new VirtualClock(0);
    let fired = 0;
    for (let t = 1; t <= 10; t++) clock.at(t, () => fired++);
    await clock.run({ until: 4 });
    expect([fired, clock.now()]).toEqual([4, 4]);
    await clock.run({ stop: () => fired >= 7 });
    expect([fired, clock.pending]).toEqual([7, 3]);
  });
});
