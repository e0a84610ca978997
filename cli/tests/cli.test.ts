import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '@baton/shared';
// @baton/local cannot be a dependency of the CLI: the composition is imported by path.
import { startLocalBaton, type LocalBaton } from '../../local/src/compose';
import { ApiError } from '../src/api-client';
import { UsageError, main, run } from '../src/main';

/** A stand-in for stdout/stderr that keeps what was written; a pipe unless `tty` is set. */
class Collector extends Writable {
  text = '';
  isTTY: boolean | undefined;
  columns: number | undefined;

  constructor(tty = false) {
    super();
    if (tty) {
      this.isTTY = true;
      this.columns = 100;
    }
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    callback();
  }
}

const TEMPLATE = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ first_name }}, welcome aboard.</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;

/** Two valid recipients, one invalid address (line 4) and one duplicate of line 2 (line 5). */
const AUDIENCE = [
  'email,first_name',
  'ann@example.com,Ann',
  'bob@example.com,Bob',
  'not-an-address,Nobody',
  'ann@example.com,Ann again',
  '',
].join('\n');
const VALID = ['ann@example.com', 'bob@example.com'];

function campaignIdIn(text: string): string {
  const id = /campaign (\S+) is (?:sending|scheduled)/.exec(text)?.[1];
  if (id === undefined) throw new Error(`no campaign id in:\n${text}`);
  return id;
}

