import { PermanentError, RetryableError, ValidationError } from '@baton/shared';
import { Slots, createPiscinaRenderPool } from '../../src/adapters/piscina-render-pool';
import { NO_THREAD_CPU, cpuUsedMs, newMeter } from '../../src/adapters/render-meter';
import { ownThreadId, threadCpuMs } from '@baton/shared';
import type { RenderPool } from '../../src/core/ports';
import { NESTED_LOOPS_MJML, SIMPLE_MJML } from '../robustness/hostile';

const recipient = {
  customerId: 'acme',
  campaignId: 'c-pool-1',
  recipientId: 'a'.repeat(32),
  email: 'ann@example.com',
  fields: { first_name: 'Ann' },
};
const settings = { publicUrl: 'http://localhost:8080', unsubscribeSecret: 'secret' };

/** The largest gap between 10 ms timer ticks while `work` runs: how long the event loop was held. */
async function loopStallDuring(work: Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  await work.catch(() => undefined);
  clearInterval(timer);
  return worst;
}

describe('the piscina render pool', () => {
  let pool: RenderPool;
  beforeAll(async () => {
    // Waits of up to 10 s: a render stopped at its limit takes its thread with it, and a new one starts (a second or so under tsx).
    // At the test process's priority: a thread at nice +10 on a loaded machine (CI's other test
    // files) got under 0.4 s of CPU in the second Liquid allows a render, which then failed at
    // Liquid's limit before the pool's.
    pool = createPiscinaRenderPool({ threads: 1, maxQueue: 1, renderTimeoutMs: 400, waitLimitMs: 10_000, niceIncrement: 0 });
    await pool.checkTemplate({ from: 'a@example.com', subject: 'hi', mjml: SIMPLE_MJML }); // threads up
  });
  afterAll(() => pool.close());

  it('renders a message in a worker thread', async () => {
    const message = await pool.render(
      { from: 'Acme <news@acme.example>', subject: 'Hi {{ first_name }}', mjml: SIMPLE_MJML },
      recipient,
      settings,
    );
    expect(message.subject).toBe('Hi Ann');
    expect(message.html).toContain('Hello Ann');
    expect(message.headers['List-Unsubscribe']).toContain('http://localhost:8080/unsubscribe/');
  });

  it("hands back a template's problems as the ValidationError the templating package threw", async () => {
    const err = await pool
      .checkTemplate({ from: 'evil@evil.com, Me <me@example.com>', subject: 'x', mjml: SIMPLE_MJML })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('TEMPLATE_INVALID');
    expect((err as ValidationError).issues[0]!.where).toBe('from');
  });

  it('stops a render that overruns its time limit, answers RENDER_TIMEOUT, and goes on serving', async () => {
    const started = Date.now();
    const err = await pool
      .render({ from: 'a@example.com', subject: 'x', mjml: NESTED_LOOPS_MJML }, { ...recipient, campaignId: 'c-pool-2' }, settings)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).code).toBe('RENDER_TIMEOUT');
    expect((err as Error).message).toMatch(/did not finish within 0.4 s/);
    expect(Date.now() - started).toBeLessThan(3_000);
    await expect(pool.checkTemplate({ from: 'a@example.com', subject: 'hi', mjml: SIMPLE_MJML })).resolves.toEqual({
      warnings: expect.any(Array),
    });
  });

  it('keeps the event loop free while a slow render runs', async () => {
    const slow = pool.render(
      { from: 'a@example.com', subject: 'x', mjml: NESTED_LOOPS_MJML },
      { ...recipient, campaignId: 'c-pool-3' },
      settings,
    );
    expect(await loopStallDuring(slow)).toBeLessThan(100);
  });

  it('refuses work beyond its queue at once, as retryable RENDER_BUSY', async () => {
    const slowOne = () =>
      pool.render({ from: 'a@example.com', subject: 'x', mjml: NESTED_LOOPS_MJML }, { ...recipient, campaignId: 'c-pool-4' }, settings);
    const results = await Promise.allSettled([slowOne(), slowOne(), slowOne()]);
    const busy = results.flatMap((r) => (r.status === 'rejected' && r.reason instanceof RetryableError ? [r.reason] : []));
    expect(busy).toHaveLength(1);
    expect(busy[0]!.code).toBe('RENDER_BUSY');
    expect(busy[0]!.retryAfterMs).toBeGreaterThan(0);
  });
});

