/**
 * The issue-9 scenario, shared by the robustness test and its benchmark: Baton as `npm start`
 * runs it (local/src/main.ts, the real composition) in a child process, so that the conductor's
 * event loop holds nothing of the client's; the Mailgun-compatible sink and the prober timing
 * `/healthz` in a process each (side-process.ts); the hostile client in this process; one
 * campaign sending all along, bound by its cap (enough workers to reach it).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  NESTED_LOOPS_MJML,
  SIMPLE_MJML,
  bigAudience,
  malformedAudience,
  manyAssignTags,
} from '../../services/conductor/tests/robustness/hostile';
import { DEFAULT_BODY_LIMITS } from '../../services/conductor/src/http/create-routes';
import { TEMPLATE } from '../e2e/helpers';
import { API_KEY, killAllChildren, removeDir, startBaton, tempDir } from '../faults/harness';
import type { SideAnswer, SideQuestion, SideReady } from './side-process';

const TOKEN = 'robustness-api-token-0123456789abcdef';

/** The running Baton as the client sees it. */
export interface Target {
  url: string;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export interface HostileRequest {
  name: string;
  /** Sends it (what a careless or hostile API user would); resolves with the answers. */
  run(baton: Target, fixtures: Fixtures): Promise<Answer[]>;
}

/**
 * Built once, so that the client's own work does not delay its probes.
 */
export interface Fixtures {
  /** A draft campaign whose template runs nested loops to Liquid's render limit. */
  loopsCampaignId: string;
  bigCsv: Blob;
  /** The 200,000 malformed rows, as a file part. */
  malformedCsv: Blob;
  /** A JSON create of nearly the whole 8 MiB limit, nearly all of it the audience. */
  fullJson: string;
  manyTagsJson: string;
  /** Drafts for the editor's check and preview: 20,000 Liquid tags, and the nested loops. */
  manyTagsDraftJson: string;
  loopsDraftJson: string;
}

const FIELDS = { name: 'Hostile', customerId: 'mallory', from: 'M <m@example.com>', subject: 'Hi' };

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

function auth(_baton: Target): Record<string, string> {
  return { authorization: `Bearer ${TOKEN}` };
}

async function call<T>(url: string, method: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** A JSON body posted to `route`. */
async function post(baton: Target, route: string, json: string): Promise<Answer> {
  return answer(
    await fetch(`${baton.url}${route}`, { method: 'POST', headers: { ...auth(baton), 'content-type': 'application/json' }, body: json }),
  );
}

/** A create with `audience` as the multipart form's file part, as the console sends one. */
async function multipartCreate(baton: Target, audience: Blob): Promise<Answer> {
  const form = new FormData();
  for (const [k, v] of Object.entries({ ...FIELDS, mjml: SIMPLE_MJML })) form.append(k, v);
  form.append('audience', audience, 'audience.csv');
  return answer(await fetch(`${baton.url}/api/campaigns`, { method: 'POST', headers: auth(baton), body: form }));
}

export function hostileRequests(): HostileRequest[] {
  return [
    {
      name: 'create with 20,000 Liquid tags',
      run: async (baton, f) => [await post(baton, '/api/campaigns', f.manyTagsJson)],
    },
    {
      name: 'three previews of nested for loops at once',
      run: async (baton, f) =>
        Promise.all(
          [1, 2, 3].map(async () =>
            answer(await fetch(`${baton.url}/api/campaigns/${f.loopsCampaignId}/preview`, { headers: auth(baton) })),
          ),
        ),
    },
    {
      name: "the editor's check of 20,000 Liquid tags and preview of nested loops",
      run: async (baton, f) =>
        Promise.all([post(baton, '/api/drafts/check', f.manyTagsDraftJson), post(baton, '/api/drafts/preview', f.loopsDraftJson)]),
    },
    {
      name: 'create with a big audience as multipart',
      run: async (baton, f) => [await multipartCreate(baton, f.bigCsv)],
    },
    {
      name: 'create with 200,000 malformed rows as multipart',
      run: async (baton, f) => [await multipartCreate(baton, f.malformedCsv)],
    },
    {
      name: 'create with an 8 MiB JSON body',
      run: async (baton, f) => [await post(baton, '/api/campaigns', f.fullJson)],
    },
  ];
}

/** A JSON create just under the limit of JSON bodies (8 MiB), nearly all of it audience rows. */
function fullJsonCreate(): string {
  const lines = ['email,first_name,city'];
  let room = DEFAULT_BODY_LIMITS.jsonBytes - JSON.stringify({ ...FIELDS, mjml: SIMPLE_MJML, audienceCsv: lines[0] }).length;
  // Each row costs its ASCII bytes and its line break, which JSON writes in two.
  for (let i = 0; ; i++) {
    const line = `reader${i}@example.com,Reader ${i},Oslo`;
    if (line.length + 2 > room) break;
    lines.push(line);
    room -= line.length + 2;
  }
  return JSON.stringify({ ...FIELDS, mjml: SIMPLE_MJML, audienceCsv: lines.join('\n') });
}

/** A side process (side-process.ts) and the way to ask it for figures. */
interface SideProcess {
  url: string | undefined;
  ask(question: { ask: 'sentBetween' | 'probesBetween'; from: number; to: number }): Promise<number | number[]>;
  stop(): Promise<void>;
}

async function startSideProcess(args: string[]): Promise<SideProcess> {
  const child = fork(path.join(__dirname, 'side-process.ts'), args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const waiting = new Map<number, (value: number | number[]) => void>();
  let next = 0;
  const ready = new Promise<SideReady>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`side process ${args[0]} exited (${code}) before it was ready`)));
    child.on('message', (m: SideReady | SideAnswer) => {
      if ('ready' in m) resolve(m);
      else waiting.get(m.id)?.(m.value);
    });
  });
  const { url } = await ready;
  const ask = (question: Omit<SideQuestion, 'id'>) =>
    new Promise<number | number[]>((resolve) => {
      const id = ++next;
      waiting.set(id, (value) => {
        waiting.delete(id);
        resolve(value);
      });
      child.send({ ...question, id } as SideQuestion);
    });
  return {
    url,
    ask,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await ask({ ask: 'stop' }).catch(() => undefined);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * `/healthz` timed every `everyMs` from a process of its own (side-process.ts), so that nothing of
 * the hostile client's (in this process) can delay a probe. `between(from, to)` gives the ms of
 * each probe begun in that window (epoch ms).
 */
export async function probeHealthz(url: string, everyMs = 10) {
  const side = await startSideProcess(['probe', url, String(everyMs)]);
  return {
    between: async (from: number, to: number) => (await side.ask({ ask: 'probesBetween', from, to })) as number[],
    stop: () => side.stop(),
  };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * A local Baton sending `recipients` at `perSecond` (a one-second governor window), with the
 * hostile fixtures in place. `sentBetween(from, to)` counts the messages the sink (in a process of
 * its own) took in that window (epoch ms).
 */
export async function sendingBaton(options: {
  recipients: number;
  perSecond: number;
  bigRows: number;
  workers?: number;
  store?: 'lmdb' | 'fs';
}) {
  const dataDir = tempDir('baton-robustness-');
  if (process.env.HOSTILE_TRACE) console.log(`data folder: ${dataDir}`);
  // The sink in a process of its own: what counts the sends shares no event loop with the hostile client.
  const sink = await startSideProcess(['sink', API_KEY]);
  const child = await startBaton({
    dataDir,
    sink: { url: sink.url! },
    log: `${dataDir}/baton.log`,
    env: {
      BATON_API_TOKEN: TOKEN,
      // What `npm start` opens for a new data folder (the fault suite's harness defaults to fs).
      BATON_STORE: options.store ?? 'lmdb',
      PER_MINUTE_MAX: String(options.perSecond),
      GOVERNOR_WINDOW_MS: '1000',
      GOVERNOR_MARGIN_MS: '100',
      // Enough workers that the cap, not the workers, sets the rate (each sends a batch in turn).
      MAX_WORKERS: String(options.workers ?? 4),
      BATCH_SIZE: '50',
      TICK_MS: '100',
    },
  });
  const baton: Target = { url: child.url };
  const audience = ['email,first_name,n', ...Array.from({ length: options.recipients }, (_, i) => `r${i}@example.com,R${i},${i}`)];
  const sending = await call<{ id: string }>(`${baton.url}/api/campaigns`, 'POST', {
    name: 'Background',
    customerId: 'acme',
    from: 'Acme <news@acme.example>',
    subject: 'Hi {{ first_name }}',
    mjml: TEMPLATE,
    audienceCsv: audience.join('\n') + '\n',
  });
  const loops = await call<{ id: string }>(`${baton.url}/api/campaigns`, 'POST', {
    ...FIELDS,
    mjml: NESTED_LOOPS_MJML,
    audienceCsv: 'email,first_name\nm@example.com,M\n',
  });
  if (sending.status !== 201 || loops.status !== 201) throw new Error(`setup failed: ${JSON.stringify([sending.body, loops.body])}`);
  const bigCsv = bigAudience(options.bigRows);
  const fixtures: Fixtures = {
    loopsCampaignId: loops.body.id,
    bigCsv: new Blob([bigCsv], { type: 'text/csv' }),
    malformedCsv: new Blob([malformedAudience(200_000)], { type: 'text/csv' }),
    fullJson: fullJsonCreate(),
    manyTagsJson: JSON.stringify({ ...FIELDS, mjml: manyAssignTags(20_000), audienceCsv: 'email\na@example.com\n' }),
    manyTagsDraftJson: JSON.stringify({ subject: 'Hi', mjml: manyAssignTags(20_000), audienceCsv: 'email\na@example.com\n' }),
    loopsDraftJson: JSON.stringify({ subject: 'Hi', mjml: NESTED_LOOPS_MJML, audienceCsv: 'email\na@example.com\n' }),
  };
  return {
    baton,
    /** The Baton process, for its CPU time (`cpuMs`). */
    pid: child.pid,
    fixtures,
    campaignId: sending.body.id,
    startSending: async () => {
      const res = await call(`${baton.url}/api/campaigns/${sending.body.id}/send`, 'POST');
      if (res.status !== 202) throw new Error(`send refused: ${JSON.stringify(res.body)}`);
    },
    status: async () =>
      (await call<{ status: string; counts: Record<string, number> }>(`${baton.url}/api/campaigns/${sending.body.id}`, 'GET')).body,
    sentBetween: async (from: number, to: number) => (await sink.ask({ ask: 'sentBetween', from, to })) as number,
    stop: async () => {
      await killAllChildren();
      await sink.stop();
      if (!process.env.KEEP_ROBUSTNESS_DIR) removeDir(dataDir);
    },
  };
}

/**
 * CPU time (ms) a process has used so far (`thread` = its pid: the main thread alone, where the
 * conductor's event loop runs), from /proc (Linux); NaN elsewhere.
 */
export function cpuMs(pid: number, thread?: number): number {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, fields 14 and 15 of stat (11 and 12 after the name), in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}
