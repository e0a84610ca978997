import { SIMPLE_MJML } from '../robustness/hostile';
import { buckets } from '../fixtures';
import { UploadRate } from '../../src/http/upload-rate';
import { auth, startApp } from './app-on-loopback';

/** A clock that moves only when something sleeps on it. */
function fakeClock() {
  const clock = {
    t: 0,
    slept: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.slept.push(ms);
      clock.t += ms;
    },
  };
  return clock;
}

async function* chunksOf(size: number, count: number, clock?: { t: number }, gapMs = 0): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    if (clock) clock.t += gapMs;
    yield new Uint8Array(size);
  }
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of chunks) n += c.byteLength;
  return n;
}

describe('the per-token upload rate', () => {
  it('lets one second of bytes through at once, then reads no faster than the rate', async () => {
    // Prepare
    const clock = fakeClock();
    const rate = new UploadRate(1_000, clock);

    // Act
    const { chunks, read } = rate.throttle('token-a', chunksOf(100, 30));
    const bytes = await readAll(chunks);

    // Assess: 3,000 bytes at 1,000 a second with a 1,000-byte burst take 2 s.
    expect(bytes).toBe(3_000);
    expect(clock.t).toBeCloseTo(2_000, 5);
    expect(read.waitedMs).toBeCloseTo(2_000, 5);
  });

  it('does not slow a sender that keeps under the rate', async () => {
    // Prepare
    const clock = fakeClock();
    const rate = new UploadRate(1_000, clock);

    // Act: 100 bytes every 200 ms is 500 a second.
    const { chunks, read } = rate.throttle('token-a', chunksOf(100, 50, clock, 200));
    await readAll(chunks);

    // Assess
    expect(read.waitedMs).toBe(0);
    expect(clock.slept).toEqual([]);
  });

  it("shares one token's rate between its uploads, and one after another with its burst; another token has its own", async () => {
    // Prepare
    const clock = fakeClock();
    const rate = new UploadRate(1_000, clock);

    // Act
    await readAll(rate.throttle('token-a', chunksOf(100, 10)).chunks);
    const second = rate.throttle('token-a', chunksOf(100, 10));
    await readAll(second.chunks);
    const other = rate.throttle('token-b', chunksOf(100, 10));
    await readAll(other.chunks);

    // Assess: the first took the burst; the second waited its full second; token b's burst was its own.
    expect(second.read.waitedMs).toBeCloseTo(1_000, 5);
    expect(other.read.waitedMs).toBe(0);
  });

  it('reads at any speed with 0 (no bound), and refuses a rate that is not a whole number of bytes', async () => {
    const clock = fakeClock();
    await readAll(new UploadRate(0, clock).throttle('token-a', chunksOf(1_000_000, 10)).chunks);
    expect(clock.t).toBe(0);
    expect(() => new UploadRate(-1)).toThrow(/whole number of bytes a second/);
    expect(() => new UploadRate(1.5)).toThrow(/whole number of bytes a second/);
  });
});

describe('uploads through the HTTP server, at the token rate', () => {
  const RATE = 100_000;
  let h: Awaited<ReturnType<typeof startApp>>;
  beforeAll(async () => {
    h = await startApp(undefined, { bodyLimits: { jsonBytes: 4_096, audienceBytes: 1_000_000 }, uploadBytesPerSecond: RATE });
  });
  afterAll(async () => {
    await h.app.close();
    await h.pool.close();
  });

  const csv = (bytes: number) => {
    const row = 'someone@example.com,Someone\n';
    return 'email,first_name\n' + row.repeat(Math.ceil(bytes / row.length));
  };

  it('reads a raw upload no faster than the rate, stores all of it, and names the rate in the answer', async () => {
    // Prepare: 300 KB at 100 KB a second, the first 100 KB at once: about 2 s.
    const body = csv(300_000);
    const started = performance.now();

    // Act
    const res = await fetch(`${h.url}/api/uploads/acme/paced.csv`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/csv' },
      body,
    });

    // Assess
    const elapsed = performance.now() - started;
    expect(res.status).toBe(201);
    expect(res.headers.get('upload-rate-limit')).toBe(`${RATE};unit=bytes-per-second;per=api-token`);
    expect(elapsed).toBeGreaterThan(1_500);
    expect(await h.store.get(buckets.campaigns, 'uploads/acme/paced.csv')).toBe(body);
  });

  it("paces a multipart create's audience the same way, and answers other requests meanwhile", async () => {
    // Prepare
    const form = new FormData();
    for (const [k, v] of Object.entries({
      name: 'Paced',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      subject: 'Hi',
      mjml: SIMPLE_MJML,
    }))
      form.append(k, v);
    form.append('audience', new Blob([csv(250_000)], { type: 'text/csv' }), 'audience.csv');
    const started = performance.now();

    // Act
    const creating = fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: form });
    await new Promise((r) => setTimeout(r, 200));
    const healthStarted = performance.now();
    const health = await fetch(`${h.url}/healthz`);
    const healthMs = performance.now() - healthStarted;
    const res = await creating;

    // Assess
    expect(res.status).toBe(201);
    expect(res.headers.get('upload-rate-limit')).toMatch(/^100000;/);
    expect(performance.now() - started).toBeGreaterThan(1_000);
    expect(health.status).toBe(200);
    expect(healthMs).toBeLessThan(500);
  });
});
