import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import { ApiClient, ApiError, type CampaignView } from './api-client';
import { DEMO_USAGE, runDemo } from './demo';
import { SANITIZE_USAGE, runSanitize } from './sanitize';
import { UsageError } from './usage-error';
import { recipientsCommand, troubleReport } from './recipients-command';
import { SUPPRESSIONS_USAGE, suppressionsCommand } from './suppressions';

const USAGE = `Usage:
  baton send --template FILE.mjml --audience FILE.csv --subject TEXT --from ADDRESS
             [--name TEXT] [--customer ID] [--at TIME] [--api URL] [--token TOKEN] [--wait]
  baton status CAMPAIGN_ID [--api URL] [--token TOKEN]
  baton recipients CAMPAIGN_ID [--status STATUS] [--search TEXT] [--csv] [--api URL] [--token TOKEN]
${SANITIZE_USAGE}
${DEMO_USAGE}
${SUPPRESSIONS_USAGE}

The API defaults to http://localhost:8080; the token to $BATON_API_TOKEN, else the one
\`npm start\` keeps in $BATON_DATA_DIR/api-token (.baton/api-token).
With --at (an ISO 8601 time with its zone, e.g. 2026-12-08T09:00:00+01:00) the campaign is
scheduled: it renders now and starts sending then.
With --wait, send shows progress, ends by listing failed, in-doubt and not-accepted recipients,
and exits 1 if there are any. STATUS is one of queued, in-flight, retrying, sent, failed,
invalid, duplicate, suppressed, in-doubt, cancelled, not-accepted.`;

export { UsageError };

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
    `campaign ${c.id} (${c.name}): ${c.status}${c.error ? ` (${c.error.code}: ${c.error.message})` : ''}`,
    ...(c.waiting ? [`  ${c.waiting.message}`] : []),
    ...wavesLines(c),
    ...(c.cap ? [`  ${capLine(c)}`] : []),
    `  audience rows ${k.total}: sent ${k.sent}, failed ${k.failed}, in doubt ${k.inDoubt}, not accepted ${k.notAccepted ?? 0}, suppressed ${k.suppressed}, cancelled ${k.cancelled}, invalid ${k.invalid}, duplicate ${k.duplicate}`,
    ...c.problems.slice(0, 10).map((p) => `  line ${p.line}: ${p.kind}: ${p.reason}`),
    ...(c.problems.length > 10 ? [`  … and ${c.problems.length - 10} more problems (see the console)`] : []),
  ].join('\n');
}

/** A send at a local time: one line per wave, then the ETA that waits for them. */
function wavesLines(c: CampaignView): string[] {
  if (!c.waves || c.waves.length === 0) return [];
  const lines = c.waves.slice(0, 10).map((w) => `  wave at ${w.at}: ${w.count} (${w.zones.join(', ')})`);
  if (c.waves.length > 10) lines.push(`  … and ${c.waves.length - 10} more waves`);
  if (c.etaSeconds !== null) lines.push(`  all sent in about ${formatDuration(c.etaSeconds)}`);
  return lines;
}

