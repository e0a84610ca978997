import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '@baton/shared';
import { startLocalBaton, type LocalBaton } from '../../local/src/compose';

/** A throwaway local Baton on a free port with its own data folder. */
export async function startBaton(
  env: Record<string, string> = {},
  dataDir?: string,
): Promise<{ baton: LocalBaton; config: Config; dataDir: string }> {
  const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'baton-e2e-'));
  const config = loadConfig({ PORT: '0', BATON_DATA_DIR: dir, LOG_LEVEL: 'silent', TICK_MS: '50', ...env });
  const baton = await startLocalBaton({ config, seedSample: false });
  return { baton, config, dataDir: dir };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The campaign API over real HTTP, as the console and CLI use it. */
export function api(baton: LocalBaton) {
  return async function call<T = Record<string, unknown>>(
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(baton.url + route, {
      method,
      headers: { authorization: `Bearer ${baton.apiToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
}

/** An audience of `rows` recipients, `<prefix><i>@example.com` with a first name, as CSV. */
export function audienceOf(rows: number, prefix = 'r'): string {
  return (
    'email,first_name\n' + Array.from({ length: rows }, (_, i) => `${prefix}${i}@example.com,${prefix.toUpperCase()}${i}`).join('\n') + '\n'
  );
}

/** Creates a campaign of TEMPLATE to `audienceCsv` for acme over the API, and sends it; resolves with its id. */
export async function createAndSend(baton: LocalBaton, name: string, audienceCsv: string): Promise<string> {
  const call = api(baton);
  const created = await call<{ id: string }>('POST', '/api/campaigns', {
    name,
    customerId: 'acme',
    from: 'A <a@acme.example>',
    subject: 'Hi',
    mjml: TEMPLATE,
    audienceCsv,
  });
  if (created.status !== 201) throw new Error(`create refused (${created.status}): ${JSON.stringify(created.body)}`);
  const sent = await call('POST', `/api/campaigns/${created.body.id}/send`);
  if (sent.status !== 202) throw new Error(`send refused (${sent.status}): ${JSON.stringify(sent.body)}`);
  return created.body.id;
}

export interface View {
  id: string;
  status: string;
  counts: Record<string, number>;
  problems: { line: number; kind: string; reason: string }[];
}

/** Polls the campaign until it is done or cancelled. */
export async function waitUntilFinished(baton: LocalBaton, id: string, timeoutMs = 30_000): Promise<View> {
  const call = api(baton);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await call<View>('GET', `/api/campaigns/${id}`);
    if (body.status === 'done' || body.status === 'cancelled') return body;
    if (Date.now() > deadline) throw new Error(`campaign ${id} still ${body.status} after ${timeoutMs} ms: ${JSON.stringify(body.counts)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Provider calls per calendar window and per sliding window, from the sink's receipt times. */
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

export const TEMPLATE = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ first_name }} from {{ city }}</mj-text>
        <mj-raw>{% if plan == "pro" %}<p>Pro perks inside</p>{% endif %}</mj-raw>
        <mj-button href="https://example.com/p?id={{ email | url_encode }}">Open</mj-button>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`;
