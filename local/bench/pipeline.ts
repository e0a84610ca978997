/**
 * npm run bench:pipeline -- --recipients 10000 [--cpu-prof DIR] [--keep] [--timeline]
 * (BENCH_CHILD_NODE_ARGS="--max-old-space-size=…" passes Node flags to Baton's process only)
 *
 * The one-machine pipeline end to end, as `npm start` runs it: the `start` script's command (its
 * `prestart`, the build, run first) in a child
 * process with a cap too high to bind (1,000,000 a minute), four workers, batches of 1,000, and
 * the Mailgun-compatible sink in this process (loopback, no faults), so the sink's own CPU is not
 * counted as Baton's. A plain four-column audience (email, first_name, last_name, city) and the
 * sample welcome template. Prints one JSON line with:
 *   createMs          the `POST /api/campaigns` call with the audience inline
 *   firstCallMs       the first provider call (from the sink's log) after the send call answered
 *   sendToDoneS, rate from the send call to status `done`
 *   cpuMsPerRecipient the child's user+system CPU from before create to done, per recipient
 *   peakRssMB         the child's VmHWM; sampledPeakRss{Anon,File}MB split it (sampled each second), and
 *                     sampledPeakRssMB (each part's peak) and rssAtSampledPeakMB (the largest sample) from
 *                     /proc/PID/smaps: anonymous, LMDB's map of store/ and of derived/ data.mdb, other files
 *   diskPeakKBPerRecipient, diskEndKBPerRecipient  du of the data folder (allocated blocks),
 *                     sampled while running and at the end
 *   renderCoreUsPerRecipient  templating alone in this process (compile once, merge per
 *                     recipient), and `ratio`: the pipeline's CPU per recipient over it
 *
 * An audience over the JSON create's 8 MiB (about 180,000 rows) goes as the multipart create's
 * file part instead; past KEEP_MESSAGES_UP_TO recipients the sink's messages (about 15 KB each,
 * in this process) are dropped as the run goes, its call log counted first, so a 1,000,000 run
 * fits this process's heap.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileCampaignTemplate, renderMessage } from '@baton/templating';
import { recipientIdFor } from '@baton/shared';
import { startMailgunSink } from '../src/mailgun-sink';
import { freePort } from '../src/port';

const REPO = path.resolve(__dirname, '..', '..');
const API_TOKEN = 'bench-api-token-0123456789abcdef';
const API_KEY = 'key-bench-0123456789abcdef';
const DOMAIN = 'mg.bench.example.com';
const CUSTOMER = 'bench-co';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0) return process.argv[i + 1];
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
}

const recipients = Number(arg('recipients') ?? 10_000);
const cpuProf = arg('cpu-prof');
const keep = process.argv.includes('--keep');
const timeline = process.argv.includes('--timeline');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const TICK = 100; // USER_HZ on Linux
/** The JSON create's limit is 8 MiB (DEFAULT_BODY_LIMITS): larger audiences go as a file part. */
const JSON_CREATE_BYTES = 7 * 1024 * 1024;
const KEEP_MESSAGES_UP_TO = 200_000;

/**
 * The package's `start` script (`[NAME=value…] node [flags] script`), as its environment, node
 * flags and script, after its `prestart` (the build) has run.
 */
function startCommand(): { env: Record<string, string>; nodeArgs: string[]; script: string } {
  const scripts = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  if (scripts.prestart !== undefined && spawnSync('npm', ['run', '--silent', 'prestart'], { cwd: REPO, stdio: 'inherit' }).status !== 0) {
    throw new Error(`the prestart script failed: ${scripts.prestart}`);
  }
  const words = (scripts.start ?? '').split(/\s+/).filter(Boolean);
  const env: Record<string, string> = {};
  while (/^\w+=/.test(words[0] ?? '')) {
    const [name, ...value] = words.shift()!.split('=');
    env[name!] = value.join('=');
  }
  if (words[0] !== 'node' || words.length < 2)
    throw new Error(`the start script is not "[NAME=value…] node [flags] script": ${scripts.start}`);
  return { env, nodeArgs: words.slice(1, -1), script: words[words.length - 1]! };
}

/** User + system CPU of a process, ms, from /proc. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
}

function peakRssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

/** Resident memory now, KB, from /proc/PID/smaps: what each mapping holds, split by what backs it. */
interface RssSplit {
  /** Anonymous pages: V8's heaps, native allocations, stacks. */
  anon: number;
  /** LMDB's map of the ledger's environment (`{dataDir}/store/data.mdb`). */
  storeMap: number;
  /** LMDB's map of the derived environment (`{dataDir}/derived/data.mdb`: stubs, rendered messages). */
  derivedMap: number;
  /** Every other file-backed page: node's binary, shared libraries, the lmdb addon. */
  otherFile: number;
}

