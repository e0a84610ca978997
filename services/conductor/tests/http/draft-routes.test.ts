import { keys, type DraftProblem } from '@baton/shared';
import { buckets, DOMAIN } from '../fixtures';
import { auth, startApp } from './app-on-loopback';

const CSV = 'email,First Name,city\nann@example.com,Ann,Oslo\nnot-an-address,Bad,Rome\nbob@example.com,Bob,Bergen\n';

/** A template with an unsubscribe link, line by line so that lines can be asserted. */
function mjml(body: string): string {
  return [
    '<mjml>',
    '  <mj-body>',
    '    <mj-section>',
    '      <mj-column>',
    `        ${body}`,
    '        <mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>',
    '      </mj-column>',
    '    </mj-section>',
    '  </mj-body>',
    '</mjml>',
  ].join('\n');
}

const GOOD = { subject: 'Hi {{ first_name }}', mjml: mjml('<mj-text>Hello {{ first_name }} from {{ city }}</mj-text>') };

const start = startApp;

describe('the campaign editor API', () => {
  let h: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    h = await start();
  });
  afterAll(async () => {
    await h.app.close();
    await h.pool.close();
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the test reads whatever the API answered and asserts on it
  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${h.url}${path}`, {
      method,
      headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
  }

  async function create(extra: Record<string, unknown> = {}): Promise<string> {
    const res = await call('POST', '/api/campaigns', {
      name: 'Spring',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      ...GOOD,
      audienceCsv: CSV,
      ...extra,
    });
    expect(res.status).toBe(201);
    return res.json.id as string;
  }

  describe('POST /api/drafts/check', () => {
    it('finds nothing wrong with a good draft, and names the audience columns as the template uses them', async () => {
      const res = await call('POST', '/api/drafts/check', { ...GOOD, from: 'Acme <news@acme.example>', audienceCsv: CSV });
      expect(res.status).toBe(200);
      expect(res.json.columns).toEqual(['email', 'first_name', 'city']);
      // The bad address on line 3 is the only thing to say.
      expect(res.json.problems).toEqual([
        { field: 'audience', line: 3, severity: 'warning', code: 'AUDIENCE_ROW_INVALID', message: expect.stringContaining('skipped') },
      ]);
    });

    it('names a misspelt merge field with its line, in the template and the subject, and suggests the column', async () => {
      const draft = {
        subject: 'Hi {{ frist_name }}',
        mjml: mjml('<mj-text>Hello {{ frist_name }},\n{% if vip %}VIP{% endif %}</mj-text>'),
      };
      const res = await call('POST', '/api/drafts/check', { ...draft, audienceCsv: 'email,first_name\na@example.com,A\n' });
      expect(res.status).toBe(200);
      const unknown = (res.json.problems as DraftProblem[]).filter((p) => p.code === 'MERGE_FIELD_UNKNOWN');
      expect(unknown).toEqual([
        expect.objectContaining({
          field: 'subject',
          line: 1,
          severity: 'warning',
          message: expect.stringContaining('did you mean {{ first_name }}'),
        }),
        expect.objectContaining({ field: 'mjml', line: 5, message: expect.stringContaining('"frist_name"') }),
        expect.objectContaining({ field: 'mjml', line: 6, message: expect.stringContaining('"vip"') }),
      ]);
    });

    it('does not call the built-in fields unknown (email, unsubscribe_url)', async () => {
      const draft = { subject: 'For {{ email }}', mjml: mjml('<mj-text>{{ email }}</mj-text>') };
      const res = await call('POST', '/api/drafts/check', { ...draft, audienceCsv: 'e-mail\na@example.com\n' });
      expect(res.json.problems).toEqual([]);
    });

    it('lists an unclosed MJML element as an error on its MJML line, and a missing unsubscribe link as a warning', async () => {
      const draft = {
        subject: 'Hi',
        mjml: '<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-text>Hello\n</mj-column>\n</mj-section>\n</mj-body>\n</mjml>',
      };
      const res = await call('POST', '/api/drafts/check', draft);
      expect(res.status).toBe(200);
      expect(res.json.columns).toEqual([]);
      expect(res.json.problems).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            field: 'mjml',
            line: 5,
            severity: 'error',
            code: 'MJML_ERROR',
            message: expect.stringContaining('<mj-text> is never closed'),
          }),
          expect.objectContaining({ field: 'mjml', severity: 'warning', code: 'UNSUBSCRIBE_LINK_MISSING' }),
        ]),
      );
    });

    it("carries MJML's own validation errors with MJML's line", async () => {
      const res = await call('POST', '/api/drafts/check', { subject: 'Hi', mjml: mjml('<mj-text color="not a colour">x</mj-text>') });
      expect(res.json.problems).toEqual([expect.objectContaining({ field: 'mjml', line: 5, severity: 'error', code: 'MJML_ERROR' })]);
    });

    it('refuses a subject over 998 characters, and names a bad sender', async () => {
      const res = await call('POST', '/api/drafts/check', { ...GOOD, subject: 'x'.repeat(999), from: 'not a mailbox' });
      const codes = (res.json.problems as DraftProblem[]).map((p) => [p.field, p.code, p.severity]);
      expect(codes).toEqual(
        expect.arrayContaining([
          ['subject', 'SUBJECT_TOO_LONG', 'error'],
          ['from', 'FROM_INVALID', 'error'],
        ]),
      );
    });

    it('lists the audience header problems a create refuses, by line', async () => {
      const res = await call('POST', '/api/drafts/check', { ...GOOD, audienceCsv: 'name,city\nAnn,Oslo\n' });
      expect(res.json.columns).toEqual([]);
      expect(res.json.problems).toEqual([
        expect.objectContaining({ field: 'audience', line: 1, severity: 'error', code: 'AUDIENCE_NO_EMAIL_COLUMN' }),
      ]);
    });

    it('reads an uploaded audience by its key', async () => {
      const put = await fetch(`${h.url}/api/uploads/acme/list.csv`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'text/csv' },
        body: CSV,
      });
      expect(put.status).toBe(201);
      const res = await call('POST', '/api/drafts/check', { ...GOOD, audienceKey: 'uploads/acme/list.csv' });
      expect(res.status).toBe(200);
      expect(res.json.columns).toEqual(['email', 'first_name', 'city']);
    });

    it.each([
      ['no mjml', { subject: 'Hi' }, 'body.mjml'],
      ['a subject that is not text', { subject: 5, mjml: 'x' }, 'body.subject'],
      ['both audiences', { ...GOOD, audienceCsv: CSV, audienceKey: 'uploads/acme/list.csv' }, 'body.audienceCsv'],
      ['an audienceKey outside the uploads', { ...GOOD, audienceKey: 'conductor/governor.json' }, 'body.audienceKey'],
      ['an unknown field', { ...GOOD, name: 'x' }, 'body'],
    ])('answers 400 naming the field for %s', async (_what, body, where) => {
      const res = await call('POST', '/api/drafts/check', body);
      expect(res.status).toBe(400);
      expect(res.json.issues).toEqual(expect.arrayContaining([expect.objectContaining({ where: expect.stringContaining(where) })]));
    });

    it('answers 400 naming the audienceKey when it names no object', async () => {
      const res = await call('POST', '/api/drafts/check', { ...GOOD, audienceKey: 'uploads/acme/missing.csv' });
      expect(res.status).toBe(400);
      expect(res.json.issues).toEqual([{ where: 'body.audienceKey', message: 'no such object' }]);
    });
  });

  describe('POST /api/drafts/preview', () => {
    it('renders the chosen data row as that recipient gets it, with the values merged', async () => {
      const res = await call('POST', '/api/drafts/preview', { ...GOOD, audienceCsv: CSV, row: 3 });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({
        subject: 'Hi Bob',
        row: 3,
        values: { email: 'bob@example.com', first_name: 'Bob', city: 'Bergen' },
      });
      expect(res.json.html).toContain('Hello Bob from Bergen');
      expect(res.json.text).toContain('Hello Bob from Bergen');
    });

    it('renders the first data row by default, and with no audience renders empty fields', async () => {
      expect((await call('POST', '/api/drafts/preview', { ...GOOD, audienceCsv: CSV })).json).toMatchObject({ subject: 'Hi Ann', row: 1 });
      expect((await call('POST', '/api/drafts/preview', GOOD)).json).toMatchObject({ subject: 'Hi', row: 0, values: {} });
    });

    it('escapes merge data in the HTML', async () => {
      const res = await call('POST', '/api/drafts/preview', { ...GOOD, audienceCsv: 'email,first_name,city\na@example.com,<b>A</b>,x\n' });
      expect(res.json.html).toContain('&lt;b&gt;A&lt;/b&gt;');
    });

    it('signs its unsubscribe link so that the conductor refuses it: a click in a preview unsubscribes nobody', async () => {
      const res = await call('POST', '/api/drafts/preview', { ...GOOD, audienceCsv: CSV, customerId: 'acme' });
      const link = /href="([^"]*\/unsubscribe\/[^"]*)"/.exec(res.json.html as string)?.[1];
      expect(link).toBeDefined();
      const path = new URL(link!).pathname;
      const click = await fetch(`${h.url}${path}`, {
        method: 'POST',
        body: 'List-Unsubscribe=One-Click',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(click.status).toBe(404);
    });

    it('answers 400 naming body.row for a row that is not there or is not sent', async () => {
      const past = await call('POST', '/api/drafts/preview', { ...GOOD, audienceCsv: CSV, row: 4 });
      expect(past.status).toBe(400);
      expect(past.json.issues).toEqual([{ where: 'body.row', message: expect.stringContaining('3 data rows') }]);
      const skipped = await call('POST', '/api/drafts/preview', { ...GOOD, audienceCsv: CSV, row: 2 });
      expect(skipped.json.issues).toEqual([{ where: 'body.row', message: expect.stringMatching(/data row 2 \(line 3\) is not sent/) }]);
      const zero = await call('POST', '/api/drafts/preview', { ...GOOD, row: 0 });
      expect(zero.status).toBe(400);
      expect(zero.json.issues).toEqual([expect.objectContaining({ where: 'body.row' })]);
    });

    it('reads only the first 64 KiB of an audience, however much is sent', async () => {
      const rows = Array.from({ length: 5_000 }, (_, i) => `reader${i}@example.com,Reader ${i},Oslo`).join('\n');
      const res = await call('POST', '/api/drafts/preview', { ...GOOD, audienceCsv: `email,first_name,city\n${rows}\n`, row: 4_000 });
      expect(res.status).toBe(400);
      expect(res.json.issues).toEqual([{ where: 'body.row', message: expect.stringContaining('in the first 65,536 bytes read') }]);
    });

    it('answers 400 listing the errors of a template a create would refuse', async () => {
      const res = await call('POST', '/api/drafts/preview', { subject: 'Hi', mjml: '<mjml><mj-body><mj-text>x</mj-body></mjml>' });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('TEMPLATE_INVALID');
    });
  });

  describe('GET /api/campaigns/:id/preview?row=N', () => {
    it('renders the chosen row of the stored audience, and the first sent row without one', async () => {
      const id = await create();
      const chosen = await call('GET', `/api/campaigns/${id}/preview?row=3`);
      expect(chosen.json).toMatchObject({ subject: 'Hi Bob', row: 3 });
      const first = await call('GET', `/api/campaigns/${id}/preview`);
      expect(first.json.subject).toBe('Hi Ann');
      const bad = await call('GET', `/api/campaigns/${id}/preview?row=2`);
      expect(bad.status).toBe(400);
      expect(bad.json.issues).toEqual([{ where: 'query.row', message: expect.stringContaining('is not sent') }]);
      const zero = await call('GET', `/api/campaigns/${id}/preview?row=zero`);
      expect(zero.status).toBe(400);
      expect(zero.json.issues).toEqual([expect.objectContaining({ where: 'query.row' })]);
    });
  });

  describe('GET /api/campaigns/:id/definition (Clone)', () => {
    it('gives what a create takes back, and a clone made from it keeps its audience when the original is deleted', async () => {
      const sendWindow = { timeZone: 'Europe/Berlin', days: ['mon'], start: '08:00', end: '18:00' };
      const id = await create({ sendWindow });
      const res = await call('GET', `/api/campaigns/${id}/definition`);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({
        name: 'Spring',
        customerId: 'acme',
        sendingDomain: DOMAIN,
        from: 'Acme <news@acme.example>',
        ...GOOD,
        audienceKey: keys.audience({ customerId: 'acme', campaignId: id }),
        sendWindow,
      });
      const clone = await call('POST', '/api/campaigns', { ...res.json, name: 'Spring (copy)' });
      expect(clone.status).toBe(201);
      expect(await call('DELETE', `/api/campaigns/${id}`)).toMatchObject({ status: 204 });
      const preview = await call('GET', `/api/campaigns/${clone.json.id}/preview?row=3`);
      expect(preview.json.subject).toBe('Hi Bob');
    });

    it("refuses another customer's campaign audience as an audienceKey", async () => {
      const id = await create();
      const res = await call('POST', '/api/campaigns', {
        name: 'x',
        customerId: 'other',
        from: 'a@example.com',
        ...GOOD,
        audienceKey: keys.audience({ customerId: 'acme', campaignId: id }),
      });
      expect(res.status).toBe(400);
      expect(res.json.issues).toEqual([expect.objectContaining({ where: 'body.audienceKey' })]);
    });

    it('answers 404 for an unknown campaign', async () => {
      expect((await call('GET', '/api/campaigns/nope-123/definition')).status).toBe(404);
    });
  });

  describe('DELETE /api/campaigns/:id', () => {
    it('deletes a draft and everything stored under it, and nothing else: a restarted conductor does not bring it back', async () => {
      const keep = await create();
      const id = await create();
      const ref = { customerId: 'acme', campaignId: id };
      // A ledger entry of the same customer must outlive it (nothing a draft sent, but the rule holds).
      await h.store.put(buckets.campaigns, 'ledger/acme/other/claims/00/x', 'kept');
      const res = await call('DELETE', `/api/campaigns/${id}`);
      expect(res.status).toBe(204);
      expect((await call('GET', `/api/campaigns/${id}`)).status).toBe(404);
      expect(((await call('GET', '/api/campaigns')).json.campaigns as { id: string }[]).map((c) => c.id)).not.toContain(id);
      expect((await h.store.list(buckets.campaigns, keys.campaignPrefix(ref))).keys).toEqual([]);
      expect(await h.store.get(buckets.campaigns, 'ledger/acme/other/claims/00/x')).toBe('kept');
      expect(await h.store.get(buckets.campaigns, keys.campaign({ customerId: 'acme', campaignId: keep }))).toBeDefined();

      const again = await start(h.store);
      try {
        const ids = again.conductor.listCampaigns().map((c) => c.id);
        expect(ids).toContain(keep);
        expect(ids).not.toContain(id);
      } finally {
        await again.app.close();
        await again.pool.close();
      }
    });

    it('keeps an uploaded audience another campaign may use', async () => {
      await fetch(`${h.url}/api/uploads/acme/shared.csv`, { method: 'PUT', headers: { ...auth, 'content-type': 'text/csv' }, body: CSV });
      const id = await create({ audienceCsv: undefined, audienceKey: 'uploads/acme/shared.csv' });
      expect((await call('DELETE', `/api/campaigns/${id}`)).status).toBe(204);
      expect(await h.store.get(buckets.campaigns, 'uploads/acme/shared.csv')).toBe(CSV);
    });

    it('deletes a draft that was cancelled before it was ever sent', async () => {
      const id = await create();
      expect((await call('POST', `/api/campaigns/${id}/cancel`)).status).toBe(200);
      expect((await call('DELETE', `/api/campaigns/${id}`)).status).toBe(204);
    });

    it.each([
      ['scheduled', { sendAt: '2026-12-01T09:00:00Z' }, undefined],
      ['sending', {}, 'send'],
      ['cancelled after sending was asked for', {}, 'send,cancel'],
    ])('answers 409 for a campaign that is %s, and keeps it', async (_what, extra, actions) => {
      const id = await create(extra);
      for (const action of actions?.split(',') ?? []) await call('POST', `/api/campaigns/${id}/${action}`, {});
      const res = await call('DELETE', `/api/campaigns/${id}`);
      expect(res.status).toBe(409);
      expect(res.json.error).toBe('CAMPAIGN_STATE_CONFLICT');
      expect((await call('GET', `/api/campaigns/${id}`)).status).toBe(200);
    });

    it('answers 404 for an unknown campaign', async () => {
      expect((await call('DELETE', '/api/campaigns/nope-123')).status).toBe(404);
    });
  });
});
