import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startMailgunSink, type MailgunSink } from '../../local/src/mailgun-sink';
import {
  API_KEY,
  TEMPLATE,
  CUSTOMER,
  audience,
  call,
  canMountTmpfs,
  createAndSend,
  killAllChildren,
  ledgerOutcomes,
  receivedById,
  removeDir,
  report,
  sleep,
  startBaton,
  tempDir,
  view,
  waitFor,
  waitUntilDone,
  type BatonChild,
} from './harness';

/**
 * Experiment 4: the data folder fails while a campaign is being sent, then recovers.
 *  - full: the data folder is a 32 MiB tmpfs of the child's own (a private mount namespace),
 *    filled to the last page from here (ENOSPC);
 *  - read-only: the same tmpfs remounted read-only (EROFS);
 *  - unwritable: the store's temp folder replaced by a file, so every write fails before it
 *    starts (works without privileges; as root chmod would not stop a write).
 * While it fails: the API answers a write 503 naming the store and the reason, not 500; reads
 * and the health check still answer; no temp file is left under `.tmp`. Once it recovers the
 * campaign completes: nobody twice, nothing lost.
 * Without a private tmpfs (no root, no user namespaces) only `unwritable` runs, on the real disk.
 */

const RECIPIENTS = 600;
const CAP = 300;
const WINDOW_MS = 10_000;
const FAULT_MS = 4_000;
const ENV = {
  PER_MINUTE_MAX: String(CAP),
  GOVERNOR_WINDOW_MS: String(WINDOW_MS),
  MAX_WORKERS: '2',
  BATCH_SIZE: '100',
  TICK_MS: '200',
};

type Fault = 'full' | 'read-only' | 'unwritable';

// It fills, freezes and blocks the fs store's folders: it runs on the fs store, whatever FAULTS_STORE says.
describe('disk faults', () => {
  const tmpfs = canMountTmpfs();
  let sink: MailgunSink;
  let dataDir: string;
  let logDir: string;
  let child: BatonChild | undefined;

  beforeAll(async () => {
    sink = await startMailgunSink({ apiKey: API_KEY });
    sink.setLatency(10);
    dataDir = tempDir('disk');
    logDir = tempDir('disk-log');
  });

  afterAll(async () => {
    await killAllChildren();
    await sink?.close();
    removeDir(dataDir);
    if (process.env.FAULTS_KEEP) process.stdout.write(`[faults] kept ${logDir}\n`);
    else removeDir(logDir);
  });

  it('answers 503 with the reason while the store fails, leaves no temp file, and completes once it recovers', async () => {
    const faults: Fault[] = tmpfs ? ['full', 'read-only', 'unwritable'] : ['unwritable'];
    const people = audience('f', RECIPIENTS);
    child = await startBaton({
      dataDir,
      sink,
      env: { ...ENV, BATON_STORE: 'fs' },
      log: path.join(logDir, 'baton.log'),
      ...(tmpfs ? { tmpfsMiB: 32 } : {}),
    });
    // The data folder as the child sees it (its own tmpfs, reached through its root).
    const root = tmpfs ? `/proc/${child.pid}/root${dataDir}` : dataDir;
    const objects = path.join(root, 'objects');
    const accepted = () => sink.calls().filter((c) => c.outcome === 'accepted').length;
    const started = Date.now();
    const id = await createAndSend(child.url, 'Disk faults', people);
    await waitFor('sending to start', () => (accepted() > 20 ? true : undefined), 60_000);

    const phases: Record<string, unknown>[] = [];
    for (const fault of faults) {
      const before = accepted();
      const restore = inject(fault, root, child.pid, dataDir);
      try {
        const at = Date.now();
        // A write through the API: a new campaign (its audience is stored first).
        const created = await call<{ error?: string; message?: string }>(child.url, 'POST', '/api/campaigns', {
          name: 'While the disk fails',
          customerId: CUSTOMER,
          from: 'Faults <news@faults.example.com>',
          subject: 'Hi',
          mjml: TEMPLATE,
          audienceCsv: 'email\nx@example.com\n',
        });
        const paused = await call<{ error?: string; message?: string }>(child.url, 'POST', `/api/campaigns/${id}/pause`);
        const read = await call(child.url, 'GET', `/api/campaigns/${id}`);
        const health = await fetch(`${child.url}/healthz`);
        await sleep(Math.max(0, FAULT_MS - (Date.now() - at)));
        const tmpLeft = tempFiles(objects);
        phases.push({
          fault,
          create: `${created.status} ${created.body.error}: ${created.body.message}`,
          pause: `${paused.status} ${paused.body.error}`,
          readStatus: read.status,
          health: health.status,
          acceptedDuringFault: accepted() - before,
          tmpFilesLeft: tmpLeft.length,
        });
        expect(created.status).toBe(503);
        expect(created.body.error).toBe('STORE_UNAVAILABLE');
        expect(created.body.message).toMatch(REASON[fault]);
        expect(paused.status).toBe(503);
        expect(read.status).toBe(200);
        expect(health.status).toBe(200);
        expect(tmpLeft).toEqual([]);
      } finally {
        restore();
      }
      // Recovered: sending goes on.
      const recovered = accepted();
      await waitFor(
        `sending to go on after ${fault}`,
        () => (accepted() > recovered || accepted() >= RECIPIENTS ? true : undefined),
        60_000,
      );
    }

    const finished = await waitUntilDone(child.url, id, 180_000);
    const tookMs = Date.now() - started;
    // Read the ledger while the child (and its tmpfs) is alive.
    const outcomes = await ledgerOutcomes(root, id, 'fs');
    const tmpLeftAtEnd = tempFiles(objects);
    const late = await view(child.url, id);
    await child.signal('SIGTERM', 20_000);
    child = undefined;

    const calls = sink.calls();
    const received = receivedById(calls, people);
    const twice = [...received.values()].filter((n) => n > 1).length;
    const sent = [...outcomes.values()].filter((o) => o.status === 'sent').length;
    const inDoubtIds = [...outcomes].filter(([, o]) => o.status === 'inDoubt').map(([r]) => r);
    const inDoubt = inDoubtIds.length;
    report('disk', {
      recipients: RECIPIENTS,
      cap: `${CAP}/${WINDOW_MS} ms`,
      privateTmpfs: tmpfs,
      faultMs: FAULT_MS,
      phases,
      tookMs,
      counts: finished.counts,
      ledger: { sent, inDoubt, outcomes: outcomes.size },
      // Sent while the store failed: the provider has them, their outcome could not be written.
      inDoubtReceived: inDoubtIds.filter((r) => received.has(r)).length,
      inDoubtReasons: [...new Set(inDoubtIds.map((r) => (outcomes.get(r)!.reason ?? '').split(':')[0]))],
      providerCalls: calls.length,
      receivedTwice: twice,
      tmpFilesLeftAtEnd: tmpLeftAtEnd.length,
    });

    expect(finished.status).toBe('done');
    expect(twice).toBe(0);
    expect(finished.counts).toMatchObject({ total: RECIPIENTS, failed: 0 });
    expect(late.counts.sent! + late.counts.inDoubt!).toBe(RECIPIENTS);
    // The ledger agrees with the view, and whoever the provider has is recorded sent or in doubt.
    expect(sent + inDoubt).toBe(RECIPIENTS);
    expect([...received.keys()].filter((r) => !['sent', 'inDoubt'].includes(outcomes.get(r)?.status ?? ''))).toEqual([]);
    expect(received.size).toBeGreaterThanOrEqual(sent);
    // In doubt only what the provider has (a call is made only after its claim was written).
    expect(inDoubtIds.filter((r) => !received.has(r))).toEqual([]);
    expect(tmpLeftAtEnd).toEqual([]);
  });
});

