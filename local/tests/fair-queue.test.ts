import { FairQueue } from '../src/fair-queue';

interface Item {
  flow: string;
  n: number;
}

function queue(options: { inFlightBudgetMs?: number; window?: number } = {}) {
  let now = 0;
  const ownTimeOf = (answer: unknown) => (answer as { ownMs?: number }).ownMs;
  const q = new FairQueue<Item>({ flowOf: (i) => i.flow, now: () => now, ownTimeOf, ...options });
  return { q, advance: (ms: number) => (now += ms) };
}

function fill(q: FairQueue<Item>, flow: string, count: number): void {
  for (let n = 0; n < count; n++) q.push({ flow, n });
}

/** Runs the queue one item at a time (one thread), each item of `flow` taking `costs[flow]` ms; returns the order. */
function runSerially(q: FairQueue<Item>, advance: (ms: number) => void, costs: Record<string, number>): string[] {
  const order: string[] = [];
  for (let next = q.take(); next !== undefined; next = q.take()) {
    advance(costs[next.item.flow]!);
    next.finished();
    order.push(next.item.flow);
  }
  return order;
}

describe('FairQueue', () => {
  it('serves a campaign of 1 ms items about a second of turns for each 1 s item of a slow campaign', () => {
    // Prepare: the slow campaign is queued first, with everything at once.
    const { q, advance } = queue();
    fill(q, 'slow', 20);
    fill(q, 'plain', 300);
    // Act
    const order = runSerially(q, advance, { slow: 1_000, plain: 1 });
    // Assess: every plain item is done before the slow campaign's third item.
    const lastPlain = order.lastIndexOf('plain');
    expect(order.slice(0, lastPlain).filter((f) => f === 'slow').length).toBeLessThanOrEqual(2);
    expect(order.filter((f) => f === 'slow')).toHaveLength(20);
    expect(order.filter((f) => f === 'plain')).toHaveLength(300);
  });

  it('first come, first served within one campaign', () => {
    // Prepare
    const { q } = queue();
    fill(q, 'a', 3);
    // Act
    const first = q.take()!;
    const second = q.take();
    // Assess: one at a time until its first item's cost is known.
    expect(first.item.n).toBe(0);
    expect(second).toBeUndefined();
    first.finished();
    expect(q.take()!.item.n).toBe(1);
  });

  it('lets a campaign run as many at once as fit its in-flight budget at its measured cost', () => {
    // Prepare: a first item of 10 ms sets the cost.
    const { q, advance } = queue({ inFlightBudgetMs: 100 });
    fill(q, 'a', 30);
    const first = q.take()!;
    advance(10);
    first.finished();
    // Act
    const running = [];
    for (let next = q.take(); next !== undefined; next = q.take()) running.push(next);
    // Assess
    expect(running).toHaveLength(10);
    expect(q.length).toBe(19);
    expect(q.costOf('a')).toBe(10);
  });

  it('runs at most one item of a campaign whose items take longer than the budget', () => {
    // Prepare
    const { q, advance } = queue({ inFlightBudgetMs: 100 });
    fill(q, 'slow', 5);
    const first = q.take()!;
    advance(1_000);
    first.finished();
    // Act
    const second = q.take();
    // Assess
    expect(second).toBeDefined();
    expect(q.take()).toBeUndefined();
  });

  it('starts no item of a campaign that has used more while the one whose turn it is has its share running', () => {
    // Prepare: plain's first item takes 10 ms; slow (behind it in charged time) starts its first.
    const { q, advance } = queue({ inFlightBudgetMs: 100 });
    fill(q, 'plain', 50);
    fill(q, 'slow', 3);
    const plain1 = q.take()!;
    advance(10);
    plain1.finished();
    const slow1 = q.take()!;
    // Act: while slow's one render runs, plain (10 ms charged, slow 0) waits; then slow has a second charged.
    const whileSlowRuns = q.take();
    advance(1_000);
    slow1.finished();
    const started = [];
    for (let next = q.take(); next !== undefined; next = q.take()) started.push(next.item.flow);
    // Assess: plain's turn, ten at once (its in-flight budget), and nothing of slow's.
    expect(slow1.item.flow).toBe('slow');
    expect(whileSlowRuns).toBeUndefined();
    expect(started).toEqual(Array.from({ length: 10 }, () => 'plain'));
  });

  it("charges a campaign's first item what it took, though its cost was unknown when it started", () => {
    // Prepare: slow's first render (cost unknown) takes a second; plain's first items then come.
    const { q, advance } = queue();
    fill(q, 'slow', 3);
    const slow1 = q.take()!;
    fill(q, 'plain', 300);
    advance(1_000);
    slow1.finished();
    // Act
    const order = runSerially(q, advance, { slow: 1_000, plain: 5 });
    // Assess: plain's first 200 (a second at 5 ms) go before slow's second.
    expect(order.indexOf('slow')).toBeGreaterThanOrEqual(199);
  });

  it('charges an item that waited behind another campaign’s only the thread’s time after that one ended', () => {
    // Prepare: both start at once; the slow one holds the thread for a second, then the quick one takes 5 ms.
    const { q, advance } = queue();
    fill(q, 'slow', 2);
    fill(q, 'plain', 2);
    const slow = q.take()!;
    const plain = q.take()!;
    // Act
    advance(1_000);
    slow.finished();
    advance(5);
    plain.finished();
    // Assess
    expect(q.costOf('slow')).toBe(1_000);
    expect(q.costOf('plain')).toBe(5);
  });

  it('charges items that overlapped the time each says it took, not the time between their ends', () => {
    // Prepare: both start at once and overlap (each awaits the store while the other runs). The quick one ends
    // first, after 1,328 ms in which the slow one held the thread for 1,143; the slow one ends 6 ms later.
    const { q, advance } = queue();
    fill(q, 'slow', 40);
    fill(q, 'plain', 2);
    const slow = q.take()!;
    const plain = q.take()!;
    // Act
    advance(1_328);
    plain.finished({ ownMs: 5 });
    advance(6);
    slow.finished({ ownMs: 1_143 });
    // Assess: measured between ends they would cost 1,328 and 6, and slow would then run 166 at once.
    expect(q.costOf('slow')).toBe(1_143);
    expect(q.costOf('plain')).toBe(5);
    expect([q.take()?.item.flow, q.take()?.item.flow, q.take()?.item.flow]).toEqual(['plain', 'slow', undefined]);
  });

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY], [undefined]])(
    'measures an item that ends telling no usable time (%p) between ends instead',
    (ownMs) => {
      // Prepare
      const { q, advance } = queue();
      fill(q, 'slow', 2);
      const slow = q.take()!;
      // Act
      advance(700);
      slow.finished({ ownMs });
      // Assess
      expect(q.costOf('slow')).toBe(700);
    },
  );

  it('takes a campaign’s cost as the mean of its recent durations', () => {
    // Prepare
    const { q, advance } = queue({ window: 3 });
    fill(q, 'a', 5);
    // Act: 900, then 5, 7, 6: the window of 3 has forgotten the 900.
    for (const ms of [900, 5, 7, 6]) {
      const next = q.take()!;
      advance(ms);
      next.finished();
    }
    // Assess
    expect(q.costOf('a')).toBe(6);
  });

  it('gives a campaign that comes back after a pause no credit for its quiet time', () => {
    // Prepare: a runs alone for a while; b used little long ago and comes back.
    const { q, advance } = queue();
    fill(q, 'b', 1);
    fill(q, 'a', 100);
    runSerially(q, advance, { a: 10, b: 10 });
    fill(q, 'a', 10);
    const first = q.take()!;
    advance(10);
    first.finished();
    // Act: b is back with ten items.
    fill(q, 'b', 10);
    const order = runSerially(q, advance, { a: 10, b: 10 });
    // Assess: they alternate rather than b taking all its ten turns first.
    expect(order.slice(0, 6).filter((f) => f === 'a').length).toBeGreaterThanOrEqual(2);
  });

  it('holds the turn for a campaign whose stubs are being written, so a slow campaign does not start a render each time it catches up', () => {
    // Prepare: slow has had one render (1 s); plain's stubber starts and plain's first renders come and go.
    const { q, advance } = queue();
    fill(q, 'slow', 5);
    const slow1 = q.take()!;
    advance(1_000);
    slow1.finished();
    const producing = q.producing('plain');
    fill(q, 'plain', 3);
    runSerially(q, advance, { plain: 5, slow: 1_000 });
    // Act: plain's renders have caught up with its stubs; its stubber goes on for 300 ms.
    const whileStubbing = q.take();
    advance(300);
    const stillStubbing = q.take();
    // Assess: no slow render while plain's stubber (charged 300 ms) is behind slow's second.
    expect(whileStubbing).toBeUndefined();
    expect(stillStubbing).toBeUndefined();
    fill(q, 'plain', 1);
    expect(q.take()!.item.flow).toBe('plain');
    producing();
  });

  it("charges a campaign's stubber the thread's time no render took, so a long stubbing still lets the others take turns", () => {
    // Prepare: plain's stubber starts first; slow's first render holds the thread a second.
    const { q, advance } = queue();
    const done = q.producing('plain');
    fill(q, 'slow', 5);
    const slow1 = q.take()!;
    advance(1_000);
    slow1.finished({ ownMs: 1_000 });
    // Act: slow is charged 1 s; plain's stubber, nothing yet, then 500 ms, then 1.1 s of the thread's time.
    const atOnce = q.take();
    advance(500);
    const early = q.take();
    advance(600);
    const later = q.take();
    done();
    // Assess
    expect(atOnce).toBeUndefined();
    expect(early).toBeUndefined();
    expect(later?.item.flow).toBe('slow');
  });

  it("credits a campaign's stubber with the renders' own time only: while they waited for the store the thread was its", () => {
    // Prepare: as above, but slow's render says 400 ms of the second was its own (the rest, its waits for the store).
    const { q, advance } = queue();
    const done = q.producing('plain');
    fill(q, 'slow', 5);
    const slow1 = q.take()!;
    advance(1_000);
    slow1.finished({ ownMs: 400 });
    // Act: the stubber is charged the 600 ms, slow its 400
    const atOnce = q.take();
    const next = q.take();
    done();
    // Assess: slow goes at once (it used less of the thread), then its second render puts it past the stubber.
    expect(atOnce?.item.flow).toBe('slow');
    expect(next).toBeUndefined();
  });
  it("credits a stubber with a render that began before it at most the render's span since it began", () => {
    // Prepare: a's render spans 0–10 s (2 s its own); b's stubber begins at 9 s, nothing of b's queued yet.
    const { q, advance } = queue();
    fill(q, 'a', 3);
    const a1 = q.take()!;
    advance(9_000);
    const done = q.producing('b');
    advance(1_000);
    a1.finished({ ownMs: 2_000 });
    // Act: b is charged nothing at 10 s (a's render took its second), then 2.5 s later 2,500 ms.
    const atOnce = q.take();
    advance(2_500);
    const after = q.take();
    done();
    // Assess: credited a's whole 2 s, b would be charged 1,500 ms at 12.5 s and still hold a back (a at 2,000).
    expect(atOnce).toBeUndefined();
    expect(after?.item.flow).toBe('a');
  });
  it("goes on charging a stubber while another campaign's render waits long for the store, so that campaign's other renders go on", () => {
    // Prepare: b's first render took 10 ms; its second waits on the store; p's stubber runs, nothing of p's queued.
    const { q, advance } = queue();
    const done = q.producing('p');
    fill(q, 'b', 5);
    const b1 = q.take()!;
    advance(10);
    b1.finished({ ownMs: 10 });
    advance(11);
    const b2 = q.take()!;
    // Act: a second passes; the thread was free (b2 waits) and p's stubber had it
    const held = q.take();
    advance(1_000);
    const next = q.take();
    done();
    // Assess: counting b2's span as taken, p's charge stood still while b2 waited and held b back for its five seconds.
    expect([b1.item.flow, b2.item.flow]).toEqual(['b', 'b']);
    expect(held).toBeUndefined();
    expect(next?.item.flow).toBe('b');
  });
  it('forgets a campaign gone idle once the busy ones have caught up with it, though one is always busy', () => {
    // Prepare: a renders on throughout, one 50 ms render at a time; b and c render once (5 ms) while a is at 100
    const { q, advance } = queue({ inFlightBudgetMs: 50 });
    fill(q, 'a', 3);
    const a1 = q.take()!;
    advance(50);
    a1.finished({ ownMs: 50 });
    const a2 = q.take()!;
    for (const flow of ['b', 'c']) {
      fill(q, flow, 1);
      const item = q.take()!;
      advance(5);
      item.finished({ ownMs: 5 });
    }
    advance(40);
    a2.finished({ ownMs: 50 });
    const a3 = q.take()!;
    // Act: a is at 150 now; d renders once (500 ms) and is done too
    fill(q, 'd', 1);
    const d1 = q.take()!;
    advance(500);
    d1.finished({ ownMs: 500 });
    // Assess: b and c (at 105, behind a: they would come back at a's level anyway) are forgotten
    // with their costs; d (at 650, ahead of a) is kept.
    expect([a1, a2, a3, d1].map((next) => next.item.flow)).toEqual(['a', 'a', 'a', 'd']);
    expect(['b', 'c', 'd', 'a'].map((flow) => q.costOf(flow))).toEqual([undefined, undefined, 500, 50]);
    a3.finished({ ownMs: 50 });
  });

  it('credits a stubber with no time of a render that threw (it told none of its own), so its wait holds no one back', () => {
    // Prepare: d's first render (10 ms) ended; its second waits 5 s for the store and throws; p's stubber runs throughout.
    const { q, advance } = queue();
    const done = q.producing('p');
    fill(q, 'd', 5);
    const d1 = q.take()!;
    advance(10);
    d1.finished({ ownMs: 10 });
    advance(11);
    const d2 = q.take()!;
    advance(5_000);
    d2.finished();
    // Act: d is charged the span (5 s); p, its 5 s as well, not the 11 ms it had before d2 began
    const next = q.take();
    done();
    // Assess: crediting p with d2's span, p held d back (it has nothing queued) for as long again.
    expect([d1.item.flow, d2.item.flow]).toEqual(['d', 'd']);
    expect(next?.item.flow).toBe('d');
  });

  it('credits a stubber at most the time since it began, however many renders that overlap its start end', () => {
    // Prepare: 20 renders of c, each 40 ms of its own, start before p's stubber begins at 840 ms and all end at 1,000
    const { q, advance } = queue({ inFlightBudgetMs: 10_000 });
    fill(q, 'c', 21);
    const c1 = q.take()!;
    advance(1);
    c1.finished({ ownMs: 1 });
    const cs = Array.from({ length: 20 }, () => q.take()!);
    advance(839);
    const done = q.producing('p');
    advance(160);
    for (const c of cs) c.finished({ ownMs: 40 });
    // Act: e comes in at p's level; 300 ms later its first render takes 100 ms of its own
    fill(q, 'e', 2);
    advance(300);
    const e1 = q.take()!;
    e1.finished({ ownMs: 100 });
    const e2 = q.take();
    done();
    // Assess: p is credited its 160 ms, not the renders' 800, and charged the 300 after: e's second goes
    // (credited 800, p would still be at its start and hold e back).
    expect(cs.map((c) => c.item.flow)).toEqual(Array(20).fill('c'));
    expect([e1.item.flow, e2?.item.flow]).toEqual(['e', 'e']);
  });

  it('charges a stubber the idle time before the first render began, not only the time between renders', () => {
    // Prepare: p's stubber begins at 0; the thread is idle until slow's 1 s render starts at 500 ms.
    const { q, advance } = queue();
    const done = q.producing('p');
    advance(500);
    fill(q, 'slow', 2);
    const slow1 = q.take()!;
    advance(1_000);
    slow1.finished({ ownMs: 1_000 });
    // Act: slow came in at p's 500 and is charged 1 s more; p, 500 ms, then 1,501 ms.
    advance(1_001);
    const next = q.take();
    done();
    // Assess
    expect(slow1.item.flow).toBe('slow');
    expect(next?.item.flow).toBe('slow');
  });

  it('credits overlapping renders with their own times, however they overlap', () => {
    // Prepare: a's render runs 0–1,000 ms (50 its own); b's starts at 900 and ends at 901 (a's waits let it in).
    const { q, advance } = queue({ inFlightBudgetMs: 10_000 });
    const done = q.producing('p');
    fill(q, 'a', 2);
    fill(q, 'b', 2);
    const a1 = q.take()!;
    advance(900);
    const b1 = q.take()!;
    advance(1);
    b1.finished({ ownMs: 1 });
    advance(99);
    a1.finished({ ownMs: 50 });
    // Act: 40 ms later p is charged 1,040 - 51 = 989 ms: more than a (50) and b (1)
    advance(40);
    const first = q.take();
    first!.finished({ ownMs: 1 });
    const second = q.take();
    done();
    // Assess: b, then a (had the spans been counted, p at 40 ms would have held a back).
    expect(first?.item.flow).toBe('b');
    expect(second?.item.flow).toBe('a');
  });
  it("starts a producing campaign's own items though its finish grows with the clock between two reads", () => {
    // Prepare: a clock that moves on every read (performance.now in the composition).
    let t = 0;
    const q = new FairQueue<Item>({ flowOf: (i) => i.flow, now: () => (t += 0.01) });
    const done = q.producing('plain');
    fill(q, 'plain', 2);
    // Act
    const first = q.take();
    done();
    // Assess
    expect(first?.item.flow).toBe('plain');
  });

  it('clears what waits and counts a finish only once', () => {
    // Prepare
    const { q } = queue();
    fill(q, 'a', 3);
    const running = q.take()!;
    // Act
    const dropped = q.clear();
    running.finished();
    running.finished();
    // Assess
    expect(dropped.map((i) => i.n)).toEqual([1, 2]);
    expect(q.length).toBe(0);
    expect(q.take()).toBeUndefined();
  });

  it('refuses a budget or window it cannot use, naming it', () => {
    expect(() => new FairQueue({ flowOf: () => '', now: () => 0, inFlightBudgetMs: 0 })).toThrow(/inFlightBudgetMs/);
    expect(() => new FairQueue({ flowOf: () => '', now: () => 0, window: 0 })).toThrow(/window/);
  });
});
