import { RetryCounts, THROTTLED_FOR_AT_MOST_MS } from '../../src/core/retry-counts';

const MIN = 60_000;

describe('RetryCounts', () => {
  it('counts attempts per recipient, and a throttle spends none', () => {
    const r = new RetryCounts();
    expect(r.retryable('a')).toBe(1);
    r.throttled('a', 0);
    expect(r.retryable('a')).toBe(2);
    expect(r.retryable('b')).toBe(1);
  });

  it('keeps one streak while throttled calls follow each other, from the first of them', () => {
    const r = new RetryCounts();
    for (let t = 0; t <= 12 * MIN; t += 3 * MIN) r.throttled('a', t);
    expect(r.throttled('a', 13 * MIN)).toEqual({ since: 0, calls: 6 });
  });

  it('starts a new streak after a gap with no call longer than the bound (paused overnight, a closed send window)', () => {
    // Prepare: five throttled calls just before the window closed
    const r = new RetryCounts();
    for (let i = 0; i < 5; i++) r.throttled('a', i * 1_000);
    // Act: the next call, when the window opens again 16 hours later
    const streak = r.throttled('a', 16 * 60 * MIN);
    // Assess: the night was not time it was throttled
    expect(streak).toEqual({ since: 16 * 60 * MIN, calls: 1 });
    // A gap of exactly the bound still continues the streak.
    expect(r.throttled('a', 16 * 60 * MIN + THROTTLED_FOR_AT_MOST_MS)).toEqual({ since: 16 * 60 * MIN, calls: 2 });
  });

  it('ends the streak at any other result, and forgets everything on a fresh budget', () => {
    const r = new RetryCounts();
    r.throttled('a', 0);
    r.retryable('a');
    expect(r.throttled('a', 1_000)).toEqual({ since: 1_000, calls: 1 });
    r.endStreak('a');
    expect(r.throttled('a', 2_000)).toEqual({ since: 2_000, calls: 1 });
    r.forget('a');
    expect(r.retryable('a')).toBe(1);
  });
});
