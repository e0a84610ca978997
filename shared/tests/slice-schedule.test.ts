import fc from 'fast-check';
import {
  leasePermits,
  leaseSendUntil,
  nextOpenSlice,
  nextSlot,
  scheduleEnd,
  sliceAt,
  sliceStart,
  totalPermits,
  type SliceSchedule,
} from '../src/slice-schedule';

const schedule: SliceSchedule = { start: 10_000, sliceMs: 1_000, permits: [2, 0, 3] };

describe('a slice schedule', () => {
  it('holds the sum of its slices’ permits and ends after its last slice', () => {
    // Act
    const permits = totalPermits(schedule);
    const end = scheduleEnd(schedule);

    // Assess
    expect(permits).toBe(5);
    expect(end).toBe(13_000);
    expect(sliceStart(schedule, 2)).toBe(12_000);
  });

  it('gives a lease its permits and its end from the schedule it carries', () => {
    // Prepare
    const lease = { schedule };

    // Act
    const permits = leasePermits(lease);
    const sendUntil = leaseSendUntil(lease);

    // Assess
    expect(permits).toBe(5);
    expect(sendUntil).toBe(13_000);
  });

  it('has no permits and ends where it starts when it has no slices', () => {
    // Prepare
    const empty: SliceSchedule = { start: 5_000, sliceMs: 100, permits: [] };

    // Act
    const decision = nextSlot(empty, [], 5_000);

    // Assess
    expect(totalPermits(empty)).toBe(0);
    expect(scheduleEnd(empty)).toBe(5_000);
    expect(decision).toEqual({ kind: 'over' });
  });

  it('places a time in its slice: -1 before the start, the slice count at and after the end', () => {
    // Act
    const places = [9_999, 10_000, 10_999, 11_000, 12_999, 13_000, 50_000].map((t) => sliceAt(schedule, t));

    // Assess
    expect(places).toEqual([-1, 0, 0, 1, 2, 3, 3]);
  });

  it('finds the next slice with a permit left, from a given slice on', () => {
    // Act
    const fromStart = nextOpenSlice(schedule, [0, 0, 0], 0);
    const firstFull = nextOpenSlice(schedule, [2, 0, 0], 0);
    const fromBefore = nextOpenSlice(schedule, [0, 0, 0], -1);
    const allUsed = nextOpenSlice(schedule, [2, 0, 3], 0);

    // Assess
    expect(fromStart).toBe(0);
    expect(firstFull).toBe(2);
    expect(fromBefore).toBe(0);
    expect(allUsed).toBe(-1);
  });
});

describe('the permit rule (nextSlot)', () => {
  it('lets a call start now inside a slice that has a permit left', () => {
    // Act
    const decision = nextSlot(schedule, [1, 0, 0], 10_500);

    // Assess
    expect(decision).toEqual({ kind: 'now', slice: 0 });
  });

  it('makes a caller wait for the next slice with a permit when its slice has none left', () => {
    // Act
    const full = nextSlot(schedule, [2, 0, 0], 10_500);
    const empty = nextSlot(schedule, [2, 0, 0], 11_200);

    // Assess
    expect(full).toEqual({ kind: 'wait', slice: 2, until: 12_000 });
    expect(empty).toEqual({ kind: 'wait', slice: 2, until: 12_000 });
  });

  it('makes a caller early for the schedule wait for its first slice with a permit', () => {
    // Act
    const decision = nextSlot({ start: 10_000, sliceMs: 1_000, permits: [0, 4] }, [0, 0], 9_000);

    // Assess
    expect(decision).toEqual({ kind: 'wait', slice: 1, until: 11_000 });
  });

  it('says the schedule is over at its end, and when no later slice has a permit left', () => {
    // Act
    const atEnd = nextSlot(schedule, [0, 0, 0], 13_000);
    const spent = nextSlot(schedule, [2, 0, 3], 10_000);
    const lastSliceFull = nextSlot(schedule, [0, 0, 3], 12_500);

    // Assess
    expect(atEnd).toEqual({ kind: 'over' });
    expect(spent).toEqual({ kind: 'over' });
    expect(lastSliceFull).toEqual({ kind: 'over' });
  });

  it('never lets a call start outside a slice with a permit left, nor wait for a slice that has none or is past', () => {
    // Prepare
    const arbitrary = fc
      .record({
        start: fc.integer({ min: 0, max: 1_000_000 }),
        sliceMs: fc.integer({ min: 1, max: 5_000 }),
        permits: fc.array(fc.nat({ max: 5 }), { maxLength: 12 }),
      })
      .chain((s) =>
        fc.record({
          s: fc.constant(s),
          used: fc.tuple(...s.permits.map((n) => fc.nat({ max: n }))),
          now: fc.integer({ min: s.start - 3 * s.sliceMs, max: s.start + (s.permits.length + 2) * s.sliceMs }),
        }),
      );

    // Act and assess
    fc.assert(
      fc.property(arbitrary, ({ s, used, now }) => {
        const decision = nextSlot(s, used, now);
        const inside = (k: number) => s.start + k * s.sliceMs <= now && now < s.start + (k + 1) * s.sliceMs;
        const open = (k: number) => used[k]! < s.permits[k]!;
        if (decision.kind === 'now') {
          expect(inside(decision.slice) && open(decision.slice)).toBe(true);
        } else if (decision.kind === 'wait') {
          expect(decision.until).toBe(s.start + decision.slice * s.sliceMs);
          expect(decision.until).toBeGreaterThan(now);
          expect(open(decision.slice)).toBe(true);
          // No open slice is skipped: none between now's slice and the one waited for.
          for (let k = 0; k < decision.slice; k++) if (s.start + (k + 1) * s.sliceMs > now) expect(open(k)).toBe(false);
        } else {
          for (let k = 0; k < s.permits.length; k++) if (s.start + (k + 1) * s.sliceMs > now) expect(open(k)).toBe(false);
        }
      }),
    );
  });
});
