/** A promise that never settles: what a caller gets from a worker that is gone (a new one each time, so nothing piles up on it). */
function never(): Promise<never> {
  return new Promise<never>(() => {});
}

/**
 * A simulated worker that can vanish (a Lambda killed mid-lease). From the moment it vanishes,
 * every port it talks through hangs: calls made after never start, calls in progress never
 * answer, sleeps never wake. Its code is simply never resumed, as in a process that died, and
 * the conductor has to find out by itself (lease expiry).
 */
export class Vanishing {
  private gone = false;

  get vanished(): boolean {
    return this.gone;
  }

  vanish(): void {
    this.gone = true;
  }

  /** Runs `fn` unless the worker is gone, and hands its outcome back only if it is still not. */
  guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.gone) return never();
    return fn().then(
      (value) => (this.gone ? never() : value),
      (error: unknown) => (this.gone ? never() : Promise.reject(error)),
    );
  }
}
