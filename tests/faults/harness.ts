import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ledger, keys, listAll, recipientIdFor, systemClock, type OutcomeStatus } from '@baton/shared';
import { LmdbObjectStore } from '@baton/shared/lmdb-object-store';
import { LOCAL_BUCKETS, openLocalStore, type LocalStore } from '../../local/src/compose';
import type { MailgunSink, SinkCall } from '../../local/src/mailgun-sink';
import { freePort } from '../../local/src/port';

/**
 * The fault suite's harness: Baton (`local/src/main.ts`, what `npm start` runs) in a child
 * process, the Mailgun-compatible sink in the test process, the campaign API over loopback, and
 * the ledger read straight from the data folder. Every wait is bounded; every child is killed in
 * `killAllChildren()` (each suite's afterAll), whatever happened.
 */

export const REPO = path.resolve(__dirname, '..', '..');
export const API_KEY = 'key-faults-0123456789abcdef';
export const DOMAIN = 'mg.faults.example.com';
export const CUSTOMER = 'faults-co';
/**
 * The local store the kill -9, SIGTERM and provider experiments run against: the one `npm start`
 * ships with for a new data folder (LMDB), or `FAULTS_STORE=fs`. The disk experiment damages the
 * fs store's files and folders, so it always runs on the fs store.
 */
export const STORE: 'fs' | 'lmdb' = faultsStore(process.env.FAULTS_STORE);

