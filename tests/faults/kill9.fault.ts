import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startMailgunSink, type MailgunSink } from '../../local/src/mailgun-sink';
import {
  API_KEY,
  audience,
  busiestWindows,
  createAndSend,
  killAllChildren,
  ledgerClaims,
  ledgerOutcomes,
  receivedById,
  removeDir,
  report,
  seeded,
  sleep,
  startBaton,
  tempDir,
  waitFor,
  waitUntilDone,
  type BatonChild,
} from './harness';

/**
 * Experiment 1: kill -9 at random (seeded) moments while a campaign is being sent, restarting
 * Baton on the same data folder each time. Judged by the sink's log: nobody received twice;
 * every recipient ends sent or in doubt; and of those in doubt, how many the provider really
 * has (their call was in flight at a kill, or answered and not yet recorded) and how many it
 * never saw (claimed, the call not yet started).
 */

const SEED = Number(process.env.FAULTS_SEED ?? 20260118);
const RECIPIENTS = 3_000;
const CAP = 1_000;
const WINDOW_MS = 10_000;
const MAX_WORKERS = 4;
const LATENCY_MS = 25;
const SLICE_MS = 200;
/** The permits of one slice of the governor's schedule. */
const SLICE_PERMITS = (CAP * SLICE_MS) / WINDOW_MS;
/** An answer out this little before a kill may not have been recorded yet (the read of the answer, one store write). */
const ANSWER_TO_RECORD_MS = 1_000;
const ENV = {
  PER_MINUTE_MAX: String(CAP),
  GOVERNOR_WINDOW_MS: String(WINDOW_MS),
  MAX_WORKERS: String(MAX_WORKERS),
  BATCH_SIZE: '200',
  TICK_MS: '200',
  GOVERNOR_SLICE_MS: String(SLICE_MS),
};

/** How many of each reason, by its code (the text before the first colon). */
function reasons(all: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of all) {
    const code = r.split(':')[0]!;
    out[code] = (out[code] ?? 0) + 1;
  }
  return out;
}

