import { RECIPIENT_STATUSES, type Cap } from '@baton/shared';
import type { LocalBaton } from '../../local/src/compose';
import { run } from '../../cli/src/main';
import { TEMPLATE, api, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

/**
 * Watching a campaign on the real local composition, as the console, the CLI and an operator's
 * scraper do: the cap reads the same on every surface (the issue: the header said "120 per
 * minute" while the conductor ran 20 per 10 s and /metrics said 20).
 */

const N = 60;
const CSV = 'email,first_name,city,plan\n' + Array.from({ length: N }, (_, i) => `w${i}@example.com,W${i},Oslo,free`).join('\n') + '\n';

/** Every recipient status: the live counts' parts, which add up to the total. */
const PARTS = RECIPIENT_STATUSES;
type Counts = Record<(typeof PARTS)[number] | 'total', number>;
type Watched = Omit<View, 'counts'> & { counts: Counts; cap: Cap; effectiveCap: Cap; sentLastMinute: number };

class Collector {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

describe('watching a campaign, end to end', () => {
  let baton: LocalBaton;
  let dataDir: string;
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    // 20 per 2 s: a window not a minute long, and short enough to watch a campaign through several.
    ({ baton, dataDir } = await startBaton({ PER_MINUTE_MAX: '20', GOVERNOR_WINDOW_MS: '2000', MAX_WORKERS: '2', BATCH_SIZE: '10' }));
    call = api(baton);
  });

  afterAll(async () => {
    await baton?.stop();
    removeDir(dataDir);
  });

  async function create(): Promise<string> {
    const created = await call<View>('POST', '/api/campaigns', {
      name: 'Watched',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      subject: 'Hi {{ first_name }}',
      mjml: TEMPLATE,
      audienceCsv: CSV,
    });
    expect(created.status).toBe(201);
    return created.body.id;
  }

  it('states the cap as "20 per 2 s" in /api/setup, the campaign view, /metrics and the CLI', async () => {
    // Prepare
    const id = await create();
    const expected = { perWindow: 20, windowMs: 2_000, perMinute: 600, text: '20 per 2 s' };

    // Act
    const setup = await call<{ stage: string; sendingDomains: string[]; customers?: string[]; cap: Cap; local: boolean }>(
      'GET',
      '/api/setup',
    );
    const view = await call<Watched>('GET', `/api/campaigns/${id}`);
    const list = await call<{ campaigns: Watched[] }>('GET', '/api/campaigns');
    const metrics = await (await fetch(`${baton.url}/metrics`)).text();
    const out = new Collector();
    const code = await run(['status', id, '--api', baton.url, '--token', baton.apiToken], out as unknown as NodeJS.WritableStream);

    // Assess
    expect(setup.status).toBe(200);
    expect(setup.body).toEqual({
      stage: 'dev',
      sendingDomains: ['mg.example.com'],
      customers: ['acme'],
      cap: expected,
      caps: { 'mg.example.com': expected },
      local: true,
    });
    expect(view.body.cap).toEqual(expected);
    expect(view.body.effectiveCap).toEqual(expected);
    expect(list.body.campaigns.find((c) => c.id === id)?.cap).toEqual(expected);
    expect(metrics).toMatch(/^# HELP baton_governor_cap Provider calls allowed per governor window \(one window = 2 s;/m);
    expect(metrics).toMatch(/^baton_governor_cap\{domain="mg\.example\.com"\} 20$/m);
    expect(metrics).toMatch(/^baton_governor_cap_per_minute\{domain="mg\.example\.com"\} 600$/m);
    expect(metrics).toMatch(/^baton_governor_cap_info\{domain="mg\.example\.com",cap="20 per 2 s",effective_cap="20 per 2 s"\} 1$/m);
    expect(code).toBe(0);
    expect(out.text).toContain('\n  cap 20 per 2 s\n');
  });

  it('shows at every poll counts that add up, what the provider already has as sent or in flight, and a rate chart of accepted sends within the cap', async () => {
    // Prepare
    const id = await create();
    const mine = () =>
      new Set(
        baton
          .sink!.messages()
          .filter((m) => m.variables['campaign-id'] === id)
          .map((m) => m.to),
      ).size;
    const polls: { atSink: number; view: Watched }[] = [];

    // Act
    expect((await call('POST', `/api/campaigns/${id}/send`)).status).toBe(202);
    for (const deadline = Date.now() + 25_000; Date.now() < deadline;) {
      const atSink = mine();
      const { body } = await call<Watched>('GET', `/api/campaigns/${id}`);
      polls.push({ atSink, view: body });
      if (body.status === 'done') break;
      await new Promise((r) => setTimeout(r, 40));
    }
    const rate = await call<{
      bucketMs: number;
      cap: Cap;
      points: { t: string; sent: number; domainSent: number; cap: number; effectiveCap: number }[];
    }>('GET', `/api/campaigns/${id}/rate?minutes=2`);

    // Assess: every part of the counts, every poll
    const last = polls.at(-1)!.view;
    expect(last.status).toBe('done');
    for (const { atSink, view } of polls) {
      const c = view.counts;
      const parts = PARTS.reduce((n, part) => n + c[part], 0);
      if (c.total > 0) expect(parts).toBe(c.total);
      // What the provider took before the poll is sent or still out with a worker: never "0 sent" and nothing in flight.
      expect(c.sent + c.inFlight).toBeGreaterThanOrEqual(atSink);
    }
    expect(polls.some((p) => p.view.counts.inFlight > 0)).toBe(true);
    expect(last.counts.sent).toBe(N);
    expect(last.sentLastMinute).toBe(N);
    // The chart: governor windows of 2 s, each within the cap, adding up to what was sent.
    expect(rate.status).toBe(200);
    expect(rate.body.bucketMs).toBe(2_000);
    expect(rate.body.cap.text).toBe('20 per 2 s');
    expect(rate.body.points).toHaveLength(60);
    expect(rate.body.points.reduce((n, p) => n + p.sent, 0)).toBe(N);
    for (const p of rate.body.points) {
      expect(p).toMatchObject({ cap: 20, effectiveCap: 20 });
      expect(p.sent).toBeLessThanOrEqual(20);
      expect(p.domainSent).toBeGreaterThanOrEqual(p.sent);
    }
    // The cap really held it back, from the provider's side: 60 at 20 per 2 s span at least two windows.
    const sinkTimes = baton
      .sink!.messages()
      .filter((m) => m.variables['campaign-id'] === id)
      .map((m) => m.receivedAt);
    expect(Math.max(...sinkTimes) - Math.min(...sinkTimes)).toBeGreaterThanOrEqual(2_000 * (N / 20 - 1) - 500);
  }, 40_000);

  it('refuses a rate range it does not keep, naming the parameter', async () => {
    // Prepare
    const id = await create();
    // Act
    const res = await call<{ error: string; issues: { where: string; message: string }[] }>(
      'GET',
      `/api/campaigns/${id}/rate?minutes=100000`,
    );
    // Assess
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([{ where: 'query.minutes', message: 'must be at most 360 (the rates kept)' }]);
  });

  it('needs the API token for /api/setup', async () => {
    // Act
    const res = await fetch(`${baton.url}/api/setup`);
    // Assess
    expect(res.status).toBe(401);
  });

  afterEach(async () => {
    // Nothing of one test keeps sending into the next.
    const { body } = await call<{ campaigns: Watched[] }>('GET', '/api/campaigns');
    for (const c of body.campaigns)
      if (c.status === 'sending' || c.status === 'paused') await call('POST', `/api/campaigns/${c.id}/cancel`);
    for (const c of body.campaigns) if (c.status === 'sending' || c.status === 'paused') await waitUntilFinished(baton, c.id);
  });
});
