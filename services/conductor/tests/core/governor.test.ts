import fc from 'fast-check';
import { Governor, type GovernorCheckpoint, type SliceGrant } from '../../src/core/governor';
import { planGrant } from '../../src/core/pacing';
import { maxInAnyWindow } from '../../src/sim/window-stats';

const settings = { perWindowMax: 100, windowMs: 10_000, sliceMs: 500, marginMs: 100 };

/** A governor with slices opened and durable through `until`. */
function ready(g: Governor, now: number, until = now + 20_000): Governor {
  g.open(g.sliceOf(until), now);
  g.markDurable(g.sliceOf(until));
  return g;
}

function grantAll(g: Governor, now: number, want = 1_000_000, horizonMs = 20_000): SliceGrant | undefined {
  return planGrant([g], { now, want, horizonMs, predicted: undefined, unknownPerSlice: 1_000_000 });
}

describe('Governor', () => {
  it('reaches over every slice one window can touch, margins included', () => {
    // (10 000 + 2·100) / 500 = 20.4 → 21, plus the slice a window starts in.
    expect(new Governor(settings).reach).toBe(22);
    expect(new Governor({ ...settings, marginMs: 0 }).reach).toBe(21);
  });

  it('spreads the cap evenly: any run of `reach` slices holds exactly the cap, none more', () => {
    // Prepare
    const g = ready(new Governor(settings), 0, 60_000);
    // Act
    const grant = grantAll(g, 0, 1_000_000, 60_000)!;
    // Assess
    const p = grant.permits;
    for (let i = 0; i + g.reach <= p.length; i++) expect(p.slice(i, i + g.reach).reduce((a, b) => a + b, 0)).toBe(100);
    expect(Math.max(...p) - Math.min(...p)).toBeLessThanOrEqual(1);
  });

  it('grants only from durable slices', () => {
    const g = new Governor(settings);
    g.open(g.sliceOf(20_000), 0);
    expect(grantAll(g, 0)).toBeUndefined();
    g.markDurable(g.sliceOf(5_000));
    const grant = grantAll(g, 0)!;
    expect(grant.start + grant.permits.length * grant.sliceMs).toBeLessThanOrEqual(5_500);
  });

  it('takes back exactly what a worker reports unused, slice by slice', () => {
    const g = ready(new Governor(settings), 0);
    const grant = grantAll(g, 0, 20, 5_000)!;
    expect(g.free(0)).toBe(0);
    g.release(
      grant,
      grant.permits.map((n, k) => (k === 0 ? n - 1 : 0)),
      400,
    );
    expect(g.free(0)).toBe(1);
    expect(g.free(3)).toBe(grant.permits[3]);
  });

  it('never offers a past slice again, even when the clock steps back', () => {
    const g = ready(new Governor(settings), 0);
    const grant = grantAll(g, 0, 1_000_000, 2_000)!;
    g.release(
      grant,
      grant.permits.map(() => 0),
      1_200,
    ); // the worker used nothing; slices 0-1 are past
    expect(g.free(0) + g.free(1)).toBe(0);
    // An NTP step back to 100 ms: slice 0 is still past for the governor.
    expect(
      planGrant([g], { now: 100, want: 1_000, horizonMs: 1_000, predicted: undefined, unknownPerSlice: 1_000 })?.start ?? 1_000,
    ).toBeGreaterThanOrEqual(1_000);
  });

  it('without a usage report, takes back only slices that cannot have started on any clock', () => {
    const g = ready(new Governor(settings), 0);
    const grant = grantAll(g, 0, 1_000, 5_000)!;
    // At 950 ms the next slice (1 000 ms) is within the margin: a fast clock may be in it already.
    g.release(grant, undefined, 950);
    expect(g.free(2)).toBe(0);
    expect(g.free(3)).toBe(grant.permits[3]);
  });

  it('backs off after a push-back and honours the wait', () => {
    const g = ready(new Governor(settings), 0, 2_000);
    g.pushBack(0, 3_000);
    expect(g.effectiveCap).toBe(50);
    g.open(g.sliceOf(10_000), 100);
    g.markDurable(g.sliceOf(10_000));
    for (let i = 0; i < g.sliceOf(3_000); i++) expect(g.free(i)).toBe(0);
    expect(g.free(g.sliceOf(3_000))).toBeGreaterThan(0);
    // No quiet spell raises it: only calls that go through do.
    g.open(g.sliceOf(30_000), 20_000);
    expect(g.effectiveCap).toBe(50);
  });

  describe('push-back by episode', () => {
    it('lowers the effective cap once, however many leases planned before the push-back report it and however late', () => {
      // Prepare: five leases planned at 0.
      const g = ready(new Governor(settings), 0);
      // Act
      const changed = [100, 300, 2_000, 6_000, 9_000].map((now) => g.pushBack(now, undefined, 0));
      // Assess
      expect(changed).toEqual([true, false, false, false, false]);
      expect(g.effectiveCap).toBe(50);
    });

    it('lowers it again for a lease planned after the push-back took effect, or in its very instant', () => {
      const g = ready(new Governor(settings), 0);
      g.pushBack(100, undefined, 0);
      expect(g.pushBack(900, undefined, 100)).toBe(true); // planned in the instant of the cut: its successor
      expect(g.effectiveCap).toBe(25);
      expect(g.pushBack(1_500, undefined, 899)).toBe(false);
      expect(g.pushBack(1_600, undefined, 1_000)).toBe(true);
      expect(g.effectiveCap).toBe(12);
    });

    it('still honours a wait asked for by a report of an episode already answered', () => {
      const g = ready(new Governor(settings), 0, 10_000);
      g.pushBack(100, undefined, 0);
      expect(g.pushBack(200, 3_000, 0)).toBe(true);
      expect(g.effectiveCap).toBe(50);
      let i = g.sliceOf(200);
      for (; g.sliceStart(i) < 3_200; i++) expect(g.free(i)).toBe(0);
      expect(g.free(i)).toBeGreaterThan(0);
      // A shorter wait changes nothing.
      expect(g.pushBack(300, 1_000, 0)).toBe(false);
    });

    it('after a restart keeps the lowered cap and does not count the push-back again', () => {
      // Prepare
      const old = ready(new Governor(settings), 0);
      old.pushBack(1_000, undefined, 0);
      const cp: GovernorCheckpoint = JSON.parse(JSON.stringify(old.checkpoint(1_000)));
      // Act
      const g = new Governor(settings);
      g.restore(cp, 2_000);
      // Assess: a report of a lease planned before the cut is old news; one planned since is not.
      expect(g.effectiveCap).toBe(50);
      expect(g.pushBack(2_500, undefined, 500)).toBe(false);
      expect(g.effectiveCap).toBe(50);
      expect(g.accepted(2_550, 500)).toBe(false); // nor is good news of one
      expect(g.pushBack(2_600, undefined, 2_000)).toBe(true);
      expect(g.effectiveCap).toBe(25);
    });
  });

  describe('recovery on evidence', () => {
    /** Cut twice (100 → 50 → 25): one episode that started at the full cap. */
    function cutTwice(): Governor {
      const g = ready(new Governor(settings), 0);
      g.pushBack(100, undefined, 0);
      g.pushBack(200, undefined, 100);
      expect(g.effectiveCap).toBe(25);
      return g;
    }

    it('raises the cap only for calls of a lease planned after the last cut (one planned in its very instant may predate it)', () => {
      const g = cutTwice();
      expect(g.accepted(1_000, 150)).toBe(false); // planned before the second cut: it ran at 50
      expect(g.accepted(1_000, 200)).toBe(false);
      expect(g.effectiveCap).toBe(25);
      expect(g.accepted(1_000, 201)).toBe(true);
      expect(g.effectiveCap).toBe(63);
    });

    it('raises the cap for every lease of the recovery, not once per round: the provider takes calls again', () => {
      const g = cutTwice();
      // Three leases planned after the cut, before any raise, each report calls that went through.
      expect([g.accepted(1_000, 300), g.accepted(1_100, 400), g.accepted(1_200, 500)]).toEqual([true, true, true]);
      expect(g.effectiveCap).toBe(92);
      // A cut after the raises starts the rule again: a lease planned before it is old news.
      g.pushBack(1_300, undefined, 1_000);
      expect(g.accepted(1_400, 1_250)).toBe(false);
    });

    it('closes half the gap to the level before the episode per round of good news, then steps up to the cap', () => {
      const g = cutTwice();
      const levels: number[] = [];
      for (let round = 1; g.effectiveCap < 100; round++) {
        g.accepted(round * 1_000, round * 1_000 - 500);
        levels.push(g.effectiveCap);
      }
      // 25 + 38 (half of 75), + 19, then at least a tenth of the cap: +10, +10 (capped).
      expect(levels).toEqual([63, 82, 92, 100]);
    });

    it('starts a new episode from the level reached when the provider pushes back after a raise', () => {
      const g = ready(new Governor(settings), 0);
      g.pushBack(100, undefined, 0);
      g.accepted(1_000, 101);
      expect(g.effectiveCap).toBe(75);
      g.pushBack(2_000, undefined, 1_000);
      expect(g.effectiveCap).toBe(37);
      g.accepted(3_000, 2_001);
      // Half the way back to 75, not to 100.
      expect(g.effectiveCap).toBe(56);
    });

    it('raises nothing for a lease at the full cap', () => {
      const g = ready(new Governor(settings), 0);
      expect(g.accepted(1_000, 500)).toBe(false);
      expect(g.effectiveCap).toBe(100);
    });

    it('lowers and raises what slices already opened may grant at once, never above their limits', () => {
      // Prepare: slices opened at the full pace, nothing granted.
      const g = ready(new Governor({ ...settings, probeMs: 60_000 }), 0, 10_000);
      const slices = Array.from({ length: g.reach - 2 }, (_, k) => k + 1);
      const full = slices.map((i) => g.free(i));
      // Act and assess: a cut halves what each may grant…
      g.pushBack(100, undefined, 0);
      const cut = slices.map((i) => g.free(i));
      expect(cut.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(50);
      expect(cut.every((n, k) => n <= full[k]!)).toBe(true);
      // …and recovery gives it back in the same slices, up to the full pace and no further.
      g.accepted(200, 101);
      g.accepted(300, 201);
      g.accepted(400, 301);
      g.accepted(500, 401);
      expect(g.effectiveCap).toBe(100);
      expect(slices.map((i) => g.free(i))).toEqual(full);
    });

    it('never lets a slice grant above its limit, even where the lower level paces it more than the cap does', () => {
      // Prepare: 40 over 22 slices paces slice 5 at 1; 30 (40 cut to 20, then raised) paces it at 2.
      const g = ready(new Governor({ ...settings, perWindowMax: 40, probeMs: 60_000 }), 0);
      const limits = Array.from({ length: 40 }, (_, i) => g.free(i));
      // Act
      g.pushBack(100, undefined, 0);
      g.accepted(200, 101);
      // Assess
      expect(g.effectiveCap).toBe(30);
      expect(limits[5]).toBe(1);
      limits.forEach((limit, i) => expect(g.free(i)).toBeLessThanOrEqual(limit));
    });

    it('while below the cap offers only slices near the current one (or the end of a wait), so leases are short', () => {
      const g = ready(new Governor(settings), 0);
      expect(g.free(g.sliceOf(8_000))).toBeGreaterThan(0);
      g.pushBack(100, undefined, 0);
      // probeMs 1 s: two slices of 500 ms past the current one.
      expect(g.free(2)).toBeGreaterThan(0);
      expect(g.free(3)).toBe(0);
      expect(g.free(g.sliceOf(8_000))).toBe(0);
      g.pushBack(200, 4_000, 0);
      expect(g.free(g.sliceOf(4_200) + 2)).toBeGreaterThan(0);
      expect(g.free(g.sliceOf(4_200) + 3)).toBe(0);
    });

    it('after a restart heads back to the level before the episode, and a cut then continues that episode', () => {
      // Prepare: 100 → 50 → 75, then a new episode from 75: 37.
      const old = ready(new Governor(settings), 0);
      old.pushBack(100, undefined, 0);
      old.accepted(1_000, 101);
      old.pushBack(2_000, undefined, 1_000);
      const cp: GovernorCheckpoint = JSON.parse(JSON.stringify(old.checkpoint(2_000)));
      // Act
      const raised = new Governor(settings);
      raised.restore(cp, 3_000);
      raised.accepted(4_000, 3_000);
      const cut = new Governor(settings);
      cut.restore(cp, 3_000);
      cut.pushBack(4_000, undefined, 3_000);
      cut.accepted(5_000, 4_001);
      // Assess
      expect(raised.effectiveCap).toBe(56); // 37 + half of (75 − 37)
      expect(cut.effectiveCap).toBe(18 + 29); // 18 + half of (75 − 18)
    });
  });

  it('after a restart counts everything its predecessor could have granted as used', () => {
    // Prepare: the old conductor granted the whole window ahead, then died.
    const old = ready(new Governor(settings), 0, 10_000);
    const granted = grantAll(old, 0, 1_000_000, 10_000)!;
    const cp: GovernorCheckpoint = JSON.parse(JSON.stringify(old.checkpoint(0)));
    // Act
    const g = new Governor(settings);
    g.restore(cp, 2_000);
    ready(g, 2_000, 30_000);
    const next = grantAll(g, 2_000, 1_000_000, 28_000)!;
    // Assess: old and new grants together never put more than the cap in reach of one window.
    const all = new Map<number, number>();
    for (const gr of [granted, next]) gr.permits.forEach((n, k) => all.set(gr.start / 500 + k, (all.get(gr.start / 500 + k) ?? 0) + n));
    const last = Math.max(...all.keys());
    for (let i = 0; i <= last; i++) {
      let sum = 0;
      for (let j = i; j < i + g.reach; j++) sum += all.get(j) ?? 0;
      expect(sum).toBeLessThanOrEqual(100);
    }
    expect(next.permits.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('grants nothing new while a restored slice that used the whole cap is within reach', () => {
    // Prepare: a predecessor (another pace, say) spent the whole cap in one slice.
    const g = new Governor(settings);
    const through = g.sliceOf(5_000);
    const limits = Array.from({ length: g.reach - 1 }, (_, k) => (k === g.reach - 2 ? 100 : 0));
    g.restore({ version: 1, ...settings, through, limits, effectiveCap: 100 }, 5_000);
    // Act
    ready(g, 5_000, 40_000);
    // Assess
    for (let i = through + 1; i < through + g.reach; i++) expect(g.free(i)).toBe(0);
    expect(g.free(through + g.reach)).toBeGreaterThan(0);
  });

  it('refuses settings that cannot pace', () => {
    expect(() => new Governor({ ...settings, marginMs: 5_000 })).toThrow(RangeError);
    expect(() => new Governor({ ...settings, sliceMs: 20_000 })).toThrow(RangeError);
    expect(() => new Governor({ ...settings, perWindowMax: 0 })).toThrow(RangeError);
  });

  describe('the hard cap, over random workers', () => {
    const worker = fc.record({
      advanceMs: fc.integer({ min: 0, max: 1_000 }),
      want: fc.integer({ min: 1, max: 300 }),
      /** Workers asking at this moment. */
      workers: fc.integer({ min: 1, max: 6 }),
      horizonMs: fc.integer({ min: 500, max: 8_000 }),
      perSlice: fc.option(fc.double({ min: 0.2, max: 30, noNaN: true }), { nil: undefined }),
      /** Share of each slice's permits the worker really uses. */
      // Mostly busy workers: a violation can only show where the budget is used in full.
      useShare: fc.oneof(
        { arbitrary: fc.constant(1), weight: 8 },
        { arbitrary: fc.constant(0), weight: 1 },
        { arbitrary: fc.double({ min: 0, max: 1, noNaN: true }), weight: 1 },
      ),
      /** When it checks in, as a share of the lease's length (beyond 1: late); its clock's skew. */
      checkInAt: fc.oneof(
        { arbitrary: fc.constant(1.1), weight: 4 },
        { arbitrary: fc.double({ min: 0, max: 1.5, noNaN: true }), weight: 1 },
      ),
      skewMs: fc.integer({ min: -100, max: 100 }),
      reportsUsage: fc.boolean(),
      crashes: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
      event: fc.oneof(
        { arbitrary: fc.constant('none' as const), weight: 25 },
        { arbitrary: fc.constant('pushBack' as const), weight: 1 },
        { arbitrary: fc.constant('restart' as const), weight: 1 },
      ),
      retryAfterMs: fc.option(fc.integer({ min: 0, max: 5_000 }), { nil: undefined }),
      /** What the provider answered the lease's calls, told at its check-in: push-backs and recoveries by evidence. */
      answer: fc.oneof(
        { arbitrary: fc.constant('accepted' as const), weight: 6 },
        { arbitrary: fc.constant('throttled' as const), weight: 1 },
        { arbitrary: fc.constant('silent' as const), weight: 1 },
      ),
      /** A push-back out of the blue reports a lease planned this long ago. */
      plannedAgoMs: fc.integer({ min: 0, max: 10_000 }),
      seed: fc.integer(),
    });

    it('never puts more provider calls than the cap in any sliding (or calendar) window, through random push-backs and recoveries', () => {
      // Where a call lands: anywhere in its slice shifted by its worker's skew, or — the worst
      // case — at an edge of what the margin allows, chosen per slice so that late landings of
      // one slice and early ones a window later can meet.
      const landing = fc.constantFrom('skewed' as const, 'edges' as const);
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 10_000_000 }),
          // Caps whose pace over `reach` slices is uneven: a lower level may pace a slice more than the cap does.
          fc.constantFrom(100, 40, 37),
          landing,
          fc.integer(),
          fc.array(worker, { minLength: 30, maxLength: 80 }),
          (start, cap, mode, edgeSeed, steps) => {
            const shape = { ...settings, perWindowMax: cap };
            const edge = (slice: number) => ((Math.imul(slice ^ edgeSeed, 2654435761) >>> 7) & 1) === 1;
            let g = new Governor(shape);
            let now = start;
            let stored: GovernorCheckpoint | undefined;
            const persistAhead = () => {
              const until = g.sliceOf(now + 10_000);
              if (g.durableThrough >= g.sliceOf(now + 5_000)) return;
              g.open(until, now);
              stored = JSON.parse(JSON.stringify(g.checkpoint(now)));
              g.markDurable(until);
            };
            persistAhead();
            const calls: number[] = [];
            const pending: ({ at: number; plannedAt: number; grant: SliceGrant; used: number[] | undefined; gov: Governor } & Pick<
              (typeof steps)[number],
              'answer' | 'retryAfterMs'
            >)[] = [];
            for (const s of steps) {
              now += s.advanceMs;
              for (const p of pending.filter((x) => x.at <= now)) {
                if (p.gov !== g) continue;
                g.release(p.grant, p.used, p.at);
                // As the conductor does at a check-in: a 429 is a push-back, calls that went through are good news.
                if (p.answer === 'throttled') g.pushBack(p.at, p.retryAfterMs, p.plannedAt);
                else if (p.answer === 'accepted') g.accepted(p.at, p.plannedAt);
              }
              pending.splice(0, pending.length, ...pending.filter((x) => x.at > now));
              if (s.event === 'pushBack') g.pushBack(now, s.retryAfterMs, now - s.plannedAgoMs);
              if (s.event === 'restart' && stored) {
                g = new Governor(shape);
                g.restore(stored, now);
              }
              persistAhead();
              for (let w = 0; w < s.workers; w++) {
                const grant = planGrant([g], {
                  now,
                  want: s.want,
                  horizonMs: s.horizonMs,
                  predicted: s.perSlice === undefined ? undefined : s.perSlice * (s.horizonMs / 500),
                  unknownPerSlice: 8,
                });
                if (!grant) break;
                const end = grant.start + grant.permits.length * grant.sliceMs;
                const checkIn = grant.start + (end - grant.start) * s.checkInAt;
                let rnd = s.seed;
                const used = grant.permits.map((n, k) => {
                  const sliceStart = grant.start + k * grant.sliceMs;
                  if (sliceStart >= checkIn) return 0; // checked in (or crashed) before this slice
                  const u = Math.floor(n * s.useShare);
                  for (let c = 0; c < u; c++) {
                    rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
                    const slice = Math.round(sliceStart / grant.sliceMs);
                    if (mode === 'edges')
                      calls.push(edge(slice) ? sliceStart + grant.sliceMs - 1 + settings.marginMs : sliceStart - settings.marginMs);
                    // Started while the worker's clock was in the slice; lands within its skew.
                    else calls.push(sliceStart + (rnd % grant.sliceMs) - s.skewMs);
                  }
                  return u;
                });
                if (!s.crashes)
                  pending.push({
                    at: Math.max(now, checkIn),
                    plannedAt: now,
                    grant,
                    used: s.reportsUsage ? used : undefined,
                    gov: g,
                    answer: s.answer,
                    retryAfterMs: s.retryAfterMs,
                  });
              }
            }
            expect(maxInAnyWindow(calls, settings.windowMs)).toBeLessThanOrEqual(cap);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
