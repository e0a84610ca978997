import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Clock } from '@baton/shared';
import { startLocalBaton, type LocalBaton } from '../../local/src/compose';
import { TEMPLATE, api, busiestWindows, removeDir, waitUntilFinished, type View } from './helpers';

/**
 * The composition's clock, set to another moment (real time plus an offset, moved forward by
 * hand): the whole of Baton — conductor, workers, the sink's webhooks — runs on it, so a test can
 * stand a few seconds before 09:00 somewhere without waiting for it. Offsets are whole seconds,
 * so the governor's calendar windows fall where the sink's clock puts them too.
 */
class ShiftedClock implements Clock {
  private offset = 0;
  /** Real instants at which the offset changed, and the offset from then on. */
  private readonly history: { from: number; offset: number }[] = [{ from: 0, offset: 0 }];

  now(): number {
    return Date.now() + this.offset;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }

  /** From now on, it reads `at` (to the nearest second of real time's fraction). */
  set(at: number): void {
    this.offset = Math.round((at - Date.now()) / 1_000) * 1_000;
    this.history.push({ from: Date.now(), offset: this.offset });
  }

  /** What this clock read at real instant `real` (a receipt time of the sink). */
  readingAt(real: number): number {
    return real + [...this.history].reverse().find((h) => h.from <= real)!.offset;
  }
}

const CAP = 4;
const WINDOW_MS = 1_000;
/** Monday 12 January 2026: Berlin and Lagos are both UTC+1, London UTC+0. */
const DATE = '2026-01-12';
const BERLIN_AND_LAGOS_9 = Date.UTC(2026, 0, 12, 8, 0);
const LONDON_9 = Date.UTC(2026, 0, 12, 9, 0);

