import Fastify, { type FastifyInstance } from 'fastify';
import { ManualClock, keys, recipientIdFor, silentLogger, unsubscribeSignature } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { Conductor } from '../../src/core/conductor';
import { ONE_CLICK_BODY_LIMIT_BYTES, unsubscribeRoutes } from '../../src/http/unsubscribe-routes';
import { UNSUBSCRIBE_SECRET, buckets, testGovernors, testSettings } from '../fixtures';

const START = Date.UTC(2026, 10, 21, 12, 0, 0);
const MJML = '<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ first_name }}</mj-text></mj-column></mj-section></mj-body></mjml>';
const recipientId = recipientIdFor('acme', 'a@example.com');

interface Harness {
  app: FastifyInstance;
  store: MemoryObjectStore;
  /** The signed unsubscribe path of a@example.com in a fresh campaign. */
  link: string;
  suppressed(): Promise<boolean>;
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** The unsubscribe routes alone, in their own scope as the app mounts them, over a conductor holding one campaign. */
async function harness(): Promise<Harness> {
  const store = new MemoryObjectStore();
  const conductor = new Conductor({
    store,
    buckets,
    clock: new ManualClock(START),
    logger: silentLogger,
    governors: testGovernors(620),
    invoker: { invoke: async () => undefined },
    topic: { publish: async () => undefined },
    settings: testSettings(),
  });
  await conductor.start();
  const { id } = await conductor.createCampaign({
    name: 'Spring',
    customerId: 'acme',
    from: 'Acme <news@acme.example>',
    subject: 'Hi',
    mjml: MJML,
    audienceCsv: 'email,first_name\na@example.com,Ann\n',
  });
  const app = Fastify();
  await app.register(async (scope) => unsubscribeRoutes(scope, conductor));
  apps.push(app);
  const ref = { customerId: 'acme', campaignId: id, recipientId };
  return {
    app,
    store,
    link: `/unsubscribe/acme/${id}/${recipientId}/${unsubscribeSignature(UNSUBSCRIBE_SECRET, ref)}`,
    suppressed: async () => (await store.get(buckets.campaigns, keys.suppression({ customerId: 'acme', recipientId }))) !== undefined,
  };
}

/** A multipart body as mailbox providers send it. */
function multipartBody(boundary: string, fields: Record<string, string>): string {
  const parts = Object.entries(fields).map(
    ([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  return `${parts.join('')}--${boundary}--\r\n`;
}

describe('unsubscribe routes (RFC 8058)', () => {
  it.each([
    [
      'multipart/form-data',
      'multipart/form-data; boundary=----gmail1234',
      multipartBody('----gmail1234', { 'List-Unsubscribe': 'One-Click' }),
    ],
    ['urlencoded', 'application/x-www-form-urlencoded', 'List-Unsubscribe=One-Click'],
    ['an empty form (the confirmation button)', 'application/x-www-form-urlencoded', ''],
    ['an empty multipart form', 'multipart/form-data; boundary=x', ''],
  ])('records the suppression on a one-click POST sent as %s, with 200, no redirect and no cookie', async (_, contentType, payload) => {
    // Prepare
    const h = await harness();

    // Act
    const res = await h.app.inject({ method: 'POST', url: h.link, headers: { 'content-type': contentType }, payload });

    // Assess
    expect(res.statusCode).toBe(200);
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toContain('You are unsubscribed');
    expect(await h.suppressed()).toBe(true);
  });

  it('records the suppression on a POST with no body and no content type', async () => {
    // Prepare
    const h = await harness();

    // Act
    const res = await h.app.inject({ method: 'POST', url: h.link });

    // Assess
    expect(res.statusCode).toBe(200);
    expect(await h.suppressed()).toBe(true);
  });

  it('refuses a body over 4 KiB with 413 and records nothing', async () => {
    // Prepare
    const h = await harness();
    const payload = `List-Unsubscribe=One-Click&pad=${'x'.repeat(ONE_CLICK_BODY_LIMIT_BYTES)}`;

    // Act
    const urlencoded = await h.app.inject({
      method: 'POST',
      url: h.link,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload,
    });
    const multipart = await h.app.inject({
      method: 'POST',
      url: h.link,
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      payload: multipartBody('b', { 'List-Unsubscribe': 'One-Click', file: 'x'.repeat(ONE_CLICK_BODY_LIMIT_BYTES) }),
    });

    // Assess
    expect([urlencoded.statusCode, multipart.statusCode]).toEqual([413, 413]);
    expect(await h.suppressed()).toBe(false);
  });

  it('only shows the confirmation form on GET, even with the one-click words in the query, and records nothing', async () => {
    // Prepare
    const h = await harness();

    // Act
    // (A link tracker may repeat a parameter of its own.)
    const res = await h.app.inject({ method: 'GET', url: `${h.link}?List-Unsubscribe=One-Click&utm=a&utm=a` });

    // Assess
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<form method="post">');
    expect(await h.suppressed()).toBe(false);
  });

  it('records the suppression from a real multipart POST over HTTP, built with FormData and fetch', async () => {
    // Prepare
    const h = await harness();
    const base = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const form = new FormData();
    form.append('List-Unsubscribe', 'One-Click');

    // Act
    const res = await fetch(base + h.link, { method: 'POST', body: form, redirect: 'manual' });

    // Assess
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('You are unsubscribed');
    expect(await h.suppressed()).toBe(true);
  });
});
