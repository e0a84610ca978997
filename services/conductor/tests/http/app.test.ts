import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import {
  InDoubtError,
  ManualClock,
  RetryableError,
  keys,
  recipientIdFor,
  unsubscribeSignature,
  silentLogger,
  type CampaignRequestedMessage,
  type CheckInRequest,
  type OutgoingEmail,
  type Sender,
  type WorkerInvocation,
} from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { Conductor, type ConductorSettings } from '../../src/core/conductor';
import type { SendingGovernors } from '../../src/core/sending-governors';
import { buildApp } from '../../src/http/app';
import { createMetrics } from '../../src/http/metrics';
import { DOMAIN, UNSUBSCRIBE_SECRET, buckets, testGovernors, testSettings } from '../fixtures';

// A calendar minute's first instant, so "the rest of the window" is a round 60 s.
const START = Date.UTC(2026, 10, 21, 12, 0, 0);
/** Ten permits in each one-second slice (reach 62). */
const CAP = 620;
const API_TOKEN = 'api-token-0123456789abcdef';
const LEASE_TOKEN = 'lease-token-fedcba9876543210';

const MJML = '<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ first_name }}</mj-text></mj-column></mj-section></mj-body></mjml>';
const CSV = 'email,first_name\na@example.com,Ann\n';

function validBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'Spring sale',
    customerId: 'acme',
    from: 'Acme <news@acme.example>',
    subject: 'Hello {{ first_name }}',
    mjml: MJML,
    audienceCsv: CSV,
    ...overrides,
  };
}

interface Harness {
  app: FastifyInstance;
  store: MemoryObjectStore;
  clock: ManualClock;
  governors: SendingGovernors;
  invocations: WorkerInvocation[];
  published: CampaignRequestedMessage[];
  /** What the fake test sender was asked to send. */
  testSends: OutgoingEmail[];
  /** A request to the campaign API with the marketer's token. */
  api(method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown): Promise<LightMyRequestResponse>;
  /** Creates a campaign from `validBody()` and returns its id. */
  createCampaign(overrides?: Record<string, unknown>): Promise<string>;
}

