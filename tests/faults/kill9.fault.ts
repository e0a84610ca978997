import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { readCallJournal, type CallJournalEvent, type CallJournalLine } from '../../local/src/call-journal';
import { startMailgunSink, type MailgunSink, type SinkCall } from '../../local/src/mailgun-sink';
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
  STORE,
  type Audience,
  type BatonChild,
} from './harness';

/**
 * Experiment 1: kill -9 at random (seeded) moments while a campaign is being sent, restarting
 * Baton on the same data folder each time. Judged by the sink's log and by Baton's provider-call
 * journal (`BATON_CALL_JOURNAL`, one line written synchronously as each call starts and as it
 * answers, so it outlives the kill): nobody received twice; every recipient ends sent or in
 * doubt; and the recipients in doubt are at most the calls in flight at the kills.
 *
 * **Calls in flight at a kill** are the provider calls that had started (the journal has their
 * `start`, written just before the sender is called, after the claim is durable) and whose
 * outcome was not in the ledger when the process died (the ledger is read right after the kill,
 * before the restart). That is an upper bound on what may have reached the provider and is not
 * known to have been recorded: a call journalled as started may not have left the process (it
 * is counted anyway), and the sink's log checks that no call reached it unjournalled. Each is
 * also placed by the sink's log: it never arrived (it had started leaving the worker), it was at
 * the sink (arrived, not answered by the kill), or it had its answer out (answered before the
 * kill: on its way back, or read and its outcome not yet written).
 */

