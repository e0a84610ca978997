import { Governor } from '../../src/core/governor';

const settings = { perWindowMax: 620, windowMs: 60_000, sliceMs: 1_000, marginMs: 500 };

describe('Governor settings', () => {
  it.each([
    { what: 'a cap of one call', change: { perWindowMax: 1 } },
    { what: 'one-millisecond slices', change: { sliceMs: 1 } },
    { what: 'a slice as long as the window', change: { sliceMs: 60_000 } },
    { what: 'no margin', change: { marginMs: 0 } },
  ])('accepts $what', ({ change }) => {
    expect(() => new Governor({ ...settings, ...change })).not.toThrow();
  });

  it.each([
    { what: 'a cap of zero', change: { perWindowMax: 0 }, names: /cap must be a whole number of at least 1/ },
    { what: 'a fractional cap', change: { perWindowMax: 10.5 }, names: /cap must be a whole number of at least 1/ },
    { what: 'slices under a millisecond', change: { sliceMs: 0.5 }, names: /slice must be between 1 ms and the window/ },
    { what: 'slices of zero', change: { sliceMs: 0 }, names: /slice must be between 1 ms and the window/ },
    { what: 'a slice longer than the window', change: { sliceMs: 60_001 }, names: /slice must be between 1 ms and the window/ },
    { what: 'a negative margin', change: { marginMs: -1 }, names: /margin must be under half the window/ },
    { what: 'a margin of half the window', change: { marginMs: 30_000 }, names: /margin must be under half the window/ },
  ])('refuses $what, saying which setting is wrong', ({ change, names }) => {
    expect(() => new Governor({ ...settings, ...change })).toThrow(RangeError);
    expect(() => new Governor({ ...settings, ...change })).toThrow(names);
  });

  it('by default never backs off below a twentieth of the cap', () => {
    // Prepare
    const g = new Governor(settings);
    // Act: push-backs two slices apart, each one halving the cap (620 → 310 → 155 → 77 → 38 → …).
    for (let k = 0; k < 8; k++) g.pushBack(k * 2_000);
    // Assess: 5% of 620, rounded up.
    expect(g.effectiveCap).toBe(31);
  });

  it('makes slices durable up to the one asked for, never beyond those opened', () => {
    const g = new Governor(settings);
    g.open(30, 0);
    g.markDurable(20);
    expect(g.durableThrough).toBe(20);
    g.markDurable(50);
    expect(g.durableThrough).toBe(30);
    g.markDurable(10);
    expect(g.durableThrough).toBe(30);
  });
});
