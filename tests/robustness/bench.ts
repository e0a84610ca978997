/**
 * npm run bench:hostile — issue 9's done-when, measured: `/healthz` latency (probes every 10 ms)
 * and a campaign's sending rate while each hostile request is sent again and again for a
 * phase, against phases with none. Baton runs as `npm start` runs it, in a child process.
 *   HOSTILE_PHASE_MS (default 6000), HOSTILE_ROWS (big audience rows, default 1,000,000),
 *   HOSTILE_RATE (the campaign's cap per second, default 200)
 */
import { cpuMs, hostileRequests, percentile, probeHealthz, sendingBaton } from './hostile-run';

const PHASE_MS = Number(process.env.HOSTILE_PHASE_MS ?? 6_000);
const ROWS = Number(process.env.HOSTILE_ROWS ?? 1_000_000);
const RATE = Number(process.env.HOSTILE_RATE ?? 200);

async function main(): Promise<void> {
  const phases = 2 + 2 * hostileRequests().length;
  // Enough for the phases after the audience is rendered (at most about a third of it goes out meanwhile).
  const recipients = Math.ceil((RATE * PHASE_MS * (phases + 2) * 1.5) / 1000);
  const run = await sendingBaton({ recipients, perSecond: RATE, bigRows: ROWS });
  await run.startSending();
  const probe = probeHealthz(run.baton.url);
  // The phases start once the whole audience is rendered and sends flow, so that every phase
  // compares sending alone with sending beside a hostile request (rendering costs CPU too).
  const waitFrom = Date.now();
  for (;;) {
    const { counts } = await run.status();
    if ((counts.rendered ?? 0) >= recipients && run.sentBetween(0, Date.now()) > 0) break;
    if (Date.now() - waitFrom > 180_000) throw new Error(`not rendered within 180 s: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await new Promise((r) => setTimeout(r, 2_000));
  const rows: string[] = [];
  const measure = async (name: string, work: () => Promise<number>) => {
    probe.phase = name;
    const started = Date.now();
    const cpuBefore = { main: cpuMs(run.pid, run.pid), all: cpuMs(run.pid) };
    let requests = 0;
    while (Date.now() - started < PHASE_MS) requests += await work();
    const ended = Date.now();
    // Of one core, in the phase: the conductor's main thread (its event loop) and the whole process.
    const mainCpu = (100 * (cpuMs(run.pid, run.pid) - cpuBefore.main)) / (ended - started);
    const allCpu = (100 * (cpuMs(run.pid) - cpuBefore.all)) / (ended - started);
    const ms = probe.of(name);
    const rate = (run.sentBetween(started, ended) * 1000) / (ended - started);
    rows.push(
      `| ${name} | ${requests} | ${ms.length} | ${percentile(ms, 50).toFixed(1)} | ${percentile(ms, 95).toFixed(1)} | ${Math.max(...ms).toFixed(1)} | ${rate.toFixed(1)} | ${mainCpu.toFixed(0)} | ${allCpu.toFixed(0)} |`,
    );
  };
  const idle = async () => {
    await new Promise((r) => setTimeout(r, 100));
    return 0;
  };
  await measure('none (baseline)', idle);
  for (const hostile of hostileRequests()) {
    await measure(hostile.name, async () => (await hostile.run(run.baton, run.fixtures)).length);
    await measure(`none (after ${hostile.name})`, idle);
  }
  await probe.stop();
  const status = await run.status();
  await run.stop();
  console.log(`cap ${RATE}/s, big audience ${ROWS.toLocaleString('en')} rows, phases of ${PHASE_MS} ms; campaign ${status.status}`);
  console.log(
    '| hostile request (repeated for the phase) | requests | probes | healthz p50 ms | p95 ms | max ms | sent per s | main thread CPU % | process CPU % |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
