import { PermanentError, RetryableError, ValidationError } from '@baton/shared';
import { createPiscinaRenderPool } from '../../src/adapters/piscina-render-pool';
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
    pool = createPiscinaRenderPool({ threads: 1, maxQueue: 1, renderTimeoutMs: 400 });
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
