import net from 'node:net';
import { keys } from '@baton/shared';
import { NESTED_LOOPS_MJML, SIMPLE_MJML } from '../robustness/hostile';
import { buckets } from '../fixtures';
import { auth, startApp } from './app-on-loopback';

const CSV = 'email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n';
const FIELDS = { name: 'Spring', customerId: 'acme', from: 'Acme <news@acme.example>', subject: 'Hi {{ first_name }}', mjml: SIMPLE_MJML };

/** The real app on loopback, with small limits so that tests can pass them. */
const start = () => startApp(undefined, { bodyLimits: { jsonBytes: 4_096, audienceBytes: 100_000 }, expensivePerToken: 2 });

function form(fields: Record<string, string>, audience?: string): FormData {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) body.append(k, v);
  if (audience !== undefined) body.append('audience', new Blob([audience], { type: 'text/csv' }), 'audience.csv');
  return body;
}

/** `text` `times` times, as a stream of one copy a chunk (sent chunked: no Content-Length). */
function chunked(text: string, times: number): ReadableStream<Uint8Array> {
  let sent = 0;
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    pull(controller) {
      if (sent++ < times) controller.enqueue(bytes);
      else controller.close();
    },
  });
}

describe('creating a campaign with its audience streamed in', () => {
  let h: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    h = await start();
  });
  afterAll(async () => {
    await h.app.close();
    await h.pool.close();
  });

  it('takes a multipart create: the fields, then the audience as a file part, stored as sent', async () => {
    const res = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: form(FIELDS, CSV) });
    expect(res.status).toBe(201);
    const view = (await res.json()) as { id: string; status: string };
    expect(view.status).toBe('draft');
    expect(await h.store.get(buckets.campaigns, keys.audience({ customerId: 'acme', campaignId: view.id }))).toBe(CSV);
  });

  it.each([
    ['a second file part', (body: FormData) => body.append('audience2', new Blob([CSV], { type: 'text/csv' }), 'b.csv'), 'body'],
    ['a second audience', (body: FormData) => body.append('audience', new Blob([CSV], { type: 'text/csv' }), 'b.csv'), 'body'],
    ['a field after the audience', (body: FormData) => body.append('description', 'late'), 'body.description'],
  ])('refuses a multipart create with %s, naming it, and leaves no campaign made', async (_name, extra, where) => {
    // Prepare
    const before = (await (await fetch(`${h.url}/api/campaigns`, { headers: auth })).json()) as { campaigns: unknown[] };
    const body = form(FIELDS, CSV);
    extra(body);

    // Act
    const res = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body });

    // Assess
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string; issues: { where: string; message: string }[] };
    expect(answer.error).toBe('CAMPAIGN_INVALID');
    expect(answer.issues[0]).toMatchObject({ where, message: expect.stringMatching(/audience/) });
    const after = (await (await fetch(`${h.url}/api/campaigns`, { headers: auth })).json()) as { campaigns: unknown[] };
    expect(after.campaigns).toHaveLength(before.campaigns.length);
  });

  it.each([
    ['a time ahead', '2026-12-24T09:00:00Z', 'scheduled'],
    ['a time already past', '2026-01-01T00:00:00Z', 'sending'],
  ])(
    'schedules a multipart create for %s only once every part is read: refused after its audience, it leaves no campaign made',
    async (_name, sendAt, status) => {
      // Prepare
      const before = (await (await fetch(`${h.url}/api/campaigns`, { headers: auth })).json()) as { campaigns: unknown[] };
      const refused = form({ ...FIELDS, sendAt }, CSV);
      refused.append('description', 'late');

      // Act
      const res = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: refused });
      const taken = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: form({ ...FIELDS, sendAt }, CSV) });

      // Assess
      expect(res.status).toBe(400);
      expect(((await res.json()) as { issues: { where: string }[] }).issues[0]?.where).toBe('body.description');
      expect(taken.status).toBe(201);
      expect(await taken.json()).toMatchObject({ status });
      const after = (await (await fetch(`${h.url}/api/campaigns`, { headers: auth })).json()) as { campaigns: unknown[] };
      expect(after.campaigns).toHaveLength(before.campaigns.length + 1);
    },
  );

  it('refuses a multipart create of more parts than the form takes, naming the bound, and leaves no campaign made', async () => {
    // Prepare: eleven text fields before the audience.
    const before = (await (await fetch(`${h.url}/api/campaigns`, { headers: auth })).json()) as { campaigns: unknown[] };
    const fields = { ...FIELDS, ...Object.fromEntries(Array.from({ length: 11 - Object.keys(FIELDS).length }, (_, i) => [`x${i}`, 'y'])) };

    // Act
    const res = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: form(fields, CSV) });

    // Assess
    expect(res.status).toBe(400);
    expect(((await res.json()) as { issues: unknown[] }).issues).toEqual([{ where: 'body', message: 'holds more than 10 text fields' }]);
    const after = (await (await fetch(`${h.url}/api/campaigns`, { headers: auth })).json()) as { campaigns: unknown[] };
    expect(after.campaigns).toHaveLength(before.campaigns.length);
  });

  it('schedules a multipart create, its send window given as JSON text', async () => {
    // Prepare
    const sendWindow = { timeZone: 'Europe/Berlin', days: ['mon'], start: '08:00', end: '18:00' };
    const fields = { ...FIELDS, sendAt: '2026-11-23T08:00:00+01:00', sendWindow: JSON.stringify(sendWindow) };
    // Act
    const res = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: form(fields, CSV) });
    // Assess
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ status: 'scheduled', sendAt: '2026-11-23T07:00:00.000Z', sendWindow });
  });

  it('names a multipart send window that is not JSON', async () => {
    const res = await fetch(`${h.url}/api/campaigns`, {
      method: 'POST',
      headers: auth,
      body: form({ ...FIELDS, sendWindow: 'mornings' }, CSV),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('body.sendWindow');
  });

  it("refuses a multipart create whose audience has no email column, naming the header's problem", async () => {
    const res = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: form(FIELDS, 'name,city\nAnn,Oslo\n') });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('AUDIENCE_NO_EMAIL_COLUMN');
  });

  it('takes a raw text/csv upload, which a JSON create then names by its key', async () => {
    const up = await fetch(`${h.url}/api/uploads/acme/spring.csv`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/csv' },
      body: CSV,
    });
    expect(up.status).toBe(201);
    const { audienceKey } = (await up.json()) as { audienceKey: string };
    expect(audienceKey).toBe('uploads/acme/spring.csv');
    const res = await fetch(`${h.url}/api/campaigns`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ ...FIELDS, audienceKey }),
    });
    expect(res.status).toBe(201);
  });

  it("creates from an upload's key reading only the upload's head (a ranged read), never the whole object", async () => {
    // Prepare: an upload far longer than the head (64 KiB).
    const rows = Array.from({ length: 20_000 }, (_, i) => `r${i}@example.com,R${i}\n`).join('');
    await h.store.put(buckets.campaigns, 'uploads/acme/long.csv', `email,first_name\n${rows}`);
    h.store.calls.length = 0;

    // Act
    const res = await fetch(`${h.url}/api/campaigns`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ ...FIELDS, audienceKey: 'uploads/acme/long.csv' }),
    });

    // Assess
    expect(res.status).toBe(201);
    const reads = h.store.calls.filter((c) => c.key === 'uploads/acme/long.csv').map((c) => c.op);
    expect(reads).toEqual(['getHead']);
  });

  it("refuses a create from an upload's key whose head has no email column, or that names no object", async () => {
    // Prepare
    await h.store.put(buckets.campaigns, 'uploads/acme/names.csv', `name,city\n${'Ann,Oslo\n'.repeat(10_000)}`);

    // Act
    const create = (audienceKey: string) =>
      fetch(`${h.url}/api/campaigns`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ ...FIELDS, audienceKey }),
      });
    const noEmail = await create('uploads/acme/names.csv');
    const missing = await create('uploads/acme/none.csv');

    // Assess
    expect(noEmail.status).toBe(400);
    expect(((await noEmail.json()) as { error: string }).error).toBe('AUDIENCE_NO_EMAIL_COLUMN');
    expect(missing.status).toBe(400);
    expect(JSON.stringify(await missing.json())).toMatch(/no such object/);
  });

  it("refuses an upload name that could climb out of the customer's folder", async () => {
    const res = await fetch(`${h.url}/api/uploads/acme/..%2Fother.csv`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/csv' },
      body: CSV,
    });
    expect(res.status).toBe(400);
  });

  it.each([
    [
      'a JSON create',
      () => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...FIELDS, audienceCsv: CSV.repeat(200) }) }),
      '4 KiB',
      /multipart/,
    ],
    ['a multipart audience', () => ({ headers: {}, body: form(FIELDS, CSV.repeat(5_000)) }), '100,000 bytes', /audience takes at most/],
  ])('answers %s over its limit with 413 naming the limit', async (_what, request, limit, hint) => {
    const { headers, body } = request();
    const res = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: { ...auth, ...headers }, body });
    expect(res.status).toBe(413);
    const answer = (await res.json()) as { error: string; message: string };
    expect(answer.error).toBe('BODY_TOO_LARGE');
    expect(answer.message).toContain(limit.replace('4 KiB', '4,096 bytes'));
    expect(answer.message).toMatch(hint);
  });

  it('answers a raw upload over its limit with 413 naming the limit', async () => {
    const res = await fetch(`${h.url}/api/uploads/acme/big.csv`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/csv' },
      body: CSV.repeat(5_000),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { message: string }).message).toContain('100,000 bytes');
  });

  it('leaves nothing stored when a multipart audience runs over its limit', async () => {
    // Prepare
    const before = new Set(h.store.objects.keys());

    // Act
    const res = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: form(FIELDS, CSV.repeat(5_000)) });

    // Assess
    expect(res.status).toBe(413);
    expect([...h.store.objects.keys()].filter((k) => !before.has(k))).toEqual([]);
  });

  it('answers a raw upload sent without a length (chunked) with 413 once it passes the limit, and stores nothing', async () => {
    // Act
    const res = await fetch(`${h.url}/api/uploads/acme/chunked-big.csv`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/csv' },
      body: chunked(CSV, 5_000),
      duplex: 'half',
    } as RequestInit);

    // Assess
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('BODY_TOO_LARGE');
    expect(await h.store.get(buckets.campaigns, 'uploads/acme/chunked-big.csv')).toBeUndefined();
  });

  it('refuses a raw upload whose head has no email column after reading only its head, and frees the request', async () => {
    // Act
    const res = await fetch(`${h.url}/api/uploads/acme/no-email.csv`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/csv' },
      body: chunked('name,city\nAnn,Oslo\n', 20_000),
      duplex: 'half',
    } as RequestInit);

    // Assess
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/email/);
    expect(await h.store.get(buckets.campaigns, 'uploads/acme/no-email.csv')).toBeUndefined();
  });

  it('streams a raw upload into the store chunk by chunk, never as one body, and answers its size', async () => {
    // Prepare
    const seen: number[] = [];
    const putStream = h.store.putStream.bind(h.store);
    const spy = jest.spyOn(h.store, 'putStream').mockImplementation(async (bucket, key, body, options) => {
      async function* watched() {
        for await (const chunk of body) {
          seen.push(chunk.byteLength);
          yield chunk;
        }
      }
      return putStream(bucket, key, watched(), options);
    });
    const put = jest.spyOn(h.store, 'put');

    // Act
    const res = await fetch(`${h.url}/api/uploads/acme/chunked.csv`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'text/csv' },
      body: chunked(CSV, 1_000),
      duplex: 'half',
    } as RequestInit);

    // Assess
    spy.mockRestore();
    put.mockRestore();
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ audienceKey: 'uploads/acme/chunked.csv', bytes: CSV.length * 1_000 });
    expect(seen.length).toBeGreaterThan(1);
    expect(put.mock.calls.filter(([, key]) => key === 'uploads/acme/chunked.csv')).toEqual([]);
    expect(await h.store.get(buckets.campaigns, 'uploads/acme/chunked.csv')).toBe(CSV.repeat(1_000));
  });

  it('answers an expensive request beyond the per-token bound with 429, the bound named and Retry-After, and frees it when one ends', async () => {
    const created = await fetch(`${h.url}/api/campaigns`, {
      method: 'POST',
      headers: auth,
      body: form({ ...FIELDS, mjml: NESTED_LOOPS_MJML }, CSV),
    });
    const { id } = (await created.json()) as { id: string };
    const slow = () => fetch(`${h.url}/api/campaigns/${id}/preview`, { headers: auth });
    const running = [slow(), slow()];
    await new Promise((r) => setTimeout(r, 100));
    const refused = await slow();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { message: string }).message).toMatch(/at most 2 expensive requests/);
    // Cheap requests are not counted.
    expect((await fetch(`${h.url}/api/campaigns/${id}`, { headers: auth })).status).toBe(200);
    await Promise.all(running);
    expect((await fetch(`${h.url}/api/campaigns/${id}`, { headers: auth })).status).toBe(200);
    const again = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: form(FIELDS, CSV) });
    expect(again.status).toBe(201);
  });
});

