import type { LocalBaton } from '../../local/src/compose';
import { TEMPLATE, api, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

/** A domain's daily and monthly limits (DAILY_LIMITS), as the campaign view and /metrics show them. */
describe('daily and monthly limits of a sending domain, end to end', () => {
  let baton: LocalBaton;
  let dataDir: string;

  beforeAll(async () => {
    ({ baton, dataDir } = await startBaton({ DAILY_LIMITS: '{"mg.example.com": {"perDay": 5, "perMonth": 7}}' }));
  });
  afterAll(async () => {
    await baton.stop();
    removeDir(dataDir);
  });

  it("shows today's and this month's limit and what is left, in the view and in /metrics", async () => {
    // Prepare
    const call = api(baton);
    const created = await call<View>('POST', '/api/campaigns', {
      name: 'Limited',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      subject: 'Hello {{ first_name }}',
      mjml: TEMPLATE,
      audienceCsv: 'email,first_name\na@example.com,A\nb@example.com,B\nc@example.com,C',
    });
    // Act
    await call('POST', `/api/campaigns/${created.body.id}/send`);
    await waitUntilFinished(baton, created.body.id);
    const view = (await call<View & { dailyLimit: unknown; monthlyLimit: unknown }>('GET', `/api/campaigns/${created.body.id}`)).body;
    const metrics = await (await fetch(`${baton.url}/metrics`)).text();
    // Assess
    const now = new Date();
    expect(view.dailyLimit).toEqual({ day: now.toISOString().slice(0, 10), limit: 5, left: 2 });
    expect(view.monthlyLimit).toEqual({ month: now.toISOString().slice(0, 7), limit: 7, left: 4 });
    for (const [name, value] of [
      ['baton_governor_daily_limit', 5],
      ['baton_governor_daily_left', 2],
      ['baton_governor_monthly_limit', 7],
      ['baton_governor_monthly_left', 4],
    ] as const)
      expect(metrics).toMatch(new RegExp(`^${name}\\{domain="mg\\.example\\.com"\\} ${value}$`, 'm'));
  });
});
