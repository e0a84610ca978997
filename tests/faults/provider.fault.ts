import path from 'node:path';
import { startMailgunSink, type MailgunSink, type SinkFaults } from '../../local/src/mailgun-sink';
import {
  API_KEY,
  audience,
  busiestWindows,
  createAndSend,
  killAllChildren,
  ledgerOutcomes,
  receivedById,
  removeDir,
  report,
  startBaton,
  tempDir,
  waitUntilDone,
  type Audience,
  type BatonChild,
  type View,
} from './harness';

/**
 * Experiment 3: a provider that fails. One Baton (a child process) sends one 5,000-recipient
 * campaign per fault setting, with the same configuration, to the sink in this process:
 *  - none (the baseline), 10% answered 503, 5% of answers dropped after the message was stored;
 * and, with a Baton of its own at the issue's cap, 429 bursts (4 s every 12 s).
 * Judged by the sink's log: nobody twice; nothing lost; no window over the cap (counting every
 * call, refused ones too); with 503s within 1.3× the baseline's time; in doubt exactly the calls
 * whose answer was dropped; with bursts within 1.5× of what the provider accepts outside them.
 */

const SEED = Number(process.env.FAULTS_SEED ?? 20260118);
const RECIPIENTS = 5_000;
/** Bursts of 429 (the issue's experiment); the first starts 3 s after the faults are set, once sending has begun. */
const BURSTS = { everyMs: 12_000, forMs: 4_000, status: 429, startAfterMs: 3_000 };
const CAP = 3_000;
const WINDOW_MS = 10_000;
const ENV = {
  PER_MINUTE_MAX: String(CAP),
  GOVERNOR_WINDOW_MS: String(WINDOW_MS),
  MAX_WORKERS: '4',
  BATCH_SIZE: '500',
  TICK_MS: '200',
};

interface Run {
  name: string;
  started: number;
  people: Audience;
  view: View;
  tookMs: number;
  calls: ReturnType<MailgunSink['calls']>;
  received: Map<string, number>;
  outcomes: Awaited<ReturnType<typeof ledgerOutcomes>>;
}