const REASON: Record<Fault, RegExp> = {
  full: /ENOSPC/,
  'read-only': /EROFS/,
  unwritable: /EEXIST|ENOTDIR/,
};

/** Starts the fault; returns what ends it. */
function inject(fault: Fault, root: string, pid: number, dataDir: string): () => void {
  const tmp = path.join(root, 'objects', '.tmp');
  switch (fault) {
    case 'full': {
      const filler = path.join(root, 'filler');
      fill(filler);
      return () => rmSync(filler, { force: true });
    }
    case 'read-only':
      remount(pid, dataDir, 'ro');
      return () => remount(pid, dataDir, 'rw');
    case 'unwritable':
      rmSync(tmp, { recursive: true, force: true });
      writeFileSync(tmp, 'not a folder\n');
      return () => {
        rmSync(tmp, { force: true });
        mkdirSync(tmp, { recursive: true });
      };
  }
}

/** Writes to `file` until the filesystem is full, to the last page (bounded: at most 64 MiB). */
function fill(file: string): void {
  for (const size of [1 << 20, 1 << 16, 1 << 12, 1 << 9]) {
    const chunk = Buffer.alloc(size, 7);
    for (let i = 0; i < 64 * 16; i++) {
      try {
        appendFileSync(file, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  }
}

/** Remounts the child's tmpfs (in its mount namespace); a write in progress makes it busy for a moment. */
function remount(pid: number, dir: string, mode: 'ro' | 'rw'): void {
  let last = '';
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = spawnSync('nsenter', ['-t', String(pid), '-m', 'mount', '-o', `remount,${mode}`, dir], { timeout: 5_000 });
    if (r.status === 0) return;
    last = String(r.stderr);
    spawnSync('sleep', ['0.02']);
  }
  throw new Error(`could not remount ${dir} ${mode}: ${last}`);
}

/** Files left in the store's temp folder. */
function tempFiles(objects: string): string[] {
  const tmp = path.join(objects, '.tmp');
  if (!existsSync(tmp)) return [];
  try {
    return readdirSync(tmp);
  } catch {
    return [];
  }
}
