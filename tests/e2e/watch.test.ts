import type { LocalBaton } from '../../local/src/compose';
import { run } from '../../cli/src/main';
import { TEMPLATE, api, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

/**
 * Watching a campaign on the real local composition, as the console, the CLI and an operator's
 * scraper do: the cap reads the same on every surface (the issue: the header said "120 per
 * minute" while the conductor ran 20 per 10 s and /metrics said 20).
 */

const N = 30;
const CSV = 'email,first_name,city,plan\n' + Array.from({ length: N }, (_, i) => `w${i}@example.com,W${i},Oslo,free`).join('\n') + '\n';

interface Cap {
  perWindow: number;
  windowMs: number;
  perMinute: number;
  text: string;
}
type Watched = View & { cap: Cap; effectiveCap: Cap; sentLastMinute: number };

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
    ({ baton, dataDir } = await startBaton({ PER_MINUTE_MAX: '20', GOVERNOR_WINDOW_MS: '10000', MAX_WORKERS: '2', BATCH_SIZE: '10' }));
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

  it('states the cap as "20 per 10 s" in /api/setup, the campaign view, /metrics and the CLI', async () => {
    // Prepare
    const id = await create();
    const expected = { perWindow: 20, windowMs: 10_000, perMinute: 120, text: '20 per 10 s' };

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
    expect(metrics).toMatch(/^# HELP baton_governor_cap Provider calls allowed per governor window \(one window = 10 s;/m);
    expect(metrics).toMatch(/^baton_governor_cap\{domain="mg\.example\.com"\} 20$/m);
    expect(metrics).toMatch(/^baton_governor_cap_per_minute\{domain="mg\.example\.com"\} 120$/m);
    expect(metrics).toMatch(/^baton_governor_cap_info\{domain="mg\.example\.com",cap="20 per 10 s",effective_cap="20 per 10 s"\} 1$/m);
    expect(code).toBe(0);
    expect(out.text).toContain('\n  cap 20 per 10 s\n');
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
