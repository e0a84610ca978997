import fc from 'fast-check';
import { CampaignRun } from '../../src/core/campaign-run';
import { LocalWaves, finishAt, localSendView } from '../../src/core/local-waves';

describe('the waves of a send at a local time', () => {
  it('groups recipients by the instant they go out, zones that share it together, earliest first', () => {
    // Prepare: Berlin and Lagos share 08:00 UTC in winter; London is an hour later.
    const waves = new LocalWaves();
    const eight = Date.UTC(2026, 0, 12, 8);
    const nine = Date.UTC(2026, 0, 12, 9);
    // Act
    for (const [at, zone] of [
      [nine, 'Europe/London'],
      [eight, 'Europe/Berlin'],
      [eight, 'Africa/Lagos'],
      [eight, 'Europe/Berlin'],
    ] as const)
      waves.add(at, zone);
    // Assess
    expect(waves.list()).toEqual([
      { at: eight, count: 3, zones: ['Africa/Lagos', 'Europe/Berlin'] },
      { at: nine, count: 1, zones: ['Europe/London'] },
    ]);
    expect(waves.placed).toBe(4);
  });
});

describe('when a send with waves finishes', () => {
  const rate = 10 / 60_000; // 10 a minute

  it('is the backlog at the rate when no wave is ahead', () => {
    expect(finishAt(0, 20, [], rate)).toBe(120_000);
    // A wave already due is the caller's backlog: it is not counted again.
    expect(finishAt(1_000, 20, [{ at: 1_000, count: 50 }], rate)).toBe(1_000 + 120_000);
  });

  it('waits for a wave that starts after the backlog is sent', () => {
    // 10 now (1 min), then 10 at 5 min: done at 6 min.
    expect(finishAt(0, 10, [{ at: 300_000, count: 10 }], rate)).toBe(360_000);
  });

  it('adds up waves that overlap: a wave still sending when the next opens delays it', () => {
    // 30 at 1 min (3 min at the rate), 10 at 2 min: everything from 1 min on at the rate, done at 5 min.
    const waves = [
      { at: 120_000, count: 10 },
      { at: 60_000, count: 30 },
    ];
    expect(finishAt(0, 0, waves, rate)).toBe(300_000);
  });

  it('is never earlier than any wave plus what follows it, nor than sending everything from now', () => {
    fc.assert(
      fc.property(
        fc.nat(1_000),
        fc.array(fc.record({ at: fc.integer({ min: -100_000, max: 1_000_000 }), count: fc.nat(1_000) }), { maxLength: 8 }),
        (backlog, waves) => {
          const finish = finishAt(0, backlog, waves, rate);
          const ahead = waves.filter((w) => w.at > 0);
          const all = backlog + ahead.reduce((n, w) => n + w.count, 0);
          expect(finish).toBeGreaterThanOrEqual(all / rate - 1e-6);
          for (const w of ahead) {
            const fromIt = ahead.filter((v) => v.at >= w.at).reduce((n, v) => n + v.count, 0);
            expect(finish).toBeGreaterThanOrEqual(w.at + fromIt / rate - 1e-6);
          }
          // And it is one of those bounds: sending as soon as allowed at the rate reaches it.
          const bounds = [
            all / rate,
            ...ahead.map((w) => w.at + ahead.filter((v) => v.at >= w.at).reduce((n, v) => n + v.count, 0) / rate),
          ];
          expect(bounds.some((b) => Math.abs(b - finish) < 1e-6)).toBe(true);
        },
      ),
    );
  });

  it('refuses a rate of zero with a clear error', () => {
    expect(() => finishAt(0, 1, [], 0)).toThrow('finishAt: the rate must be above 0');
  });
});

