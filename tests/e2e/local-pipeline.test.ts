import { keys } from '@baton/shared';
import type { LocalBaton } from '../../local/src/compose';
import { TEMPLATE, api, busiestWindows, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

/**
 * The whole pipeline on one machine, through the real HTTP API, the filesystem store and its
 * events, the in-process functions, mailgun.js and the Mailgun-compatible sink over loopback.
 */

const LONG_UNICODE = 'Zoë 東京 🚀 مرحبا '.repeat(300); // ~5,000 characters
const TROUBLE_ROWS: { csv: string; valid?: string; kind?: 'invalid' | 'duplicate' }[] = [
  { csv: 'ann@example.com,Ann,"Paris, France",pro', valid: 'ann@example.com' },
  { csv: ' ANN@Example.com ,Ann again,Lyon,pro', kind: 'duplicate' },
  { csv: 'bob@example.com,"Bob\non two lines",Berlin,free', valid: 'bob@example.com' },
  { csv: 'not-an-email,Nobody,Nowhere,free', kind: 'invalid' },
  { csv: 'carol@example.com,<script>alert(1)</script>,Rome,pro', valid: 'carol@example.com' },
  { csv: 'dave@example.com,"Dave\r\nBcc: victim@evil.example",Oslo,free', valid: 'dave@example.com' },
  { csv: 'eve@example.com,Eve,Tokyo', kind: 'invalid' },
  { csv: 'frank@example.com,Frank,Madrid,pro,extra', kind: 'invalid' },
  { csv: '"x@example.com\nBcc: y@example.com",X,Y,pro', kind: 'invalid' },
  { csv: `long@example.com,${LONG_UNICODE},Kraków,pro`, valid: 'long@example.com' },
  { csv: 'grace@example.com,Grace,"Say ""hi""",free', valid: 'grace@example.com' },
  { csv: 'Heidi@Example.COM,Heidi,Zürich,pro', valid: 'heidi@example.com' },
  { csv: 'heidi@example.com,Heidi twice,Bern,pro', kind: 'duplicate' },
];
const PLAIN = Array.from({ length: 30 }, (_, i) => `r${String(i).padStart(2, '0')}@example.com`);
const CSV =
  '\uFEFFemail,first_name,city,plan\r\n' +
  [...TROUBLE_ROWS.map((r) => r.csv), ...PLAIN.map((e, i) => `${e},Reader ${i},Oslo,free`)].join('\r\n') +
  '\r\n';
const VALID = [...TROUBLE_ROWS.filter((r) => r.valid).map((r) => r.valid!), ...PLAIN];

const CAP = 15;
const WINDOW_MS = 1_000;

describe('the local pipeline, end to end', () => {
  let baton: LocalBaton;
  let dataDir: string;
  let finished: View;

  beforeAll(async () => {
    ({ baton, dataDir } = await startBaton({
      PER_MINUTE_MAX: String(CAP),
      GOVERNOR_WINDOW_MS: String(WINDOW_MS),
      GOVERNOR_MARGIN_MS: '100',
      MAX_WORKERS: '3',
      BATCH_SIZE: '4',
    }));
    const call = api(baton);
    const created = await call<View>('POST', '/api/campaigns', {
      name: 'Trouble',
      customerId: 'acme',
      from: 'Acme News <news@acme.example>',
      subject: 'Hi {{ first_name }}!',
      mjml: TEMPLATE,
      audienceCsv: CSV,
    });
    expect(created.status).toBe(201);
    expect((await call('POST', `/api/campaigns/${created.body.id}/send`)).status).toBe(202);
    finished = await waitUntilFinished(baton, created.body.id);
  });

  afterAll(async () => {
    await baton?.stop();
    removeDir(dataDir);
  });

  it('sends every valid recipient exactly one message and nobody else any', () => {
    const received = baton.sink!.messages().map((m) => m.to.toLowerCase());
    expect([...received].sort()).toEqual([...VALID].sort());
  });

  it('finishes with counts that add up to the audience rows', () => {
    const c = finished.counts;
    expect(finished.status).toBe('done');
    expect(c).toMatchObject({
      total: TROUBLE_ROWS.length + PLAIN.length,
      stubbed: VALID.length,
      rendered: VALID.length,
      sent: VALID.length,
      invalid: TROUBLE_ROWS.filter((r) => r.kind === 'invalid').length,
      duplicate: TROUBLE_ROWS.filter((r) => r.kind === 'duplicate').length,
      failed: 0,
      inDoubt: 0,
    });
    expect(c.sent! + c.failed! + c.suppressed! + c.inDoubt! + c.cancelled! + c.invalid! + c.duplicate!).toBe(c.total);
  });

  it('reports each invalid and duplicate row with its line', () => {
    const lines = finished.problems.map((p) => `${p.line}:${p.kind}`);
    // Line 1 is the header; quoted line breaks make Bob's, Dave's and X's rows span two lines each.
    expect(lines.sort()).toEqual(['10:invalid', '11:invalid', '12:invalid', '17:duplicate', '3:duplicate', '6:invalid']);
    expect(finished.problems.find((p) => p.line === 3)!.reason).toMatch(/line 2/);
  });

  it('never puts CR, LF or NUL into a header', () => {
    for (const m of baton.sink!.messages()) {
      for (const value of [m.from, m.to, m.subject, ...Object.values(m.headers)]) expect(value).not.toMatch(/[\r\n\0]/);
    }
    const dave = baton.sink!.messages().find((m) => m.to === 'dave@example.com')!;
    expect(dave.subject).toBe('Hi Dave Bcc: victim@evil.example!');
    expect(dave.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
  });

  it('delivers markup from merge fields escaped, and long unicode values intact', () => {
    const carol = baton.sink!.messages().find((m) => m.to === 'carol@example.com')!;
    expect(carol.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(carol.html).not.toContain('<script>');
    expect(carol.html).toContain('Pro perks inside');
    const long = baton.sink!.messages().find((m) => m.to === 'long@example.com')!;
    expect(long.html).toContain(LONG_UNICODE.trim());
    expect(long.text).toContain(LONG_UNICODE.trim());
    const grace = baton.sink!.messages().find((m) => m.to === 'grace@example.com')!;
    expect(grace.html).not.toContain('Pro perks inside');
  });

  it('never lets provider calls in a calendar window exceed the cap', () => {
    const times = baton.sink!.messages().map((m) => m.receivedAt);
    const { calendar } = busiestWindows(times, WINDOW_MS);
    expect(calendar).toBeLessThanOrEqual(CAP);
    // The campaign needs ceil(36 / 15) = 3 windows at least: the cap really held it back.
    const windows = new Set(times.map((t) => Math.floor(t / WINDOW_MS)));
    expect(windows.size).toBeGreaterThanOrEqual(Math.ceil(VALID.length / CAP));
  });

  it('sends nothing again when SNS and S3 deliver their events a second time', async () => {
    const before = baton.sink!.messages().length;
    const message = {
      version: 1,
      type: 'campaign.requested',
      customerId: 'acme',
      campaignId: finished.id,
      requestedAt: new Date().toISOString(),
    };
    baton.functions.stubber.invoke({ Records: [{ Sns: { Message: JSON.stringify(message) } }] });
    const stubKeys = await baton.store.list('stubs', `stubs/acme/${finished.id}/`);
    for (const key of stubKeys.keys.slice(0, 5)) {
      baton.functions.renderer.invoke({
        Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'stubs' }, object: { key } } }],
      });
    }
    await baton.functions.stubber.idle();
    await baton.functions.renderer.idle();
    await new Promise((r) => setTimeout(r, 300)); // several conductor ticks
    expect(baton.sink!.messages()).toHaveLength(before);
    expect((await api(baton)<View>('GET', `/api/campaigns/${finished.id}`)).body.counts).toEqual(finished.counts);
  });
});

