/**
 * npm run bench:hostile — issue 9's done-when, measured: `/healthz` latency (probes every 10 ms,
 * from a process of their own) and a campaign's sending rate (counted by the Mailgun-compatible
 * sink, in a process of its own) while each hostile request is sent again and again for a phase,
 * each hostile phase between two quiet ones, its rate compared (Δ) with theirs. Baton runs as
 * `npm start` runs it, in a child process; the campaign is bound by its cap (enough workers),
 * so that "slower" means the conductor handed out fewer permits, not that a worker lacked CPU.
 *   HOSTILE_PHASE_MS (default 6000), HOSTILE_ROWS (big audience rows, default 1,000,000),
 *   HOSTILE_RATE (the campaign's cap per second, default 200), HOSTILE_WORKERS (default 4),
 *   HOSTILE_ONLY (comma-separated indexes into the hostile requests, default all),
 *   HOSTILE_STORE (lmdb, what `npm start` opens, by default; or fs),
 *   HOSTILE_TRACE (set: print the data folder and each phase's epoch-ms bounds, to read Baton's
 *   log against; with KEEP_ROBUSTNESS_DIR=1 and FAULTS_LOG_LEVEL=info the log holds every lease)
 */
import { readFileSync } from 'node:fs';
import { cpuMs, hostileRequests, percentile, probeHealthz, sendingBaton } from './hostile-run';

const PHASE_MS = Number(process.env.HOSTILE_PHASE_MS ?? 6_000);
const ROWS = Number(process.env.HOSTILE_ROWS ?? 1_000_000);
const RATE = Number(process.env.HOSTILE_RATE ?? 200);
const WORKERS = Number(process.env.HOSTILE_WORKERS ?? 4);
const ONLY = process.env.HOSTILE_ONLY?.split(',').map(Number);
const STORE = process.env.HOSTILE_STORE === 'fs' ? 'fs' : 'lmdb';

/** The load average (1, 5, 15 min), as /proc gives it. */
function load(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** Microseconds some task has waited on IO so far (Linux pressure stall information), NaN without it. */
function ioStallUs(): number {
  try {
    return Number(/^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/io', 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

interface Phase {
  name: string;
  quiet: boolean;
  requests: number;
  probes: number[];
  rate: number;
  mainCpu: number;
  allCpu: number;
  /** Share of the phase in which some task of the machine waited on IO, %. */
  ioStall: number;
}

async function main(): Promise<void> {
  const hostiles = hostileRequests().filter((_, i) => ONLY === undefined || ONLY.includes(i));
  const phases = 1 + 2 * hostiles.length;
  // Enough for the phases after the audience is rendered (at most about a third of it goes out meanwhile).
  const recipients = Math.ceil((RATE * PHASE_MS * (phases + 2) * 1.5) / 1000);
  console.log(`load average at the start: ${load()}`);
  const run = await sendingBaton({ recipients, perSecond: RATE, bigRows: ROWS, workers: WORKERS, store: STORE });
  await run.startSending();
  const probe = await probeHealthz(run.baton.url);
  // The phases start once the whole audience is rendered and sends flow, so that every phase
  // compares sending alone with sending beside a hostile request (rendering costs CPU too).
  const waitFrom = Date.now();
  for (;;) {
    const { counts } = await run.status();
    if ((counts.rendered ?? 0) >= recipients && (await run.sentBetween(0, Date.now())) > 0) break;
    if (Date.now() - waitFrom > 180_000) throw new Error(`not rendered within 180 s: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await new Promise((r) => setTimeout(r, 2_000));
  const done: Phase[] = [];
  const measure = async (name: string, quiet: boolean, work: () => Promise<number>) => {
    const started = Date.now();
    const cpuBefore = { main: cpuMs(run.pid, run.pid), all: cpuMs(run.pid) };
    const ioBefore = ioStallUs();
    let requests = 0;
    while (Date.now() - started < PHASE_MS) requests += await work();
    const ended = Date.now();
    // Of one core, in the phase: the conductor's main thread (its event loop) and the whole process.
    const mainCpu = (100 * (cpuMs(run.pid, run.pid) - cpuBefore.main)) / (ended - started);
    const allCpu = (100 * (cpuMs(run.pid) - cpuBefore.all)) / (ended - started);
    const ioStall = (100 * (ioStallUs() - ioBefore)) / 1000 / (ended - started);
    const rate = ((await run.sentBetween(started, ended)) * 1000) / (ended - started);
    if (process.env.HOSTILE_TRACE) console.log(`phase ${name}: ${started} – ${ended}`);
    done.push({ name, quiet, requests, probes: await probe.between(started, ended), rate, mainCpu, allCpu, ioStall });
  };
  const idle = async () => {
    await new Promise((r) => setTimeout(r, 100));
    return 0;
  };
  await measure('none', true, idle);
  for (const hostile of hostiles) {
    await measure(hostile.name, false, async () => (await hostile.run(run.baton, run.fixtures)).length);
    await measure('none', true, idle);
  }
  await probe.stop();
  const status = await run.status();
  await run.stop();
  console.log(
    `${STORE} store, cap ${RATE}/s, ${WORKERS} workers, big audience ${ROWS.toLocaleString('en')} rows, phases of ${PHASE_MS} ms; campaign ${status.status}, ${JSON.stringify(status.counts)} of ${recipients}; load average at the end: ${load()}`,
  );
  console.log(
    '| hostile request (repeated for the phase) | requests | probes | healthz p50 ms | p95 ms | max ms | sent per s | Δ against the quiet phases beside it | main thread CPU % | process CPU % | IO stall % |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  done.forEach((p, i) => {
    const beside = p.quiet ? undefined : (done[i - 1]!.rate + done[i + 1]!.rate) / 2;
    const delta = beside === undefined ? '' : `${(((p.rate - beside) / beside) * 100).toFixed(1)}%`;
    const ms = p.probes;
    console.log(
      `| ${p.name} | ${p.requests} | ${ms.length} | ${percentile(ms, 50).toFixed(1)} | ${percentile(ms, 95).toFixed(1)} | ${Math.max(...ms).toFixed(1)} | ${p.rate.toFixed(1)} | ${delta} | ${p.mainCpu.toFixed(0)} | ${p.allCpu.toFixed(0)} | ${p.ioStall.toFixed(0)} |`,
    );
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
