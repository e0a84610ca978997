/**
 * A fair order for work that shares one thread (the local renders): one queue per flow (a
 * campaign), served start-time fair queueing by measured time, so a flow whose items are slow
 * gets its share of the thread's time, not of its turns.
 *
 * - Each flow has a virtual finish time: the time charged to it so far. The next item is taken
 *   from the flow with the least; a flow that comes back after being idle starts at the least of
 *   the busy flows, so past quiet earns it no burst, and past heavy use is no debt.
 * - An item is charged its flow's cost when it starts (the mean of its last few durations), and
 *   set right to what it took when it ends (so a flow's first item, of unknown cost, is charged
 *   too). Each duration is the thread's time the item took: its own, when it ends telling it
 *   (`ownTimeOf`: a render measures its synchronous work in the thread); else measured as one
 *   server's, from the later of its start and the previous item's end (any flow's) to its own
 *   end. From start to end alone would count the wait behind the other flows' items in the
 *   thread: a quick render that waited behind a one-second one would cost a second. The
 *   one-server measure is wrong for items that overlap: a one-second render beside a quick one
 *   that ended 6 ms after it was charged 6 ms, and its campaign then ran 31 at once.
 * - A flow may have only as many items running as fit in `inFlightBudgetMs` at its cost (at
 *   least one; exactly one until its first item ends): a flow of one-second renders never has
 *   more than one render ahead of another flow's, whatever the global concurrency. While the
 *   flow whose turn it is has its share running, no other flow starts one (not work-conserving
 *   across flows: the slots would otherwise go to the flow that has used the most).
 * - Work for a flow that shares the thread but is not an item of the queue (the stubber writing a
 *   campaign's stubs, whose renders follow) is declared with `producing`: meanwhile the flow takes
 *   its turn as if it had an item waiting, and is charged the thread's time that no item took
 *   (the producer's, or idle). Without it, each time a campaign's renders caught up with its
 *   stubbing, another campaign's one-second render started and held the stubber back a second.
 *
 * Pure: the clock is given; the caller says when an item it took has finished.
 */
export interface FairQueueOptions<T> {
  /** Which flow an item belongs to. */
  flowOf: (item: T) => string;
  /** Milliseconds, monotonic enough for durations. */
  now: () => number;
  /** The running time a flow may hold in flight at once (its cost × its items running). */
  inFlightBudgetMs?: number;
  /** How many recent durations a flow's cost is the mean of. */
  window?: number;
  /** An item's own time in the thread (ms), from what it ended with; undefined where it did not say. */
  ownTimeOf?: (answer: unknown) => number | undefined;
}

/** Defaults: a campaign of 50 ms renders runs 20 at once; one of 1 s renders, one (a whole campaign of quick ones is held back only by the render slots). */
export const IN_FLIGHT_BUDGET_MS = 1000;
export const COST_WINDOW = 8;

interface Flow<T> {
  readonly items: T[];
  running: number;
  finish: number;
  readonly durations: number[];
  /** Producers running for the flow now (see `producing`). */
  producers: number;
  /** Since when it has produced, and the thread's time items (all flows') have taken since then. */
  producingSince?: { at: number; taken: number };
}

export class FairQueue<T> {
  private readonly flows = new Map<string, Flow<T>>();
  private count = 0;
  private lastEnd = Number.NEGATIVE_INFINITY;
  private readonly budgetMs: number;
  private readonly window: number;

  constructor(private readonly options: FairQueueOptions<T>) {
    this.budgetMs = options.inFlightBudgetMs ?? IN_FLIGHT_BUDGET_MS;
    this.window = options.window ?? COST_WINDOW;
    if (!(this.budgetMs > 0)) throw new RangeError(`FairQueue: inFlightBudgetMs must be above 0, got ${this.budgetMs}`);
    if (!Number.isInteger(this.window) || this.window < 1)
      throw new RangeError(`FairQueue: window must be a whole number ≥ 1, got ${this.window}`);
  }

  /** Items waiting (not counting those taken). */
  get length(): number {
    return this.count;
  }

  push(item: T): void {
    const flow = this.flowNamed(this.options.flowOf(item));
    flow.items.push(item);
    this.count++;
  }