function formatDuration(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${Math.floor(seconds / 3_600)} h ${Math.round((seconds % 3_600) / 60)} min`;
}

/** "cap 20 per 10 s", with the effective cap when the provider pushed back: the words the console and `/metrics` use. */
function capLine(c: CampaignView): string {
  if (!c.cap) return `cap ${c.perMinuteMax} per minute`;
  const effective =
    c.effectiveCap && c.effectiveCap.perWindow < c.cap.perWindow ? ` (now ${c.effectiveCap.text}: the provider pushed back)` : '';
  return `cap ${c.cap.text}${effective}`;
}

/** Finished: done, failed, or cancelled with nothing still out with a worker (its counts are then final). */
function isFinished(c: CampaignView): boolean {
  return c.status === 'done' || c.status === 'failed' || (c.status === 'cancelled' && c.counts.inFlight === 0);
}

async function waitForFinish(api: ApiClient, id: string, out: NodeJS.WritableStream): Promise<CampaignView> {
  // cli-progress draws nothing on a stream that is not a TTY (a pipe, a file, CI): there, a
  // plain line is written whenever the progress changes instead.
  const tty = (out as { isTTY?: boolean }).isTTY === true;
  const bar = new SingleBar(
    { format: 'sending [{bar}] {value}/{total} | {rate} sent in the last minute | {cap} | {status}', hideCursor: true, stream: out },
    Presets.shades_classic,
  );
  let started = false;
  let lastLine = '';
  let lastCap = '';
  try {
    for (;;) {
      const c = await api.request<CampaignView>('GET', `/api/campaigns/${id}`);
      const k = c.counts;
      const finished = k.sent + k.failed + k.inDoubt + (k.notAccepted ?? 0) + k.suppressed + k.cancelled;
      const total = Math.max(k.stubbed, 1);
      const payload = { rate: c.sentLastMinute, cap: capLine(c), status: c.status };
      if (tty) {
        if (!started) {
          bar.start(total, finished, payload);
          started = true;
        }
        bar.setTotal(total);
        bar.update(finished, payload);
      } else {
        const cap = capLine(c);
        // The cap once, and again when the provider's push-back changes it.
        if (cap !== lastCap) out.write(cap + '\n');
        lastCap = cap;
        const line = `sending ${finished}/${k.stubbed} | ${c.status}`;
        if (line !== lastLine) out.write(line + '\n');
        lastLine = line;
      }
      if (isFinished(c)) return c;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    // Also on an error while polling: the bar's redraw timer would keep the process alive.
    bar.stop();
  }
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        template: { type: 'string' },
        audience: { type: 'string' },
        subject: { type: 'string' },
        from: { type: 'string' },
        name: { type: 'string' },
        customer: { type: 'string' },
        api: { type: 'string' },
        token: { type: 'string' },
        wait: { type: 'boolean' },
        at: { type: 'string' },
        status: { type: 'string' },
        search: { type: 'string' },
        csv: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // node:util's own errors (unknown option, option without its value) are usage errors too.
    throw new UsageError((err as Error).message);
  }
}

/**
 * Runs one command. Resolves to the exit code (0, or 1 when `send --wait` ended with failed or
 * in-doubt recipients); throws a UsageError (bad arguments or files) or an ApiError (the API
 * refused or could not be reached). `main` turns those into a message and exit code 2.
 */
export async function run(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  // Commands with options of their own parse them in their own module.
  if (argv[0] === 'sanitize') return runSanitize(argv.slice(1), out);
  if (argv[0] === 'demo') return runDemo(argv.slice(1), out);
  const { values, positionals } = parse(argv);
  const command = positionals[0];
  if (values.help || command === undefined) {
    out.write(USAGE + '\n');
    return values.help ? 0 : 2;
  }
  const client = () => new ApiClient(values.api ?? 'http://localhost:8080', tokenFrom(values.token));
  if (command === 'status') {
    if (!positionals[1]) throw new UsageError('status needs a campaign id');
    const api = client();
    const c = await api.request<CampaignView>('GET', `/api/campaigns/${encodeURIComponent(positionals[1])}`);
    out.write(summary(c) + '\n');
    return 0;
  }
  if (command === 'recipients') {
    if (!positionals[1]) throw new UsageError('recipients needs a campaign id');
    return recipientsCommand(client(), positionals[1], { status: values.status, search: values.search, csv: values.csv }, out);
  }
  if (command === 'suppressions') {
    const refuse = (message: string): never => {
      throw new UsageError(message);
    };
    const args = { action: positionals[1], operand: positionals[2], customer: values.customer ?? 'default', csv: values.csv === true };
    return suppressionsCommand(client(), args, out, refuse);
  }
  if (command !== 'send') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  const missing = (['template', 'audience', 'subject', 'from'] as const).filter((f) => !values[f]);
  if (missing.length > 0) throw new UsageError(`send needs ${missing.map((m) => `--${m}`).join(', ')}`);
  const mjml = readInput(values.template!, '--template');
  const audienceCsv = readInput(values.audience!, '--audience');
  const api = client();
  // Multipart, the audience as a file part: a JSON create takes at most 8 MiB, an audience up to 200 MB.
  const form = new FormData();
  const fields = {
    name: values.name ?? path.basename(values.template!, path.extname(values.template!)),
    customerId: values.customer ?? 'default',
    from: values.from!,
    subject: values.subject!,
    mjml,
  };
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('audience', new Blob([audienceCsv], { type: 'text/csv' }), 'audience.csv');
  const created = await api.request<CampaignView>('POST', '/api/campaigns', form);
  const sent = await api.request<CampaignView>('POST', `/api/campaigns/${created.id}/send`, values.at ? { at: values.at } : {});
  out.write(
    sent.sendAt && sent.status === 'scheduled'
      ? `campaign ${created.id} is scheduled for ${sent.sendAt}\n`
      : `campaign ${created.id} is sending\n`,
  );
  if (!values.wait) {
    out.write(`follow it with: baton status ${created.id}\n`);
    return 0;
  }
  const final = await waitForFinish(api, created.id, out);
  out.write(summary(final) + '\n');
  await troubleReport(api, created.id, out);
  return final.status === 'failed' || final.counts.failed + final.counts.inDoubt + (final.counts.notAccepted ?? 0) > 0 ? 1 : 0;
}

/** What `baton` prints on stderr for an error `run` threw. */
export function describeError(err: unknown): string {
  if (err instanceof UsageError) return `baton: ${err.message}\n\n${USAGE}\n`;
  if (err instanceof ApiError) {
    // The server's message for a 400 is its issues joined by "; ": list them one a line instead.
    if (err.issues.length > 0)
      return `baton: the API refused the request (HTTP ${err.status}):\n${err.issues.map((i) => `  ${i.where}: ${i.message}\n`).join('')}`;
    const hint = err.status === 401 ? ' (check --token, BATON_API_TOKEN or $BATON_DATA_DIR/api-token)' : '';
    return `baton: ${err.message}${hint}\n`;
  }
  return `baton: ${err instanceof Error ? err.message : String(err)}\n`;
}

/** `run` with its errors reported on `err`: resolves to the process's exit code (2 on an error). */
export async function main(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  try {
    return await run(argv, out);
  } catch (e) {
    err.write(describeError(e));
    return 2;
  }
}

// `tsx cli/src/main.ts …`; bin/baton.js (what `npx baton` runs) calls `main` itself.
if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
