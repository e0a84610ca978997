/**
 * The effective cap a governor grants under: cut by `backoffFactor` when the provider pushes back
 * on a lease that ran at the current level (one cut per episode, however many report it), raised
 * as soon as calls go through again (half the way back to where the episode started, at least
 * `recoverStep`), never below `minCap` nor above the cap. Each lease is judged by when it was
 * planned, that is by the level it ran at:
 *  - a 429 from a lease planned at or after the last cut cuts the level; one from a lease planned
 *    before it is the same episode, reported late, and cuts nothing;
 *  - calls that went through, in a lease planned after the last cut, raise it: each such lease
 *    once. The episode is over when the provider takes calls again, so every lease of the
 *    recovery is news, not only the first one planned after the last raise. That rule (one raise
 *    per round of leases) took two lease lengths a raise, since a worker renews before it checks
 *    in: from the floor back to the cap took most of the 8 s between 429 bursts 4 s every 12 s.
 *    If the provider's own limit is below the cap, the next 429 cuts again: a sawtooth under
 *    that limit, never over the cap (the governor's limits are untouched).
 * See governor.ts for how it sits below the slice limits without touching them.
 */
export class PushBackLevel {
  private level: number;
  /** When the level was last lowered; a lease planned before then ran at an older level: its news is old. */
  private cutAt = Number.NEGATIVE_INFINITY;
  /** The last change was a cut: a further cut belongs to the same episode. */
  private cutting = false;
  private recoverTo: number;

  constructor(
    private readonly cap: number,
    private readonly backoffFactor: number,
    private readonly minCap: number,
    private readonly recoverStep: number,
  ) {
    this.level = this.recoverTo = cap;
  }

  get value(): number {
    return this.level;
  }

  /** A push-back on a lease planned at `plannedAt`: cuts the level if that lease ran at it. Returns whether it did. */
  cut(now: number, plannedAt: number): boolean {
    if (plannedAt < this.cutAt) return false;
    // The first cut of an episode remembers where it started: recovery heads back there.
    if (!this.cutting) this.recoverTo = this.level;
    this.level = Math.max(this.minCap, Math.floor(this.level * this.backoffFactor));
    this.cutAt = now;
    this.cutting = true;
    return true;
  }

  /** Calls of a lease planned at `plannedAt` went through: raises the level if that lease was planned after the last cut. Returns whether it rose. */
  accepted(plannedAt: number): boolean {
    if (this.level >= this.cap || plannedAt <= this.cutAt) return false;
    const halfway = Math.ceil((this.recoverTo - this.level) / 2);
    this.level = Math.min(this.cap, this.level + Math.max(this.recoverStep, halfway));
    this.cutting = false;
    return true;
  }

  /** What a checkpoint keeps of it. */
  saved(): { effectiveCap: number; pushedBackAt: number | undefined; recoverTo: number } {
    return { effectiveCap: this.level, pushedBackAt: Number.isFinite(this.cutAt) ? this.cutAt : undefined, recoverTo: this.recoverTo };
  }

  /** After a restart: neither undo a push-back nor count it again. */
  restore(saved: { effectiveCap: number; pushedBackAt?: number; recoverTo?: number }): void {
    this.level = Math.min(this.cap, Math.max(this.minCap, saved.effectiveCap));
    if (saved.pushedBackAt !== undefined) this.cutAt = saved.pushedBackAt;
    this.recoverTo = Math.min(this.cap, Math.max(this.level, saved.recoverTo ?? this.cap));
    // Still below where recovery heads: a cut after the restart continues that episode.
    this.cutting = this.level < this.recoverTo;
  }
}