function faultsStore(value: string | undefined): 'fs' | 'lmdb' {
  if (value === undefined || value === '' || value === 'lmdb') return 'lmdb';
  if (value === 'fs') return 'fs';
  throw new Error(`FAULTS_STORE must be lmdb (the default) or fs, not ${JSON.stringify(value)}`);
}
const API_TOKEN = 'faults-api-token-0123456789abcdef';
const BASE_ENV = {
  BATON_STAGE: 'dev',
  BATON_API_TOKEN: API_TOKEN,
  BATON_LEASE_TOKEN: 'faults-lease-token-0123456789abcdef',
  BATON_UNSUBSCRIBE_SECRET: 'faults-unsubscribe-secret-0123456789',
  MAILGUN_API_KEY: API_KEY,
  MAILGUN_DOMAIN: DOMAIN,
  LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'warn',
  BATON_STORE: STORE,
};

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The promise's value, or undefined once `ms` have passed (the timer is cleared either way). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** mulberry32: the experiments' random moments repeat from their seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Polls `probe` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `baton-faults-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

// ---- child processes -------------------------------------------------------------------------

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

export interface BatonChild {
  pid: number;
  url: string;
  log: string;
  exited: Promise<Exit>;
  /** Sends the signal and resolves with the exit, and how long it took (ms), or throws after `timeoutMs`. */
  signal(signal: NodeJS.Signals, timeoutMs?: number): Promise<Exit & { tookMs: number }>;
}

const children = new Set<ChildProcess>();

/** SIGKILLs every child still alive: each suite's afterAll, and the process's exit. */
export async function killAllChildren(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      waits.push(new Promise((resolve) => child.once('exit', resolve)));
      child.kill('SIGKILL');
    }
  }
  await within(Promise.all(waits), 5_000);
  children.clear();
}
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface StartOptions {
  dataDir: string;
  /** Only its url is used: a sink in another process will do. */
  sink: Pick<MailgunSink, 'url'>;
  /** Extra configuration (the cap, workers, batch size…). */
  env: Record<string, string>;
  /** Where the child's stdout and stderr go (appended). */
  log: string;
  /**
   * Runs the child in its own mount namespace with a tmpfs of this many MiB mounted on
   * `dataDir` (the disk-fault experiment); the test reaches the files through `/proc/<pid>/root`.
   */
  tmpfsMiB?: number;
  readyTimeoutMs?: number;
}

/** Starts `local/src/main.ts` on a free port and waits for its health check. */
export async function startBaton(options: StartOptions): Promise<BatonChild> {
  const port = await freePort();
  const env = {
    ...process.env,
    ...BASE_ENV,
    MAILGUN_URL: options.sink.url,
    PORT: String(port),
    BATON_DATA_DIR: options.dataDir,
    ...options.env,
  };
  const node = [process.execPath, '--import', 'tsx', 'local/src/main.ts'];
  const [command, ...args] =
    options.tmpfsMiB === undefined
      ? node
      : [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount -t tmpfs -o size=${options.tmpfsMiB}m baton-faults "$BATON_DATA_DIR" && exec "$@"`,
          'sh',
          ...node,
        ];
  appendFileSync(options.log, `\n---- start ${new Date().toISOString()} port ${port}\n`);
  const out = createWriteStream(options.log, { flags: 'a' });
  const child = spawn(command!, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, at: Date.now() });
    });
  });
  const url = `http://127.0.0.1:${port}`;
  let gone: Exit | undefined;
  void exited.then((e) => (gone = e));
  await waitFor(
    `Baton to answer on ${url}`,
    async () => {
      if (gone) throw new Error(`Baton exited before it was ready (${JSON.stringify(gone)}):\n${tail(options.log)}`);
      try {
        return (await fetch(`${url}/healthz`)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    },
    options.readyTimeoutMs ?? 30_000,
  );
  return {
    pid: child.pid!,
    url,
    log: options.log,
    exited,
    async signal(signal, timeoutMs = 30_000) {
      const sent = Date.now();
      child.kill(signal);
      const exit = await within(exited, timeoutMs);
      if (!exit) {
        child.kill('SIGKILL');
        throw new Error(`Baton did not exit within ${timeoutMs} ms of ${signal}:\n${tail(options.log)}`);
      }
      return { ...exit, tookMs: exit.at - sent };
    },
  };
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Whether this machine lets a child mount a tmpfs in its own mount namespace (root, or user namespaces). */
export function canMountTmpfs(): boolean {
  const dir = tempDir('probe');
  try {
    const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=1m probe "${dir}"`], {
      timeout: 10_000,
    });
    return probe.status === 0;
  } catch {
    return false;
  } finally {
    removeDir(dir);
  }
}

// ---- the campaign API ------------------------------------------------------------------------

export interface View {
  id: string;
  status: string;
  counts: Record<string, number>;
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

export async function call<T = Record<string, unknown>>(
  baseUrl: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<ApiAnswer<T>> {
  const res = await fetch(baseUrl + route, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json()) as T };
}

export const TEMPLATE = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ first_name }}, this is message {{ n }}.</mj-text>
        <mj-button href="https://example.com/p?id={{ email | url_encode }}">Open</mj-button>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`;

export interface Audience {
  emails: string[];
  /** recipient id → address. */
  byId: Map<string, string>;
  csv: string;
}

export function audience(prefix: string, size: number): Audience {
  const emails = Array.from({ length: size }, (_, i) => `${prefix}${i}@example.com`);
  const byId = new Map(emails.map((e) => [recipientIdFor(CUSTOMER, e), e]));
  const csv = 'email,first_name,n\n' + emails.map((e, i) => `${e},Reader ${i},${i}`).join('\n') + '\n';
  return { emails, byId, csv };
}

/** Creates the campaign and asks for it to be sent; returns its id. */
export async function createAndSend(baseUrl: string, name: string, people: Audience): Promise<string> {
  const created = await call<{ id: string }>(baseUrl, 'POST', '/api/campaigns', {
    name,
    customerId: CUSTOMER,
    from: 'Faults <news@faults.example.com>',
    subject: 'Hello {{ first_name }}',
    mjml: TEMPLATE,
    audienceCsv: people.csv,
  });
  if (created.status !== 201) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
  const sent = await call(baseUrl, 'POST', `/api/campaigns/${created.body.id}/send`);
  if (sent.status !== 202) throw new Error(`send answered ${sent.status}: ${JSON.stringify(sent.body)}`);
  return created.body.id;
}

export async function view(baseUrl: string, id: string): Promise<View> {
  const answer = await call<View>(baseUrl, 'GET', `/api/campaigns/${id}`);
  if (answer.status !== 200) throw new Error(`GET campaign answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Polls until the campaign is done; throws (with its counts) after `timeoutMs`. */
export async function waitUntilDone(baseUrl: string, id: string, timeoutMs: number): Promise<View> {
  let last: View | undefined;
  try {
    return await waitFor(
      `campaign ${id} to finish`,
      async () => {
        last = await view(baseUrl, id);
        return last.status === 'done' || last.status === 'cancelled' ? last : undefined;
      },
      timeoutMs,
      200,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(last)}`, { cause: err });
  }
}

// ---- the ledger and the sink's log -----------------------------------------------------------

/** Runs `read` over the data folder's store (opened beside the running Baton), then closes it. */
async function withStore<T>(dataDir: string, read: (store: LocalStore) => Promise<T>, kind: 'fs' | 'lmdb' = STORE): Promise<T> {
  const store = openLocalStore(dataDir, kind);
  try {
    return await read(store);
  } finally {
    if (store instanceof LmdbObjectStore) await store.close();
  }
}

/** Every outcome recorded for the campaign, read from the data folder: recipient id → status. */
export async function ledgerOutcomes(
  dataDir: string,
  campaignId: string,
  kind: 'fs' | 'lmdb' = STORE,
): Promise<Map<string, { status: OutcomeStatus; reason?: string }>> {
  return withStore(
    dataDir,
    async (store) => {
      const ledger = new Ledger({ store, bucket: LOCAL_BUCKETS.campaigns, clock: systemClock });
      const out = new Map<string, { status: OutcomeStatus; reason?: string }>();
      for await (const record of ledger.outcomes({ customerId: CUSTOMER, campaignId })) {
        out.set(record.recipientId, { status: record.status, ...(record.reason !== undefined ? { reason: record.reason } : {}) });
      }
      return out;
    },
    kind,
  );
}

/** How many rendered objects the campaign has in the store (the view's count moves only between scans). */
export async function renderedOnDisk(dataDir: string, campaignId: string): Promise<number> {
  if (STORE === 'fs') return renderedFiles(dataDir, campaignId);
  return withStore(dataDir, async (store) => {
    let n = 0;
    for await (const _ of listAll(store, LOCAL_BUCKETS.rendered, keys.renderedPrefix({ customerId: CUSTOMER, campaignId }))) n++;
    return n;
  });
}

/** The fs store's rendered files, counted without opening the store (a folder may be half made). */
function renderedFiles(dataDir: string, campaignId: string): number {
  const dir = path.join(dataDir, 'objects', LOCAL_BUCKETS.rendered, 'rendered', CUSTOMER, campaignId);
  let n = 0;
  let shards: string[];
  try {
    shards = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const shard of shards) {
    try {
      n += readdirSync(path.join(dir, shard)).filter((f) => f.endsWith('.o')).length;
    } catch {
      // a shard folder being made
    }
  }
  return n;
}

/** The recipients of the campaign that hold a claim, read from the data folder. */
export async function ledgerClaims(dataDir: string, campaignId: string): Promise<Set<string>> {
  return withStore(dataDir, async (store) => {
    const ledger = new Ledger({ store, bucket: LOCAL_BUCKETS.campaigns, clock: systemClock });
    const out = new Set<string>();
    for await (const id of ledger.claimedRecipients({ customerId: CUSTOMER, campaignId })) out.add(id);
    return out;
  });
}

/** The sink's calls for the audience, by recipient id: how often each was accepted (stored, answered or not). */
export function receivedById(calls: SinkCall[], people: Audience): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of calls) {
    if (c.outcome !== 'accepted' && c.outcome !== 'dropped') continue;
    if (c.recipientId === undefined || !people.byId.has(c.recipientId)) continue;
    out.set(c.recipientId, (out.get(c.recipientId) ?? 0) + 1);
  }
  return out;
}

/** Provider calls (every call, answered or refused) per calendar window and per sliding window. */
export function busiestWindows(times: number[], windowMs: number): { calendar: number; sliding: number } {
  const perWindow = new Map<number, number>();
  for (const t of times) perWindow.set(Math.floor(t / windowMs), (perWindow.get(Math.floor(t / windowMs)) ?? 0) + 1);
  const sorted = [...times].sort((a, b) => a - b);
  let sliding = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++;
    sliding = Math.max(sliding, i - j + 1);
  }
  return { calendar: Math.max(0, ...perWindow.values()), sliding };
}

// ---- figures ---------------------------------------------------------------------------------

/** Where each experiment's figures are appended (one JSON line each): FAULTS_FIGURES, or a file in the temp folder. */
export const FIGURES_FILE = process.env.FAULTS_FIGURES ?? path.join(os.tmpdir(), 'baton-faults-figures.jsonl');

/** Prints an experiment's figures and appends them to FIGURES_FILE. */
export function report(experiment: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ experiment, at: new Date().toISOString(), ...figures });
  appendFileSync(FIGURES_FILE, line + '\n');
  process.stdout.write(`\n[faults] ${line}\n`);
}
