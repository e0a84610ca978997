import type { LocalBaton } from '../../local/src/compose';
import { TEMPLATE, api, busiestWindows, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

/**
 * A pause that means pause, on the real local composition with real workers, the real lease API
 * and mailgun.js against the local sink, whose log says when each call arrived: after the click,
 * no call reaches the provider beyond what the pause's answer said was already on its way.
 * Nobody is sent twice, nobody is lost, and the paused recipients go out after Resume.
 */

const N = 240;
const CSV = 'email,first_name,city,plan\n' + Array.from({ length: N }, (_, i) => `p${i}@example.com,P${i},Oslo,free`).join('\n') + '\n';

interface Paused extends View {
  pause?: { at: string; inFlight: number; endsBy: string; confirmed: boolean; message: string };
}

describe('pausing a campaign, end to end', () => {
  let baton: LocalBaton;
  let dataDir: string;
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    ({ baton, dataDir } = await startBaton({
      PER_MINUTE_MAX: '40',
      GOVERNOR_WINDOW_MS: '1000',
      GOVERNOR_MARGIN_MS: '100',
      MAX_WORKERS: '3',
      BATCH_SIZE: '50',
      // Leases long enough that one running to its end would show after the click.
      LEASE_HORIZON_MS: '3000',
    }));
    call = api(baton);
    // Calls take a while at the provider, so some are always on their way.
    baton.sink!.setLatency(30);
  });

  afterAll(async () => {
    await baton?.stop();
    removeDir(dataDir);
  });

  it('lets no call start after the click beyond what the answer said was on its way, then resumes with everybody once', async () => {
    // Prepare: sending, with calls arriving at the provider
    const created = await call<View>('POST', '/api/campaigns', {
      name: 'Paused',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      subject: 'Hi {{ first_name }}',
      mjml: TEMPLATE,
      audienceCsv: CSV,
    });
    const id = created.body.id;
    expect((await call('POST', `/api/campaigns/${id}/send`)).status).toBe(202);
    const sink = baton.sink!;
    for (const deadline = Date.now() + 20_000; sink.calls().length < 50;) {
      if (Date.now() > deadline) throw new Error('sending did not start');
      await new Promise((r) => setTimeout(r, 20));
    }

    // Act: pause, then wait longer than a lease's horizon
    const clicked = Date.now();
    const paused = await call<Paused>('POST', `/api/campaigns/${id}/pause`);
    const answered = Date.now();
    await new Promise((r) => setTimeout(r, 4_000));
    const later = await call<Paused>('GET', `/api/campaigns/${id}`);

    // Assess: the answer states what may still arrive, confirmed by every worker
    expect(paused.status).toBe(200);
    const pause = paused.body.pause!;
    expect(pause).toMatchObject({ confirmed: true });
    const at = Date.parse(pause.at);
    expect(at).toBeGreaterThanOrEqual(clicked);
    expect(at).toBeLessThanOrEqual(answered);
    expect(answered - clicked).toBeLessThan(1_000);
    const afterStop = sink.calls().filter((c) => c.at >= at);
    expect(afterStop.length).toBeLessThanOrEqual(pause.inFlight);
    // …and those were on their way: none arrives later than a moment after the answer.
    expect(sink.calls().filter((c) => c.at > answered + 200)).toEqual([]);
    expect(pause.message).toMatch(/^Paused: /);
    expect(pause.message).toContain('until you click Resume');
    // Paused recipients are back in the queue, not in doubt; the counts add up.
    const k = later.body.counts;
    expect(later.body.status).toBe('paused');
    expect(k).toMatchObject({ inFlight: 0, inDoubt: 0, failed: 0 });
    expect(k.sent! + k.queued! + k.retrying!).toBe(N);
    expect(k.sent).toBe(sink.messages().length);
    expect(k.sent).toBeLessThan(N);
    expect(later.body.pause).toMatchObject({ at: pause.at, inFlight: pause.inFlight, confirmed: true });

    // Act: resume
    expect((await call('POST', `/api/campaigns/${id}/resume`)).status).toBe(200);
    const done = await waitUntilFinished(baton, id, 40_000);

    // Assess: everybody once
    expect(done.counts).toMatchObject({ sent: N, inDoubt: 0, failed: 0 });
    const to = sink.messages().map((m) => m.to);
    expect(to).toHaveLength(N);
    expect(new Set(to).size).toBe(N);
    // …and the cap held throughout, in calendar and in sliding windows.
    const busiest = busiestWindows(
      sink.calls().map((c) => c.at),
      1_000,
    );
    expect(busiest.calendar).toBeLessThanOrEqual(40);
    expect(busiest.sliding).toBeLessThanOrEqual(40);
    expect((done as Paused).pause).toBeUndefined();
  }, 60_000);
});
