/**
 * npm run bench:sender -- [--calls 20000] [--lanes 64] [--wire]
 *
 * The Mailgun sender alone (real mailgun.js) against a Mailgun-compatible sink in a child
 * process (so only the sender's CPU is counted): the sample welcome template rendered for
 * `--calls` recipients beforehand, then sent over `--lanes` concurrent lanes. Prints the
 * sender's CPU per call (this process's user + system, sends only). `--wire` instead prints
 * one request as a raw loopback server received it (the boundary masked), to compare builds.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { compileCampaignTemplate, renderMessage } from '@baton/templating';
import { createMailgunSender } from '../src/mailgun/mailgun-sender';
import type { OutgoingEmail } from '../src/ports';

const REPO = path.resolve(__dirname, '..', '..');
const API_KEY = 'key-bench-0123456789abcdef';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function messages(n: number): Promise<OutgoingEmail[]> {
  const mjml = readFileSync(path.join(REPO, 'local', 'sample', 'welcome.mjml'), 'utf8');
  const compiled = await compileCampaignTemplate({
    from: 'Bench <news@bench.example.com>',
    subject: 'Welcome aboard, {{ first_name }}!',
    mjml,
  });
  const settings = { publicUrl: 'http://localhost:8080', unsubscribeSecret: 'bench-secret-0123456789abcdef' };
  const out: OutgoingEmail[] = [];
  for (let i = 0; i < n; i++) {
    const recipientId = i.toString(16).padStart(32, '0');
    const m = renderMessage(
      compiled,
      {
        customerId: 'bench-co',
        campaignId: 'c-bench',
        recipientId,
        email: `reader${i}@example.com`,
        fields: { first_name: `Reader${i}`, last_name: 'Bench', city: 'Zürich' },
      },
      settings,
    );
    out.push({
      from: m.from,
      to: m.to,
      subject: m.subject,
      html: m.html,
      text: m.text,
      headers: m.headers,
      variables: { 'customer-id': 'bench-co', 'campaign-id': 'c-bench', 'recipient-id': recipientId, 'lease-id': 'l-bench' },
    });
  }
  return out;
}

/** One raw request as the server read it. */
async function wire(): Promise<void> {
  const [msg] = await messages(1);
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    socket.on('data', (chunk) => {
      received.push(chunk);
      const text = Buffer.concat(received).toString('utf8');
      const head = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? -1);
      if (head >= 0 && Buffer.byteLength(text.slice(head + 4)) >= length) {
        socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 32\r\n\r\n{"id":"<x@y>","message":"Queued"}'.slice(0, 109),
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const sender = createMailgunSender({
    url: `http://127.0.0.1:${port}`,
    domain: 'mg.bench.example.com',
    apiKey: API_KEY,
    timeoutMs: 2_000,
  });
  await sender.send(msg!).catch(() => undefined);
  server.close();
  const text = Buffer.concat(received).toString('utf8');
  const boundary = /boundary=([^\r\n]+)/.exec(text)?.[1] ?? '(none)';
  process.stdout.write(text.split(boundary).join('<BOUNDARY>'));
}

async function main(): Promise<void> {
  if (process.argv.includes('--wire')) return wire();
  const calls = arg('calls', 20_000);
  const lanes = arg('lanes', 64);
  const all = await messages(calls + 1_000);
  const sink = fork(path.join(__dirname, 'sink-process.ts'), [API_KEY], { execArgv: ['--import', 'tsx'] });
  const url = await new Promise<string>((resolve) => sink.once('message', (m) => resolve(String(m))));
  const sender = createMailgunSender({ url, domain: 'mg.bench.example.com', apiKey: API_KEY, timeoutMs: 10_000 });
  const run = async (batch: OutgoingEmail[]) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (next < batch.length) await sender.send(batch[next++]!);
      }),
    );
  };
  await run(all.slice(0, 1_000)); // warm up
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await run(all.slice(1_000));
  const used = process.cpuUsage(cpu);
  const seconds = (performance.now() - t0) / 1000;
  sink.kill();
  console.log(
    JSON.stringify({ calls, lanes, cpuUsPerCall: Math.round((used.user + used.system) / calls), rate: Math.round(calls / seconds) }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
