/**
 * npm run bench:fair-renders -- [--slow 20] [--plain 300]
 *
 * The local renderer's order (render-order.ts), measured through the real local composition (in
 * this process, the built-in sink): one customer's plain campaign, send → done, alone; then again
 * with another customer's campaign whose every render runs into the render limit (nested loops)
 * sent just before it. Prints one JSON line: plainAloneS, plainBesideSlowS, and how many of the
 * slow campaign's renders had ended when the plain campaign was done.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@baton/shared';
import { startLocalBaton, type LocalBaton } from '../src/compose';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const SLOW_MJML = `<mjml><mj-body><mj-section><mj-column><mj-text>{% for a in (1..100000) %}{% for b in (1..100000) %}x{% endfor %}{% endfor %}</mj-text></mj-column></mj-section></mj-body></mjml>`;
const PLAIN_MJML = `<mjml><mj-body><mj-section><mj-column><mj-text>Hello {{ first_name }}</mj-text></mj-column></mj-section></mj-body></mjml>`;

interface View {
  status: string;
  counts: Record<string, number>;
}

async function call<T>(baton: LocalBaton, method: string, route: string, body?: unknown): Promise<T> {
  const res = await fetch(baton.url + route, {
    method,
    headers: { authorization: `Bearer ${baton.apiToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function create(baton: LocalBaton, customerId: string, mjml: string, count: number): Promise<string> {
  const csv = 'email,first_name\n' + Array.from({ length: count }, (_, i) => `${customerId}${i}@example.com,R${i}`).join('\n') + '\n';
  const created = await call<{ id: string }>(baton, 'POST', '/api/campaigns', {
    name: customerId,
    customerId,
    from: `A <a@${customerId}.example>`,
    subject: 'Hi',
    mjml,
    audienceCsv: csv,
  });
  return created.id;
}

async function untilDone(baton: LocalBaton, id: string): Promise<void> {
  for (;;) {
    const view = await call<View>(baton, 'GET', `/api/campaigns/${id}`);
    if (view.status === 'done' || view.status === 'cancelled') return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function run(slow: number, plain: number): Promise<{ plainS: number; slowEnded?: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-fair-'));
  const config = loadConfig({ PORT: '0', BATON_DATA_DIR: dir, LOG_LEVEL: 'silent', TICK_MS: '50', PER_MINUTE_MAX: '1000000' });
  const baton = await startLocalBaton({ config, seedSample: false });
  try {
    const slowId = slow > 0 ? await create(baton, 'slowco', SLOW_MJML, slow) : undefined;
    const plainId = await create(baton, 'plainco', PLAIN_MJML, plain);
    if (slowId) await call(baton, 'POST', `/api/campaigns/${slowId}/send`);
    const t0 = performance.now();
    await call(baton, 'POST', `/api/campaigns/${plainId}/send`);
    await untilDone(baton, plainId);
    const plainS = (performance.now() - t0) / 1000;
    if (slowId === undefined) return { plainS };
    const view = await call<View>(baton, 'GET', `/api/campaigns/${slowId}`);
    return { plainS, slowEnded: (view.counts.failed ?? 0) + (view.counts.sent ?? 0) };
  } finally {
    await baton.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const slow = arg('slow', 20);
  const plain = arg('plain', 300);
  const alone = await run(0, plain);
  const beside = await run(slow, plain);
  console.log(
    JSON.stringify({
      slow,
      plain,
      plainAloneS: Number(alone.plainS.toFixed(2)),
      plainBesideSlowS: Number(beside.plainS.toFixed(2)),
      slowRendersEndedWhenPlainDone: beside.slowEnded,
      load: os.loadavg()[0]!.toFixed(2),
    }),
  );
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