describe('a request body that stops arriving', () => {
  const IDLE_MS = 400;
  let h: Awaited<ReturnType<typeof startApp>>;
  beforeAll(async () => {
    h = await startApp(undefined, { expensivePerToken: 2, bodyIdleMs: IDLE_MS });
  });
  afterAll(async () => {
    await h.app.close();
    await h.pool.close();
  });

  /** A raw `POST /api/drafts/check` announcing `length` bytes of JSON; `send` writes the body as it likes. Answers what the server wrote, once it closed. */
  function rawCheck(length: number, send: (socket: net.Socket) => void): Promise<string> {
    const { port } = new URL(h.url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `POST /api/drafts/check HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`,
        );
        send(socket);
      });
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  it('is answered 408 once nothing more came for the idle time, the connection closed and its place freed', async () => {
    // Prepare: two stalled bodies take both places of the token.
    const stalled = [rawCheck(1_000, (s) => s.write('{"subject":')), rawCheck(1_000, (s) => s.write('{"subject":'))];
    await new Promise((r) => setTimeout(r, 50));
    const whileStalled = await fetch(`${h.url}/api/drafts/check`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'Hi', mjml: SIMPLE_MJML }),
    });

    // Act
    const answers = await Promise.all(stalled);
    const after = await fetch(`${h.url}/api/drafts/check`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'Hi', mjml: SIMPLE_MJML }),
    });

    // Assess
    expect(whileStalled.status).toBe(429);
    for (const answer of answers) {
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toContain('"error":"BODY_STALLED"');
      expect(answer).toContain('no more of the request body arrived for 0.4 s');
    }
    expect(after.status).toBe(200);
  });

  it('does not end a request whose body has all come while it is worked on, however long that takes', async () => {
    // Prepare: a campaign whose preview takes a while (nested loops).
    const created = await fetch(`${h.url}/api/campaigns`, {
      method: 'POST',
      headers: auth,
      body: form({ ...FIELDS, mjml: NESTED_LOOPS_MJML }, CSV),
    });
    const { id } = (await created.json()) as { id: string };

    // Act
    const started = Date.now();
    const preview = await fetch(`${h.url}/api/campaigns/${id}/preview`, { headers: auth });
    const took = Date.now() - started;

    // Assess: the preview's own answer (the loops pass a render limit), not 408.
    expect(took).toBeGreaterThan(IDLE_MS);
    expect(preview.status).toBe(422);
  });

  it('does not count the time the server holds a body back: a create waiting for the busy render thread before it reads its audience', async () => {
    // Prepare: the one render thread busy with a slow preview (about a second, past the idle time).
    const created = await fetch(`${h.url}/api/campaigns`, {
      method: 'POST',
      headers: auth,
      body: form({ ...FIELDS, mjml: NESTED_LOOPS_MJML }, CSV),
    });
    const { id } = (await created.json()) as { id: string };
    const busy = fetch(`${h.url}/api/campaigns/${id}/preview`, { headers: auth });
    await new Promise((r) => setTimeout(r, 50));
    // An audience far larger than the socket's buffers, sent at once: its reading waits for the template's check.
    const audience = `email,first_name\n${Array.from({ length: 40_000 }, (_, i) => `reader${i}@example.com,Reader`).join('\n')}\n`;

    // Act
    const res = await fetch(`${h.url}/api/campaigns`, { method: 'POST', headers: auth, body: form(FIELDS, audience) });

    // Assess
    expect((await busy).status).toBe(422);
    expect(res.status).toBe(201);
  });

  it('lets a slow body through while it keeps coming', async () => {
    // Prepare: a whole check, a few bytes at a time, each gap under the idle time but all of it well over.
    const body = JSON.stringify({ subject: 'Hi', mjml: SIMPLE_MJML });
    const pieces = 8;
    const step = Math.ceil(body.length / pieces);

    // Act
    const answer = await rawCheck(Buffer.byteLength(body), (socket) => {
      let n = 0;
      const next = () => {
        socket.write(body.slice(n * step, (n + 1) * step));
        if (++n < pieces) setTimeout(next, IDLE_MS / 2);
      };
      next();
    });

    // Assess
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  });
});