/** A port nothing listens on: one the OS just handed out, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the baton CLI against a local Baton', () => {
  let dir: string;
  let baton: LocalBaton;
  let template: string;
  let audience: string;
  let connection: string[];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'baton-cli-'));
    baton = await startLocalBaton({
      config: loadConfig({ PORT: '0', BATON_DATA_DIR: dir, LOG_LEVEL: 'silent', TICK_MS: '50', PER_MINUTE_MAX: '1000' }),
      seedSample: false,
    });
    template = path.join(dir, 'welcome.mjml');
    audience = path.join(dir, 'audience.csv');
    writeFileSync(template, TEMPLATE);
    writeFileSync(audience, AUDIENCE);
    connection = ['--api', baton.url, '--token', baton.apiToken];
  });

  afterAll(async () => {
    await baton?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function sendArgs(overrides: Record<string, string> = {}): string[] {
    const flags = { template, audience, subject: 'Hi {{ first_name }}', from: 'Acme <news@acme.test>', ...overrides };
    return ['send', ...Object.entries(flags).flatMap(([flag, value]) => [`--${flag}`, value]), ...connection];
  }

  it('sends a campaign with --wait, each valid recipient once, and exits 0 with a summary', async () => {
    // Prepare
    const out = new Collector();

    // Act
    const code = await run([...sendArgs({ name: 'Welcome' }), '--wait'], out);

    // Assess
    expect(code).toBe(0);
    const id = campaignIdIn(out.text);
    expect(out.text).toContain(`campaign ${id} (Welcome): done`);
    expect(out.text).toContain(
      'audience rows 4: sent 2, failed 0, in doubt 0, not accepted 0, suppressed 0, cancelled 0, invalid 1, duplicate 1',
    );
    expect(out.text).toMatch(/line 4: invalid: /);
    expect(out.text).toMatch(/line 5: duplicate: /);
    expect(out.text).toContain('sending 2/2 | done'); // the plain progress lines written to a non-TTY stream
    // The cap in the words the console and /metrics use (PER_MINUTE_MAX per the default one-minute window).
    expect(out.text).toContain('\ncap 1000 per minute\n');
    expect(out.text).toContain('\n  cap 1000 per minute\n');
    const received = baton.sink!.messages().filter((m) => m.variables['campaign-id'] === id);
    expect(received.map((m) => m.to).sort()).toEqual(VALID);
    expect(received.map((m) => m.subject).sort()).toEqual(['Hi Ann', 'Hi Bob']);
  });

  it('prints a campaign summary with status, after a send without --wait', async () => {
    // Prepare
    const sent = new Collector();
    expect(await run(sendArgs({ name: 'Later' }), sent)).toBe(0);
    const id = campaignIdIn(sent.text);
    expect(sent.text).toContain(`follow it with: baton status ${id}`);

    // Act
    let out = new Collector();
    const deadline = Date.now() + 10_000;
    let code = await run(['status', id, ...connection], out);
    while (!out.text.includes(': done') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      out = new Collector();
      code = await run(['status', id, ...connection], out);
    }

    // Assess
    expect(code).toBe(0);
    expect(out.text).toContain(`campaign ${id} (Later): done`);
    expect(out.text).toContain(
      'audience rows 4: sent 2, failed 0, in doubt 0, not accepted 0, suppressed 0, cancelled 0, invalid 1, duplicate 1',
    );
    expect(baton.sink!.messages().filter((m) => m.variables['campaign-id'] === id)).toHaveLength(2);
  });

  it('schedules a send with --at: nothing reaches the provider before that time, all of it soon after', async () => {
    // Prepare: three seconds ahead, in a zone other than UTC.
    const at = new Date(Math.ceil((Date.now() + 3_000) / 1_000) * 1_000);
    const local = new Date(at.getTime() + 3_600_000).toISOString().replace('Z', '+01:00');
    const out = new Collector();

    // Act
    const code = await run([...sendArgs({ name: 'Scheduled', at: local }), '--wait'], out);

    // Assess
    expect(code).toBe(0);
    const id = campaignIdIn(out.text);
    expect(out.text).toContain(`campaign ${id} is scheduled for ${at.toISOString()}`);
    expect(out.text).toContain('sending 0/2 | scheduled');
    const received = baton.sink!.messages().filter((m) => m.variables['campaign-id'] === id);
    expect(received.map((m) => m.to).sort()).toEqual(VALID);
    for (const m of received) expect(m.receivedAt).toBeGreaterThanOrEqual(at.getTime());
    // Within a tick (50 ms) and the first slice after the time, with room for a loaded machine.
    expect(Math.min(...received.map((m) => m.receivedAt)) - at.getTime()).toBeLessThan(2_000);
  });

  it("shows the waves of a send at each recipient's local time, and when all of it will be sent", async () => {
    // Prepare: 09:00 tomorrow where each recipient is; Berlin and Paris share an instant all year, New York is later.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const csv = [
      'email,first_name,tz',
      'b@example.com,B,Europe/Berlin',
      'p@example.com,P,Europe/Paris',
      'n@example.com,N,America/New_York',
    ];
    const res = await fetch(`${baton.url}/api/campaigns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${baton.apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'Local',
        customerId: 'acme',
        from: 'Acme <news@acme.test>',
        subject: 'Hi',
        mjml: TEMPLATE,
        audienceCsv: csv.join('\n'),
        localSend: { date: tomorrow, time: '09:00', timeZone: 'UTC', column: 'tz' },
      }),
    });
    const { id } = (await res.json()) as { id: string };
    await fetch(`${baton.url}/api/campaigns/${id}/send`, { method: 'POST', headers: { authorization: `Bearer ${baton.apiToken}` } });

    // Act: until all three are placed in their waves.
    let out = new Collector();
    const deadline = Date.now() + 10_000;
    while (!/wave at .*: 1 \(America\/New_York\)/.test(out.text) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      out = new Collector();
      expect(await run(['status', id, ...connection], out)).toBe(0);
    }

    // Assess: two waves (Berlin and Paris at once), then the ETA, which waits for New York's 09:00.
    const [berlinWave, newYorkWave] = [...out.text.matchAll(/wave at (\S+): (\d+) \((.*)\)/g)].map((m) => [m[1], m[2], m[3]]);
    expect(berlinWave!.slice(1)).toEqual(['2', 'Europe/Berlin, Europe/Paris']);
    expect(newYorkWave!.slice(1)).toEqual(['1', 'America/New_York']);
    expect(Date.parse(newYorkWave![0]!)).toBeGreaterThan(Date.parse(berlinWave![0]!));
    expect(out.text).toMatch(/all sent in about \d+ h \d+ min/);
    expect(baton.sink!.messages().filter((m) => m.variables['campaign-id'] === id)).toEqual([]);
    await fetch(`${baton.url}/api/campaigns/${id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${baton.apiToken}` } });
  });

  it('exits 1 with --wait when recipients end failed, and draws the progress bar on a TTY without crashing', async () => {
    // Prepare
    baton.sink!.failNext(VALID.length, 400, { message: "'to' parameter is not a valid address" });
    const out = new Collector(true);

    // Act
    const code = await run([...sendArgs({ name: 'Refused' }), '--wait'], out);

    // Assess
    expect(code).toBe(1);
    const id = campaignIdIn(out.text);
    expect(out.text).toContain('sending ['); // the bar itself
    expect(out.text).toContain(`campaign ${id} (Refused): done`);
    expect(out.text).toContain('sent 0, failed 2, in doubt 0');
    // It ends by naming who failed, and why.
    expect(out.text).toMatch(/failed:\n {2}ann@example\.com\tfailed\t\S+\t\tPROVIDER_REJECTED/);
    expect(out.text).toContain('bob@example.com\tfailed');
    expect(baton.sink!.messages().filter((m) => m.variables['campaign-id'] === id)).toEqual([]);
  });

  it("lists a campaign's recipients, filtered by status, and as CSV", async () => {
    // Prepare
    const sent = new Collector();
    expect(await run([...sendArgs({ name: 'Listed' }), '--wait'], sent)).toBe(0);
    const id = campaignIdIn(sent.text);

    // Act
    const all = new Collector();
    const invalid = new Collector();
    const csv = new Collector();
    expect(await run(['recipients', id, ...connection], all)).toBe(0);
    expect(await run(['recipients', id, '--status', 'invalid', ...connection], invalid)).toBe(0);
    expect(await run(['recipients', id, '--csv', '--status', 'sent', ...connection], csv)).toBe(0);

    // Assess
    expect(all.text).toMatch(/^ann@example\.com\tsent\t/m);
    expect(all.text).toContain('4 recipients\n');
    expect(invalid.text).toBe(
      'not-an-address\tinvalid\t\t\tline 4: email is not a valid address (no local part or domain)\n1 recipient invalid\n',
    );
    expect(csv.text.split('\r\n')[0]).toBe('email,status,reason,at,providerMessageId,delivery');
    expect(csv.text.trim().split('\n')).toHaveLength(3);
    await expect(run(['recipients', id, '--status', 'lost', ...connection], new Collector())).rejects.toThrow('must be one of');
  });

  it('searches the recipients by part of the address, in any case, as lines and as CSV, with a status too', async () => {
    // Prepare
    const sent = new Collector();
    expect(await run([...sendArgs({ name: 'Searched' }), '--wait'], sent)).toBe(0);
    const id = campaignIdIn(sent.text);

    // Act
    const byText = new Collector();
    const withStatus = new Collector();
    const none = new Collector();
    const csv = new Collector();
    expect(await run(['recipients', id, '--search', 'ANN@', ...connection], byText)).toBe(0);
    expect(await run(['recipients', id, '--search', 'example.com', '--status', 'duplicate', ...connection], withStatus)).toBe(0);
    expect(await run(['recipients', id, '--search', 'nobody-here', ...connection], none)).toBe(0);
    expect(await run(['recipients', id, '--search', 'bob', '--csv', ...connection], csv)).toBe(0);

    // Assess
    // Line 2 was sent; line 5, the same address again, is its duplicate.
    expect(byText.text).toMatch(/^ann@example\.com\tsent\t/m);
    expect(byText.text).toMatch(/^ann@example\.com\tduplicate\t/m);
    expect(byText.text).not.toContain('bob@');
    expect(byText.text.endsWith('\n2 recipients matching "ANN@"\n')).toBe(true);
    expect(withStatus.text).toMatch(/^ann@example\.com\tduplicate\t[^\n]*\n1 recipient duplicate matching "example\.com"\n$/);
    expect(none.text).toBe('0 recipients matching "nobody-here"\n');
    const csvLines = csv.text.trim().split('\r\n');
    expect(csvLines).toHaveLength(2);
    expect(csvLines[1]).toMatch(/^bob@example\.com,sent,/);
    await expect(run(['recipients', id, '--search', '  ', ...connection], new Collector())).rejects.toThrow('--search needs some text');
  });

  it('refuses a send with missing flags, naming each of them, and main exits 2 with the usage', async () => {
    // Prepare
    const args = ['send', '--template', template, '--subject', 'Hi', ...connection];
    const out = new Collector();
    const err = new Collector();

    // Act
    const thrown = run(args, new Collector());
    const code = await main(args, out, err);

    // Assess
    await expect(thrown).rejects.toThrow(UsageError);
    await expect(thrown).rejects.toThrow('send needs --audience, --from');
    expect(code).toBe(2);
    expect(err.text).toContain('baton: send needs --audience, --from');
    expect(err.text).toContain('Usage:');
    expect(out.text).toBe('');
  });

  it('names a missing flag before looking for a token, so `baton send` alone says what is missing', async () => {
    // Prepare
    const err = new Collector();

    // Act
    const code = await main(['send'], new Collector(), err);

    // Assess
    expect(code).toBe(2);
    expect(err.text).toContain('baton: send needs --template, --audience, --subject, --from');
  });

  it('names a template file that does not exist', async () => {
    // Prepare
    const missing = path.join(dir, 'nope.mjml');
    const err = new Collector();

    // Act
    const thrown = run(sendArgs({ template: missing }), new Collector());
    const code = await main(sendArgs({ template: missing }), new Collector(), err);

    // Assess
    await expect(thrown).rejects.toThrow(new UsageError(`--template ${missing}: no such file`));
    expect(code).toBe(2);
    expect(err.text).toContain(`baton: --template ${missing}: no such file`);
  });

  it("reports the API's issues for an MJML template that does not compile", async () => {
    // Prepare
    const bad = path.join(dir, 'bad.mjml');
    writeFileSync(
      bad,
      '<mjml><mj-body><mj-section><mj-column><mj-text>Hello {{ first_name </mj-text></mj-column></mj-section></mj-body></mjml>',
    );
    const err = new Collector();

    // Act
    const thrown = run(sendArgs({ template: bad }), new Collector()).catch((e: unknown) => e);
    const code = await main(sendArgs({ template: bad }), new Collector(), err);

    // Assess
    const error = await thrown;
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect((error as ApiError).issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ where: expect.stringMatching(/^mjml/) })]),
    );
    expect(code).toBe(2);
    expect(err.text).toMatch(/^baton: the API refused the request \(HTTP 400\):\n {2}mjml[^:]*: .*not closed/);
  });

  it('reports a wrong token as the API answered it: 401, with a hint where the token comes from', async () => {
    // Prepare
    const args = ['status', 'whatever', '--api', baton.url, '--token', 'not-the-right-token-at-all'];
    const err = new Collector();

    // Act
    const thrown = run(args, new Collector()).catch((e: unknown) => e);
    const code = await main(args, new Collector(), err);

    // Assess
    const error = await thrown;
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 401, message: 'a valid bearer token is required' });
    expect(code).toBe(2);
    expect(err.text).toContain('baton: a valid bearer token is required (check --token, BATON_API_TOKEN or $BATON_DATA_DIR/api-token)');
  });

  it('tells the user to run npm start when nothing listens at the API address', async () => {
    // Prepare
    const api = `http://127.0.0.1:${await closedPort()}`;
    const args = sendArgs();
    args.splice(args.indexOf('--api') + 1, 1, api);
    const err = new Collector();

    // Act
    const thrown = run(args, new Collector()).catch((e: unknown) => e);
    const code = await main(args, new Collector(), err);

    // Assess
    const error = await thrown;
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(0);
    expect((error as ApiError).message).toBe(`cannot reach the Baton API at ${api} (ECONNREFUSED); is \`npm start\` running?`);
    expect(code).toBe(2);
    expect(err.text).toContain('is `npm start` running?');
  });

  it('adds, lists (as text and CSV), imports and removes suppressions of a customer, and names an address that is not suppressed', async () => {
    // Prepare
    const csvFile = path.join(dir, 'suppress.csv');
    writeFileSync(csvFile, 'email\nbob@example.com\nnot-an-address\n');
    const customer = ['--customer', 'cli-co', ...connection];
    const outs = Array.from({ length: 5 }, () => new Collector());
    const err = new Collector();

    // Act
    const codes = [
      await main(['suppressions', 'add', 'ann@example.com', ...customer], outs[0]!, err),
      await main(['suppressions', 'import', csvFile, ...customer], outs[1]!, err),
      await main(['suppressions', 'list', ...customer], outs[2]!, err),
      await main(['suppressions', 'remove', 'ann@example.com', ...customer], outs[3]!, err),
      await main(['suppressions', 'list', '--csv', ...customer], outs[4]!, err),
    ];
    const missing = new Collector();
    const missingCode = await main(['suppressions', 'remove', 'zed@example.com', ...customer], new Collector(), missing);

    // Assess
    expect(codes).toEqual([0, 0, 0, 0, 0]);
    expect(outs[0]!.text).toBe('suppressed ann@example.com (manual)\n');
    expect(outs[1]!.text).toContain('1 suppressed, 0 already suppressed, 1 invalid');
    expect(outs[1]!.text).toContain('line 3: invalid');
    expect(outs[2]!.text).toMatch(/ann@example\.com\tmanual/);
    expect(outs[2]!.text).toContain('2 suppressed for cli-co');
    expect(outs[4]!.text.split('\r\n')[0]).toBe('email,reason,at,campaign_id,detail,recipient_id');
    expect(outs[4]!.text).toContain('bob@example.com,manual');
    expect(outs[4]!.text).not.toContain('ann@example.com');
    expect(missingCode).toBe(2);
    expect(missing.text).toContain('not suppressed');
  });

  it('imports a list larger than one request takes in parts, numbering bad lines as in the file', async () => {
    // Prepare: about 1.2 MB (long addresses, so that few rows pass the 1 MiB a request takes), a bad address on line 9,002
    const lines = [
      'email',
      ...Array.from({ length: 9_000 }, (_, i) => `reader-${i}@${'a'.repeat(60)}.${'b'.repeat(60)}.example.com`),
      'broken',
      'last@example.com',
    ];
    const csvFile = path.join(dir, 'large.csv');
    writeFileSync(csvFile, lines.join('\n') + '\n');
    const out = new Collector();

    // Act
    const code = await main(['suppressions', 'import', csvFile, '--customer', 'big-co', ...connection], out, new Collector());

    // Assess
    expect(code).toBe(0);
    expect(out.text).toContain('9001 suppressed, 0 already suppressed, 1 invalid, 0 duplicate (of 9002 rows)');
    expect(out.text).toContain('line 9002: invalid');
  });

  it('prints the usage and exits 0 for --help, 2 with no command, and refuses an unknown option', async () => {
    // Prepare
    const help = new Collector();
    const bare = new Collector();
    const err = new Collector();

    // Act
    const helpCode = await run(['--help'], help);
    const bareCode = await run([], bare);
    const unknownCode = await main(['send', '--templte', template], new Collector(), err);

    // Assess
    expect(helpCode).toBe(0);
    expect(help.text).toContain('baton send --template FILE.mjml');
    expect(bareCode).toBe(2);
    expect(bare.text).toBe(help.text);
    expect(unknownCode).toBe(2);
    expect(err.text).toContain("baton: Unknown option '--templte'");
  });
});
