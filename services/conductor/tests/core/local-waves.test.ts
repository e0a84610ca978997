import fc from 'fast-check';
import { LocalWaves, finishAt } from '../../src/core/local-waves';

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