describe('the local pipeline in the qa stage', () => {
  it('lets no address outside QA_ALLOWED_RECIPIENTS reach the provider', async () => {
    const { baton, dataDir } = await startBaton({
      BATON_STAGE: 'qa',
      QA_ALLOWED_RECIPIENTS: '@qa.example.com, boss@example.com',
      BATON_API_TOKEN: 'qa-api-token-0123456789',
      BATON_LEASE_TOKEN: 'qa-lease-token-0123456789',
      BATON_UNSUBSCRIBE_SECRET: 'qa-unsubscribe-secret-0123456789',
      MAILGUN_DOMAIN: 'mg.qa.example.com',
    });
    try {
      const call = api(baton);
      const csv =
        'email,first_name\nann@qa.example.com,Ann\nboss@example.com,Boss\nreal.person@example.com,Real\nsomeone@gmail.example,Someone\nbob@QA.example.com,Bob\n';
      const body = { name: 'QA', customerId: 'acme', from: 'qa@qa.example.com', subject: 'QA {{ first_name }}', mjml: TEMPLATE };
      // The create refuses such an audience, naming its lines…
      const refused = await call<{ issues: { where: string }[] }>('POST', '/api/campaigns', { ...body, audienceCsv: csv });
      expect(refused.status).toBe(400);
      expect(refused.body.issues.map((i) => i.where)).toEqual(['audience line 4', 'audience line 5', 'audience']);
      // …and the worker's fence stays the last one: an audience replaced in the store after the
      // create (a production copy dropped into QA's bucket) is still refused message by message.
      const created = await call<View>('POST', '/api/campaigns', { ...body, audienceCsv: 'email,first_name\nann@qa.example.com,Ann\n' });
      await baton.store.put('campaigns', keys.audience({ customerId: 'acme', campaignId: created.body.id }), csv);
      await call('POST', `/api/campaigns/${created.body.id}/send`);
      const view = await waitUntilFinished(baton, created.body.id);

      expect(
        baton
          .sink!.messages()
          .map((m) => m.to.toLowerCase())
          .sort(),
      ).toEqual(['ann@qa.example.com', 'bob@qa.example.com', 'boss@example.com']);
      expect(view.counts).toMatchObject({ total: 5, sent: 3, suppressed: 2, failed: 0, inDoubt: 0 });
      const testSend = await call('POST', `/api/campaigns/${created.body.id}/test-send`, { to: 'real.person@example.com' });
      expect(testSend.status).toBe(400);
      expect(baton.sink!.messages()).toHaveLength(3);
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });
});

describe('a conductor restarted mid-campaign', () => {
  it('resumes from the ledger: nobody gets a second message and nobody is lost', async () => {
    const env = {
      PER_MINUTE_MAX: '8',
      GOVERNOR_WINDOW_MS: '1000',
      GOVERNOR_MARGIN_MS: '100',
      LEASE_HORIZON_MS: '500',
      MAX_WORKERS: '2',
      BATCH_SIZE: '3',
    };
    const first = await startBaton(env);
    const recipients = Array.from({ length: 30 }, (_, i) => `p${i}@example.com`);
    let secondSink: string[];
    const firstSink: string[] = [];
    try {
      const call = api(first.baton);
      const created = await call<View>('POST', '/api/campaigns', {
        name: 'Restart',
        customerId: 'acme',
        from: 'news@acme.example',
        subject: 'Hi',
        mjml: TEMPLATE,
        audienceCsv: 'email,first_name\n' + recipients.map((e) => `${e},P`).join('\n'),
      });
      await call('POST', `/api/campaigns/${created.body.id}/send`);
      while (first.baton.sink!.messages().length < 8) await new Promise((r) => setTimeout(r, 20));
      await first.baton.stop();
      firstSink.push(...first.baton.sink!.messages().map((m) => m.to));
      expect(firstSink.length).toBeLessThan(recipients.length);

      const second = await startBaton(env, first.dataDir);
      try {
        const view = await waitUntilFinished(second.baton, created.body.id);
        secondSink = second.baton.sink!.messages().map((m) => m.to);
        expect(view.counts).toMatchObject({ sent: recipients.length, inDoubt: 0, failed: 0 });
      } finally {
        await second.baton.stop();
      }
      expect([...firstSink, ...secondSink].sort()).toEqual([...recipients].sort());
    } finally {
      removeDir(first.dataDir);
    }
  });
});

describe('a conductor killed mid-campaign', () => {
  it('is restarted from the store: nobody gets a second message, nobody is lost, the cap holds across both', async () => {
    // Prepare: 8 a second, in 100 ms slices.
    const env = {
      PER_MINUTE_MAX: '8',
      GOVERNOR_WINDOW_MS: '1000',
      GOVERNOR_SLICE_MS: '100',
      GOVERNOR_MARGIN_MS: '100',
      LEASE_HORIZON_MS: '500',
      MAX_WORKERS: '2',
      BATCH_SIZE: '3',
    };
    const first = await startBaton(env);
    const recipients = Array.from({ length: 30 }, (_, i) => `k${i}@example.com`);
    try {
      const call = api(first.baton);
      const created = await call<View>('POST', '/api/campaigns', {
        name: 'Kill',
        customerId: 'acme',
        from: 'news@acme.example',
        subject: 'Hi',
        mjml: TEMPLATE,
        audienceCsv: 'email,first_name\n' + recipients.map((e) => `${e},K`).join('\n'),
      });
      await call('POST', `/api/campaigns/${created.body.id}/send`);
      while (first.baton.sink!.messages().length < 6) await new Promise((r) => setTimeout(r, 10));
      // Act: the conductor dies mid-lease; its workers carry on alone.
      await first.baton.killConductor();
      const second = await startBaton(env, first.dataDir);
      let view: View;
      try {
        view = await waitUntilFinished(second.baton, created.body.id);
      } finally {
        await second.baton.stop();
        await first.baton.stop();
      }
      // Assess
      const all = [...first.baton.sink!.messages(), ...second.baton.sink!.messages()];
      const to = all.map((m) => m.to);
      expect(new Set(to).size).toBe(to.length); // nobody twice
      // Nobody lost: sent, or (claimed by a worker of the dead conductor whose report never came) in doubt.
      const { sent = 0, inDoubt = 0 } = view!.counts;
      expect(sent + inDoubt).toBe(recipients.length);
      expect(sent).toBeGreaterThanOrEqual(to.length - inDoubt);
      expect(recipients.filter((e) => !to.includes(e)).length).toBeLessThanOrEqual(inDoubt);
      // What the dead conductor granted still counted: no window over the cap, across both.
      const { calendar, sliding } = busiestWindows(
        all.map((m) => m.receivedAt),
        1_000,
      );
      expect(calendar).toBeLessThanOrEqual(8);
      expect(sliding).toBeLessThanOrEqual(8);
    } finally {
      removeDir(first.dataDir);
    }
  });
});
