import { hostileRequests, percentile, probeHealthz, sendingBaton } from './hostile-run';

/**
 * Issue 9's done-when, as a test: while a campaign sends through the real local composition
 * (`npm start`'s, in a child process),
 * none of the hostile requests holds the conductor's event loop — `/healthz` keeps answering
 * within 100 ms (the 95th percentile of probes every 10 ms; a single slow probe on a shared
 * machine proves nothing) — and each hostile request gets a clear answer.
 *
 * A stall of the kind the issue found (seconds) blocks the prober and shows as one long probe,
 * which a percentile would hide: so the longest probe of each phase must also stay under 1 s.
 * Run by `npm run test:robustness`, on its own (see jest.config.js here).
 *
 * Sizes are scaled down from the where the point still holds: 100,000 audience rows
 * (4.4 MB; parsing them in the request held the loop 1.6 s) instead of 1M. The 200,000
 * malformed rows and a JSON create of nearly its whole 8 MiB limit are sent as they are (one over
 * the limit is refused with 413 before it is read: see services/conductor/tests/http).
 */

const EXPECTED: Record<string, (statuses: number[], bodies: Record<string, unknown>[]) => void> = {
  'create with 20,000 Liquid tags': (s, b) => {
    expect(s).toEqual([400]);
    expect(JSON.stringify(b[0]).length).toBeLessThan(10_000);
  },
  'three previews of nested for loops at once': (s, b) => {
    expect(s).toEqual([422, 422, 422]);
    for (const body of b) expect(['RENDER_FAILED', 'RENDER_TIMEOUT']).toContain(body.error);
  },
  "the editor's check of 20,000 Liquid tags and preview of nested loops": (s, b) => {
    expect(s).toEqual([200, 422]);
    expect(b[0]!.problems).toEqual(expect.arrayContaining([expect.objectContaining({ severity: 'error', code: 'TEMPLATE_TOO_COMPLEX' })]));
    expect(JSON.stringify(b[0]).length).toBeLessThan(10_000);
    expect(['RENDER_FAILED', 'RENDER_TIMEOUT']).toContain(b[1]!.error);
  },
  'create with a big audience as multipart': (s) => expect(s).toEqual([201]),
  // Created at once: the rows are read (and their problems reported) only once the campaign is
  // sent, in the function thread, which neither this test nor the bench does.
  'create with 200,000 malformed rows as multipart': (s) => expect(s).toEqual([201]),
  'create with an 8 MiB JSON body': (s) => expect(s).toEqual([201]),
};

describe('the conductor under hostile requests while a campaign sends', () => {
  let run: Awaited<ReturnType<typeof sendingBaton>>;
  beforeAll(async () => {
    run = await sendingBaton({ recipients: 2_000, perSecond: 100, bigRows: 100_000 });
    await run.startSending();
  }, 60_000);
  afterAll(async () => {
    await run?.stop();
  });

  it('answers /healthz within 100 ms (p95) during each hostile request, and answers each clearly', async () => {
    const probe = await probeHealthz(run.baton.url);
    await new Promise((r) => setTimeout(r, 1_500));
    const baseFrom = Date.now();
    await new Promise((r) => setTimeout(r, 1_500));
    const windows: Record<string, [number, number]> = { baseline: [baseFrom, Date.now()] };
    for (const hostile of hostileRequests()) {
      // Sent again and again for at least a second, so that every request gets probes beside it.
      const started = Date.now();
      const rounds = [await hostile.run(run.baton, run.fixtures)];
      while (Date.now() - started < 1_000) rounds.push(await hostile.run(run.baton, run.fixtures));
      windows[hostile.name] = [started, Date.now()];
      // Every answer of every round, not only the last.
      for (const answers of rounds)
        EXPECTED[hostile.name]!(
          answers.map((a) => a.status),
          answers.map((a) => a.body),
        );
    }
    const figures: Record<string, { p50: number; p95: number; max: number; probes: number }> = {};
    for (const [name, [from, to]] of Object.entries(windows)) {
      const ms = await probe.between(from, to);
      figures[name] = { p50: percentile(ms, 50), p95: percentile(ms, 95), max: Math.max(...ms), probes: ms.length };
    }
    await probe.stop();

    // The campaign was sending all along (not finished, not stalled).
    expect(await run.sentBetween(0, Date.now())).toBeGreaterThan(0);
    expect((await run.status()).status).toBe('sending');
    // On failure the figures of every phase that missed are shown.
    expect(Object.entries(figures).filter(([, f]) => !(f.p95 < 100 && f.max < 1_000 && f.probes >= 10))).toEqual([]);
  }, 120_000);
});
