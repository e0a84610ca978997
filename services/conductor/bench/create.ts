/**
 * npm run bench:create [-- --rows=100000]
 *
 * How long `POST /api/campaigns` takes with an inline audience of N rows, and how long
 * `/healthz` waits meanwhile, through the real local composition (HTTP, the filesystem store) on
 * loopback. Prints one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@baton/shared';
import { startLocalBaton } from '../../../local/src/compose';

const rows = Number(process.argv.find((a) => a.startsWith('--rows='))?.split('=')[1] ?? 100_000);

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-create-'));
  const baton = await startLocalBaton({ config: loadConfig({ PORT: '0', BATON_DATA_DIR: dir, LOG_LEVEL: 'silent' }), seedSample: false });
  try {
    const csv = 'email,first_name,city\n' + Array.from({ length: rows }, (_, i) => `reader${i}@example.com,Reader${i},Zürich`).join('\n');
    const body = JSON.stringify({
      name: 'Bench',
      customerId: 'bench',
      from: 'Bench <bench@example.com>',
      subject: 'Hello {{ first_name }}',
      mjml: '<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ first_name }}</mj-text></mj-column></mj-section></mj-body></mjml>',
      audienceCsv: csv,
    });
    let worstHealthMs = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const t = performance.now();
        await fetch(`${baton.url}/healthz`);
        worstHealthMs = Math.max(worstHealthMs, performance.now() - t);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const t0 = performance.now();
    const res = await fetch(`${baton.url}/api/campaigns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${baton.apiToken}`, 'content-type': 'application/json' },
      body,
    });
    const createMs = performance.now() - t0;
    polling = false;
    await poll;
    console.log(
      JSON.stringify({
        rows,
        bodyMB: +(body.length / 1e6).toFixed(1),
        status: res.status,
        createMs: Math.round(createMs),
        worstHealthzMs: Math.round(worstHealthMs),
      }),
    );
  } finally {
    await baton.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
