import type { RecipientRow, RecipientsPage } from '@baton/shared';
import type { LocalBaton } from '../../local/src/compose';
import { TEMPLATE, api, removeDir, startBaton, type View } from './helpers';

/**
 * Who got it and who did not, on the real local composition: a provider (the sink) that drops
 * 5% of its answers after taking the message, and throttles the first calls. The recipient list's
 * in-doubt recipients are exactly the dropped ones; once the provider's records can be read, each
 * settles as sent and nobody gets a second message. Live counts add up at every poll.
 */

const N = 200;
const ADDRESSES = Array.from({ length: N }, (_, i) => `reader${String(i).padStart(3, '0')}@example.com`);
const CSV = 'email,first_name,city,plan\n' + ADDRESSES.map((e, i) => `${e},R${i},Oslo,free`).join('\n') + '\nnot-an-email,X,Y,free\n';
const PARTS = [
  'sent',
  'failed',
  'invalid',
  'duplicate',
  'suppressed',
  'inDoubt',
  'cancelled',
  'inFlight',
  'queued',
  'retrying',
  'notAccepted',
];

describe('recipient lists and settling what is in doubt, end to end', () => {
  let baton: LocalBaton;
  let dataDir: string;
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    ({ baton, dataDir } = await startBaton({
      PER_MINUTE_MAX: '120',
      GOVERNOR_WINDOW_MS: '1000',
      GOVERNOR_MARGIN_MS: '100',
      MAX_WORKERS: '3',
      BATCH_SIZE: '10',
      SETTLE_AFTER_MS: '2000',
    }));
    call = api(baton);
  });

  afterAll(async () => {
    await baton?.stop();
    removeDir(dataDir);
  });

  async function create(csv: string): Promise<string> {
    const created = await call<View>('POST', '/api/campaigns', {
      name: 'Flaky',
      customerId: 'acme',
      from: 'Acme <news@acme.example>',
      subject: 'Hi {{ first_name }}',
      mjml: TEMPLATE,
      audienceCsv: csv,
    });
    expect(created.status).toBe(201);
    return created.body.id;
  }

  async function all(id: string, status?: string): Promise<RecipientRow[]> {
    const rows: RecipientRow[] = [];
    let cursor: string | null = null;
    do {
      const qs: URLSearchParams = new URLSearchParams({ limit: '37', ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) });
      const { status: code, body }: { status: number; body: RecipientsPage } = await call<RecipientsPage>(
        'GET',
        `/api/campaigns/${id}/recipients?${qs}`,
      );
      expect(code).toBe(200);
      rows.push(...body.recipients);
      cursor = body.next;
    } while (cursor);
    return rows;
  }

  async function until(what: string, check: () => Promise<boolean>, timeoutMs = 40_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('lists exactly the dropped addresses in doubt, then settles each as sent without resending', async () => {
    // Prepare: the provider's records cannot be read yet; it drops 5% of answers and throttles the first calls.
    const sink = baton.sink!;
    sink.setEventsAvailable(false);
    sink.setFaults({ seed: 11, dropAnswerShare: 0.05, dropMode: 'reset' });
    sink.failNext(4, 429);
    const id = await create(CSV);

    // Act: send, polling the counts the whole time.
    expect((await call('POST', `/api/campaigns/${id}/send`)).status).toBe(202);
    const polls: View['counts'][] = [];
    await until('the campaign is done', async () => {
      const { body } = await call<View>('GET', `/api/campaigns/${id}`);
      polls.push(body.counts);
      return body.status === 'done';
    });

    // Assess: counts added up at every poll (retrying recipients included).
    for (const c of polls) if ((c.total ?? 0) > 0) expect(PARTS.reduce((n, p) => n + (c[p] ?? 0), 0)).toBe(c.total);
    expect(polls.length).toBeGreaterThan(5);
    const dropped = sink
      .calls()
      .filter((c) => c.outcome === 'dropped')
      .map((c) => c.to)
      .sort();
    expect(dropped.length).toBeGreaterThan(0);
    const inDoubt = await all(id, 'in-doubt');
    expect(inDoubt.map((r) => r.email).sort()).toEqual(dropped);
    const everyone = await all(id);
    expect(everyone).toHaveLength(N + 1);
    expect(everyone.filter((r) => r.status === 'invalid').map((r) => r.email)).toEqual(['not-an-email']);
    expect(new Set(everyone.map((r) => r.email)).size).toBe(N + 1);
    // A 429 spends no attempt and puts its recipient straight back in the queue (the push-back
    // level paces it): each throttled one was sent later, and none failed.
    const throttled = sink
      .calls()
      .filter((c) => c.outcome === 'refused' && c.status === 429)
      .map((c) => c.to);
    expect(throttled).toHaveLength(4);
    for (const email of throttled) expect(everyone.find((r) => r.email === email)?.status).toMatch(/^(sent|inDoubt)$/);

    // Act: the provider's records can be read now.
    sink.setEventsAvailable(true);
    await until('nothing is in doubt', async () => (await call<View>('GET', `/api/campaigns/${id}`)).body.counts.inDoubt === 0);

    // Assess: each dropped one is sent with the provider's id; nobody got two messages.
    const rows = await all(id);
    const byEmail = new Map(rows.map((r) => [r.email, r]));
    const ids = new Map(sink.messages().map((m) => [m.to, m.id]));
    for (const email of dropped) {
      expect(byEmail.get(email)).toMatchObject({ status: 'sent', providerMessageId: ids.get(email) });
      expect(byEmail.get(email)!.reason).toMatch(/^SETTLED/);
    }
    const received = sink.messages().map((m) => m.to);
    expect(received).toHaveLength(new Set(received).size);
    expect(new Set(received)).toEqual(new Set(ADDRESSES));
    expect(rows.filter((r) => r.status === 'sent')).toHaveLength(N);
  }, 90_000);

  it('streams the same list as CSV', async () => {
    const id = (await call<{ campaigns: View[] }>('GET', '/api/campaigns')).body.campaigns[0]!.id;
    const res = await fetch(`${baton.url}/api/campaigns/${id}/recipients`, {
      headers: { authorization: `Bearer ${baton.apiToken}`, accept: 'text/csv' },
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await res.text()).trim().split('\r\n');
    expect(lines[0]).toBe('email,status,reason,at,providerMessageId,delivery');
    expect(lines).toHaveLength(N + 2);
    expect(lines.filter((l) => l.includes(',sent,'))).toHaveLength(N);
    // Bad input is named.
    const badStatus = await call<{ issues: { where: string }[] }>('GET', `/api/campaigns/${id}/recipients?status=lost`);
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.issues[0]!.where).toBe('query.status');
    expect((await call('GET', `/api/campaigns/${id}/recipients?cursor=nonsense`)).status).toBe(400);
    expect((await call('GET', `/api/campaigns/${id}/recipients?limit=0`)).status).toBe(400);
    expect((await call('GET', `/api/campaigns/nope-nope/recipients`)).status).toBe(404);
  });

  it('finds recipients by a part of their address, in any case, paged by the same cursor, as JSON and as CSV', async () => {
    // Prepare: the campaign of the first test (reader000…reader199, all sent, and the invalid `not-an-email`).
    const id = (await call<{ campaigns: View[] }>('GET', '/api/campaigns')).body.campaigns[0]!.id;
    const search = async (params: Record<string, string>) => {
      const found: string[] = [];
      const pages: number[] = [];
      let cursor: string | null = null;
      do {
        const qs: URLSearchParams = new URLSearchParams({ limit: '3', ...params, ...(cursor ? { cursor } : {}) });
        const { status, body }: { status: number; body: RecipientsPage } = await call<RecipientsPage>(
          'GET',
          `/api/campaigns/${id}/recipients?${qs}`,
        );
        expect(status).toBe(200);
        found.push(...body.recipients.map((r) => r.email ?? ''));
        pages.push(body.recipients.length);
        cursor = body.next;
      } while (cursor);
      return { found, pages };
    };
    const tens = (prefix: string) => Array.from({ length: 10 }, (_, i) => `${prefix}${i}@example.com`);

    // Act and assess: ten matches (each once), three a page, the last page without a cursor.
    const readers = await search({ q: 'READER01' });
    expect(readers.found.sort()).toEqual(tens('reader01')); // in the listing's order (recipient ids)
    expect(readers.pages).toEqual([3, 3, 3, 1]);
    expect((await search({ q: 'Reader01', status: 'sent' })).found.sort()).toEqual(tens('reader01'));
    expect((await search({ q: 'reader01', status: 'failed' })).found).toEqual([]);
    expect((await search({ q: 'not-an' })).found).toEqual(['not-an-email']);
    expect(await search({ q: 'nobody@' })).toEqual({ found: [], pages: [0] });

    // The CSV of a search: every match, whatever the page size.
    const res = await fetch(`${baton.url}/api/campaigns/${id}/recipients?format=csv&q=reader19`, {
      headers: { authorization: `Bearer ${baton.apiToken}` },
    });
    const lines = (await res.text()).trim().split('\r\n');
    expect(lines[0]).toBe('email,status,reason,at,providerMessageId,delivery');
    expect(
      lines
        .slice(1)
        .map((l) => l.split(',')[0])
        .sort(),
    ).toEqual(tens('reader19'));

    // Bad input is named.
    const tooLong = await call<{ issues: { where: string }[] }>('GET', `/api/campaigns/${id}/recipients?q=${'x'.repeat(321)}`);
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.issues[0]!.where).toBe('query.q');
  });

  it('marks in-doubt sends the provider never took notAccepted, and resends them only when asked', async () => {
    // Prepare: three calls fail with a 500 (in doubt; the sink stored nothing).
    const sink = baton.sink!;
    sink.clear();
    sink.setEventsAvailable(true);
    sink.failNext(3, 500);
    const few = ADDRESSES.slice(0, 12);
    const id = await create('email,first_name,city,plan\n' + few.map((e) => `${e},A,B,free`).join('\n') + '\n');
    expect((await call('POST', `/api/campaigns/${id}/send`)).status).toBe(202);
    await until('three are notAccepted', async () => (await call<View>('GET', `/api/campaigns/${id}`)).body.counts.notAccepted === 3);
    const refused = (await all(id, 'notAccepted')).map((r) => r.email!);
    expect(refused).toHaveLength(3);
    expect(sink.messages().map((m) => m.to)).not.toEqual(expect.arrayContaining(refused));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(sink.messages()).toHaveLength(9); // nothing resent on its own

    // Act
    const resent = await call<{ requeued: number }>('POST', `/api/campaigns/${id}/resend`, { status: 'notAccepted' });

    // Assess
    expect(resent).toEqual({ status: 200, body: { requeued: 3, skipped: [] } });
    await until('it is done again', async () => {
      const { body } = await call<View>('GET', `/api/campaigns/${id}`);
      return body.status === 'done' && body.counts.sent === 12;
    });
    expect(
      sink
        .messages()
        .map((m) => m.to)
        .sort(),
    ).toEqual([...few].sort());
    expect((await call('POST', `/api/campaigns/${id}/resend`, { status: 'failed' })).status).toBe(400);
  }, 60_000);
});
