import { Governor, type SliceGrant } from '../../src/core/governor';

/** Reach 62 (61 s of window and margins, plus one): ten permits a slice, a tenth of the cap is 62. */
const settings = { perWindowMax: 620, windowMs: 60_000, sliceMs: 1_000, marginMs: 500 };
const PACE = 10;

/** Opens slices `from` to `to` at `now` and makes them durable. */
function openDurable(g: Governor, from: number, to: number, now: number): void {
  g.open(to, now);
  g.markDurable(to);
  expect(g.free(from)).toBeGreaterThan(0);
}

/** Takes every permit of slices `first` to `first + n - 1`, as one grant. */
function takeAll(g: Governor, first: number, n: number): SliceGrant {
  const permits = Array.from({ length: n }, (_, k) => g.free(first + k));
  permits.forEach((p, k) => g.take(first + k, p));
  return { start: g.sliceStart(first), sliceMs: settings.sliceMs, permits };
}

/** Permits the slices `first` to `first + n - 1` offer beyond their pace. */
function extraIn(g: Governor, first: number, n: number, pace = PACE): number {
  let extra = 0;
  for (let i = first; i < first + n; i++) extra += g.free(i) - pace;
  return extra;
}

describe('Governor: permits a worker left unused in slices already past', () => {
  it('passes on at most a tenth of the cap, however many went unused', () => {
    // Prepare: twenty slices granted in full (200 permits), then none of them used.
    const g = new Governor(settings);
    openDurable(g, 0, 19, 0);
    const grant = takeAll(g, 0, 20);
    expect(grant.permits.reduce((a, b) => a + b, 0)).toBe(20 * PACE);
    const now = g.sliceStart(20);
    // Act: the worker reports after its last slice: all 200 permits come back too late to use.
    const returned = g.release(
      grant,
      grant.permits.map(() => 0),
      now,
    );
    openDurable(g, 20, 59, now);
    // Assess: 62 of them (a tenth of 620) are offered again, a pace's worth per slice, and no more.
    expect(returned).toBe(20 * PACE);
    expect(extraIn(g, 20, 40)).toBe(62);
    expect([20, 21, 22, 23, 24, 25, 26, 27].map((i) => g.free(i))).toEqual([20, 20, 20, 20, 20, 20, 12, 10]);
  });

  it('adds up what several late reports leave unused, up to the same tenth', () => {
    // Prepare: two grants of ten slices each, reported one after the other.
    const g = new Governor(settings);
    openDurable(g, 0, 19, 0);
    const first = takeAll(g, 0, 10);
    const second = takeAll(g, 10, 10);
    const now = g.sliceStart(20);
    // Act: 40 unused in the first (four slices' worth), 100 in the second.
    g.release(
      first,
      first.permits.map((n, k) => (k < 4 ? 0 : n)),
      now,
    );
    g.release(
      second,
      second.permits.map(() => 0),
      now,
    );
    openDurable(g, 20, 59, now);
    // Assess
    expect(extraIn(g, 20, 40)).toBe(62);
  });

  it('passes on a few unused permits in full', () => {
    // Prepare
    const g = new Governor(settings);
    openDurable(g, 0, 19, 0);
    const grant = takeAll(g, 0, 3);
    const now = g.sliceStart(20);
    // Act: 7 of 30 went unused.
    g.release(grant, [10, 7, 6], now);
    openDurable(g, 20, 59, now);
    // Assess
    expect(extraIn(g, 20, 40)).toBe(7);
  });

  it('carries nothing for slices still to come: their permits are simply free again in them', () => {
    // Prepare: a grant of slices 5 to 9, reported at slice 2, before any of them started.
    const g = new Governor(settings);
    openDurable(g, 0, 19, 0);
    const grant = takeAll(g, 5, 5);
    const now = g.sliceStart(2);
    // Act
    g.release(
      grant,
      grant.permits.map(() => 0),
      now,
    );
    openDurable(g, 20, 59, now);
    // Assess
    expect([5, 6, 7, 8, 9].map((i) => g.free(i))).toEqual([PACE, PACE, PACE, PACE, PACE]);
    expect(extraIn(g, 20, 40)).toBe(0);
  });

  it('carries nothing for the slice the clock is in: a worker may still use it', () => {
    // Prepare
    const g = new Governor(settings);
    openDurable(g, 0, 19, 0);
    const grant = takeAll(g, 2, 1);
    const now = g.sliceStart(2) + 300;
    // Act
    g.release(grant, [0], now);
    openDurable(g, 20, 59, now);
    // Assess
    expect(g.free(2)).toBe(PACE);
    expect(extraIn(g, 20, 40)).toBe(0);
  });

  describe('under a window already full', () => {
    /**
     * Seventy slices granted in full; the first ten come back unused once slice 70 has begun
     * (62 carried). Slices 10–69 hold 600, so slice 70 has room for 20 and slice 71 for none.
     */
    function fullWindow(): { g: Governor; now: number } {
      const g = new Governor(settings);
      openDurable(g, 0, 69, 0);
      const early = takeAll(g, 0, 10);
      takeAll(g, 10, 60);
      const now = g.sliceStart(70);
      g.release(
        early,
        early.permits.map(() => 0),
        now,
      );
      openDurable(g, 70, 75, now);
      return { g, now };
    }

    it('counts the permits the current slice may still grant against a new slice, not only those granted', () => {
      // Act
      const { g } = fullWindow();
      // Assess: slice 70 has granted nothing yet, but may grant 20; slice 71 gets nothing.
      expect([70, 71, 72].map((i) => g.free(i))).toEqual([20, 0, 10]);
    });

    it('keeps the carried permits that did not fit for slices that have room later', () => {
      // Prepare: 10 of the 62 were used by slice 70; slices 71–75 had no room for more.
      const { g } = fullWindow();
      // Act: much later, with nothing granted since.
      const later = g.sliceStart(140);
      openDurable(g, 140, 199, later);
      // Assess
      expect(extraIn(g, 140, 40)).toBe(52);
    });
  });
});