describe('provider faults', () => {
  let sink: MailgunSink;
  let dataDir: string;
  let child: BatonChild | undefined;
  const runs = new Map<string, Run>();

  beforeAll(async () => {
    sink = await startMailgunSink({ apiKey: API_KEY });
    sink.setLatency(20);
    dataDir = tempDir('provider');
    child = await startBaton({ dataDir, sink, env: ENV, log: path.join(dataDir, 'baton.log') });
    // Warm up (module loading, JIT, the template cache's first compile) so the baseline is not the slowest by accident.
    await campaign('warm-up', 'w', 300, {});
  });

  afterAll(async () => {
    await killAllChildren();
    await sink?.close();
    if (process.env.FAULTS_KEEP) process.stdout.write(`[faults] kept ${dataDir}\n`);
    else removeDir(dataDir);
  });

  async function campaign(name: string, prefix: string, size: number, faults: SinkFaults, timeoutMs = 120_000): Promise<Run> {
    const people = audience(prefix, size);
    sink.setFaults(faults);
    const started = Date.now();
    const id = await createAndSend(child!.url, name, people);
    const view = await waitUntilDone(child!.url, id, timeoutMs);
    const tookMs = Date.now() - started;
    sink.setFaults({});
    const calls = sink.calls().filter((c) => c.recipientId !== undefined && people.byId.has(c.recipientId));
    const run = {
      name,
      started,
      people,
      view,
      tookMs,
      calls,
      received: receivedById(calls, people),
      outcomes: await ledgerOutcomes(dataDir, id),
    };
    runs.set(name, run);
    return run;
  }

  /** The figures every run reports. */
  function figures(run: Run) {
    return {
      tookMs: run.tookMs,
      counts: run.view.counts,
      providerCalls: run.calls.length,
      byOutcome: countBy(run.calls.map((c) => `${c.outcome}${c.status ? ` ${c.status}` : ''}`)),
      receivedTwice: [...run.received.values()].filter((n) => n > 1).length,
      busiestWindow: busiestWindows(
        run.calls.map((c) => c.at),
        WINDOW_MS,
      ),
      // Calls per 2 s from the send: accepted/refused.
      timeline: timeline(run),
      failedReasons: countBy([...run.outcomes.values()].filter((o) => o.status === 'failed').map((o) => (o.reason ?? '').split(':')[0]!)),
    };
  }

  /** What every run must show: done, nobody twice, no window over the cap (every call counted). */
  function expectCommon(run: Run, size = RECIPIENTS) {
    const f = figures(run);
    expect(run.view.status).toBe('done');
    expect(f.receivedTwice).toBe(0);
    expect(run.view.counts.total).toBe(size);
    expect(f.busiestWindow.calendar).toBeLessThanOrEqual(CAP);
    expect(f.busiestWindow.sliding).toBeLessThanOrEqual(CAP);
  }

  /**
   * Nothing lost: every recipient sent (received once), or failed with its reason once its
   * retries ran out (never received; with 10% random 503s, five in a row for one recipient has a
   * chance of about 1 in 20 per 5,000 recipients), and none in doubt.
   */
  function expectNothingLost(run: Run, size = RECIPIENTS) {
    const { sent = 0, failed = 0, inDoubt = 0 } = run.view.counts;
    const failedIds = [...run.outcomes].filter(([, o]) => o.status === 'failed').map(([r]) => r);
    expect(inDoubt).toBe(0);
    expect(sent + failed).toBe(size);
    expect(failedIds).toHaveLength(failed);
    expect(failedIds.filter((r) => !/^RETRIES_EXHAUSTED/.test(run.outcomes.get(r)!.reason ?? '') || run.received.has(r))).toEqual([]);
    expect(run.received.size).toBe(sent);
    expect([...run.outcomes.values()].filter((o) => o.status === 'sent')).toHaveLength(sent);
  }

  it('the baseline: no faults', async () => {
    const run = await campaign('no faults', 'b', RECIPIENTS, {});
    report('provider: none', { seed: SEED, recipients: RECIPIENTS, cap: `${CAP}/${WINDOW_MS} ms`, ...figures(run) });
    expectCommon(run);
    expect(run.view.counts).toMatchObject({ sent: RECIPIENTS, inDoubt: 0, failed: 0 });
    expect(run.received.size).toBe(RECIPIENTS);
  });

  it('10% of calls answered 503: within 1.3x the baseline, nobody twice, nothing lost', async () => {
    const baseline = runs.get('no faults');
    const run = await campaign('503s', 'u', RECIPIENTS, { seed: SEED, unavailableShare: 0.1 });
    const ratio = baseline ? run.tookMs / baseline.tookMs : Number.NaN;
    report('provider: 10% 503', { seed: SEED, recipients: RECIPIENTS, ...figures(run), baselineMs: baseline?.tookMs, ratio });
    expectCommon(run);
    expectNothingLost(run);
    expect(baseline).toBeDefined();
    expect(ratio).toBeLessThanOrEqual(1.3);
  });

  it('5% of answers dropped after the message was stored: in doubt exactly the dropped ones', async () => {
    const run = await campaign('dropped answers', 'd', RECIPIENTS, { seed: SEED, dropAnswerShare: 0.05 });
    const dropped = run.calls.filter((c) => c.outcome === 'dropped').map((c) => c.recipientId!);
    const inDoubt = [...run.outcomes].filter(([, o]) => o.status === 'inDoubt').map(([r]) => r);
    report('provider: 5% answers dropped', {
      seed: SEED,
      recipients: RECIPIENTS,
      ...figures(run),
      dropped: dropped.length,
      inDoubt: inDoubt.length,
      inDoubtReasons: countBy(inDoubt.map((r) => (run.outcomes.get(r)!.reason ?? '').split(':')[0]!)),
    });
    expectCommon(run);
    expect(dropped.length).toBeGreaterThan(0);
    expect([...inDoubt].sort()).toEqual([...dropped].sort());
    expect(run.view.counts).toMatchObject({ inDoubt: dropped.length, sent: RECIPIENTS - dropped.length, failed: 0 });
    expect(run.received.size).toBe(RECIPIENTS);
  });
});

/**
 * 429 bursts against the real sink, as the issue measured them: a Baton of its own at 1,200 per
 * 10 s sends 5,000 recipients while the sink answers 429 to every call for 4 s of every 12 s. The
 * ideal is what the provider accepts outside the bursts: the cap's rate during the time it is not
 * throttling, from the first call. Done within 1.5× of that, nobody twice, nothing lost, no window
 * over the cap counting every call.
 */
