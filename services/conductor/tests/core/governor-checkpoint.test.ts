import { Governor, type GovernorCheckpoint } from '../../src/core/governor';

/** Reach 62: ten permits a slice. */
const settings = { perWindowMax: 620, windowMs: 60_000, sliceMs: 1_000, marginMs: 500 };

function opened(g: Governor, through: number, now = 0): Governor {
  g.open(through, now);
  g.markDurable(through);
  return g;
}

/** Takes every free permit of slices `first` to `last`. */
function takeAll(g: Governor, first: number, last: number): void {
  for (let i = first; i <= last; i++) g.take(i, g.free(i));
}

/** The first slice from `from` on with a permit free, after opening up to `through` at `now`. */
function firstFree(g: Governor, from: number, through: number, now: number): number | undefined {
  opened(g, through, now);
  for (let i = from; i <= through; i++) if (g.free(i) > 0) return i;
  return undefined;
}

describe('Governor.checkpoint', () => {
  it('holds, for the reach − 1 slices up to the last one opened, at most what each can hold', () => {
    // Prepare: slices 0–30 opened; three permits of slice 5 granted; the clock in slice 6.
    const g = opened(new Governor(settings), 30);
    g.take(5, 3);
    // Act
    const cp = g.checkpoint(g.sliceStart(6));
    // Assess: slices −30 to 30. Past ones hold what was granted in them, the others their limit.
    expect(cp).toMatchObject({ version: 1, ...settings, through: 30, effectiveCap: 620 });
    expect(cp.limits).toHaveLength(g.reach - 1);
    expect(cp.limits).toEqual([...Array(30).fill(0), 0, 0, 0, 0, 0, 3, ...Array(25).fill(10)]);
  });
});

describe('Governor.restore', () => {
  it('takes a lowered effective cap over, within the minimum and the (possibly new) cap', () => {
    // Prepare
    const pushed = opened(new Governor(settings), 30);
    pushed.pushBack(0);
    const higherCap = opened(new Governor({ ...settings, perWindowMax: 1_000 }), 30);
    const tooLow: GovernorCheckpoint = { ...pushed.checkpoint(0), effectiveCap: 1 };
    // Act
    const [a, b, c] = [new Governor(settings), new Governor(settings), new Governor(settings)];
    a.restore(pushed.checkpoint(0), 0);
    b.restore(higherCap.checkpoint(0), 0);
    c.restore(tooLow, 0);
    // Assess
    expect([a.effectiveCap, b.effectiveCap, c.effectiveCap]).toEqual([310, 620, 31]);
  });

  it("keeps the provider's wait: slices opened after a restart stay empty until it ends", () => {
    // Prepare
    const old = opened(new Governor(settings), 2);
    old.pushBack(0, 5_000);
    // Act
    const g = new Governor(settings);
    g.restore(old.checkpoint(0), 0);
    opened(g, 20);
    // Assess
    expect([3, 4, 5].map((i) => g.free(i))).toEqual([0, 0, 5]);
  });

  it('grants from the current slice at once when the checkpoint is long past', () => {
    // Prepare
    const old = opened(new Governor(settings), 30);
    const g = new Governor(settings);
    const now = g.sliceStart(200);
    // Act
    g.restore(old.checkpoint(0), now);
    opened(g, 210, now);
    // Assess
    expect(g.free(200)).toBe(10);
  });

  it.each([
    { what: 'slices', other: { sliceMs: 500 } },
    { what: 'a window', other: { windowMs: 50_000 } },
    { what: 'a margin', other: { marginMs: 400 } },
  ])('counts a checkpoint made with other $what as the full cap until every window that could hold its calls is over', ({ other }) => {
    // Prepare: the predecessor, with other settings, granted everything it could up to 30 s.
    const shape = { ...settings, ...other };
    const old = opened(new Governor(shape), new Governor(shape).sliceOf(30_000));
    takeAll(old, 0, old.sliceOf(30_000));
    const cp = old.checkpoint(0);
    const g = new Governor(settings);
    // Act
    g.restore(cp, 0);
    // Assess: its last call may reach the provider at the end of its last slice plus its
    // margin; a window from then, plus our margin, must pass first.
    const end = (cp.through + 1) * cp.sliceMs + cp.marginMs;
    const first = g.sliceOf(end + settings.windowMs + settings.marginMs) + 1;
    expect(firstFree(g, 0, first + 10, 0)).toBe(first);
  });
});

describe('Governor.assumeRecentlyBusy', () => {
  it('counts the whole cap at the end of the current calendar window, plus the margin', () => {
    // Prepare: 20 s into a window; an older conductor's permits were good until its end (60 s).
    const g = new Governor(settings);
    // Act
    g.assumeRecentlyBusy(20_000);
    // Assess: the slice of 60.5 s holds the cap, so nothing is free while it is within reach.
    const busy = g.sliceOf(60_000 + 500);
    expect(firstFree(g, 0, busy + 70, 20_000)).toBe(busy + g.reach);
  });
});

describe('Governor.snapshot', () => {
  it("counts the permits granted in the current calendar window's slices only", () => {
    // Prepare
    const g = opened(new Governor(settings), 70);
    g.take(0, 1);
    g.take(59, 2);
    g.take(60, 4);
    // Act
    const snap = g.snapshot(30_000);
    // Assess
    expect(snap).toEqual({ cap: 620, effectiveCap: 620, heldUntil: 0, windowGranted: 3, windowStart: 0 });
  });
});