function rssSplitKB(pid: number, dataDir: string): RssSplit {
  const split: RssSplit = { anon: 0, storeMap: 0, derivedMap: 0, otherFile: 0 };
  let file: keyof RssSplit = 'otherFile';
  let rss = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const where = header[1] ?? '';
      file =
        where === path.join(dataDir, 'store', 'data.mdb')
          ? 'storeMap'
          : where === path.join(dataDir, 'derived', 'data.mdb')
            ? 'derivedMap'
            : 'otherFile';
      continue;
    }
    const field = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (field?.[1] === 'Rss') rss = Number(field[2]);
    else if (field?.[1] === 'Anonymous') {
      // Anonymous comes after Rss in each mapping: its private copies count as anonymous, the rest as the file's.
      split.anon += Number(field[2]);
      split[file] += rss - Number(field[2]);
    }
  }
  return split;
}

function diskBytes(dir: string): number {
  const out = spawnSync('du', ['-s', '--block-size=1', dir], { encoding: 'utf8' });
  return Number(out.stdout.split('\t')[0] ?? 0);
}

function audienceCsv(n: number): string {
  const lines = ['email,first_name,last_name,city'];
  for (let i = 0; i < n; i++) lines.push(`reader${i}@example.com,Reader${i},Bench,Zürich`);
  return lines.join('\n') + '\n';
}

