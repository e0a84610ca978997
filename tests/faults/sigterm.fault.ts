import path from 'node:path';
import { startMailgunSink, type MailgunSink } from '../../local/src/mailgun-sink';
import {
  API_KEY,
  audience,
  busiestWindows,
  createAndSend,
  killAllChildren,
  ledgerOutcomes,
  receivedById,
  removeDir,
  renderedOnDisk,
  report,
  startBaton,
  tempDir,
  view,
  waitFor,
  waitUntilDone,
  type BatonChild,
  type View,
} from './harness';

/**
 * Experiment 2: SIGTERM at each stage of one 20,000-recipient campaign — while its audience is
 * being stubbed, while it is being rendered, while it is being sent — restarting Baton on the
 * same data folder each time. Each stop must end the process within the documented bound (the
 * conductor's drain, 10 s, plus 3 s for functions still running: under 15 s), and the campaign
 * then completes with nobody twice and nobody lost.
 */

const RECIPIENTS = 20_000;
const CAP = 3_000;
const WINDOW_MS = 10_000;
const STOP_BOUND_MS = 15_000;
const ENV = {
  PER_MINUTE_MAX: String(CAP),
  GOVERNOR_WINDOW_MS: String(WINDOW_MS),
  MAX_WORKERS: '4',
  BATCH_SIZE: '500',
  TICK_MS: '200',
};

type Stage = 'stubbing' | 'rendering' | 'sending';

/**
 * The furthest stage the campaign is in. Rendering follows stubbing (each stub's event renders
 * it) and after a restart runs inside the conductor's re-drive, between two updates of the view's
 * count: it is judged by the rendered objects on disk.
 */
function stageOf(v: View, renderedOnDisk: number): Stage | 'done' {
  if (v.status === 'done') return 'done';
  if (renderedOnDisk >= RECIPIENTS) return 'sending';
  // Stubbing is over once every recipient is stubbed. (Before the report, counts.total is the
  // stubs seen so far: with the renderer in a thread of its own, that starts before any render.)
  if (renderedOnDisk >= RECIPIENTS * 0.2 || (v.counts.stubbed ?? 0) >= RECIPIENTS) return 'rendering';
  return 'stubbing';
}

describe('SIGTERM at each stage of a campaign', () => {
  let sink: MailgunSink;
  let dataDir: string;
  let child: BatonChild | undefined;

  beforeAll(async () => {
    sink = await startMailgunSink({ apiKey: API_KEY });
    dataDir = tempDir('sigterm');
  });

  afterAll(async () => {
    await killAllChildren();
    await sink?.close();
    if (process.env.FAULTS_KEEP) process.stdout.write(`[faults] kept ${dataDir}\n`);
    else removeDir(dataDir);
  });

  it('stops within 15 s at every stage, and the campaign then completes: nobody twice, nobody lost', async () => {
    const people = audience('t', RECIPIENTS);
    const start = () => startBaton({ dataDir, sink, env: ENV, log: path.join(dataDir, 'baton.log') });
    child = await start();
    const started = Date.now();
    const id = await createAndSend(child.url, 'SIGTERM', people);

    // Each stage: wait until the campaign is well inside it, then stop.
    const inside: Record<Stage, (v: View, rendered: number) => boolean> = {
      stubbing: (v, rendered) => stageOf(v, rendered) === 'stubbing' && (v.counts.stubbed ?? 0) > 0,
      rendering: (v, rendered) => stageOf(v, rendered) === 'rendering' && rendered >= RECIPIENTS * 0.2 && rendered < RECIPIENTS * 0.9,
      sending: (v, rendered) => stageOf(v, rendered) === 'sending' && (v.counts.sent ?? 0) < RECIPIENTS * 0.8,
    };
    const order = ['stubbing', 'rendering', 'sending', 'done'];
    const stops: {
      stage: Stage;
      seen: Record<string, number>;
      renderedOnDisk: number;
      stopMs: number;
      code: number | null;
      signal: string | null;
    }[] = [];
    for (const stage of ['stubbing', 'rendering', 'sending'] as const) {
      const seen = await waitFor(
        `the campaign to be ${stage}`,
        async () => {
          const v = await view(child!.url, id);
          const rendered = await renderedOnDisk(dataDir, id);
          const now = stageOf(v, rendered);
          if (order.indexOf(now) > order.indexOf(stage))
            throw new Error(`the campaign went past ${stage} unseen: ${rendered} rendered on disk, ${JSON.stringify(v.counts)}`);
          return inside[stage](v, rendered) ? { v, rendered } : undefined;
        },
        180_000,
        25,
      );
      const exit = await child.signal('SIGTERM', 30_000);
      stops.push({ stage, seen: seen.v.counts, renderedOnDisk: seen.rendered, stopMs: exit.tookMs, code: exit.code, signal: exit.signal });
      child = await start();
    }

    const finished = await waitUntilDone(child.url, id, 300_000);
    const tookMs = Date.now() - started;
    await child.signal('SIGTERM', 30_000);
    child = undefined;

    const calls = sink.calls();
    const received = receivedById(calls, people);
    const outcomes = await ledgerOutcomes(dataDir, id);
    const twice = [...received.values()].filter((n) => n > 1).length;
    const sent = [...outcomes.values()].filter((o) => o.status === 'sent').length;
    const windows = busiestWindows(
      calls.map((c) => c.at),
      WINDOW_MS,
    );
    report('sigterm', {
      recipients: RECIPIENTS,
      cap: `${CAP}/${WINDOW_MS} ms`,
      stops: stops.map((s) => ({
        stage: s.stage,
        stopMs: s.stopMs,
        exit: s.code ?? s.signal,
        stubbed: s.seen.stubbed,
        renderedOnDisk: s.renderedOnDisk,
        sent: s.seen.sent,
      })),
      tookMs,
      counts: finished.counts,
      providerCalls: calls.length,
      receivedTwice: twice,
      busiestWindow: windows,
      // Messages accepted per 10 s from the send.
      timeline: perTenSeconds(
        calls.filter((c) => c.outcome === 'accepted').map((c) => c.at),
        started,
      ),
    });

    for (const s of stops) {
      expect(s.stopMs).toBeLessThan(STOP_BOUND_MS);
      expect(s.code).toBe(0);
    }
    expect(finished.status).toBe('done');
    expect(twice).toBe(0);
    // Nobody lost: a graceful stop lets every lease check in, so each recipient is sent, once.
    expect(finished.counts).toMatchObject({ total: RECIPIENTS, sent: RECIPIENTS, inDoubt: 0, failed: 0 });
    expect(sent).toBe(RECIPIENTS);
    expect(received.size).toBe(RECIPIENTS);
    expect(windows.calendar).toBeLessThanOrEqual(CAP);
    expect(windows.sliding).toBeLessThanOrEqual(CAP);
  });
});

function perTenSeconds(times: number[], from: number): string {
  const buckets: number[] = [];
  for (const t of times) {
    const i = Math.floor((t - from) / 10_000);
    for (let j = buckets.length; j <= i; j++) buckets.push(0);
    buckets[i]! += 1;
  }
  return buckets.join(' ');
}
