import { Governor } from '../../src/core/governor';

/** Reach 62: ten permits a slice at the full cap, five at half of it. */
const settings = { perWindowMax: 620, windowMs: 60_000, sliceMs: 1_000, marginMs: 500 };

function opened(through = 30, now = 0): Governor {
  const g = new Governor(settings);
  g.open(through, now);
  g.markDurable(through);
  return g;
}

describe('Governor.pushBack', () => {
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
});