describe("the piscina render pool's limits", () => {
  // Each of these runs into Liquid's 1 s render limit: about a second of the thread's CPU.
  const slowRender = (pool: RenderPool, campaignId: string) =>
    pool
      .render({ from: 'a@example.com', subject: 'x', mjml: NESTED_LOOPS_MJML }, { ...recipient, campaignId }, settings)
      .catch((e: unknown) => e);
  const check = (pool: RenderPool) => pool.checkTemplate({ from: 'a@example.com', subject: 'hi', mjml: SIMPLE_MJML });
  /** A check until one passes (at most five): its thread started, whatever a loaded machine did to the first. */
  const warmUp = async (pool: RenderPool) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const passed = await check(pool).then(
        () => true,
        () => false,
      );
      if (passed) return;
    }
  };

  it("holds a check to the CPU it used, not to its wait: a check queued behind renders longer than the check's limit passes", async () => {
    // Prepare: one thread, warm.
    const pool = createPiscinaRenderPool({ threads: 1, maxQueue: 3, checkTimeoutMs: 1_500 });
    try {
      await check(pool);
      const started = Date.now();
      const slow = [slowRender(pool, 'c-limits-1'), slowRender(pool, 'c-limits-2')];

      // Act: a check handed in behind two renders of a second each waits past its own limit.
      const checked = await check(pool).catch((e: unknown) => e);

      // Assess
      expect(Date.now() - started).toBeGreaterThan(1_500);
      expect(checked).toEqual({ warnings: expect.any(Array) });
      await Promise.all(slow);
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('starts a task that was waiting when the task before it was stopped and its thread ended', async () => {
    // Prepare: a render stopped at 0.3 s of CPU takes its thread with it.
    const pool = createPiscinaRenderPool({ threads: 1, maxQueue: 3, renderTimeoutMs: 300, waitLimitMs: 8_000 });
    try {
      await check(pool);
      const slow = slowRender(pool, 'c-limits-5');

      // Act
      const checked = await check(pool).catch((e: unknown) => e);

      // Assess: the check ran on a new thread (piscina alone left it queued with no thread to start it).
      expect(checked).toEqual({ warnings: expect.any(Array) });
      expect(((await slow) as PermanentError).code).toBe('RENDER_TIMEOUT');
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('refuses a task still waiting past its wait limit as retryable RENDER_BUSY, not as a template at fault', async () => {
    // Prepare
    const pool = createPiscinaRenderPool({ threads: 1, maxQueue: 3, waitLimitMs: 1_000 });
    try {
      // The thread up: its start is no task's wait. On a loaded machine starting it (and loading
      // MJML) may itself take past the 1 s limit, so this gets a few tries.
      await warmUp(pool);
      const slow = [slowRender(pool, 'c-limits-3'), slowRender(pool, 'c-limits-4')];

      // Act: a check behind two renders of a second each.
      const checked = await check(pool).catch((e: unknown) => e);

      // Assess: busy, to be tried again.
      expect(checked).toBeInstanceOf(RetryableError);
      expect((checked as RetryableError).code).toBe('RENDER_BUSY');
      expect((checked as Error).message).toMatch(/check-template task within 1 s, though it had not used its CPU limit/);
      await Promise.all(slow);
      // The tasks stopped while they waited gave up their places: the next one runs. On a loaded
      // machine even a quick check may take longer than this 1 s limit, so it gets a few tries;
      // had the places leaked, every try would wait behind them and be refused.
      let next: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        next = await check(pool).catch((e: unknown) => e);
        if (!(next instanceof RetryableError)) break;
      }
      expect(next).toEqual({ warnings: expect.any(Array) });
    } finally {
      await pool.close();
    }
  }, 30_000);
});

describe('the render meter', () => {
  it("counts the thread's CPU, not the time: nothing while it sleeps, about all of it while it spins", () => {
    // Prepare: the meter as a render thread fills it in, for this thread.
    const tid = ownThreadId()!;
    const meter = newMeter();
    Atomics.store(meter, 1, threadCpuMs(tid)!);
    Atomics.store(meter, 0, tid);

    // Act
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    const afterSleep = cpuUsedMs(meter) as number;
    const spinUntil = Date.now() + 300;
    while (Date.now() < spinUntil);
    const afterSpin = cpuUsedMs(meter) as number;

    // Assess: the clock's ticks are 10 ms.
    expect(afterSleep).toBeLessThanOrEqual(20);
    expect(afterSpin - afterSleep).toBeGreaterThanOrEqual(50); // of 300 ms spun: a loaded machine gives less
  });

  it('says when a task waits for a thread, and when threads have no CPU clock', () => {
    const meter = newMeter();
    expect(cpuUsedMs(meter)).toBeUndefined();
    Atomics.store(meter, 0, NO_THREAD_CPU);
    expect(cpuUsedMs(meter)).toBe('no-clock');
  });
});

describe("the pool's slots", () => {
  it('hands a freed slot to the next waiter still waiting, not to one stopped while it waited', async () => {
    // Prepare: one slot, taken; one waiter stopped, another waiting.
    const slots = new Slots(1);
    const release = await slots.take(new AbortController().signal);
    const stopped = new AbortController();
    const gaveUp = slots.take(stopped.signal);
    stopped.abort();
    await expect(gaveUp).rejects.toMatchObject({ name: 'AbortError' });
    let next = false;
    const waiting = slots.take(new AbortController().signal).then((r) => {
      next = true;
      return r;
    });

    // Act
    release();
    await new Promise((r) => setTimeout(r, 10));

    // Assess
    expect(next).toBe(true);
    (await waiting)();
  });
});