describe("09:00 in three recipients' own time zones, end to end through the local composition", () => {
  let baton: LocalBaton;
  let dataDir: string;
  const clock = new ShiftedClock();

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'baton-e2e-'));
    const config = loadConfig({
      PORT: '0',
      BATON_DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      TICK_MS: '50',
      PER_MINUTE_MAX: String(CAP),
      GOVERNOR_WINDOW_MS: String(WINDOW_MS),
      GOVERNOR_MARGIN_MS: '100',
      LEASE_HORIZON_MS: '500',
      MAX_WORKERS: '2',
      BATCH_SIZE: '3',
    });
    // Four seconds before 09:00 in Berlin and Lagos: time to create, stub, render and read the zones.
    clock.set(BERLIN_AND_LAGOS_9 - 4_000);
    baton = await startLocalBaton({ config, clock, seedSample: false });
  });
  afterAll(async () => {
    await baton.stop();
    removeDir(dataDir);
  });

  const received = (id: string) => baton.sink!.messages().filter((m) => m.variables['campaign-id'] === id);

  async function waitFor(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`still waiting for ${what} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('sends each recipient no earlier than 09:00 where they are, zones opening at once share the cap, and shows the waves', async () => {
    // Prepare: six in Berlin and six in Lagos (09:00 at the same instant: 12 for a cap of 4 a
    // second), four in London an hour later.
    const zones = [...Array(6).fill('Europe/Berlin'), ...Array(6).fill('Africa/Lagos'), ...Array(4).fill('Europe/London')] as string[];
    const rows = zones.map((tz, i) => `r${i}@example.com,R${i},${tz}`);
    const zoneOf = new Map(zones.map((tz, i) => [`r${i}@example.com`, tz]));
    const call = api(baton);
    // Act
    const created = await call<View>('POST', '/api/campaigns', {
      name: 'Three zones at 09:00',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      subject: 'Good morning {{ first_name }}',
      mjml: TEMPLATE,
      audienceCsv: ['email,first_name,tz', ...rows].join('\n'),
      localSend: { date: DATE, time: '09:00', timeZone: 'UTC', column: 'tz' },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect((await call('POST', `/api/campaigns/${id}/send`)).status).toBe(202);

    // Assess: the waves, as the view shows them once every zone is read.
    type WavesView = View & { waves?: { at: string; count: number; zones: string[] }[]; etaSeconds: number | null };
    let view: WavesView | undefined;
    const deadline = Date.now() + 20_000;
    while ((view?.waves ?? []).reduce((n, w) => n + w.count, 0) < 16 && Date.now() < deadline) {
      view = (await call<WavesView>('GET', `/api/campaigns/${id}`)).body;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(view!.waves).toEqual([
      { at: new Date(BERLIN_AND_LAGOS_9).toISOString(), count: 12, zones: ['Africa/Lagos', 'Europe/Berlin'] },
      { at: new Date(LONDON_9).toISOString(), count: 4, zones: ['Europe/London'] },
    ]);
    // Its ETA waits for London's wave, an hour after the first.
    expect(view!.etaSeconds).toBeGreaterThan((LONDON_9 - clock.now()) / 1_000);

    // Act: Berlin's and Lagos's 09:00 comes.
    await waitFor('the Berlin and Lagos wave', () => received(id).length >= 12);
    await new Promise((r) => setTimeout(r, 1_000)); // time for anything wrongly released to go out too
    // Assess: those twelve, nobody from London (each one's time is checked below).
    expect(
      received(id)
        .map((m) => zoneOf.get(m.to))
        .filter((z) => z === 'Europe/London'),
    ).toEqual([]);
    // Act: move to four seconds before London's 09:00 (nothing is out with a worker now).
    clock.set(LONDON_9 - 4_000);
    await waitFor('the London wave', () => received(id).length >= 16);
    const final = await waitUntilFinished(baton, id);

    // Assess: everyone once, each no earlier than 09:00 where they are.
    expect(final.status).toBe('done');
    const messages = received(id);
    expect(messages.map((m) => m.to).sort()).toEqual([...zoneOf.keys()].sort());
    for (const m of messages) {
      const nine = zoneOf.get(m.to) === 'Europe/London' ? LONDON_9 : BERLIN_AND_LAGOS_9;
      expect({ to: m.to, at: clock.readingAt(m.receivedAt) >= nine }).toEqual({ to: m.to, at: true });
    }
    // The twelve that opened at once took at least three windows: no calendar window, nor any sliding one, over the cap.
    const times = messages.map((m) => clock.readingAt(m.receivedAt));
    expect(busiestWindows(times, WINDOW_MS).calendar).toBeLessThanOrEqual(CAP);
    expect(busiestWindows(times, WINDOW_MS).sliding).toBeLessThanOrEqual(CAP);
    const first = times.filter((t) => t < LONDON_9);
    expect(new Set(first.map((t) => Math.floor(t / WINDOW_MS))).size).toBeGreaterThanOrEqual(12 / CAP);
  });

  it('sends a campaign scheduled 30 s ahead nothing before then, and starts it within a tick after', async () => {
    // Prepare
    const call = api(baton);
    const created = await call<View>('POST', '/api/campaigns', {
      name: 'In 30 s',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      subject: 'Hello {{ first_name }}',
      mjml: TEMPLATE,
      audienceCsv: 'email,first_name\nann@example.com,Ann\nbob@example.com,Bob',
    });
    const id = created.body.id;
    const at = Math.ceil((clock.now() + 30_000) / 1_000) * 1_000;
    // Act
    expect((await call('POST', `/api/campaigns/${id}/send`, { at: new Date(at).toISOString() })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(received(id)).toEqual([]);
    // 27 s on: three seconds before its time; its status polled until it starts.
    clock.set(at - 3_000);
    let startedAt: number | undefined;
    let lastScheduledAt = Number.NEGATIVE_INFINITY;
    const deadline = Date.now() + 10_000;
    while (startedAt === undefined && Date.now() < deadline) {
      // Read somewhere between the two: still scheduled after `before`, or sending by `after`.
      const before = clock.now();
      const { status } = (await call<View>('GET', `/api/campaigns/${id}`)).body;
      const after = clock.now();
      if (status === 'scheduled') lastScheduledAt = before;
      else startedAt = after;
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor('the scheduled send', () => received(id).length >= 2);
    // Assess: scheduled until its time (nothing sent), sending within a tick (50 ms) of it, with room for a loaded machine…
    expect(lastScheduledAt).toBeGreaterThan(at - 200);
    expect(startedAt! - at).toBeLessThan(1_000);
    // …and every message after it, the first within the lead a new worker is given and its first slice.
    const times = received(id).map((m) => clock.readingAt(m.receivedAt));
    expect(Math.min(...times)).toBeGreaterThanOrEqual(at);
    expect(Math.min(...times) - at).toBeLessThan(2_000);
  });
});