describe("the campaign view's block for a send at a local time", () => {
  const T = Date.UTC(2026, 0, 12, 7, 0);
  const local = { date: '2026-01-12', time: '09:00', timeZone: 'UTC', column: 'tz' };
  const ref = { customerId: 'acme', campaignId: 'c-waves-1' };

  /** A sending campaign of `valid` recipients, `rendered` of them rendered, `sent` of them sent. */
  function run(options: { valid?: number; rendered?: number; sent?: number; status?: 'sending' | 'paused'; localSend?: boolean } = {}) {
    const { valid = 100, rendered = valid, sent = 0, status = 'sending', localSend = true } = options;
    const definition = {
      version: 1 as const,
      ...ref,
      name: 'Waves',
      from: 'news@example.com',
      subject: 'Hi',
      mjml: '<mjml></mjml>',
      audienceKey: 'a',
      createdAt: new Date(T).toISOString(),
    };
    const r = new CampaignRun(definition, {
      version: 1,
      status,
      updatedAt: new Date(T).toISOString(),
      ...(localSend ? { localSend: local } : {}),
    });
    r.setReport({ version: 1, rows: valid, valid, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false });
    r.noteRendered(rendered);
    for (let i = 0; i < sent; i++) r.resolve(`sent-${i}`, 'sent');
    return r;
  }
  const cap = { perMinuteNow: 0, perMinuteCap: 60 }; // one a second

  it('is not there for a campaign sent without a local time', () => {
    expect(localSendView(run({ localSend: false }), T, cap, false)).toBeUndefined();
  });

  it('lists the waves as instants, at most 50', () => {
    const r = run();
    for (let k = 0; k < 60; k++) r.waves.add(T + k * 60_000, 'Etc/GMT');
    const view = localSendView(r, T, cap, false)!;
    expect(view.waves).toHaveLength(50);
    expect(view.waves[1]).toEqual({ at: new Date(T + 60_000).toISOString(), count: 1, zones: ['Etc/GMT'] });
  });

  it('waits for the last wave: the backlog now, the wave ahead from its instant, at the rate', () => {
    // Prepare: 60 released ten seconds ago (30 of them sent), 40 more two minutes ahead.
    const r = run({ sent: 30 });
    for (let k = 0; k < 60; k++) r.waves.add(T - 10_000, 'Europe/London');
    for (let k = 0; k < 40; k++) r.waves.add(T + 120_000, 'Europe/Berlin');
    // Act + Assess: 30 left now, 40 from 120 s: done at 160 s at one a second.
    expect(localSendView(r, T, cap, false)!.etaSeconds).toBe(160);
    // The campaign's own rate when it is below the cap (30 a minute): 120 + 80 s.
    expect(localSendView(r, T, { perMinuteNow: 30, perMinuteCap: 60 }, false)!.etaSeconds).toBe(200);
    // Never faster than the cap, whatever the last minute saw.
    expect(localSendView(r, T, { perMinuteNow: 120, perMinuteCap: 60 }, false)!.etaSeconds).toBe(160);
    // A wave whose instant is now is due: it is part of the backlog.
    expect(localSendView(r, T + 120_000, cap, false)!.etaSeconds).toBe(70);
  });

  it('counts recipients not placed yet (not rendered, or their zone not read) in the last wave ahead', () => {
    // Prepare: 90 of 100 rendered, 5 of those not placed; 55 placed ten seconds ago, 30 at 120 s.
    const r = run({ rendered: 90 });
    for (let k = 0; k < 5; k++) r.addRendered(`waiting-${k}`);
    for (let k = 0; k < 55; k++) r.waves.add(T - 10_000, 'Europe/London');
    for (let k = 0; k < 30; k++) r.waves.add(T + 120_000, 'Europe/Berlin');
    // Act + Assess: 15 unplaced join the wave at 120 s: 45 from then on, the 55 now.
    expect(localSendView(r, T, cap, false)!.etaSeconds).toBe(165);
  });

  it('counts every unplaced recipient in the backlog when no wave is ahead', () => {
    const r = run({ rendered: 80, sent: 10 });
    for (let k = 0; k < 80; k++) r.waves.add(T - 10_000, 'Europe/London');
    expect(localSendView(r, T, cap, false)!.etaSeconds).toBe(90);
  });

  it('has no ETA while the campaign waits or does not send, and 0 once everything is sent', () => {
    const r = run();
    r.waves.add(T + 60_000, 'UTC');
    expect(localSendView(r, T, cap, true)).toEqual({
      waves: [{ at: new Date(T + 60_000).toISOString(), count: 1, zones: ['UTC'] }],
      etaSeconds: null,
    });
    expect(localSendView(run({ status: 'paused' }), T, cap, false)!.etaSeconds).toBeNull();
    expect(localSendView(r, T, { perMinuteNow: 0, perMinuteCap: 0 }, false)!.etaSeconds).toBeNull();
    expect(localSendView(run({ sent: 100 }), T, cap, false)!.etaSeconds).toBe(0);
  });
});