const apps: FastifyInstance[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** `testSender`: false for none, a function to make the default recording sender fail. */
async function harness(settings: Partial<ConductorSettings> = {}, options: { testSender?: false | (() => Error) } = {}): Promise<Harness> {
  const store = new MemoryObjectStore();
  const clock = new ManualClock(START);
  const governors = testGovernors(CAP);
  const invocations: WorkerInvocation[] = [];
  const published: CampaignRequestedMessage[] = [];
  const testSends: OutgoingEmail[] = [];
  const testSender: Sender = {
    send: async (message) => {
      testSends.push(message);
      if (options.testSender) throw options.testSender();
      return { providerId: `test-${testSends.length}` };
    },
  };
  const metrics = createMetrics();
  const conductor = new Conductor({
    store,
    buckets,
    clock,
    logger: silentLogger,
    governors,
    invoker: { invoke: async (i) => void invocations.push(i) },
    topic: { publish: async (m) => void published.push(m) },
    ...(options.testSender === false ? {} : { testSender }),
    metrics: metrics.hooks,
    settings: testSettings(settings),
  });
  await conductor.start();
  const app = await buildApp({
    conductor,
    registry: metrics.registry,
    // As the service does: gauges are refreshed from the governor just before a scrape.
    beforeMetrics: () => {
      for (const g of governors.snapshots(clock.now())) metrics.gauges.effectiveCap.set({ domain: g.domain }, g.effectiveCap);
    },
    apiToken: API_TOKEN,
    leaseToken: LEASE_TOKEN,
    logger: silentLogger,
  });
  apps.push(app);

  const api: Harness['api'] = (method, url, body) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${API_TOKEN}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
  const createCampaign: Harness['createCampaign'] = async (overrides) => {
    const res = await api('POST', '/api/campaigns', validBody(overrides));
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  };
  return { app, store, clock, governors, invocations, published, testSends, api, createCampaign };
}

function checkIn(overrides: Partial<CheckInRequest> = {}): CheckInRequest {
  return { leaseId: 'l-unknown', workerId: 'w-unknown', results: [], unattempted: [], permitsUsed: 0, wantsMore: false, ...overrides };
}

function wheres(res: LightMyRequestResponse): string[] {
  return res.json<{ issues: { where: string }[] }>().issues.map((i) => i.where);
}

describe('conductor HTTP app', () => {
  describe('health, console and metrics', () => {
    it('answers /healthz with 200 without a token', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({ method: 'GET', url: '/healthz' });
      // Assess
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ ok: true });
    });

    it('serves Prometheus text at /metrics with the effective cap refreshed before the scrape', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({ method: 'GET', url: '/metrics' });
      // Assess
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.body).toContain('# TYPE baton_governor_effective_cap gauge');
      expect(res.body).toMatch(new RegExp(`^baton_governor_effective_cap\\{domain="${DOMAIN}"\\} ${CAP}$`, 'm'));
      expect(res.body).toContain('# TYPE baton_leases_total counter');
    });

    it('refuses a body of a type no route takes with 415 saying which it takes', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({
        method: 'POST',
        url: '/api/campaigns',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/xml' },
        payload: '<campaign/>',
      });
      // Assess
      expect(res.statusCode).toBe(415);
      expect(res.json()).toEqual({
        error: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
        message:
          'a body of type "application/xml" is not taken here: send application/json (a create also takes multipart/form-data, an upload text/csv)',
      });
    });

    it('refuses a query parameter given twice with 400 naming it', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({
        method: 'GET',
        url: '/api/campaigns/c-1/recipients?limit=1&limit=2',
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: 'QUERY_INVALID',
        message: expect.any(String),
        issues: [{ where: 'query.limit', message: 'must be given once' }],
      });
    });

    it('answers an unknown route with 404 and a JSON error', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({ method: 'GET', url: '/nowhere?x=1' });
      // Assess
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ error: 'NOT_FOUND', message: 'no route GET /nowhere' });
    });
  });

  describe('credentials', () => {
    it.each([
      ['no authorization header', undefined],
      ['a wrong token', `Bearer ${API_TOKEN.slice(0, -1)}x`],
      ['a token of another length', 'Bearer short'],
      ['the token without the Bearer scheme', API_TOKEN],
      ['the lease token', `Bearer ${LEASE_TOKEN}`],
    ])('refuses the campaign API with %s (401)', async (_what, authorization) => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({
        method: 'GET',
        url: '/api/campaigns',
        headers: authorization === undefined ? {} : { authorization },
      });
      // Assess
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.json()).toMatchObject({ error: 'UNAUTHORIZED' });
    });

    it('refuses a campaign creation without a token before reading the body', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({ method: 'POST', url: '/api/campaigns', payload: validBody() });
      // Assess
      expect(res.statusCode).toBe(401);
      expect((await h.api('GET', '/api/campaigns')).json()).toEqual({ campaigns: [] });
    });

    it.each([
      ['no authorization header', undefined],
      ['the campaign API token', `Bearer ${API_TOKEN}`],
    ])('refuses the lease API with %s (401)', async (_what, authorization) => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({
        method: 'POST',
        url: '/lease/v1/check-in',
        headers: authorization === undefined ? {} : { authorization },
        payload: checkIn(),
      });
      // Assess
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: 'UNAUTHORIZED' });
    });
  });

  describe('creating and reading campaigns', () => {
    it('creates a draft campaign (201), then lists it and returns it by id', async () => {
      // Prepare
      const h = await harness();
      // Act
      const created = await h.api('POST', '/api/campaigns', validBody());
      const id = created.json<{ id: string }>().id;
      const list = await h.api('GET', '/api/campaigns');
      const one = await h.api('GET', `/api/campaigns/${id}`);
      // Assess
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ id: expect.stringMatching(/^c-/), status: 'draft', customerId: 'acme', name: 'Spring sale' });
      expect(list.statusCode).toBe(200);
      expect(list.json<{ campaigns: { id: string }[] }>().campaigns.map((c) => c.id)).toEqual([id]);
      expect(one.statusCode).toBe(200);
      expect(one.json()).toMatchObject({ id, status: 'draft', subject: 'Hello {{ first_name }}', perMinuteMax: CAP });
    });

    it('accepts an audience uploaded under uploads/{customerId}/', async () => {
      // Prepare
      const h = await harness();
      await h.store.put(buckets.campaigns, 'uploads/acme/list.csv', CSV);
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ audienceCsv: undefined, audienceKey: 'uploads/acme/list.csv' }));
      // Assess
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ status: 'draft' });
    });

    it('names every wrong field of one bad body at once', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ customerId: 'ACME!', name: '   ' }));
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'CAMPAIGN_INVALID' });
      expect(wheres(res)).toEqual(expect.arrayContaining(['body.customerId', 'body.name']));
    });

    it.each([
      { what: 'a customerId that is not an id', overrides: { customerId: 'Acme Corp' }, where: 'body.customerId' },
      { what: 'a blank name', overrides: { name: ' ' }, where: 'body.name' },
      { what: 'a missing name', overrides: { name: undefined }, where: 'body.name' },
      { what: 'no audience', overrides: { audienceCsv: undefined }, where: 'body.audienceCsv' },
      { what: 'both audienceCsv and audienceKey', overrides: { audienceKey: 'uploads/acme/list.csv' }, where: 'body.audienceCsv' },
    ])('refuses $what with 400 naming $where', async ({ overrides, where }) => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody(overrides));
      // Assess
      expect(res.statusCode).toBe(400);
      expect(wheres(res)).toContain(where);
      expect((await h.api('GET', '/api/campaigns')).json()).toEqual({ campaigns: [] });
    });

    it('refuses an unknown extra field with 400 naming it', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ replyTo: 'x@example.com' }));
      // Assess
      expect(res.statusCode).toBe(400);
      const { issues } = res.json<{ issues: { where: string; message: string }[] }>();
      expect(issues).toEqual(
        expect.arrayContaining([expect.objectContaining({ where: 'body', message: expect.stringContaining('replyTo') })]),
      );
    });

    it('refuses malformed JSON with 400', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({
        method: 'POST',
        url: '/api/campaigns',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        payload: '{"name": "x",',
      });
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'FST_ERR_CTP_INVALID_JSON_BODY', message: expect.stringContaining('not valid JSON') });
    });

    it('refuses a body that is JSON but not an object with 400 naming the body', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api('POST', '/api/campaigns', ['not', 'an', 'object']);
      // Assess
      expect(res.statusCode).toBe(400);
      expect(wheres(res)).toEqual(['body']);
    });

    it('refuses MJML that does not validate with 400 naming mjml', async () => {
      // Prepare
      const h = await harness();
      // Act: mj-text must sit in an mj-column
      const res = await h.api(
        'POST',
        '/api/campaigns',
        validBody({ mjml: '<mjml><mj-body><mj-section><mj-text>Hi</mj-text></mj-section></mj-body></mjml>' }),
      );
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'TEMPLATE_INVALID' });
      expect(wheres(res).some((w) => w.startsWith('mjml'))).toBe(true);
    });

    it('refuses 5,000 nested <div> in mj-text with 400 saying the template is too deeply nested, not 500', async () => {
      // Prepare
      const h = await harness();
      const nested = '<div>'.repeat(5_000) + 'x' + '</div>'.repeat(5_000);
      // Act
      const res = await h.api(
        'POST',
        '/api/campaigns',
        validBody({ mjml: `<mjml><mj-body><mj-section><mj-column><mj-text>${nested}</mj-text></mj-column></mj-section></mj-body></mjml>` }),
      );
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        error: 'TEMPLATE_INVALID',
        issues: [{ where: 'mjml line 1', message: expect.stringContaining('is too deeply nested') }],
      });
    });

    it('refuses a subject with broken Liquid with 400 naming subject', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ subject: 'Hello {{ first_name' }));
      // Assess
      expect(res.statusCode).toBe(400);
      expect(wheres(res)).toContain('subject');
    });

    it('refuses a from with CR/LF with 400 naming from', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ from: 'news@acme.example\r\nBcc: victim@example.com' }));
      // Assess
      expect(res.statusCode).toBe(400);
      expect(wheres(res)).toContain('from');
    });

    it('refuses a from that holds a second address with 400 naming from and saying why', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ from: 'evil@evil.com, Me <me@example.com>' }));
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json<{ issues: unknown[] }>().issues).toEqual([
        { where: 'from', message: expect.stringContaining('not a list of 2 addresses') },
      ]);
    });

    it('refuses a CSV without an email column with 400 naming the header', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ audienceCsv: 'name,city\nAnn,Oslo\n' }));
      // Assess
      expect(res.statusCode).toBe(400);
      const { error, issues } = res.json<{ error: string; issues: { where: string; message: string }[] }>();
      expect(error).toBe('AUDIENCE_NO_EMAIL_COLUMN');
      expect(issues[0]).toMatchObject({ where: 'audience line 1', message: expect.stringContaining('"name", "city"') });
    });

    it.each([
      ['another customer', 'uploads/other/list.csv'],
      ['a path that climbs out', 'uploads/acme/../other/list.csv'],
      ['the top of the bucket', 'list.csv'],
    ])('refuses an audienceKey under %s with 400', async (_what, audienceKey) => {
      // Prepare
      const h = await harness();
      await h.store.put(buckets.campaigns, audienceKey, CSV);
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ audienceCsv: undefined, audienceKey }));
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        issues: [
          { where: 'body.audienceKey', message: expect.stringMatching(/^must be under uploads\/acme\/ or be a campaign's audience/) },
        ],
      });
    });
  });

  describe('campaign lifecycle', () => {
    it.each([
      ['GET', '/api/campaigns/c-nope'],
      ['POST', '/api/campaigns/c-nope/send'],
      ['POST', '/api/campaigns/c-nope/pause'],
      ['GET', '/api/campaigns/c-nope/preview'],
    ] as const)('answers %s %s for an unknown campaign with 404 CAMPAIGN_NOT_FOUND', async (method, url) => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api(method, url);
      // Assess
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: 'CAMPAIGN_NOT_FOUND' });
    });

    it('accepts a send once (202) and refuses the second (409), publishing exactly one campaign.requested', async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      // Act
      const first = await h.api('POST', `/api/campaigns/${id}/send`);
      const second = await h.api('POST', `/api/campaigns/${id}/send`);
      // Assess
      expect(first.statusCode).toBe(202);
      expect(first.json()).toMatchObject({ id, status: 'sending', sendRequestedAt: new Date(START).toISOString() });
      expect(second.statusCode).toBe(409);
      expect(second.json()).toMatchObject({ error: 'CAMPAIGN_STATE_CONFLICT' });
      expect(h.published).toEqual([
        { version: 1, type: 'campaign.requested', customerId: 'acme', campaignId: id, requestedAt: new Date(START).toISOString() },
      ]);
    });

    it('schedules a send for later with {at}, moves it with PATCH, and clears a send window with null', async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      const window = { timeZone: 'Europe/Berlin', days: ['mon', 'tue'], start: '08:00', end: '18:00' };
      // Act
      const sent = await h.api('POST', `/api/campaigns/${id}/send`, { at: '2026-11-21T14:00:00+01:00' });
      const moved = await h.api('PATCH', `/api/campaigns/${id}`, { sendAt: '2026-11-22T09:00:00Z', sendWindow: window });
      const cleared = await h.api('PATCH', `/api/campaigns/${id}`, { sendWindow: null });
      // Assess
      expect(sent.statusCode).toBe(202);
      expect(sent.json()).toMatchObject({ status: 'scheduled', sendAt: '2026-11-21T13:00:00.000Z', waiting: { reason: 'scheduled' } });
      expect(moved.json()).toMatchObject({ status: 'scheduled', sendAt: '2026-11-22T09:00:00.000Z', sendWindow: window });
      expect(cleared.json()).not.toHaveProperty('sendWindow');
      expect(h.published).toHaveLength(1);
    });

    it('creates a campaign already scheduled when the body has sendAt', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ sendAt: '2026-11-22T09:00:00Z' }));
      // Assess
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ status: 'scheduled', sendAt: '2026-11-22T09:00:00.000Z' });
    });

    it.each([
      ['POST', 'send', { at: 'tomorrow' }, 'body.at', 'ISO 8601'],
      ['POST', 'send', { at: '2026-11-22T09:00:00' }, 'body.at', 'with its zone'],
      ['PATCH', '', {}, 'body.sendAt', 'give sendAt, sendWindow, localSend or several'],
      ['PATCH', '', { sendWindow: { timeZone: 'Europe/Berlln', start: '08:00', end: '18:00' } }, 'body.sendWindow.timeZone', 'IANA'],
      ['PATCH', '', { sendWindow: { timeZone: 'UTC', start: '8am', end: '18:00' } }, 'body.sendWindow.start', 'HH:MM'],
    ] as const)('refuses %s %s with %j: 400 naming %s', async (method, action, body, where, message) => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      // Act
      const res = await h.api(method, `/api/campaigns/${id}${action ? `/${action}` : ''}`, body);
      // Assess
      expect(res.statusCode).toBe(400);
      const issue = (res.json() as { issues: { where: string; message: string }[] }).issues.find((i) => i.where === where);
      expect(issue?.message).toContain(message);
      expect((await h.api('GET', `/api/campaigns/${id}`)).json()).toMatchObject({ status: 'draft' });
    });

    it('refuses to pause a draft (409)', async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      // Act
      const res = await h.api('POST', `/api/campaigns/${id}/pause`);
      // Assess
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ error: 'CAMPAIGN_STATE_CONFLICT' });
      expect((await h.api('GET', `/api/campaigns/${id}`)).json()).toMatchObject({ status: 'draft' });
    });

    it('pauses, resumes and cancels a sending campaign', async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      await h.api('POST', `/api/campaigns/${id}/send`);
      // Act
      const paused = await h.api('POST', `/api/campaigns/${id}/pause`);
      const resumed = await h.api('POST', `/api/campaigns/${id}/resume`);
      const cancelled = await h.api('POST', `/api/campaigns/${id}/cancel`);
      const cancelledAgain = await h.api('POST', `/api/campaigns/${id}/cancel`);
      // Assess
      expect([paused, resumed, cancelled].map((r) => [r.statusCode, r.json<{ status: string }>().status])).toEqual([
        [200, 'paused'],
        [200, 'sending'],
        [200, 'cancelled'],
      ]);
      expect(cancelledAgain.statusCode).toBe(409);
    });
  });

  describe('preview', () => {
    it('previews an audience whose header row is longer than the sample it reads first', async () => {
      // Prepare: a header of about 70 KB whose first 64 KiB end inside a column named
      // `first_name_more`, so a sample cut there would repeat `first_name`.
      const h = await harness();
      const start = 'email,first_name,';
      const filler = 'f'.repeat(65_536 - start.length - 1 - 'first_name'.length);
      const extra = [filler, 'first_name_more', ...Array.from({ length: 300 }, (_, i) => `column_${i}`)];
      const csv = `${start}${extra.join(',')}\na@example.com,Ann,${extra.map(() => 'x').join(',')}\n`;
      const id = await h.createCampaign({ audienceCsv: csv });
      // Act
      const res = await h.api('GET', `/api/campaigns/${id}/preview`);
      // Assess
      expect(csv.indexOf('\n')).toBeGreaterThan(65_536);
      expect(res.statusCode).toBe(200);
      expect(res.json<{ html: string }>().html).toContain('Ann');
    });

    it('returns subject, html and text for the first recipient with merge data escaped in the html', async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign({ audienceCsv: 'email,first_name\na@example.com,<b>x</b>\n' });
      // Act
      const res = await h.api('GET', `/api/campaigns/${id}/preview`);
      // Assess
      expect(res.statusCode).toBe(200);
      const body = res.json<{ subject: string; html: string; text: string }>();
      expect(Object.keys(body).sort()).toEqual(['html', 'subject', 'text']);
      expect(body.html).toContain('Hi &lt;b&gt;x&lt;/b&gt;');
      expect(body.html).not.toContain('<b>x</b>');
      expect(body.subject).toBe('Hello <b>x</b>');
      expect(body.text).toContain('Hi <b>x</b>');
    });
  });

  describe('test send', () => {
    it('sends the preview once to the given address with [TEST] before the subject (202)', async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      // Act
      const res = await h.api('POST', `/api/campaigns/${id}/test-send`, { to: 'me@acme.example' });
      // Assess
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({ providerId: 'test-1' });
      expect(h.testSends).toHaveLength(1);
      expect(h.testSends[0]).toMatchObject({
        to: 'me@acme.example',
        subject: '[TEST] Hello Ann',
        from: 'Acme <news@acme.example>',
        domain: DOMAIN,
      });
      expect(h.testSends[0]!.subject.startsWith('[TEST] ')).toBe(true);
      expect(h.governors.snapshots(h.clock.now())[0]!.windowGranted).toBe(1);
    });

    it('refuses a test to an address that unsubscribed from the customer (422), before any permit or provider call', async () => {
      // Prepare: me@acme.example unsubscribed through a link of another campaign of acme.
      const h = await harness();
      const id = await h.createCampaign();
      const recipientId = recipientIdFor('acme', 'me@acme.example');
      const link = `/unsubscribe/acme/${id}/${recipientId}/${unsubscribeSignature(UNSUBSCRIBE_SECRET, { customerId: 'acme', campaignId: id, recipientId })}`;
      expect((await h.app.inject({ method: 'POST', url: link })).statusCode).toBeLessThan(300);
      // Act
      const res = await h.api('POST', `/api/campaigns/${id}/test-send`, { to: 'Me@Acme.example' });
      // Assess
      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({ error: 'RECIPIENT_SUPPRESSED' });
      expect(h.testSends).toHaveLength(0);
      expect(h.governors.snapshots(h.clock.now())[0]!.windowGranted).toBe(0);
    });

    it.each([
      { what: 'not an address', body: { to: 'not-an-email' }, where: 'body.to' },
      { what: 'an address with a header smuggled in', body: { to: 'me@acme.example\r\nBcc: victim@example.com' }, where: 'body.to' },
      { what: 'no address', body: {}, where: 'body.to' },
      { what: 'an extra field', body: { to: 'me@acme.example', cc: 'x@example.com' }, where: 'body' },
    ])('refuses $what with 400 naming $where', async ({ body, where }) => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      // Act
      const res = await h.api('POST', `/api/campaigns/${id}/test-send`, body);
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'TEST_SEND_INVALID' });
      expect(wheres(res)).toEqual([where]);
      expect(h.testSends).toHaveLength(0);
    });

    it('in qa, refuses an address outside the allow-list (400 QA_NOT_ALLOWED) without calling the sender', async () => {
      // Prepare
      const h = await harness({ stage: 'qa', qaAllowList: ['@qa.acme.example', 'lead@acme.example'] });
      const id = await h.createCampaign({ audienceCsv: 'email,first_name\ntester@qa.acme.example,Tess\n' });
      // Act
      const refused = await h.api('POST', `/api/campaigns/${id}/test-send`, { to: 'customer@gmail.example' });
      const allowed = await h.api('POST', `/api/campaigns/${id}/test-send`, { to: 'tester@qa.acme.example' });
      // Assess
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toMatchObject({ error: 'QA_NOT_ALLOWED', issues: [{ where: 'body.to' }] });
      expect(allowed.statusCode).toBe(202);
      expect(h.testSends.map((m) => m.to)).toEqual(['tester@qa.acme.example']);
    });

    it('in qa with no allow-list, refuses every address', async () => {
      // Prepare
      const h = await harness({ stage: 'qa' });
      const id = await h.createCampaign({ audienceCsv: 'email,first_name\n' }); // no recipient: nothing to refuse at create
      // Act
      const res = await h.api('POST', `/api/campaigns/${id}/test-send`, { to: 'lead@acme.example' });
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'QA_NOT_ALLOWED' });
      expect(h.testSends).toHaveLength(0);
    });

    it('in qa, refuses to create a campaign whose audience holds addresses outside the allow-list, naming the lines', async () => {
      // Prepare
      const h = await harness({ stage: 'qa', qaAllowList: ['@qa.acme.example', 'lead@acme.example'] });
      const audienceCsv = [
        'email,first_name',
        'tester@qa.acme.example,Tess',
        'Customer@Gmail.example,Real',
        'not-an-address,Never sent',
        'LEAD@acme.example,Lead',
        'other@acme.example,Real too',
        '',
      ].join('\n');
      // Act
      const res = await h.api('POST', '/api/campaigns', validBody({ audienceCsv }));
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'QA_AUDIENCE_NOT_ALLOWED' });
      expect(wheres(res)).toEqual(['audience line 3', 'audience line 6', 'audience']);
      expect(res.body).toContain('baton sanitize');
      expect(res.body).not.toContain('Gmail');
      expect((await h.api('GET', '/api/campaigns')).json()).toMatchObject({ campaigns: [] });
    });

    it('in qa, creates a campaign whose every recipient is on the allow-list', async () => {
      // Prepare
      const h = await harness({ stage: 'qa', qaAllowList: ['@qa.acme.example'] });
      // Act
      const res = await h.api(
        'POST',
        '/api/campaigns',
        validBody({ audienceCsv: 'email\na@qa.acme.example\nB@QA.acme.example\nbroken\n' }),
      );
      // Assess
      expect(res.statusCode).toBe(201);
    });

    it('answers 429 with a retry-after header when no permit is free in the next few seconds', async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      const g = h.governors.forDomain(DOMAIN);
      for (let i = g.sliceOf(h.clock.now()); i <= g.sliceOf(h.clock.now() + 3_000); i++) g.take(i, g.free(i));
      // Act
      const res = await h.api('POST', `/api/campaigns/${id}/test-send`, { to: 'me@acme.example' });
      // Assess
      expect(res.statusCode).toBe(429);
      expect(res.json()).toMatchObject({ error: 'NO_PERMIT' });
      expect(res.headers['retry-after']).toBe('3'); // past the slices it looked at
      expect(h.testSends).toHaveLength(0);
    });

    it('answers 503 with retry-after, not 500, when the provider pushes back on a test send', async () => {
      // Prepare
      const h = await harness(
        {},
        { testSender: () => new RetryableError('PROVIDER_THROTTLED', 'the provider asked us to slow down', { retryAfterMs: 2_500 }) },
      );
      const id = await h.createCampaign();
      // Act
      const res = await h.api('POST', `/api/campaigns/${id}/test-send`, { to: 'me@acme.example' });
      // Assess
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('3');
      expect(res.json()).toMatchObject({ error: 'PROVIDER_THROTTLED' });
    });

    it('answers 502 naming the code, not 500, when a test send ends in doubt', async () => {
      // Prepare
      const h = await harness({}, { testSender: () => new InDoubtError('PROVIDER_TIMEOUT', 'no answer from the provider') });
      const id = await h.createCampaign();
      // Act
      const res = await h.api('POST', `/api/campaigns/${id}/test-send`, { to: 'me@acme.example' });
      // Assess
      expect(res.statusCode).toBe(502);
      expect(res.json()).toMatchObject({ error: 'PROVIDER_TIMEOUT' });
      expect(h.testSends).toHaveLength(1); // attempted once, never repeated
    });

    it('answers 409 when no test sender is configured', async () => {
      // Prepare
      const h = await harness({}, { testSender: false });
      const id = await h.createCampaign();
      // Act
      const res = await h.api('POST', `/api/campaigns/${id}/test-send`, { to: 'me@acme.example' });
      // Assess
      expect(res.statusCode).toBe(409);
    });
  });

  describe('unsubscribe link', () => {
    const recipientId = recipientIdFor('acme', 'a@example.com');
    const signed = (customerId: string, campaignId: string) =>
      `/unsubscribe/${customerId}/${campaignId}/${recipientId}/${unsubscribeSignature(UNSUBSCRIBE_SECRET, { customerId, campaignId, recipientId })}`;

    it('asks on GET, without a token, and records nothing (mail scanners follow links)', async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      // Act
      const res = await h.app.inject({ method: 'GET', url: signed('acme', id) });
      // Assess
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).toContain('<form method="post">');
      expect(await h.store.get(buckets.campaigns, keys.suppression({ customerId: 'acme', recipientId }))).toBeUndefined();
    });

    it('records a suppression on the RFC 8058 one-click POST, and a repeat is harmless', async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      const oneClick = () =>
        h.app.inject({
          method: 'POST',
          url: signed('acme', id),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: 'List-Unsubscribe=One-Click',
        });
      // Act
      const first = await oneClick();
      const again = await oneClick();
      // Assess
      expect([first.statusCode, again.statusCode]).toEqual([200, 200]);
      const record = JSON.parse((await h.store.get(buckets.campaigns, keys.suppression({ customerId: 'acme', recipientId })))!);
      expect(record).toMatchObject({ version: 1, campaignId: id, reason: 'unsubscribed' });
    });

    it("refuses a link naming another customer's campaign (404) and records nothing", async () => {
      // Prepare
      const h = await harness();
      const id = await h.createCampaign();
      // Act
      const res = await h.app.inject({ method: 'POST', url: signed('other', id) });
      // Assess
      expect(res.statusCode).toBe(404);
      expect(await h.store.get(buckets.campaigns, keys.suppression({ customerId: 'other', recipientId }))).toBeUndefined();
    });

    it('refuses a link whose signature does not match (404) and records nothing', async () => {
      // Prepare: someone who knows an address computes its recipient id, but cannot sign it
      const h = await harness();
      const id = await h.createCampaign();
      const forged = signed('acme', id).replace(/\/[^/]+$/, '/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
      // Act
      const res = await h.app.inject({ method: 'POST', url: forged });
      // Assess
      expect(res.statusCode).toBe(404);
      expect(await h.store.get(buckets.campaigns, keys.suppression({ customerId: 'acme', recipientId }))).toBeUndefined();
    });
  });

  describe('lease API', () => {
    const lease = (h: Harness, payload: unknown) =>
      h.app.inject({
        method: 'POST',
        url: '/lease/v1/check-in',
        headers: { authorization: `Bearer ${LEASE_TOKEN}` },
        payload: payload as object,
      });

    it.each([
      { what: 'a missing workerId', overrides: { workerId: undefined }, where: 'body.workerId' },
      { what: 'a negative permitsUsed', overrides: { permitsUsed: -1 }, where: 'body.permitsUsed' },
      { what: 'a recipient id that is not 32 hex digits', overrides: { unattempted: ['nope'] }, where: 'body.unattempted.0' },
      {
        what: 'an unknown result status',
        overrides: { results: [{ recipientId: 'a'.repeat(32), status: 'bounced' }] },
        where: 'body.results.0.status',
      },
    ])('refuses a check-in with $what (400 naming $where)', async ({ overrides, where }) => {
      // Prepare
      const h = await harness();
      // Act
      const res = await lease(h, checkIn(overrides as Partial<CheckInRequest>));
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'CHECK_IN_INVALID' });
      expect(wheres(res)).toContain(where);
    });

    it.each([
      { what: 'no leaseId', payload: { workerId: 'w-1' }, where: 'body.leaseId' },
      { what: 'a negative budget', payload: { leaseId: 'l-1', workerId: 'w-1', budgetLeftMs: -5 }, where: 'body.budgetLeftMs' },
      { what: 'an unknown field', payload: { leaseId: 'l-1', workerId: 'w-1', results: [] }, where: 'body' },
    ])('refuses a renewal with $what (400 naming $where)', async ({ payload, where }) => {
      // Prepare
      const h = await harness();
      // Act
      const res = await h.app.inject({
        method: 'POST',
        url: '/lease/v1/renew',
        headers: { authorization: `Bearer ${LEASE_TOKEN}` },
        payload,
      });
      // Assess
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'RENEW_INVALID' });
      expect(wheres(res)).toContain(where);
    });

    it("refuses a renewal with the marketers' token", async () => {
      const h = await harness();
      const res = await h.app.inject({
        method: 'POST',
        url: '/lease/v1/renew',
        headers: { authorization: `Bearer ${API_TOKEN}` },
        payload: { leaseId: 'l-1', workerId: 'w-1' },
      });
      expect(res.statusCode).toBe(401);
    });

    it('answers a check-in for an unknown lease with 200 {lease: null}', async () => {
      // Prepare
      const h = await harness();
      // Act
      const res = await lease(h, checkIn({ wantsMore: true }));
      // Assess
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ lease: null });
    });
  });
});
