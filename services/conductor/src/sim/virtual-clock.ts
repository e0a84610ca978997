import type { Clock } from '@baton/shared';

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

/**
 * A discrete-event clock: time jumps from one scheduled event to the next. `sleep` is an event
 * too, so code written against `Clock` (the conductor core) runs on it unchanged. Events at the
 * same time run in the order they were scheduled, so a run is deterministic.
 */
export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly heap: Event[] = [];

  constructor(start: number) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.at(this.current + Math.max(0, ms), resolve));
  }

  /** Runs `fn` at time `at` (never in the past). */
  at(at: number, fn: () => void): void {
    this.push({ at: Math.max(at, this.current), seq: this.seq++, run: fn });
  }

  get pending(): number {
    return this.heap.length;
  }

  /**
   * Runs events in time order until none is left, `until` is passed, or `stop()` says so. After
   * each event the microtask queue is drained (a macrotask turn), so promise chains started by
   * an event — the conductor's awaits on the store — finish before time moves on.
   */
  async run(options: { until?: number; stop?: () => boolean } = {}): Promise<void> {
    const until = options.until ?? Infinity;
    while (this.heap.length > 0 && !(options.stop?.() ?? false)) {
      const next = this.heap[0]!;
      if (next.at > until) break;
      this.pop();
      this.current = next.at;
      next.run();
      await settle();
    }
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Event {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets every pending promise continuation run (the code under simulation does no real I/O). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