describe('Governor: where carried permits go', () => {
  /** A full window of twenty slices went unused and was reported at slice 20: 62 carried. */
  function carried(): { g: Governor; now: number } {
    const g = new Governor(settings);
    openDurable(g, 0, 19, 0);
    const grant = takeAll(g, 0, 20);
    const now = g.sliceStart(20);
    g.release(
      grant,
      grant.permits.map(() => 0),
      now,
    );
    return { g, now };
  }

  /** What slices `from` to `to` may hold beyond the full pace, read from a checkpoint. */
  function extraLimits(g: Governor, now: number, from: number, to: number): number {
    const cp = g.checkpoint(now);
    const first = cp.through - cp.limits.length + 1;
    let extra = 0;
    for (let i = from; i <= to; i++) extra += cp.limits[i - first]! - PACE;
    return extra;
  }

  it('gives none to slices that went by while nothing was opened: they are past, the carry waits for slices ahead', () => {
    // Prepare
    const { g } = carried();
    // Act: nothing opened for ten slices, then slices up to 59 at once.
    const later = g.sliceStart(30);
    openDurable(g, 30, 59, later);
    // Assess: slices 20–29 went by unused and took nothing; 30 onwards get all 62.
    expect(extraIn(g, 30, 30)).toBe(62);
  });

  it('keeps at most a tenth of the effective cap when a push-back lowers it', () => {
    // Prepare
    const { g, now } = carried();
    // Act: the provider pushes back: the effective cap halves to 310.
    g.pushBack(now);
    openDurable(g, 20, 59, now);
    // Assess: 31 carried (a tenth of 310), not the 62 of the full cap.
    expect(extraLimits(g, now, 20, 59)).toBe(31);
  });
});
