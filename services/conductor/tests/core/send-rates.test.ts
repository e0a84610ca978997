import { MAX_RATE_POINTS, RATE_KEPT_MINUTES, SendRates } from '../../src/core/send-rates';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const A = 'mg.a.com';
const B = 'news.a.com';

function rates(windowMs = 10_000): SendRates {
  return new SendRates({ windowMs, defaultDomain: A, capOf: (d) => (d === B ? 5 : 20) });
}

describe('SendRates', () => {
  it("counts a campaign's accepted sends and its whole domain's, per governor window, with the cap per bucket", () => {
    // Prepare
    const r = rates();
    r.record(A, 'c1', T0 + 1_000, 3);
    r.record(A, 'c2', T0 + 2_000, 4);
    r.record(A, 'c1', T0 + 12_000, 2);
    r.record(B, 'c3', T0 + 12_000, 9);

    // Act
    const s = r.series('c1', A, 1, 20, T0 + 15_000);

    // Assess
    expect(s.bucketMs).toBe(10_000);
    expect(s.cap.text).toBe('20 per 10 s');
    expect(s.points).toHaveLength(6);
    expect(s.points.at(-2)).toEqual({ t: new Date(T0).toISOString(), sent: 3, domainSent: 7, cap: 20, effectiveCap: 20 });
    expect(s.points.at(-1)).toEqual({ t: new Date(T0 + 10_000).toISOString(), sent: 2, domainSent: 2, cap: 20, effectiveCap: 20 });
    expect(s.points.slice(0, -2).every((p) => p.sent === 0 && p.domainSent === 0)).toBe(true);
  });

  it('uses the default domain for a campaign that names none', () => {
    const r = rates();
    r.record(undefined, 'c1', T0, 2);
    expect(r.series('c1', A, 1, 20, T0).points.at(-1)).toMatchObject({ sent: 2, domainSent: 2 });
  });

  it("spreads a lease's accepted sends over the slices its calls started in, never after the check-in", () => {
    // Prepare
    const r = rates(1_000);
    const schedule = { start: T0 + 500, sliceMs: 500, permits: [2, 2, 2] };

    // Act: 5 calls (2, 2, 1 per slice), 4 of them accepted; checked in at T0 + 2.2 s
    r.recordLease(A, 'c1', schedule, [2, 2, 1], 4, T0 + 2_200);

    // Assess: the first 4 calls: 2 in [T0+0.5 s), 2 in [T0+1 s)
    const points = r.series('c1', A, 1, 20, T0 + 2_200).points;
    expect(points.at(-3)).toMatchObject({ t: new Date(T0).toISOString(), sent: 2 });
    expect(points.at(-2)).toMatchObject({ t: new Date(T0 + 1_000).toISOString(), sent: 2 });
    expect(points.at(-1)).toMatchObject({ sent: 0 });
  });

  it('records at the check-in what the slices do not account for', () => {
    const r = rates(1_000);
    r.recordLease(A, 'c1', { start: T0, sliceMs: 500, permits: [1] }, undefined, 3, T0 + 4_100);
    expect(r.series('c1', A, 1, 20, T0 + 4_100).points.at(-1)).toMatchObject({ sent: 3 });
  });

  it('counts "sent in the last minute" from accepted sends only, by when their calls started', () => {
    // Prepare
    const r = rates();
    r.record(A, 'c1', T0, 5);
    r.record(A, 'c1', T0 + 30_000, 2);
    r.record(A, 'c2', T0 + 30_000, 7);

    // Act / Assess
    expect(r.sentInLast('c1', 60_000, T0 + 59_000)).toBe(7);
    expect(r.sentInLast('c1', 60_000, T0 + 60_000)).toBe(2);
    expect(r.sentInLast('c1', 60_000, T0 + 90_000)).toBe(0);
    expect(r.sentInLast('nobody', 60_000, T0)).toBe(0);
  });

  it('keeps the lowest effective cap seen in each window and carries it over windows without a sample', () => {
    // Prepare
    const r = rates();
    r.noteLevel(A, 20, T0 + 1_000);
    r.noteLevel(A, 12.6, T0 + 5_000); // the provider pushed back in this window
    r.noteLevel(A, 16, T0 + 31_000);

    // Act
    const points = r.series('c1', A, 1, 18, T0 + 45_000).points;

    // Assess: windows before any sample read the level now; whole calls only
    expect(points.map((p) => p.effectiveCap)).toEqual([18, 12, 12, 12, 16, 16]);
    expect(points.every((p) => p.cap === 20)).toBe(true);
  });

  it('never shows an effective cap above the cap', () => {
    const r = rates();
    r.noteLevel(B, 50, T0);
    expect(r.series('c1', B, 1, 50, T0).points.at(-1)).toMatchObject({ cap: 5, effectiveCap: 5 });
  });

  it('groups whole windows into at most MAX_RATE_POINTS buckets for long ranges, caps summed', () => {
    // Prepare: 1 s windows, 60 minutes = 3600 windows
    const r = rates(1_000);
    r.record(A, 'c1', T0 - 1, 1);
    r.record(A, 'c1', T0 - 9_000, 1);

    // Act
    const s = r.series('c1', A, 60, 20, T0);

    // Assess
    expect(s.bucketMs).toBe(10_000);
    expect(s.points).toHaveLength(MAX_RATE_POINTS);
    expect(s.points.at(-2)).toMatchObject({ t: new Date(T0 - 10_000).toISOString(), sent: 2, cap: 200, effectiveCap: 200 });
    expect(Date.parse(s.points.at(-1)!.t)).toBe(T0);
  });

  it('reaches back at most RATE_KEPT_MINUTES and forgets windows older than that', () => {
    // Prepare
    const r = rates(60_000);
    r.record(A, 'c1', T0, 4);
    for (let m = 1; m <= RATE_KEPT_MINUTES + 5; m++) r.record(A, 'c2', T0 + m * 60_000, 1);

    // Act
    const s = r.series('c1', A, 10_000, 20, T0 + RATE_KEPT_MINUTES * 60_000);

    // Assess
    expect(s.points).toHaveLength(RATE_KEPT_MINUTES);
    // The domain kept the newest RATE_KEPT_MINUTES windows: the 5 past the range's end pushed its 5 oldest out.
    expect(s.points.reduce((n, p) => n + p.domainSent, 0)).toBe(RATE_KEPT_MINUTES - 5);
    expect(r.series('c1', A, RATE_KEPT_MINUTES, 20, T0).points.at(-1)).toMatchObject({ sent: 4, domainSent: 0 });
  });

  it('ignores nothing-sent records and times that are not times', () => {
    const r = rates();
    r.record(A, 'c1', T0, 0);
    r.record(A, 'c1', Number.NaN, 3);
    expect(r.series('c1', A, 1, 20, T0).points.every((p) => p.sent === 0)).toBe(true);
  });
});
