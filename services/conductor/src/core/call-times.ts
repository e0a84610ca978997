/** Provider calls remembered (older ones are dropped). */
const KEPT = 100_000;

/**
 * When a campaign's provider calls ended (sent, failed or in doubt), newest last: how fast the
 * campaign goes (its ETA) and whether the provider has been taking calls lately.
 */
export class CallTimes {
  private readonly times: number[] = [];

  record(now: number): void {
    this.times.push(now);
    if (this.times.length > KEPT) this.times.splice(0, KEPT / 2);
  }

  /** Calls ended within the last `ms`. */
  inLast(ms: number, now: number): number {
    let n = 0;
    for (let i = this.times.length - 1; i >= 0 && this.times[i]! > now - ms; i--) n++;
    return n;
  }
}
