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
   * each event every promise continuation it caused runs to the end — the conductor's and the
   * workers' chains of awaits on their ports, however long — before time moves on (see `settle`).
   */
  async run(options: { until?: number; stop?: () => boolean } = {}): Promise<void> {
    const until = options.until ?? Infinity;
    let events = 0;
    while (this.heap.length > 0 && !(options.stop?.() ?? false)) {
      const next = this.heap[0]!;
      if (next.at > until) break;
      this.pop();
      this.current = next.at;
      next.run();
      // Now and then a real turn of the event loop, so that output and timers outside the
      // simulation (a test's timeout) are not starved; it settles everything as well.
      await (++events % YIELD_EVERY === 0 ? turn() : settle());
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

/** Events between two real turns of the event loop. */
const YIELD_EVERY = 10_000;

/**
 * Resolves once every promise continuation already queued, and every one those queue in turn,
 * has run: the code under simulation does no real I/O and uses no real timers, so that is all it
 * can be waiting for. Node runs the `process.nextTick` queue only after the microtask queue is
 * empty, so a tick queued from inside a microtask fires exactly then — an ordering guarantee, not
 * a guess about how many turns a chain needs, and no cost of a turn of the event loop per event.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => queueMicrotask(() => process.nextTick(resolve)));
}

/** A real turn of the event loop (microtasks always drain before it). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
