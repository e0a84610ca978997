import { Governor } from '../../src/core/governor';

/** Reach 62: ten permits a slice. */
const settings = { perWindowMax: 620, windowMs: 60_000, sliceMs: 1_000, marginMs: 500 };

function opened(through = 30): Governor {
  const g = new Governor(settings);
  g.open(through, 0);
  g.markDurable(through);
  return g;
}

describe('Governor.take', () => {
  it('refuses more permits than the slice has free, saying how many it has', () => {
    const g = opened();
    g.take(3, 4);
    expect(() => g.take(3, 7)).toThrow(RangeError);
    expect(() => g.take(3, 7)).toThrow('slice 3 has 6 permits free, 7 asked');
    expect(g.free(3)).toBe(6);
  });

  it.each([0, -5])('takes nothing when asked for %i permits', (n) => {
    const g = opened();
    g.take(3, n);
    expect(g.free(3)).toBe(10);
  });
});

describe('Governor.release', () => {
  it('without a usage report keeps a slice that starts exactly one margin from now: a fast clock may be in it', () => {
    // Prepare
    const g = opened();
    const grant = { start: g.sliceStart(1), sliceMs: 1_000, permits: [10, 10, 10] };
    grant.permits.forEach((n, k) => g.take(1 + k, n));
    // Act: at 500 ms slice 1 (1 000 ms) is exactly the margin away.
    const returned = g.release(grant, undefined, 500);
    // Assess
    expect(returned).toBe(20);
    expect([1, 2, 3].map((i) => g.free(i))).toEqual([0, 10, 10]);
  });

  it('gives back nothing for a slice it never granted from (a forged or repeated report)', () => {
    // Prepare
    const g = opened();
    // Act
    const returned = g.release({ start: g.sliceStart(4), sliceMs: 1_000, permits: [5] }, [0], 0);
    // Assess
    expect(returned).toBe(0);
    expect(g.free(4)).toBe(10);
  });

  it('gives back only what the worker did not use, and nothing it reports used beyond the grant', () => {
    const g = opened();
    const grant = { start: g.sliceStart(2), sliceMs: 1_000, permits: [4, 4] };
    g.take(2, 4);
    g.take(3, 4);
    expect(g.release(grant, [1, 9], 0)).toBe(3);
    expect([g.free(2), g.free(3)]).toEqual([9, 6]);
  });
});