  /**
   * Work of `flowName` begins in the thread outside the queue (a producer of its items); call the
   * returned function when it ends. Meanwhile the flow holds its turn as if an item waited, and it
   * is charged the thread's time that no item took since the producer began. The caller should
   * call `take` again now and then meanwhile: that charge grows with time, not with events.
   */
  producing(flowName: string): () => void {
    const flow = this.flowNamed(flowName);
    if (flow.producers++ === 0) flow.producingSince = { at: this.options.now(), taken: 0 };
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--flow.producers > 0) return;
      flow.finish = this.finishOf(flow);
      flow.producingSince = undefined;
      this.forgetIfIdle(flow);
    };
  }

  /**
   * The next item to start, or undefined when nothing waits or the flow whose turn it is has its
   * share running; call `finished` when the item has ended (however it ended), with what it
   * answered if it told its own time (see `ownTimeOf`).
   */
  take(): { item: T; finished: (answer?: unknown) => void } | undefined {
    // The turn is the waiting flows' least finish time; of the flows at it, one with room starts.
    // None starts when all of them have their share running: their items end soon and they go
    // on, while another flow's one-second item started now would hold them back.
    // Each flow's finish read once: a producing flow's grows with the clock, even between two reads.
    const finishes = new Map<Flow<T>, number>();
    let turn = Number.POSITIVE_INFINITY;
    for (const candidate of this.flows.values()) {
      if (candidate.items.length === 0 && candidate.producers === 0) continue;
      const finish = this.finishOf(candidate);
      finishes.set(candidate, finish);
      turn = Math.min(turn, finish);
    }
    let flow: Flow<T> | undefined;
    for (const [candidate, finish] of finishes)
      if (candidate.items.length > 0 && finish <= turn && candidate.running < this.mayRun(candidate)) {
        flow = candidate;
        break;
      }
    if (flow === undefined) return undefined;
    const item = flow.items.shift()!;
    this.count--;
    flow.running++;
    // Charged its flow's cost now (the order in the meantime), and what it really took once it ends.
    const estimate = this.cost(flow) ?? 0;
    flow.finish += estimate;
    const started = this.options.now();
    let done = false;
    return {
      item,
      finished: (answer?: unknown) => {
        if (done) return;
        done = true;
        flow.running--;
        const now = this.options.now();
        const own = answer === undefined ? undefined : this.options.ownTimeOf?.(answer);
        const oneServer = Math.max(0, now - Math.max(started, this.lastEnd));
        const told = own !== undefined && own >= 0 && Number.isFinite(own);
        const duration = told ? own : oneServer;
        flow.durations.push(duration);
        flow.finish += duration - estimate;
        // A producer is charged the thread's time that no item took since it began: each producing
        // flow is told this item's own time, at most the part of its span after the producer began,
        // and all told at most the time since then (items that overlap it each count a part of
        // their span). An item that told no time of its own (one that threw) is told to no producer:
        // its span may be a wait for the store, and the producer is charged too much rather than
        // holding its turn over that wait.
        if (told) {
          for (const producing of this.flows.values()) {
            const since = producing.producingSince;
            if (since !== undefined)
              since.taken = Math.min(since.taken + Math.min(own, Math.max(0, now - Math.max(started, since.at))), now - since.at);
          }
        }
        this.lastEnd = Math.max(this.lastEnd, now);
        if (flow.durations.length > this.window) flow.durations.shift();
        this.forgetIfIdle(flow);
      },
    };
  }

  /** Empties every queue (items running stay counted until they finish); returns what was waiting. */
  clear(): T[] {
    const all: T[] = [];
    for (const flow of this.flows.values()) {
      all.push(...flow.items.splice(0));
      this.forgetIfIdle(flow);
    }
    this.count = 0;
    return all;
  }

  /** A flow's cost per item (undefined until one of its items has ended). */
  costOf(flowName: string): number | undefined {
    const flow = this.flows.get(flowName);
    return flow === undefined ? undefined : this.cost(flow);
  }

  private cost(flow: Flow<T>): number | undefined {
    return flow.durations.length === 0 ? undefined : flow.durations.reduce((a, b) => a + b, 0) / flow.durations.length;
  }

  /**
   * A flow's virtual finish time: what its items were charged, plus (while it produces) the time
   * since it began that the items which ended since (any flow's) did not take: the thread's time
   * the producer had (or that was idle). The items' own times count, not their spans: while an
   * item waits for the store the thread is free, and a producer that used it is charged for it
   * (counting spans, one render waiting five seconds held every producer's charge, and a producer
   * with nothing queued held its turn against every other flow meanwhile). An item still running
   * is counted when it ends: a producer that ends first is charged its time, at most one item's.
   */
  private finishOf(flow: Flow<T>): number {
    const since = flow.producingSince;
    if (since === undefined) return flow.finish;
    return flow.finish + Math.max(0, this.options.now() - since.at - since.taken);
  }

  private flowNamed(name: string): Flow<T> {
    let flow = this.flows.get(name);
    if (flow === undefined) {
      flow = { items: [], running: 0, finish: 0, durations: [], producers: 0 };
      this.flows.set(name, flow);
    }
    // Back after being idle: it starts at the least of the busy flows (no credit, no debt).
    if (!this.busy(flow)) flow.finish = Math.max(flow.finish, this.leastBusyFinish() ?? 0);
    return flow;
  }

  private busy(flow: Flow<T>): boolean {
    return flow.items.length > 0 || flow.running > 0 || flow.producers > 0;
  }

  private mayRun(flow: Flow<T>): number {
    const cost = this.cost(flow);
    if (cost === undefined) return 1;
    return Math.max(1, Math.floor(this.budgetMs / Math.max(cost, 1)));
  }

  /** The least finish time of the busy flows; undefined when none is busy. */
  private leastBusyFinish(): number | undefined {
    let least: number | undefined;
    for (const flow of this.flows.values()) if (this.busy(flow)) least = Math.min(least ?? Infinity, this.finishOf(flow));
    return least;
  }

  /**
   * An idle flow is kept while it is ahead of the busy ones (charged more than the least of them:
   * that still counts when it comes back); one that would come back at the least of the busy
   * flows anyway is forgotten (its cost with it), and once all are idle the table is emptied. So
   * the table holds the campaigns rendering now and those recently ahead of them, though some
   * campaign is always rendering.
   */
  private forgetIfIdle(flow: Flow<T>): void {
    if (this.busy(flow)) return;
    const least = this.leastBusyFinish();
    for (const [name, other] of this.flows)
      if (!this.busy(other) && (least === undefined || other.finish <= least)) this.flows.delete(name);
  }
}
