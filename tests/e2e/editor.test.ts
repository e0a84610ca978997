import { sampleCampaign } from '../../local/src/compose';
import { removeDir, startBaton, waitUntilFinished, type View } from './helpers';

interface Problem {
  field: string;
  line?: number;
  severity: string;
  code: string;
  message: string;
}

interface InboxPage {
  messages: { id: string; to: string; from: string; subject: string; receivedAt: string; campaignId?: string }[];
  next?: string;
  total: number;
}

/**
 * The campaign editor and the local inbox through the real local composition (`npm start`'s):
 * check and preview a draft, create it, delete another, send, and read every message back.
 */
describe('editing a campaign and reading the local inbox, on the local composition', () => {
  let started: Awaited<ReturnType<typeof startBaton>>;
  beforeAll(async () => {
    started = await startBaton();
  });
  afterAll(async () => {
    await started.baton.stop();
    removeDir(started.dataDir);
  });

  async function call<T = Record<string, unknown>>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(started.baton.url + route, {
      method,
      headers: {
        authorization: `Bearer ${started.baton.apiToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  it('checks and previews the sample as a marketer edits it, creates it, deletes a draft, sends, and pages through the inbox', async () => {
    const sample = sampleCampaign();
    const draft = { subject: sample.subject, mjml: sample.mjml, from: sample.from, audienceCsv: sample.audienceCsv };

    // The sample is clean: its columns are known, its unsubscribe link is visible.
    const clean = await call<{ columns: string[]; problems: Problem[] }>('POST', '/api/drafts/check', draft);
    expect(clean.status).toBe(200);
    expect(clean.body).toEqual({ columns: ['email', 'first_name', 'city', 'plan'], problems: [] });

    // A misspelt merge field is named, with its line.
    const misspelt = await call<{ problems: Problem[] }>('POST', '/api/drafts/check', {
      ...draft,
      mjml: sample.mjml.replace('{{ first_name | default: "there" }}', '{{ frist_name }}'),
    });
    expect(misspelt.body.problems).toEqual([
      expect.objectContaining({ field: 'mjml', line: 17, code: 'MERGE_FIELD_UNKNOWN', message: expect.stringContaining('frist_name') }),
    ]);

    // The preview of row 2 is what Grace will get.
    const preview = await call<{ subject: string; html: string; row: number }>('POST', '/api/drafts/preview', { ...draft, row: 2 });
    expect(preview.body).toMatchObject({ subject: 'Welcome aboard, Grace!', row: 2 });
    expect(preview.body.html).toContain('São Paulo');

    const create = () => call<View>('POST', '/api/campaigns', sample);
    const discarded = (await create()).body.id;
    expect((await call('DELETE', `/api/campaigns/${discarded}`)).status).toBe(204);
    const { id } = (await create()).body;
    const listed = (await call<{ campaigns: View[] }>('GET', '/api/campaigns')).body.campaigns.map((c) => c.id);
    expect(listed).toEqual([id]);

    expect((await call('POST', `/api/campaigns/${id}/send`)).status).toBe(202);
    await waitUntilFinished(started.baton, id);

    // Every message, newest first, in pages of 20.
    const seen: InboxPage['messages'] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const res = await call<InboxPage>('GET', `/api/local/inbox?campaignId=${id}&limit=20${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(50);
      seen.push(...res.body.messages);
      cursor = res.body.next;
      if (cursor === undefined) break;
    }
    expect(seen).toHaveLength(50);
    expect(new Set(seen.map((m) => m.id)).size).toBe(50);
    const times = seen.map((m) => Date.parse(m.receivedAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(seen.every((m) => m.campaignId === id && m.from === 'Baton Sample <hello@example.com>')).toBe(true);

    // A text query, and one message opened with its headers and both parts.
    const found = await call<InboxPage>('GET', '/api/local/inbox?q=READER02@');
    expect(found.body).toMatchObject({ total: 1, messages: [{ to: 'reader02@example.com', subject: 'Welcome aboard, Grace!' }] });
    const opened = await call<{ headers: Record<string, string>; text: string; html: string; subject: string }>(
      'GET',
      `/api/local/inbox/${encodeURIComponent(found.body.messages[0]!.id)}`,
    );
    expect(opened.status).toBe(200);
    expect(opened.body.subject).toBe('Welcome aboard, Grace!');
    expect(opened.body.headers['List-Unsubscribe']).toMatch(/^<http.*\/unsubscribe\//);
    expect(opened.body.text).toContain('São Paulo');
    expect(opened.body.html).toContain('São Paulo');

    // Other campaigns' filter, a missing message, a bad query.
    expect((await call<InboxPage>('GET', '/api/local/inbox?campaignId=none-such')).body).toEqual({ messages: [], total: 0 });
    expect((await call('GET', '/api/local/inbox/nope@mg.example.com')).status).toBe(404);
    const bad = await call<{ issues: { where: string }[] }>('GET', '/api/local/inbox?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.issues).toEqual([expect.objectContaining({ where: 'query.limit' })]);
  });
});
