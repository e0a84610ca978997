/**
 * A slice schedule: when a holder of send permits may start provider calls. `permits[k]` calls
 * may start while the holder's own clock is in `[start + k·sliceMs, start + (k+1)·sliceMs)`, and
 * at no other time. The governor issues schedules (in leases, for test sends); whoever spends
 * them asks this module, so "a call may start only inside a slice of a permit it holds" is
 * written once.
 *
 * Pure functions over plain data: no clock is read here, the caller passes its `now`.
 */
export interface SliceSchedule {
  /** Epoch ms the first slice starts. */
  start: number;
  /** Length of every slice, in ms (positive). */
  sliceMs: number;
  /** Calls that may start in each slice. */
  permits: readonly number[];
}

/** Every permit of the schedule. */
export function totalPermits(schedule: SliceSchedule): number {
  let total = 0;
  for (const n of schedule.permits) total += n;
  return total;
}

/** Epoch ms the last slice ends: no call may start at or after it. */
export function scheduleEnd(schedule: SliceSchedule): number {
  return schedule.start + schedule.permits.length * schedule.sliceMs;
}

/** Epoch ms slice `index` starts. */
export function sliceStart(schedule: SliceSchedule, index: number): number {
  return schedule.start + index * schedule.sliceMs;
}

/**
 * The slice `now` is in: its index, `-1` before the schedule starts, `permits.length` once it is
 * over (the end is exclusive).
 */
export function sliceAt(schedule: SliceSchedule, now: number): number {
  if (now < schedule.start) return -1;
  return Math.min(Math.floor((now - schedule.start) / schedule.sliceMs), schedule.permits.length);
}

/**
 * The first slice at or after `fromIndex` that still has a permit, given the calls already
 * started per slice (`used[k]`); `-1` when none is left.
 */
export function nextOpenSlice(schedule: SliceSchedule, used: readonly number[], fromIndex: number): number {
  for (let k = Math.max(0, fromIndex); k < schedule.permits.length; k++) {
    if ((used[k] ?? 0) < schedule.permits[k]!) return k;
  }
  return -1;
}

/** What a holder may do at `now`: start a call in this slice, wait for a later one, or stop. */
export type SlotDecision =
  | { kind: 'now'; slice: number }
  | { kind: 'wait'; slice: number; until: number }
  /** The schedule is over, or no later slice has a permit left. */
  | { kind: 'over' };

/**
 * The permit rule. A call may start now only if `now` is inside a slice with a permit left;
 * otherwise the holder waits for the next slice that has one (never one already past), or gives
 * up when there is none. Nothing is taken: a holder that starts a call adds one to `used[slice]`
 * itself, synchronously, before anything else can look.
 */
export function nextSlot(schedule: SliceSchedule, used: readonly number[], now: number): SlotDecision {
  const k = sliceAt(schedule, now);
  if (k >= schedule.permits.length) return { kind: 'over' };
  if (k >= 0 && (used[k] ?? 0) < schedule.permits[k]!) return { kind: 'now', slice: k };
  const next = nextOpenSlice(schedule, used, k + 1);
  return next < 0 ? { kind: 'over' } : { kind: 'wait', slice: next, until: sliceStart(schedule, next) };
}

/** A lease's permits: what its schedule holds (the wire carries the schedule only). */
export function leasePermits(lease: { schedule: SliceSchedule }): number {
  return totalPermits(lease.schedule);
}

/** When a lease's last slice ends: no call of it may start at or after this. */
export function leaseSendUntil(lease: { schedule: SliceSchedule }): number {
  return scheduleEnd(lease.schedule);
}
