import { classifyMailgunError } from '@baton/shared/mailgun';
import { RetryableError } from '@baton/shared';
import { SCENARIOS } from '../../src/sim/scenarios';
import { acceptingMs, isThrottled, limitError, throttledError } from '../../src/sim/sim-provider';
import { LEASE_GRACE_MS, countViolations, simulate, type Scenario } from '../../src/sim/simulate';
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
  it('drives the real conductor and worker cores to the cap and never over it, with every recipient accounted for', async () => {
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
    // A worker that vanishes late costs up to two lease graces: its lease expires one after its
    // last slice, and its recipients in doubt wait one more for a late report.
    expect(r.completionS).toBeLessThan(1.25 * r.idealS + (2 * LEASE_GRACE_MS) / 1000);
    const smallCampaign = r.campaigns.find((c) => c.customerId === 'smallco')!;
    expect(smallCampaign.doneS).toBeLessThan(smallCampaign.idealS + 2 * 10);
  });

  it('finishes within a few percent of the ideal when no worker vanishes', async () => {
    const r = await simulate({ ...small, crashPerLease: 0 }, 'baton');
    expect(r.violations).toBe(0);
    expect(r.calls).toBe(6_100);
    expect(r.vsIdealPct).toBeLessThan(10);
    expect(r.wastedPermitsPct).toBeLessThan(2);
  });

  it('backs off a throttle burst: each worker stops at its first 429, and the throttled recipients are sent later, once', async () => {
    const r = await simulate({ ...small, crashPerLease: 0, throttle: { fromMs: 30_000, toMs: 34_000 } }, 'baton');
    expect(r.throttled).toBeGreaterThan(0);
    expect(r.throttled).toBeLessThan(100);
    expect(r.violations).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.unsent).toBe(0);
    expect(r.calls).toBe(6_100 + r.throttled);
  });

  it('keeps up with a provider that throttles 4 s of every 12 s: done within 1.5× the ideal at the full cap while it accepts', async () => {
    // Prepare: 5,000 recipients at 1,200 per 10 s, 429s for 4 s of every 12 s (the bench's periodic-429).
    const periodic = SCENARIOS.find((s) => s.name === 'periodic-429')!;
    // Act
    const r = await simulate(periodic, 'baton');
    // Assess: at the full cap during the 8 s of every 12 s the provider accepts, 5,000 take about 62 s.
    expect(r.idealS).toBeCloseTo(61.667, 2);
    expect(r.violations).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.unsent).toBe(0);
    expect(r.calls).toBe(5_000 + r.throttled);
    // The target: within 1.5× (73 s in this run; 78 s with one raise per round of leases, 782 s before push-back by episode).
    expect(r.completionS).toBeLessThanOrEqual(1.5 * r.idealS);
  });

  it('holds a daily limit in every UTC day as hard as the window, and sends the rest after midnight', async () => {
    // Prepare: 5,000 recipients from 23:58 UTC, 3,000 a day (Baton and the provider agree).
    const daily = SCENARIOS.find((s) => s.name === 'daily-limit')!;
    // Act
    const r = await simulate(daily, 'baton');
    // Assess: 3,000 before midnight, the rest after, no 420, no window over the cap.
    expect(r.maxDay).toBe(3_000);
    expect(r.limited).toBe(0);
    expect(r.violations).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.unsent).toBe(0);
    expect(r.completionS).toBeGreaterThan(120); // midnight is 120 s in
    expect(r.completionS).toBeLessThan(120 + 30);
  });

  it("honours the provider's own daily limit (a 420 with its time) without a second send or a failure", async () => {
    // Prepare: the same, but Baton does not know the limit.
    const provider420 = SCENARIOS.find((s) => s.name === 'provider-420')!;
    // Act
    const r = await simulate(provider420, 'baton');
    // Assess: the calls already under way when the limit hit get a 420; the domain then waits for midnight.
    expect(r.limited).toBeGreaterThan(0);
    expect(r.limited).toBeLessThan(400);
    expect(r.violations).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.unsent).toBe(0);
    expect(r.completionS).toBeLessThan(120 + 30);
  });

  it("releases three zones' 09:00 under one cap: nobody before their local time, no window over the cap, two zones opening at once", async () => {
    // Prepare: 6,000 in Asia/Kathmandu (09:00 = 03:15 UTC); 1,500 each in Asia/Kolkata and
    // Asia/Colombo (both 03:30 UTC) while Kathmandu's wave is still sending; 300 a minute.
    const zones = SCENARIOS.find((s) => s.name === 'three-zones')!;
    // Act
    const r = await simulate(zones, 'baton');
    // Assess: nobody early, and each zone started within seconds of its time once the queue reached it.
    expect(r.early).toBe(0);
    expect(r.zones!.map((z) => [z.timeZone, z.opensAt, z.early])).toEqual([
      ['Asia/Kathmandu', '2026-01-06T03:15:00.000Z', 0],
      ['Asia/Kolkata', '2026-01-06T03:30:00.000Z', 0],
      ['Asia/Colombo', '2026-01-06T03:30:00.000Z', 0],
    ]);
    const [kathmandu, kolkata, colombo] = r.zones!;
    expect(kathmandu!.firstS).toBeGreaterThanOrEqual(0);
    expect(kathmandu!.firstS).toBeLessThan(2);
    // The waves overlap: Kathmandu's last message goes after the other two zones opened.
    expect(kathmandu!.lastS).toBeGreaterThan(15 * 60);
    expect(Math.min(kolkata!.firstS, colombo!.firstS)).toBeGreaterThanOrEqual(0);
    // The overlap never breaks the cap.
    expect(r.violations).toBe(0);
    expect(r.maxCalendar).toBeLessThanOrEqual(300);
    expect(r.maxSliding).toBeLessThanOrEqual(300);
    expect(r.duplicates).toBe(0);
    expect(r.unsent).toBe(0);
    // The ideal waits for each zone: 15 min idle, then 9,000 at 300 a minute.
    expect(r.idealS).toBe(45 * 60);
    expect(r.vsIdealPct).toBeLessThan(3);
  }, 90_000);

  it('catches a sender that ignores local time (so a zero early for Baton means something)', async () => {
    const zones = SCENARIOS.find((s) => s.name === 'three-zones')!;
    const r = await simulate(
      {
        ...zones,
        localSend: { ...zones.localSend!, zones: zones.localSend!.zones.map((z) => ({ ...z, size: z.size / 10 })) },
        campaigns: [{ customerId: 'bigco', size: 900, startAtMs: 0 }],
      },
      'sliding-limiter',
    );
    expect(r.early).toBe(900);
  });

  it("holds a warm-up ramp exactly on every calendar day in the domain's zone over a simulated week, daylight saving included", async () => {
    // Prepare: 200 a day doubling to 12,800 in America/New_York from Wed 4 March 2026 (clocks go
    // forward on Sun 8 March: a 23-hour day); 30,000 recipients, more than the week allows.
    const week = SCENARIOS.find((s) => s.name === 'warm-up-week')!;
    // Act
    const r = await simulate(week, 'baton');
    // Assess: each day sends exactly its limit, and the rest goes on the eighth day.
    expect(r.days).toEqual([
      { day: '2026-03-04', calls: 200, limit: 200 },
      { day: '2026-03-05', calls: 400, limit: 400 },
      { day: '2026-03-06', calls: 800, limit: 800 },
      { day: '2026-03-07', calls: 1_600, limit: 1_600 },
      { day: '2026-03-08', calls: 3_200, limit: 3_200 },
      { day: '2026-03-09', calls: 6_400, limit: 6_400 },
      { day: '2026-03-10', calls: 12_800, limit: 12_800 },
      { day: '2026-03-11', calls: 4_600, limit: 12_800 },
    ]);
    expect(r.dayViolations).toBe(0);
    expect(r.violations).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.unsent).toBe(0);
    // Done on the morning of the eighth day (New York), soon after its midnight.
    expect(r.completionS).toBeLessThan(7 * 86_400);
  }, 120_000);

  it('catches a sender that knows no daily limit (so zero days over for Baton means something)', async () => {
    const week = SCENARIOS.find((s) => s.name === 'warm-up-week')!;
    const r = await simulate({ ...week, campaigns: [{ customerId: 'bigco', size: 3_000, startAtMs: 0 }] }, 'fixed-batches');
    expect(r.dayViolations).toBe(3_000 - 200);
  });

  it("answers the provider's daily limit with the error the Mailgun adapter gives a 420 that says when", () => {
    const now = Date.UTC(2025, 7, 25, 6, 0, 31);
    const real = classifyMailgunError(
      {
        type: 'MailgunAPIError',
        status: 420,
        message: 'Enhance Your Calm',
        details: 'Domain mg.example.com is not allowed to send: recipient limit exceeded, try again after Mon, 25 Aug 2025 07:00:31 UTC',
      },
      now,
    );
    const simulated = limitError(now + 3_600_000, now);
    expect(simulated.code).toBe(real.code);
    expect((simulated as RetryableError).retryAfterMs).toBe((real as RetryableError).retryAfterMs);
  });

  it('answers a throttle burst with the error the Mailgun adapter gives a 429', () => {
    const real = classifyMailgunError({ type: 'MailgunAPIError', status: 429, message: 'Too Many Requests', details: 'slow down' });
    const simulated = throttledError();
    expect(simulated).toBeInstanceOf(real.constructor);
    expect(simulated.code).toBe(real.code);
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

describe('throttle bursts', () => {
  it('repeat every period when the span has one, and count only the time outside them as accepting', () => {
    const periodic = { fromMs: 8_000, toMs: 12_000, everyMs: 12_000 };
    expect([7_999, 8_000, 11_999, 12_000, 19_999, 20_000, 32_500].map((t) => isThrottled(periodic, t))).toEqual([
      false,
      true,
      true,
      false,
      false,
      true,
      true,
    ]);
    expect(acceptingMs(periodic, 8_000)).toBe(8_000);
    expect(acceptingMs(periodic, 10_000)).toBe(8_000);
    expect(acceptingMs(periodic, 30_000)).toBe(8_000 + 8_000 + 6_000);
    const once = { fromMs: 300_000, toMs: 320_000 };
    expect(isThrottled(once, 332_000)).toBe(false);
    expect(acceptingMs(once, 600_000)).toBe(580_000);
  });

  it('stretch the ideal by the time the provider refuses', async () => {
    const r = await simulate(
      { ...small, campaigns: [{ customerId: 'bigco', size: 600, startAtMs: 0 }], throttle: { fromMs: 2_000, toMs: 6_000 } },
      'fixed-batches',
    );
    expect(r.idealS).toBeCloseTo(14, 2);
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