describe('kill -9 at random moments during sending', () => {
  let sink: MailgunSink;
  let dataDir: string;
  let child: BatonChild | undefined;

  beforeAll(async () => {
    sink = await startMailgunSink({ apiKey: API_KEY });
    sink.setLatency(LATENCY_MS);
    dataDir = tempDir('kill9');
  });

  afterAll(async () => {
    await killAllChildren();
    await sink?.close();
    if (process.env.FAULTS_KEEP) process.stdout.write(`[faults] kept ${dataDir}\n`);
    else removeDir(dataDir);
  });

  it('sends nobody twice, and leaves in doubt only what was claimed at a kill: the calls in flight, and the claims about to call', async () => {
    const random = seeded(SEED);
    const kills = 3 + Math.floor(random() * 4);
    const people = audience('k', RECIPIENTS);
    const start = () => startBaton({ dataDir, sink, env: ENV, log: path.join(dataDir, 'baton.log') });
    const accepted = () => sink.calls().filter((c) => c.outcome === 'accepted').length;

    child = await start();
    const started = Date.now();
    const id = await createAndSend(child.url, 'Kill -9', people);
    await waitFor('the first send', () => (accepted() > 0 ? true : undefined), 60_000);

    const moments: Kill[] = [];
    for (let k = 0; k < kills; k++) {
      const afterMs = Math.round(500 + random() * 3_500);
      await sleep(afterMs);
      if (accepted() >= RECIPIENTS) break;
      const at = Date.now();
      const pendingAtSink = sink.pending();
      await child.signal('SIGKILL', 10_000);
      await sleep(200); // anything the dead process had already put on the wire lands
      // Claimed with no outcome: the next conductor records these in doubt (NO_REPORT).
      const [claims, outcomes] = await Promise.all([ledgerClaims(dataDir, id), ledgerOutcomes(dataDir, id)]);
      const orphans = [...claims].filter((r) => !outcomes.has(r));
      const received = receivedById(sink.calls(), people);
      const restarting = Date.now();
      child = await start();
      moments.push({
        at,
        afterMs,
        pendingAtSink,
        acceptedBefore: accepted(),
        orphans,
        orphansReceived: orphans.filter((r) => received.has(r)).length,
        restartMs: Date.now() - restarting,
      });
      // Sending has resumed before the next kill is drawn (or the campaign is over).
      const resumed = accepted();
      await waitFor('sending to resume', async () => (accepted() > resumed || accepted() >= RECIPIENTS ? true : undefined), 90_000);
    }

    const finished = await waitUntilDone(child.url, id, 180_000);
    const tookMs = Date.now() - started;
    await child.signal('SIGTERM', 20_000);
    child = undefined;

    // Judge against the sink's log.
    const calls = sink.calls();
    const received = receivedById(calls, people);
    const outcomes = await ledgerOutcomes(dataDir, id);
    const twice = [...received.values()].filter((n) => n > 1).length;
    const byStatus = (s: string) => [...outcomes].filter(([, o]) => o.status === s).map(([r]) => r);
    const sent = byStatus('sent');
    const inDoubt = byStatus('inDoubt');
    const inDoubtReal = inDoubt.filter((r) => received.has(r));
    const orphaned = new Set(moments.flatMap((m) => m.orphans));
    const callOf = new Map(calls.filter((c) => c.recipientId).map((c) => [c.recipientId!, c]));
    // A real in-doubt is a call that arrived before a kill whose answer was not out (or only just) by then.
    const inFlightAt = (r: string) => {
      const c = callOf.get(r)!;
      return moments.some((m) => c.at <= m.at + 200 && (c.answeredAt === undefined || c.answeredAt >= m.at - ANSWER_TO_RECORD_MS));
    };
    // Kept with the data folder: every call the sink saw, to look into a window afterwards.
    if (process.env.FAULTS_KEEP) writeFileSync(path.join(dataDir, 'sink-calls.json'), JSON.stringify({ moments, calls }));
    const windows = busiestWindows(
      calls.map((c) => c.at),
      WINDOW_MS,
    );
    report('kill-9', {
      seed: SEED,
      recipients: RECIPIENTS,
      cap: `${CAP}/${WINDOW_MS} ms`,
      sinkLatencyMs: LATENCY_MS,
      kills: moments.length,
      perKill: moments.map((m) => ({
        afterMs: m.afterMs,
        pendingAtSink: m.pendingAtSink,
        orphans: m.orphans.length,
        received: m.orphansReceived,
        neverReceived: m.orphans.length - m.orphansReceived,
        restartMs: m.restartMs,
      })),
      tookMs,
      counts: finished.counts,
      providerCalls: calls.length,
      receivedTwice: twice,
      inDoubt: inDoubt.length,
      inDoubtReal: inDoubtReal.length,
      inDoubtNeverReceived: inDoubt.length - inDoubtReal.length,
      inDoubtReasons: reasons(inDoubt.map((r) => outcomes.get(r)!.reason ?? '')),
      busiestWindow: windows,
    });

    expect(finished.status).toBe('done');
    expect(twice).toBe(0);
    // Every recipient ends sent or in doubt, and the counts say so.
    expect(sent.length + inDoubt.length).toBe(RECIPIENTS);
    expect(finished.counts).toMatchObject({ sent: sent.length, inDoubt: inDoubt.length, failed: 0 });
    // Sent means the provider has it, once; whatever the provider has is sent or in doubt.
    expect(sent.filter((r) => received.get(r) !== 1)).toEqual([]);
    expect([...received.keys()].filter((r) => !['sent', 'inDoubt'].includes(outcomes.get(r)?.status ?? ''))).toEqual([]);
    // In doubt are exactly the claims the kills left without an outcome…
    expect([...inDoubt].sort()).toEqual([...orphaned].sort());
    // …those the provider has were in flight at a kill…
    expect(inDoubtReal.filter((r) => !inFlightAt(r))).toEqual([]);
    // …and those it never saw were about to call: at most the current and the next slice's permits, per kill.
    for (const m of moments) expect(m.orphans.length - m.orphansReceived).toBeLessThanOrEqual(2 * SLICE_PERMITS);
    expect(windows.calendar).toBeLessThanOrEqual(CAP);
    expect(windows.sliding).toBeLessThanOrEqual(CAP);
  });
});

interface Kill {
  at: number;
  afterMs: number;
  /** Calls the sink had not answered when the kill was sent. */
  pendingAtSink: number;
  acceptedBefore: number;
  /** Claimed, and no outcome, just after the kill. */
  orphans: string[];
  /** Of those, how many the sink received. */
  orphansReceived: number;
  restartMs: number;
}
