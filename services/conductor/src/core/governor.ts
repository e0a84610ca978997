/**
 * The governor: how many provider calls may still start in the current window.
 *
 * Windows are calendar windows aligned to the clock (`floor(now / windowMs) * windowMs`). A
 * permit is issued for one window and is valid only until that window's end less a margin
 * (`sendUntil`), so calls made with a window's permits all fall inside it even with some clock
 * skew between conductor and workers. Issued permits are counted against their window; those a
 * worker reports unused while the window is still current go back to the pool. Hence provider
 * calls in any calendar window <= permits issued for it <= cap, whatever the workers do.
 *
 * A provider's push-back (429) can hold issuing until a given time.
 */
export interface GovernorSettings {
  perWindowMax: number;
  windowMs: number;
  /** Permits stop being usable this long before their window ends (clock skew). */
  marginMs: number;
}

export interface Grant {
  permits: number;
  windowStart: number;
  sendUntil: number;
}

export class Governor {
  private windowStart = Number.NEGATIVE_INFINITY;
  private issued = 0;
  private heldUntil = 0;

  constructor(readonly settings: GovernorSettings) {
    if (settings.marginMs >= settings.windowMs) throw new RangeError('governor margin must be shorter than its window');
  }

  windowOf(now: number): number {
    return Math.floor(now / this.settings.windowMs) * this.settings.windowMs;
  }

  /** Permits still available now (0 in the margin at a window's end, or while held). */
  available(now: number): number {
    this.roll(now);
    if (now < this.heldUntil) return 0;
    if (now >= this.windowStart + this.settings.windowMs - this.settings.marginMs) return 0;
    return this.settings.perWindowMax - this.issued;
  }

  /** Takes up to `wanted` permits for the current window; the grant may be smaller, or zero. */
  acquire(wanted: number, now: number): Grant {
    const permits = Math.max(0, Math.min(Math.floor(wanted), this.available(now)));
    this.issued += permits;
    return { permits, windowStart: this.windowStart, sendUntil: this.windowStart + this.settings.windowMs - this.settings.marginMs };
  }

  /** Unused permits back; only meaningful while their window is still the current one. */
  release(grant: Pick<Grant, 'windowStart'>, unused: number, now: number): void {
    this.roll(now);
    if (grant.windowStart !== this.windowStart || unused <= 0) return;
    this.issued = Math.max(0, this.issued - unused);
  }

  /**
   * Treat the current window as fully spent. A restarted conductor cannot know what its previous
   * self issued in this window (and those permits stay valid until the window ends), so it issues
   * nothing more until the next one: at most one window idle, never a doubled cap.
   */
  assumeWindowSpent(now: number): void {
    this.roll(now);
    this.issued = this.settings.perWindowMax;
  }

  /** Stop issuing until `until` (the provider asked us to wait). */
  holdUntil(until: number): void {
    this.heldUntil = Math.max(this.heldUntil, until);
  }

  /** For metrics and the console. */
  snapshot(now: number): { windowStart: number; issued: number; cap: number; heldUntil: number } {
    this.roll(now);
    return { windowStart: this.windowStart, issued: this.issued, cap: this.settings.perWindowMax, heldUntil: this.heldUntil };
  }

  private roll(now: number): void {
    const start = this.windowOf(now);
    if (start !== this.windowStart) {
      this.windowStart = start;
      this.issued = 0;
    }
  }
}
