/**
 * The robustness scenario's observers, each in a process of its own so that neither shares an
 * event loop with the hostile client (whose 40 MB bodies and JSON would delay them) nor with each
 * other: `sink` runs the Mailgun-compatible sink and counts what it takes; `probe` times
 * `/healthz` every 10 ms on one kept-alive connection. Started by `startSideProcess` (hostile-run.ts),
 * which asks them for figures over IPC; nothing else reaches them.
 *   tsx side-process.ts sink <apiKey>
 *   tsx side-process.ts probe <baseUrl> [everyMs]
 */
import http from 'node:http';
import { startMailgunSink } from '../../local/src/mailgun-sink';

/** A question from the parent, and its answer (same `id`). */
export type SideQuestion = { id: number; ask: 'sentBetween' | 'probesBetween'; from: number; to: number } | { id: number; ask: 'stop' };
export interface SideAnswer {
  id: number;
  /** sentBetween: messages the sink took in [from, to); probesBetween: each probe's ms, begun in [from, to). */
  value: number | number[];
}
/** The first message a side process sends: it is ready, and (the sink) where. */
export interface SideReady {
  ready: true;
  url?: string;
}

function send(message: SideAnswer | SideReady): void {
  process.send!(message);
}

async function sink(apiKey: string): Promise<void> {
  // Only when each message arrived is kept: the sink's own store is emptied every second, so its
  // heap (and its garbage collector's pauses) stays the same size however long the run.
  const arrivals: number[] = [];
  const running = await startMailgunSink({ apiKey, onStored: (m) => arrivals.push(m.receivedAt) });
  const emptying = setInterval(() => running.clear(), 1_000);
  process.on('message', (q: SideQuestion) => {
    if (q.ask === 'stop') {
      clearInterval(emptying);
      void running.close().then(() => {
        send({ id: q.id, value: 0 });
        process.disconnect();
      });
      return;
    }
    let n = 0;
    for (const at of arrivals) if (at >= q.from && at < q.to) n++;
    send({ id: q.id, value: n });
  });
  send({ ready: true, url: running.url });
}

function healthz(url: string, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`healthz answered ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

async function probe(url: string, everyMs: number): Promise<void> {
  const samples: { at: number; ms: number }[] = [];
  let running = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  process.on('message', (q: SideQuestion) => {
    if (q.ask === 'stop') {
      running = false;
      send({ id: q.id, value: 0 });
      agent.destroy();
      process.disconnect();
      return;
    }
    send({ id: q.id, value: samples.filter((s) => s.at >= q.from && s.at < q.to).map((s) => s.ms) });
  });
  send({ ready: true });
  while (running) {
    const at = Date.now();
    const started = performance.now();
    try {
      await healthz(url, agent);
    } catch (err) {
      if (!running) return; // the probe in flight when it was stopped
      throw err;
    }
    samples.push({ at, ms: performance.now() - started });
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const [role, arg, every] = process.argv.slice(2);
const started =
  role === 'sink' ? sink(arg!) : role === 'probe' ? probe(arg!, Number(every ?? 10)) : Promise.reject(new Error(`role ${role}?`));
started.catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
