import { Governor, type SliceGrant } from '../../src/core/governor';

/** Reach 62: ten permits a slice at the full cap, five at half of it. */
const settings = { perWindowMax: 620, windowMs: 60_000, sliceMs: 1_000, marginMs: 500 };

function opened(through = 30, now = 0): Governor {
  const g = new Governor(settings);
  g.open(through, now);
  g.markDurable(through);
  return g;
}

function takeAll(g: Governor, first: number, n: number): SliceGrant {
  const permits = Array.from({ length: n }, (_, k) => g.free(first + k));
  permits.forEach((p, k) => g.take(first + k, p));
  return { start: g.sliceStart(first), sliceMs: settings.sliceMs, permits };
}

describe('Governor.pushBack', () => {
  it('halves the effective cap once for push-backs less than two slices apart', () => {
    // Prepare
    const g = opened();
    // Act and assess: every worker of a burst reports its 429; one halving per burst.
    g.pushBack(0);
    expect(g.effectiveCap).toBe(310);
    g.pushBack(1_000);
    expect(g.effectiveCap).toBe(310);
    // Two slices after the last one: a push-back of its own.
    g.pushBack(3_000);
    expect(g.effectiveCap).toBe(155);
  });

  it('takes slices already opened down to the new pace', () => {
    const g = opened();
    g.pushBack(200);
    expect([0, 1, 2, 30].map((i) => g.free(i))).toEqual([5, 5, 5, 5]);
  });

  it.each([0, -1_000])('holds nothing for a stated wait of %i ms: the current slice keeps its lowered pace', (retryAfterMs) => {
    // Prepare
    const g = opened();
    // Act
    g.pushBack(200, retryAfterMs);
    // Assess
    expect(g.free(0)).toBe(5);
    expect(g.snapshot(200).heldUntil).toBe(0);
  });

  it('holds every slice that starts before the wait ends, and none after', () => {
    // Prepare
    const g = opened();
    // Act
    g.pushBack(0, 3_000);
    // Assess
    expect([0, 1, 2, 3, 4].map((i) => g.free(i))).toEqual([0, 0, 0, 5, 5]);
  });

  it('recovers after a push-back without a stated wait', () => {
    const g = opened();
    g.pushBack(0);
    g.open(40, 10_000);
    expect(g.effectiveCap).toBe(372);
  });

  it('never raises a limit that the cap had already held below the new pace', () => {
    // Prepare: seventy slices granted in full; the first ten come back unused too late, so their
    // permits are offered again (carry). Slice 70 takes ten of them; slice 71 then has no room
    // left under the cap (slices 10–70 hold 620) and gets nothing.
    const g = opened(69);
    const early = takeAll(g, 0, 10);
    takeAll(g, 10, 60);
    const now = g.sliceStart(70);
    g.release(
      early,
      early.permits.map(() => 0),
      now,
    );
    g.open(75, now);
    g.markDurable(75);
    expect([70, 71, 72].map((i) => g.free(i))).toEqual([20, 0, 10]);
    // Act
    g.pushBack(now);
    // Assess: lowered to the new pace where it was above it; never raised where it was below.
    expect([70, 71, 72].map((i) => g.free(i))).toEqual([5, 0, 5]);
  });
});
