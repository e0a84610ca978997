/**
 * npm run bench:recipients-csv [-- --rows=300000]
 *
 * How long `GET /api/campaigns/:id/recipients` takes as CSV (`Accept: text/csv`) for a finished
 * campaign of N recipients, through the real local composition (HTTP on loopback, the filesystem
 * store), and the process's resident memory before and during the stream (sampled every 50 ms):
 * streamed, the peak should not grow with N. The store is seeded once per N under the OS's temp
 * folder (N stubs and N outcome records) and reused by later runs. Prints one JSON line.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keys, loadConfig, recipientIdFor } from '@baton/shared';
import { FsObjectStore } from '@baton/shared/fs-object-store';
import { LOCAL_BUCKETS, startLocalBaton } from '../../../local/src/compose';

const rows = Number(process.argv.find((a) => a.startsWith('--rows='))?.split('=')[1] ?? 300_000);
const ref = { customerId: 'bench', campaignId: 'c-bench-recipients' };

async function seed(dir: string): Promise<void> {
  if (existsSync(path.join(dir, 'seeded'))) return;
  const store = new FsObjectStore(path.join(dir, 'objects'));
  const at = new Date().toISOString();
  const b = LOCAL_BUCKETS;
  const definition = {
    version: 1,
    ...ref,
    name: 'Bench',
    from: 'a@example.com',
    subject: 'Hi',
    mjml: '<mjml></mjml>',
    audienceKey: keys.audience(ref),
    createdAt: at,
  };
  await store.put(b.campaigns, keys.campaign(ref), JSON.stringify(definition));
  await store.put(
    b.campaigns,
    keys.state(ref),
    JSON.stringify({ version: 1, status: 'done', updatedAt: at, sendRequestedAt: at, finishedAt: at }),
  );
  const report = { version: 1, rows, valid: rows, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false };
  await store.put(b.campaigns, keys.audienceReport(ref), JSON.stringify(report));
  const zero = {
    total: rows,
    stubbed: rows,
    rendered: rows,
    sent: rows,
    failed: 0,
    invalid: 0,
    duplicate: 0,
    suppressed: 0,
    inDoubt: 0,
    cancelled: 0,
    inFlight: 0,
  };
  await store.put(b.campaigns, keys.summary(ref), JSON.stringify({ version: 1, finishedAt: at, counts: zero, inDoubt: [] }));
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < rows; i = next++) {
      const email = `reader${i}@example.com`;
      const recipientId = recipientIdFor(ref.customerId, email);
      const r = { ...ref, recipientId };
      await store.put(
        b.stubs,
        keys.stub(r),
        JSON.stringify({ version: 1, ...r, email, fields: { email, first_name: `R${i}` }, line: i + 2 }),
      );
      const outcome = { version: 1, recipientId, status: 'sent', providerId: `<${i}.bench@mg.example.com>`, at, leaseId: 'l-bench' };
      await store.put(b.campaigns, keys.outcome(r), JSON.stringify(outcome));
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await (await import('node:fs/promises')).writeFile(path.join(dir, 'seeded'), 'yes');
}

async function main(): Promise<void> {
  const dir = path.join(os.tmpdir(), `baton-bench-recipients-${rows}`);
  const s0 = performance.now();
  await seed(dir);
  const seedMs = performance.now() - s0;
  const baton = await startLocalBaton({ config: loadConfig({ PORT: '0', BATON_DATA_DIR: dir, LOG_LEVEL: 'silent' }), seedSample: false });
  try {
    global.gc?.();
    const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
    let peak = rssBeforeMb;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss / 2 ** 20)), 50);
    const t0 = performance.now();
    const res = await fetch(`${baton.url}/api/campaigns/${ref.campaignId}/recipients`, {
      headers: { authorization: `Bearer ${baton.apiToken}`, accept: 'text/csv' },
    });
    let bytes = 0;
    let lines = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      for (const c of chunk) if (c === 10) lines++;
    }
    const listMs = performance.now() - t0;
    clearInterval(sampler);
    console.log(
      JSON.stringify({
        rows,
        csvLines: lines - 1,
        csvMb: +(bytes / 2 ** 20).toFixed(1),
        listSeconds: +(listMs / 1000).toFixed(1),
        rowsPerSecond: Math.round((lines - 1) / (listMs / 1000)),
        rssBeforeMb: Math.round(rssBeforeMb),
        rssPeakMb: Math.round(peak),
        seedSeconds: +(seedMs / 1000).toFixed(1),
      }),
    );
  } finally {
    await baton.stop();
  }
}

void main();