async function api<T>(url: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${route}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** The create with the audience as the multipart create's file part (the JSON create takes at most 8 MiB). */
async function createMultipart(
  url: string,
  fields: Record<string, string>,
  csv: string,
): Promise<{ status: number; body: { id: string } }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('audience', new Blob([csv], { type: 'text/csv' }), 'audience.csv');
  const res = await fetch(`${url}/api/campaigns`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}` }, body: form });
  return { status: res.status, body: (await res.json()) as { id: string } };
}

/** The render core alone: compile once, merge per recipient, in this process. */
async function renderCoreUs(mjml: string, subject: string, n: number): Promise<number> {
  const compiled = await compileCampaignTemplate({ from: 'Bench <news@bench.example.com>', subject, mjml });
  const settings = { publicUrl: 'http://localhost:8080', unsubscribeSecret: 'bench-secret-0123456789abcdef' };
  const merge = (i: number) =>
    renderMessage(
      compiled,
      {
        customerId: CUSTOMER,
        campaignId: 'c-bench',
        recipientId: recipientIdFor(CUSTOMER, `reader${i}@example.com`),
        email: `reader${i}@example.com`,
        fields: { first_name: `Reader${i}`, last_name: 'Bench', city: 'Zürich' },
      },
      settings,
    );
  for (let i = 0; i < 500; i++) merge(i); // warm up
  const count = Math.min(n, 20_000);
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) merge(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-pipeline-'));
  const sink = await startMailgunSink({ apiKey: API_KEY });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    BATON_STAGE: 'dev',
    BATON_API_TOKEN: API_TOKEN,
    BATON_LEASE_TOKEN: 'bench-lease-token-0123456789abcdef',
    BATON_UNSUBSCRIBE_SECRET: 'bench-unsubscribe-secret-0123456789',
    MAILGUN_API_KEY: API_KEY,
    MAILGUN_DOMAIN: DOMAIN,
    MAILGUN_URL: sink.url,
    PORT: String(port),
    BATON_DATA_DIR: dataDir,
    PER_MINUTE_MAX: '1000000',
    MAX_WORKERS: '4',
    BATCH_SIZE: '1000',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
  };
  const extraNodeArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // What `npm start` runs, its node flags included (the young generation's size is one); BENCH_CHILD_NODE_ARGS after them, so they win.
  const start = startCommand();
  const nodeArgs = [
    ...extraNodeArgs,
    ...start.nodeArgs,
    ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(cpuProf)}`] : []),
    start.script,
  ];
  // BENCH_CHILD_LOG=file keeps Baton's log lines (LOG_LEVEL from BENCH_LOG_LEVEL) for a look afterwards.
  const logFile = process.env.BENCH_CHILD_LOG ? openSync(process.env.BENCH_CHILD_LOG, 'w') : 'ignore';
  const child = spawn(process.execPath, nodeArgs, { cwd: REPO, env: { ...env, ...start.env }, stdio: ['ignore', logFile, 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid!;
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${url}/healthz`)).ok) break;
      } catch {
        /* not up yet */
      }
      if (i > 600) throw new Error('Baton did not start within 60 s');
      await sleep(100);
    }
    const mjml = readFileSync(path.join(REPO, 'local', 'sample', 'welcome.mjml'), 'utf8');
    const subject = 'Welcome aboard, {{ first_name }}!';
    const csv = audienceCsv(recipients);
    const load = os.loadavg().map((l) => +l.toFixed(2));

    const campaign = { name: 'Bench', customerId: CUSTOMER, from: 'Bench <news@bench.example.com>', subject, mjml };
    const cpu0 = cpuMs(pid);
    const t0 = performance.now();
    const created =
      csv.length <= JSON_CREATE_BYTES
        ? await api<{ id: string }>(url, 'POST', '/api/campaigns', { ...campaign, audienceCsv: csv })
        : await createMultipart(url, campaign, csv);
    const createMs = performance.now() - t0;
    if (created.status !== 201) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
    const id = created.body.id;

    const sendAt = Date.now();
    if (timeline) console.error(`send at ${new Date(sendAt).toISOString()}`);
    const sent = await api(url, 'POST', `/api/campaigns/${id}/send`);
    if (sent.status !== 202) throw new Error(`send answered ${sent.status}: ${JSON.stringify(sent.body)}`);

    let diskPeak = 0;
    // Each part's own peak, and the split at the sample with the largest total.
    const rssPeak: RssSplit = { anon: 0, storeMap: 0, derivedMap: 0, otherFile: 0 };
    let rssAtPeak: RssSplit = { ...rssPeak };
    const total = (r: RssSplit) => r.anon + r.storeMap + r.derivedMap + r.otherFile;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        diskPeak = Math.max(diskPeak, diskBytes(dataDir));
        const rss = rssSplitKB(pid, dataDir);
        for (const part of Object.keys(rssPeak) as (keyof RssSplit)[]) rssPeak[part] = Math.max(rssPeak[part], rss[part]);
        if (total(rss) > total(rssAtPeak)) rssAtPeak = rss;
        await sleep(1_000);
      }
    })();
    // The sink's calls, counted and (past KEEP_MESSAGES_UP_TO) dropped with its messages as the run goes.
    let firstCallAt: number | undefined;
    let callsCounted = 0;
    const countCalls = () => {
      const calls = sink.calls();
      firstCallAt ??= calls[0]?.at;
      if (recipients <= KEEP_MESSAGES_UP_TO) return calls.length;
      callsCounted += calls.length;
      sink.clear();
      return callsCounted;
    };
    let last: { status: string; counts: Record<string, number> } | undefined;
    for (;;) {
      last = (await api<{ status: string; counts: Record<string, number> }>(url, 'GET', `/api/campaigns/${id}`)).body;
      if (timeline) {
        const { rendered, sent, inFlight } = last.counts;
        console.error(
          `t+${((Date.now() - sendAt) / 1000).toFixed(1)}s rendered ${rendered} sent ${sent} inFlight ${inFlight} calls ${countCalls()}`,
        );
      } else countCalls();
      if (last.status === 'done' || last.status === 'cancelled') break;
      await sleep(200);
    }
    const doneAt = Date.now();
    const cpu = cpuMs(pid) - cpu0;
    const rss = peakRssMB(pid);
    sampling = false;
    await sampler;
    const diskEnd = diskBytes(dataDir);
    diskPeak = Math.max(diskPeak, diskEnd);
    const providerCalls = countCalls();
    const firstCall = firstCallAt === undefined ? undefined : firstCallAt - sendAt;
    const sendToDoneS = (doneAt - sendAt) / 1000;
    const coreUs = await renderCoreUs(mjml, subject, recipients);
    const cpuPer = cpu / recipients;
    console.log(
      JSON.stringify({
        recipients,
        load,
        createMs: Math.round(createMs),
        firstCallMs: firstCall,
        sendToDoneS: +sendToDoneS.toFixed(1),
        rate: Math.round(recipients / sendToDoneS),
        cpuMsPerRecipient: +cpuPer.toFixed(2),
        peakRssMB: rss,
        sampledPeakRssAnonMB: Math.round(rssPeak.anon / 1024),
        sampledPeakRssFileMB: Math.round((rssPeak.storeMap + rssPeak.derivedMap + rssPeak.otherFile) / 1024),
        sampledPeakRssMB: Object.fromEntries(Object.entries(rssPeak).map(([part, kb]) => [part, Math.round(kb / 1024)])),
        rssAtSampledPeakMB: Object.fromEntries(Object.entries(rssAtPeak).map(([part, kb]) => [part, Math.round(kb / 1024)])),
        diskPeakKBPerRecipient: +(diskPeak / 1024 / recipients).toFixed(1),
        diskEndKBPerRecipient: +(diskEnd / 1024 / recipients).toFixed(1),
        providerCalls,
        counts: last.counts,
        renderCoreUsPerRecipient: +coreUs.toFixed(0),
        ratio: +((cpuPer * 1000) / coreUs).toFixed(1),
      }),
    );
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await sink.close();
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