const SEED = Number(process.env.FAULTS_SEED ?? 20260118);
const RECIPIENTS = 3_000;
const CAP = 1_000;
const WINDOW_MS = 10_000;
const MAX_WORKERS = 4;
const LATENCY_MS = 25;
const SLICE_MS = 200;
/** The claim steps during which a claim may be on disk though its call has not started: its create or its delete under way. */
const BEING_WRITTEN: ReadonlySet<CallJournalEvent | undefined> = new Set(['claiming', 'releasing']);
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

  it('sends nobody twice, sends everyone else exactly once, and leaves in doubt at most the calls in flight at the kills', async () => {
    const random = seeded(SEED);
    const kills = 3 + Math.floor(random() * 4);
    const people = audience('k', RECIPIENTS);
    const journalFile = path.join(dataDir, 'calls.jsonl');
    const env = { ...ENV, BATON_CALL_JOURNAL: journalFile };
    const start = () => startBaton({ dataDir, sink, env, log: path.join(dataDir, 'baton.log') });
    const accepted = () => sink.calls().filter((c) => c.outcome === 'accepted').length;

    child = await start();
    const started = Date.now();
    const id = await createAndSend(child.url, 'Kill -9', people);
    await waitFor('the first send', () => (accepted() > 0 ? true : undefined), 60_000);

    const moments: Kill[] = [];
    const counted = new Set<string>();
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
      const journal = journalOf(readCallJournal(journalFile), people);
      // The calls in flight: started, and no outcome when the process died (not counted at an earlier kill).
      const inFlight = [...journal.started.keys()].filter((r) => journal.phase.get(r) === 'start' && !outcomes.has(r) && !counted.has(r));
      for (const r of inFlight) counted.add(r);
      // Claims on disk whose create (or delete) the store had not acknowledged: their call had not started.
      const claimsBeingWritten = orphans.filter((r) => BEING_WRITTEN.has(journal.phase.get(r)) && !counted.has(r));
      for (const r of claimsBeingWritten) counted.add(r);
      const calls = sink.calls();
      const received = receivedById(calls, people);
      const restarting = Date.now();
      child = await start();
      moments.push({
        at,
        afterMs,
        pendingAtSink,
        acceptedBefore: accepted(),
        orphans,
        orphansReceived: orphans.filter((r) => received.has(r)).length,
        claimsBeingWritten: claimsBeingWritten.length,
        claimedNotStarted: orphans.filter((r) => !BEING_WRITTEN.has(journal.phase.get(r)) && journal.phase.get(r) !== 'start'),
        inFlight: placeInFlight(inFlight, at, calls, journal),
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

    // Judge against the sink's log and the journal.
    const calls = sink.calls();
    const received = receivedById(calls, people);
    const journal = journalOf(readCallJournal(journalFile), people);
    const outcomes = await ledgerOutcomes(dataDir, id);
    const twice = [...received.values()].filter((n) => n > 1).length;
    const byStatus = (s: string) => [...outcomes].filter(([, o]) => o.status === s).map(([r]) => r);
    const sent = byStatus('sent');
    const inDoubt = byStatus('inDoubt');
    const inDoubtReal = inDoubt.filter((r) => received.has(r));
    const orphaned = new Set(moments.flatMap((m) => m.orphans));
    const inFlightAtKills = moments.reduce((n, m) => n + m.inFlight.total, 0);
    const claimsBeingWrittenAtKills = moments.reduce((n, m) => n + m.claimsBeingWritten, 0);
    const callOf = new Map(calls.filter((c) => c.recipientId).map((c) => [c.recipientId!, c]));
    // A real in-doubt is a call that reached the sink before a kill (or just after: it was on the wire).
    const arrivedBeforeAKill = (r: string) => moments.some((m) => callOf.get(r)!.at <= m.at + 200);
    // Every call the sink saw was journalled as started before it arrived: the journal misses none.
    const unjournalled = calls
      .filter((c) => c.recipientId !== undefined && people.byId.has(c.recipientId))
      .filter((c) => {
        const t = journal.started.get(c.recipientId!);
        return t === undefined || t.every((s) => s > c.at);
      });
    // Kept with the data folder: every call the sink saw, to look into a window afterwards.
    if (process.env.FAULTS_KEEP) writeFileSync(path.join(dataDir, 'sink-calls.json'), JSON.stringify({ moments, calls }));
    const windows = busiestWindows(
      calls.map((c) => c.at),
      WINDOW_MS,
    );
    report('kill-9', {
      seed: SEED,
      store: STORE,
      recipients: RECIPIENTS,
      cap: `${CAP}/${WINDOW_MS} ms`,
      sinkLatencyMs: LATENCY_MS,
      kills: moments.length,
      perKill: moments.map((m) => ({
        afterMs: m.afterMs,
        pendingAtSink: m.pendingAtSink,
        inFlight: m.inFlight,
        claimsBeingWritten: m.claimsBeingWritten,
        orphans: m.orphans.length,
        received: m.orphansReceived,
        neverReceived: m.orphans.length - m.orphansReceived,
        claimedNotStarted: m.claimedNotStarted.length,
        restartMs: m.restartMs,
      })),
      tookMs,
      counts: finished.counts,
      providerCalls: calls.length,
      journalledCalls: journal.starts,
      unjournalledCalls: unjournalled.length,
      receivedTwice: twice,
      inFlightAtKills,
      claimsBeingWrittenAtKills,
      inDoubtWithinCallsInFlight: inDoubt.length <= inFlightAtKills,
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
    // The journal is a sound count: no call reached the provider without its start journalled first.
    expect(unjournalled).toEqual([]);
    // In doubt are exactly the claims the kills left without an outcome…
    expect([...inDoubt].sort()).toEqual([...orphaned].sort());
    // …each of them a call in flight at its kill, or a claim the store was still writing (the
    // one write before the call: on disk before it is acknowledged). None was claimed, acknowledged
    // and left waiting: a claim is followed by its call at once.
    for (const m of moments) expect(m.claimedNotStarted).toEqual([]);
    expect(inDoubt.filter((r) => !counted.has(r))).toEqual([]);
    // …so they number at most the calls in flight at the kills, and the claims being written then.
    expect(inDoubt.length).toBeLessThanOrEqual(inFlightAtKills + claimsBeingWrittenAtKills);
    // Those the provider has reached it before a kill.
    expect(inDoubtReal.filter((r) => !arrivedBeforeAKill(r))).toEqual([]);
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
  /** Of those, the ones whose claim's create (or delete) had begun and had not been acknowledged. */
  claimsBeingWritten: number;
  /** Of those, the ones whose claim was acknowledged and whose call had not started: must be none. */
  claimedNotStarted: string[];
  /** The calls in flight at this kill (not counted at an earlier one), placed by the sink's log. */
  inFlight: InFlight;
  restartMs: number;
}

/** Calls in flight at a kill, by where they were. */
interface InFlight {
  total: number;
  /** Journalled as started, never reached the sink: the request was leaving the worker. */
  leaving: number;
  /** At the sink and not answered by the kill. */
  atSink: number;
  /** Answered before the kill; the journal has no answer: on its way back. */
  answerOnItsWay: number;
  /** Answered, the answer read (the journal says so), its outcome not yet written. */
  answerRead: number;
}

interface Journal {
  /** Recipient id → when each of its calls started. */
  started: Map<string, number[]>;
  /** Recipients whose call's answer (or error) came back. */
  answered: Set<string>;
  /** Recipient id → its last step journalled: a claim's (`claiming` until the store answers) or its call's `start`. */
  phase: Map<string, CallJournalEvent>;
  starts: number;
}

function journalOf(lines: CallJournalLine[], people: Audience): Journal {
  const journal: Journal = { started: new Map(), answered: new Set(), phase: new Map(), starts: 0 };
  for (const line of lines) {
    const r = line.recipientId;
    if (r === undefined || !people.byId.has(r)) continue;
    if (line.e === 'start') {
      journal.starts += 1;
      journal.started.set(r, [...(journal.started.get(r) ?? []), line.t]);
      journal.phase.set(r, line.e);
    } else if (line.e === 'answer' || line.e === 'error') journal.answered.add(r);
    else journal.phase.set(r, line.e);
  }
  return journal;
}

function placeInFlight(ids: string[], killedAt: number, calls: SinkCall[], journal: Journal): InFlight {
  const arrived = new Map(calls.filter((c) => c.recipientId !== undefined).map((c) => [c.recipientId!, c]));
  const out: InFlight = { total: ids.length, leaving: 0, atSink: 0, answerOnItsWay: 0, answerRead: 0 };
  for (const r of ids) {
    const c = arrived.get(r);
    if (c === undefined) out.leaving += 1;
    else if (c.answeredAt === undefined || c.answeredAt >= killedAt) out.atSink += 1;
    else if (journal.answered.has(r)) out.answerRead += 1;
    else out.answerOnItsWay += 1;
  }
  return out;
}
