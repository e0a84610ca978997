import type { DailyLimitSettings } from './daily-limit';

/** The governor's settings, grants, checkpoint and snapshot (governor.ts has the rule). */
export interface GovernorSettings {
  /** The provider's cap: calls in any window of `windowMs`. */
  perWindowMax: number;
  windowMs: number;
  sliceMs: number;
  /** Clock skew plus request transit between a worker's decision and the provider's count. */
  marginMs: number;
  /** A push-back multiplies the effective cap by this (default 0.5)… */
  backoffFactor?: number;
  /** …and never below this share of the cap (default 0.05). */
  minCapShare?: number;
  /** The smallest step of recovery, as a share of the cap (default 0.1). */
  recoverShare?: number;
  /**
   * While the effective cap is below the cap, grants reach at most this far past the current
   * slice (default 1 s, at least two slices): leases are short, so their outcomes — the evidence
   * that moves the effective cap — come back soon.
   */
  probeMs?: number;
  /** A limit per calendar day (the provider's, or a warm-up ramp) and per month on top of the window's cap. */
  daily?: DailyLimitSettings;
}

/** Permits for consecutive slices, the first starting at `start`. */
export interface SliceGrant {
  start: number;
  sliceMs: number;
  permits: number[];
}

export interface GovernorCheckpoint {
  version: 1;
  perWindowMax: number;
  windowMs: number;
  sliceMs: number;
  marginMs: number;
  /** The last slice index that may have been granted from. */
  through: number;
  /** At most how many calls each of the `reach − 1` slices up to `through` holds, oldest first. */
  limits: number[];
  effectiveCap: number;
  heldUntil?: number;
  heldReason?: string;
  /** When the last push-back took effect: leases planned before it are no evidence. */
  pushedBackAt?: number;
  /** The level recovery heads back to (what the effective cap was before the episode). */
  recoverTo?: number;
  /** With a daily limit: for each recent day, at most how many calls it holds. */
  days?: Record<string, number>;
  /** With a monthly limit: the same for this month and the last. */
  months?: Record<string, number>;
}

export interface GovernorSnapshot {
  cap: number;
  effectiveCap: number;
  heldUntil: number;
  /** Permits granted in the current calendar window. */
  windowGranted: number;
  windowStart: number;
  /** With a daily limit: today's (in its zone), and the permits granted against it. */
  today?: { day: string; limit: number; granted: number };
  /** With a monthly limit: this month's (YYYY-MM, in its zone), and the permits granted against it. */
  month?: { month: string; limit: number; granted: number };
}
