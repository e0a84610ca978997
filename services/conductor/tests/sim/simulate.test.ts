import { SCENARIOS } from '../../src/sim/scenarios';
import { countViolations, simulate, type Scenario } from '../../src/sim/simulate';
import { maxInAnyWindow, perCalendarWindow } from '../../src/sim/window-stats';

/** The benchmark's machinery on a small scale: 600 calls per 10 s window, 6,000 recipients. */
const small: Scenario = {
  ...SCENARIOS.find((s) => s.name === 'heavy-tail-4')!,
  name: 'small',
  cap: 600,
  windowMs: 10_000,
  sliceMs: 100,
  marginMs: 100,
  workers: 4,
  campaigns: [
    { customerId: 'bigco', size: 6_000, startAtMs: 0 },
    { customerId: 'smallco', size: 100, startAtMs: 20_000 },
  ],
  crashPerLease: 0.02,
};

describe('the governor simulation', () => {
  it('drives the real conductor to the cap and never over it, with every recipient accounted for', async () => {
    // Act
    const r = await simulate(small, 'baton');
    // Assess
    expect(r.violations).toBe(0);
    expect(r.maxSliding).toBeLessThanOrEqual(600);
    expect(r.maxCalendar).toBeLessThanOrEqual(600);
    expect(r.crashedLeases).toBeGreaterThan(0);
    // Nobody twice, nobody lost: every recipient sent once or, claimed by a worker that vanished, in doubt.
    expect(r.duplicates).toBe(0);
    expect(r.unsent).toBe(0);
    expect(r.calls).toBeGreaterThanOrEqual(6_100 - r.inDoubt);
    expect(r.calls).toBeLessThanOrEqual(6_100 + r.throttled);
    expect(r.vsIdealPct).toBeLessThan(25);
    const smallCampaign = r.campaigns.find((c) => c.customerId === 'smallco')!;
    expect(smallCampaign.doneS).toBeLessThan(smallCampaign.idealS + 2 * 10);
  });

  it('catches a baseline that bursts over the cap (so a zero for Baton means something)', async () => {
    const r = await simulate({ ...small, crashPerLease: 0 }, 'fixed-batches');
    expect(r.violations).toBeGreaterThan(0);
    expect(r.maxSliding).toBeGreaterThan(600);
  });

  it('is deterministic: the same seed gives the same run', async () => {
    const scenario = { ...small, campaigns: [{ customerId: 'bigco', size: 1_500, startAtMs: 0 }] };
    const [a, b] = [await simulate(scenario, 'baton'), await simulate(scenario, 'baton')];
    expect({ ...a, wallMs: 0 }).toEqual({ ...b, wallMs: 0 });
  });
});

describe('window counting', () => {
  it('finds the busiest sliding window, which may straddle two calendar windows', () => {
    const times = [950, 960, 970, 1_000, 1_010, 1_020, 1_900];
    expect(maxInAnyWindow(times, 100)).toBe(6);
    expect(Math.max(...perCalendarWindow(times, 100).values())).toBe(3);
    expect(countViolations(times, 100, 4)).toBe(2);
  });
});
