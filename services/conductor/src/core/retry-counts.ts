/**
 * How long the provider may throttle every call for one recipient before it is recorded failed
 * (a retryable failure: Retry sends it again). Throttling spends no attempt, so without this a
 * recipient the provider throttles forever would be leased forever.
 */
export const THROTTLED_FOR_AT_MOST_MS = 10 * 60_000;

/** Where a recipient's current run of throttled calls stands. */
export interface ThrottleStreak {
  /** When its first throttled call was answered. */
  since: number;
  /** Its throttled calls so far. */
  calls: number;
}

/**
 * A campaign's retry bookkeeping, one rule: what a retryable result costs a recipient. Every
 * result but a throttle spends an attempt (check-in-results.ts weighs them against the budget).
 * A throttle spends none and extends the recipient's streak of throttled calls instead; the
 * streak is what bounds throttling. A streak is throttled calls with no gap longer than
 * THROTTLED_FOR_AT_MOST_MS between two of them: time the recipient was not called at all (the
 * campaign paused, its send window closed, the domain held) is not time it was throttled. Any
 * other result ends the streak.
 */
export class RetryCounts {
  private readonly attempts = new Map<string, number>();
  private readonly streaks = new Map<string, ThrottleStreak & { last: number }>();

  /** One more retryable result other than a throttle; returns the attempts spent. */
  retryable(recipientId: string): number {
    this.streaks.delete(recipientId);
    const attempts = (this.attempts.get(recipientId) ?? 0) + 1;
    this.attempts.set(recipientId, attempts);
    return attempts;
  }

  /** The provider throttled a call for the recipient at `now`; returns the streak it belongs to. */
  throttled(recipientId: string, now: number): ThrottleStreak {
    const previous = this.streaks.get(recipientId);
    const streak = previous && now - previous.last <= THROTTLED_FOR_AT_MOST_MS ? previous : { since: now, last: now, calls: 0 };
    streak.calls += 1;
    streak.last = now;
    this.streaks.set(recipientId, streak);
    return { since: streak.since, calls: streak.calls };
  }

  /** The recipient ended (or had another result): its throttle streak is over. */
  endStreak(recipientId: string): void {
    this.streaks.delete(recipientId);
  }

  /** A fresh budget: the recipient goes again as if never tried (Retry, resend). */
  forget(recipientId: string): void {
    this.attempts.delete(recipientId);
    this.streaks.delete(recipientId);
  }
}
