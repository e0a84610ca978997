import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import { ApiClient, ApiError, type CampaignView } from './api-client';

const USAGE = `Usage:
  baton send --template FILE.mjml --audience FILE.csv --subject TEXT --from ADDRESS
             [--name TEXT] [--customer ID] [--api URL] [--token TOKEN] [--wait]
  baton status CAMPAIGN_ID [--api URL] [--token TOKEN]

The API defaults to http://localhost:8080; the token to $BATON_API_TOKEN, else the one
\`npm start\` keeps in $BATON_DATA_DIR/api-token (.baton/api-token).
With --wait, send shows progress and exits 1 if any recipient ended failed or in doubt.`;

class UsageError extends Error {}

function tokenFrom(given: string | undefined): string {
  if (given) return given;
  if (process.env.BATON_API_TOKEN) return process.env.BATON_API_TOKEN;
  const file = path.join(process.env.BATON_DATA_DIR || '.baton', 'api-token');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw new UsageError(`no API token: pass --token, set BATON_API_TOKEN, or run from the folder where \`npm start\` runs (${file})`);
  }
}

function readInput(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

function summary(c: CampaignView): string {
  const k = c.counts;
  return [
    `campaign ${c.id} (${c.name}): ${c.status}`,
    `  audience rows ${k.total}: sent ${k.sent}, failed ${k.failed}, in doubt ${k.inDoubt}, suppressed ${k.suppressed}, cancelled ${k.cancelled}, invalid ${k.invalid}, duplicate ${k.duplicate}`,
    ...c.problems.slice(0, 10).map((p) => `  line ${p.line}: ${p.kind}: ${p.reason}`),
    ...(c.problems.length > 10 ? [`  … and ${c.problems.length - 10} more problems (see the console)`] : []),
  ].join('\n');
}

async function waitForFinish(api: ApiClient, id: string, out: NodeJS.WriteStream): Promise<CampaignView> {
  const bar = new SingleBar({ format: 'sending [{bar}] {value}/{total} | {rate}/min (cap {cap}) | {status}', hideCursor: true, stream: out }, Presets.shades_classic);
  let started = false;
  for (;;) {
    const c = await api.request<CampaignView>('GET', `/api/campaigns/${id}`);
    const k = c.counts;
    const finished = k.sent + k.failed + k.inDoubt + k.suppressed + k.cancelled;
    const total = Math.max(k.stubbed, 1);
    if (!started) {
      bar.start(total, finished, { rate: c.sentLastMinute, cap: c.perMinuteMax, status: c.status });
      started = true;
    }
    bar.setTotal(total);
    bar.update(finished, { rate: c.sentLastMinute, cap: c.perMinuteMax, status: c.status });
    if (c.status === 'done' || c.status === 'cancelled') {
      bar.stop();
      return c;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function run(argv: string[], out = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      template: { type: 'string' }, audience: { type: 'string' }, subject: { type: 'string' }, from: { type: 'string' },
      name: { type: 'string' }, customer: { type: 'string' }, api: { type: 'string' }, token: { type: 'string' },
      wait: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || command === undefined) {
    out.write(USAGE + '\n');
    return values.help ? 0 : 2;
  }
  const api = new ApiClient(values.api ?? 'http://localhost:8080', tokenFrom(values.token));
  if (command === 'status') {
    if (!positionals[1]) throw new UsageError('status needs a campaign id');
    const c = await api.request<CampaignView>('GET', `/api/campaigns/${encodeURIComponent(positionals[1])}`);
    out.write(summary(c) + '\n');
    return 0;
  }
  if (command !== 'send') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  const missing = (['template', 'audience', 'subject', 'from'] as const).filter((f) => !values[f]);
  if (missing.length > 0) throw new UsageError(`send needs ${missing.map((m) => `--${m}`).join(', ')}`);
  const created = await api.request<CampaignView>('POST', '/api/campaigns', {
    name: values.name ?? path.basename(values.template!, path.extname(values.template!)),
    customerId: values.customer ?? 'default',
    from: values.from,
    subject: values.subject,
    mjml: readInput(values.template!, '--template'),
    audienceCsv: readInput(values.audience!, '--audience'),
  });
  await api.request('POST', `/api/campaigns/${created.id}/send`, {});
  out.write(`campaign ${created.id} is sending\n`);
  if (!values.wait) {
    out.write(`follow it with: baton status ${created.id}\n`);
    return 0;
  }
  const final = await waitForFinish(api, created.id, out);
  out.write(summary(final) + '\n');
  return final.counts.failed + final.counts.inDoubt > 0 ? 1 : 0;
}

if (require.main === module || process.argv[1]?.endsWith('baton.js')) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      if (err instanceof UsageError) process.stderr.write(`baton: ${err.message}\n\n${USAGE}\n`);
      else if (err instanceof ApiError) {
        process.stderr.write(`baton: ${err.message}\n${err.issues.map((i) => `  ${i.where}: ${i.message}\n`).join('')}`);
      } else process.stderr.write(`baton: ${(err as Error).message}\n`);
      process.exit(2);
    },
  );
}