describe('provider faults: 429 bursts', () => {
  const BURST_CAP = 1_200;
  let sink: MailgunSink;
  let dataDir: string;
  let child: BatonChild | undefined;

  beforeAll(async () => {
    sink = await startMailgunSink({ apiKey: API_KEY });
    sink.setLatency(20);
    dataDir = tempDir('bursts');
    child = await startBaton({ dataDir, sink, env: { ...ENV, PER_MINUTE_MAX: String(BURST_CAP) }, log: path.join(dataDir, 'baton.log') });
  });

  afterAll(async () => {
    await killAllChildren();
    await sink?.close();
    if (process.env.FAULTS_KEEP) process.stdout.write(`[faults] kept ${dataDir}\n`);
    else removeDir(dataDir);
  });

  it('4 s of 429 every 12 s: done within 1.5x of what the provider accepts outside the bursts, nobody twice, nothing lost', async () => {
    // Prepare
    const people = audience('h', RECIPIENTS);
    sink.setFaults({ seed: SEED, bursts: BURSTS });
    // Act
    const sentAt = Date.now();
    const id = await createAndSend(child!.url, '429 bursts', people);
    const view = await waitUntilDone(child!.url, id, 300_000);
    const doneAt = Date.now();
    // Assess
    const calls = sink.calls().filter((c) => c.recipientId !== undefined && people.byId.has(c.recipientId));
    const received = receivedById(calls, people);
    const firstCall = Math.min(...calls.map((c) => c.at));
    const idealMs = acceptingTimeFor(RECIPIENTS, BURST_CAP / WINDOW_MS, firstCall, (t) => sink.inBurst(t));
    const tookMs = doneAt - firstCall;
    const ratio = tookMs / idealMs;
    const windows = busiestWindows(
      calls.map((c) => c.at),
      WINDOW_MS,
    );
    const refused = calls.filter((c) => c.outcome === 'refused').length;
    report('provider: 429 bursts 4 s / 12 s', {
      seed: SEED,
      recipients: RECIPIENTS,
      cap: `${BURST_CAP}/${WINDOW_MS} ms`,
      bursts: BURSTS,
      firstCallAfterSendMs: firstCall - sentAt,
      tookMs,
      idealMs,
      ratio,
      counts: view.counts,
      providerCalls: calls.length,
      refused,
      receivedTwice: [...received.values()].filter((n) => n > 1).length,
      busiestWindow: windows,
      timeline: timeline({ calls, started: firstCall } as Run),
    });
    const outcomes = await ledgerOutcomes(dataDir, id);
    expect(view.status).toBe('done');
    expect([...received.values()].filter((n) => n > 1)).toEqual([]);
    expect(refused).toBeGreaterThan(0);
    expect(view.counts).toMatchObject({ total: RECIPIENTS, sent: RECIPIENTS, inDoubt: 0, failed: 0 });
    expect(received.size).toBe(RECIPIENTS);
    expect([...outcomes.values()].filter((o) => o.status === 'sent')).toHaveLength(RECIPIENTS);
    expect(windows.calendar).toBeLessThanOrEqual(BURST_CAP);
    expect(windows.sliding).toBeLessThanOrEqual(BURST_CAP);
    expect(ratio).toBeLessThanOrEqual(1.5);
  });
});

/**
 * How long, from `from`, the provider needs to accept `count` calls at `perMs` while it is not
 * throttling (`inBurst`), in steps of 10 ms: the ideal of a run under bursts.
 */
function acceptingTimeFor(count: number, perMs: number, from: number, inBurst: (t: number) => boolean): number {
  const STEP = 10;
  let accepting = 0;
  let t = from;
  while (accepting * perMs < count) {
    if (!inBurst(t)) accepting += STEP;
    t += STEP;
  }
  return t - from;
}

function timeline(run: Run): string {
  const buckets: { ok: number; no: number }[] = [];
  for (const c of run.calls) {
    const i = Math.floor((c.at - run.started) / 2_000);
    for (let j = buckets.length; j <= i; j++) buckets.push({ ok: 0, no: 0 });
    if (c.outcome === 'refused') buckets[i]!.no += 1;
    else buckets[i]!.ok += 1;
  }
  return buckets.map((b) => (b.no > 0 ? `${b.ok}/${b.no}` : `${b.ok}`)).join(' ');
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
