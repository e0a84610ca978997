/**
 * The issue-9 scenario, shared by the robustness test and its benchmark: Baton as `npm start`
 * runs it (local/src/main.ts, the real composition) in a child process, so that the conductor's
 * event loop holds nothing of the client's; the Mailgun-compatible sink, the prober timing
 * `/healthz` and the hostile client in this process; one campaign sending all along.
 */
import http from 'node:http';
import { startMailgunSink, type MailgunSink } from '../../local/src/mailgun-sink';
import { NESTED_LOOPS_MJML, SIMPLE_MJML, bigAudience, manyAssignTags } from '../../services/conductor/tests/robustness/hostile';
import { TEMPLATE } from '../e2e/helpers';
import { API_KEY, killAllChildren, removeDir, startBaton, tempDir } from '../faults/harness';

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

export function hostileRequests(): HostileRequest[] {
  return [
    {
      name: 'create with 20,000 Liquid tags',
      run: async (baton, f) => [
        await answer(
          await fetch(`${baton.url}/api/campaigns`, {
            method: 'POST',
            headers: { ...auth(baton), 'content-type': 'application/json' },
            body: f.manyTagsJson,
          }),
        ),
      ],
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
      run: async (baton, f) => {
        const post = async (route: string, body: string) =>
          answer(
            await fetch(`${baton.url}${route}`, { method: 'POST', headers: { ...auth(baton), 'content-type': 'application/json' }, body }),
          );
        return Promise.all([post('/api/drafts/check', f.manyTagsDraftJson), post('/api/drafts/preview', f.loopsDraftJson)]);
      },
    },
    {
      name: 'create with a big audience as multipart',
      run: async (baton, f) => {
        const form = new FormData();
        for (const [k, v] of Object.entries({ ...FIELDS, mjml: SIMPLE_MJML })) form.append(k, v);
        form.append('audience', f.bigCsv, 'audience.csv');
        return [await answer(await fetch(`${baton.url}/api/campaigns`, { method: 'POST', headers: auth(baton), body: form }))];
      },
    },
  ];
}

/** One `/healthz` on its own kept-alive connection (nothing of the hostile client's can delay it). */
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

/** `/healthz` timed every `everyMs`, each sample tagged with the phase it was taken in. */
export function probeHealthz(url: string, everyMs = 10) {
  const samples: { phase: string; ms: number }[] = [];
  let phase = 'warm-up';
  let running = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      await healthz(url, agent);
      samples.push({ phase, ms: performance.now() - started });
      await new Promise((r) => setTimeout(r, everyMs));
    }
    agent.destroy();
  })();
  return {
    set phase(name: string) {
      phase = name;
    },
    of: (name: string) => samples.filter((s) => s.phase === name).map((s) => s.ms),
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * A local Baton sending `recipients` at `perSecond` (a one-second governor window), with the
 * hostile fixtures in place. `sentSince(t)` counts provider calls the sink took after `t` (ms since epoch).
 */
export async function sendingBaton(options: { recipients: number; perSecond: number; bigRows: number }) {
  const dataDir = tempDir('baton-robustness-');
  const sink: MailgunSink = await startMailgunSink({ apiKey: API_KEY });
  const child = await startBaton({
    dataDir,
    sink,
    log: `${dataDir}/baton.log`,
    env: {
      BATON_API_TOKEN: TOKEN,
      PER_MINUTE_MAX: String(options.perSecond),
      GOVERNOR_WINDOW_MS: '1000',
      GOVERNOR_MARGIN_MS: '100',
      MAX_WORKERS: '2',
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
    manyTagsJson: JSON.stringify({ ...FIELDS, mjml: manyAssignTags(20_000), audienceCsv: 'email\na@example.com\n' }),
    manyTagsDraftJson: JSON.stringify({ subject: 'Hi', mjml: manyAssignTags(20_000), audienceCsv: 'email\na@example.com\n' }),
    loopsDraftJson: JSON.stringify({ subject: 'Hi', mjml: NESTED_LOOPS_MJML, audienceCsv: 'email\na@example.com\n' }),
  };
  return {
    baton,
    fixtures,
    campaignId: sending.body.id,
    startSending: async () => {
      const res = await call(`${baton.url}/api/campaigns/${sending.body.id}/send`, 'POST');
      if (res.status !== 202) throw new Error(`send refused: ${JSON.stringify(res.body)}`);
    },
    status: async () =>
      (await call<{ status: string; counts: Record<string, number> }>(`${baton.url}/api/campaigns/${sending.body.id}`, 'GET')).body,
    sentBetween: (from: number, to: number) => sink.messages().filter((m) => m.receivedAt >= from && m.receivedAt < to).length,
    stop: async () => {
      await killAllChildren();
      await sink.close();
      if (!process.env.KEEP_ROBUSTNESS_DIR) removeDir(dataDir);
    },
  };
}
