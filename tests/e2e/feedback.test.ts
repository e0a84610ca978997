import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ledger, keys, recipientIdFor, signMailgunWebhook } from '@baton/shared';
import { mailgunWebhookBody } from '../../local/src/sink-webhooks';
import type { SinkMessage } from '../../local/src/mailgun-sink';
import { TEMPLATE, api, removeDir, startBaton, waitUntilFinished, type View } from './helpers';

interface SuppressionRow {
  email: string | null;
  reason: string;
  campaignId: string | null;
}

const campaign = (audienceCsv: string, name = 'One') => ({
  name,
  customerId: 'acme',
  from: 'news@acme.example',
  subject: 'Hi',
  mjml: TEMPLATE,
  audienceCsv,
});

async function sendAndWait(baton: Awaited<ReturnType<typeof startBaton>>['baton'], body: object): Promise<View> {
  const call = api(baton);
  const created = await call<View>('POST', '/api/campaigns', body);
  await call('POST', `/api/campaigns/${created.body.id}/send`);
  return waitUntilFinished(baton, created.body.id);
}

/** A webhook as the sink would post it, for a message to `to`. */
function message(to: string, variables: Record<string, string>): SinkMessage {
  return {
    id: `<${Date.now()}.1.abc@mg.example.com>`,
    receivedAt: Date.now(),
    domain: 'mg.example.com',
    from: 'news@acme.example',
    to,
    subject: 'Hi',
    html: '<p>Hi</p>',
    text: 'Hi',
    headers: {},
    variables,
  };
}

function postWebhook(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/webhooks/mailgun`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe("the provider's feedback, end to end (local composition, mailgun.js against the sink, signed webhooks)", () => {
  it('suppresses a hard bounce and a complaint for the customer: the next campaign records them suppressed and the sink never sees them', async () => {
    // Prepare
    const { baton, dataDir } = await startBaton();
    try {
      const call = api(baton);
      const audience = 'email\nann@example.com\nbounce+bob@example.com\ncomplain+cid@example.com\n';
      const first = await sendAndWait(baton, campaign(audience));
      await baton.sinkWebhooks!.settled();

      // Act
      baton.sink!.clear();
      const second = await sendAndWait(baton, campaign(audience, 'Two'));
      const list = await call<{ suppressions: SuppressionRow[]; next: string | null }>('GET', '/api/customers/acme/suppressions');
      const metrics = await (await fetch(`${baton.url}/metrics`)).text();
      const view = await call<View & { complaints: { complained: number; rate: number; warning?: string } }>(
        'GET',
        `/api/campaigns/${first.id}`,
      );

      // Assess
      expect(first.counts).toMatchObject({ sent: 3, suppressed: 0 });
      expect(second.counts).toMatchObject({ sent: 1, suppressed: 2 });
      expect(baton.sink!.messages().map((m) => m.to)).toEqual(['ann@example.com']);
      expect(list.body.next).toBeNull();
      expect(list.body.suppressions.map((s) => [s.email, s.reason, s.campaignId]).sort()).toEqual([
        ['bounce+bob@example.com', 'bounced', first.id],
        ['complain+cid@example.com', 'complained', first.id],
      ]);
      const ledger = new Ledger({ store: baton.store, bucket: 'campaigns', clock: { now: Date.now, sleep: async () => {} } });
      const ref = (email: string) => ({ customerId: 'acme', campaignId: first.id, recipientId: recipientIdFor('acme', email) });
      expect((await ledger.readDelivery(ref('ann@example.com')))?.status).toBe('delivered');
      expect((await ledger.readDelivery(ref('bounce+bob@example.com')))?.status).toBe('bounced');
      expect((await ledger.readDelivery(ref('complain+cid@example.com')))?.events.map((e) => e.event).sort()).toEqual([
        'complained',
        'delivered',
      ]);
      const secondOutcome = await ledger.readOutcome({ ...ref('bounce+bob@example.com'), campaignId: second.id });
      expect(secondOutcome).toMatchObject({ status: 'suppressed', reason: 'BOUNCED' });
      expect(metrics).toMatch(/baton_provider_events_total\{event="delivered"\} 3/);
      expect(metrics).toMatch(/baton_provider_events_total\{event="bounced"\} 1/);
      expect(metrics).toMatch(/baton_provider_events_total\{event="complained"\} 1/);
      // One complaint in three sent is far past Gmail's 0.1%.
      expect(view.body.complaints).toMatchObject({ complained: 1, warning: expect.stringContaining('0.1%') });
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });

  it('refuses a forged, stale, replayed or malformed webhook, and changes nothing for it', async () => {
    // Prepare
    const { baton, dataDir } = await startBaton();
    try {
      const call = api(baton);
      const key = readFileSync(path.join(dataDir, 'mailgun-webhook-signing-key'), 'utf8').trim();
      const variables = (email: string) => ({
        'customer-id': 'acme',
        'campaign-id': 'c-forged',
        'recipient-id': recipientIdFor('acme', email),
      });
      const bounce = { event: 'failed' as const, severity: 'permanent' as const, reason: '550 no such user' };
      const genuine = mailgunWebhookBody(key, message('eve@example.com', variables('eve@example.com')), bounce, Date.now()) as {
        signature: Record<string, string>;
      };
      const forged = mailgunWebhookBody(
        'not-the-signing-key-at-all',
        message('fay@example.com', variables('fay@example.com')),
        bounce,
        Date.now(),
      );
      const staleAt = Date.now() - 60 * 60_000;
      const stale = mailgunWebhookBody(key, message('gus@example.com', variables('gus@example.com')), bounce, staleAt);
      // A captured signature on another body: the token is spent once the genuine one is handled.
      const replayedOnOther = {
        ...(mailgunWebhookBody(key, message('hal@example.com', variables('hal@example.com')), bounce, Date.now()) as object),
        signature: genuine.signature,
      };

      // Act
      const forgedAnswer = await postWebhook(baton.url, forged);
      const staleAnswer = await postWebhook(baton.url, stale);
      const genuineAnswer = await postWebhook(baton.url, genuine);
      const replayAnswer = await postWebhook(baton.url, genuine);
      const replayOtherAnswer = await postWebhook(baton.url, replayedOnOther);
      const malformed = await postWebhook(baton.url, { signature: { timestamp: 'soon', token: 'x' }, 'event-data': {} });
      // Signed, with an event time past what a date holds.
      const farOff = mailgunWebhookBody(key, message('ivy@example.com', variables('ivy@example.com')), bounce, Date.now()) as {
        'event-data': { timestamp: number };
      };
      const farOffAnswer = await postWebhook(baton.url, { ...farOff, 'event-data': { ...farOff['event-data'], timestamp: 1e13 } });
      const list = await call<{ suppressions: SuppressionRow[] }>('GET', '/api/customers/acme/suppressions');

      // Assess
      expect(forgedAnswer.status).toBe(401);
      expect(await forgedAnswer.json()).toMatchObject({ error: 'WEBHOOK_SIGNATURE_INVALID' });
      expect(staleAnswer.status).toBe(401);
      expect(await staleAnswer.json()).toMatchObject({ error: 'WEBHOOK_STALE' });
      expect(genuineAnswer.status).toBe(200);
      expect(await genuineAnswer.json()).toMatchObject({ ok: true, recorded: true, suppressed: 'bounced' });
      expect(replayAnswer.status).toBe(406);
      expect(replayOtherAnswer.status).toBe(406);
      expect(malformed.status).toBe(400);
      const issues = ((await malformed.json()) as { issues: { where: string }[] }).issues.map((i) => i.where);
      expect(issues).toEqual(expect.arrayContaining(['body.signature.timestamp', 'body.signature.signature']));
      expect(farOffAnswer.status).toBe(400);
      expect(await farOffAnswer.json()).toMatchObject({
        error: 'WEBHOOK_INVALID',
        issues: [{ where: 'body.event-data.timestamp', message: expect.stringContaining('seconds since the epoch') }],
      });
      expect(list.body.suppressions.map((s) => s.email)).toEqual(['eve@example.com']);
      expect(
        await baton.store.get(
          'campaigns',
          keys.suppression({ customerId: 'acme', recipientId: recipientIdFor('acme', 'fay@example.com') }),
        ),
      ).toBeUndefined();
      // The signature is Mailgun's: hex HMAC-SHA256 of timestamp + token.
      expect(genuine.signature.signature).toBe(signMailgunWebhook(key, genuine.signature.timestamp!, genuine.signature.token!));
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });

  it('ignores events Baton does not track or mail it did not send, records a deferral without suppressing, and lets a bounced test send suppress', async () => {
    // Prepare
    const { baton, dataDir } = await startBaton();
    try {
      const call = api(baton);
      const key = readFileSync(path.join(dataDir, 'mailgun-webhook-signing-key'), 'utf8').trim();
      const ids = (email: string) => ({ 'customer-id': 'acme', 'campaign-id': 'c-one', 'recipient-id': recipientIdFor('acme', email) });
      const post = (to: string, variables: Record<string, string>, e: Parameters<typeof mailgunWebhookBody>[2]) =>
        postWebhook(baton.url, mailgunWebhookBody(key, message(to, variables), e, Date.now()));

      // Act
      const opened = await post('ann@example.com', ids('ann@example.com'), { event: 'opened' as 'delivered' });
      const foreign = await post('bob@example.com', {}, { event: 'failed', severity: 'permanent' });
      const deferred = await post('cid@example.com', ids('cid@example.com'), {
        event: 'failed',
        severity: 'temporary',
        reason: '421 later',
      });
      const testBounce = await post(
        'dan@example.com',
        { 'customer-id': 'acme', 'campaign-id': 'c-one', test: 'true' },
        { event: 'failed', severity: 'permanent' },
      );
      const badId = await post(
        'eve@example.com',
        { 'customer-id': 'acme', 'campaign-id': 'c-one', 'recipient-id': 'not-an-id' },
        { event: 'delivered' },
      );
      const list = await call<{ suppressions: SuppressionRow[] }>('GET', '/api/customers/acme/suppressions');
      const ledger = new Ledger({ store: baton.store, bucket: 'campaigns', clock: { now: Date.now, sleep: async () => {} } });

      // Assess
      expect(opened.status).toBe(200);
      expect(await opened.json()).toMatchObject({ ignored: expect.stringContaining('not tracked') });
      expect(await foreign.json()).toMatchObject({ ignored: expect.stringContaining('not sent by Baton') });
      expect(await deferred.json()).toMatchObject({ recorded: true });
      expect(await testBounce.json()).toMatchObject({ recorded: false, suppressed: 'bounced' });
      expect(badId.status).toBe(400);
      expect(list.body.suppressions.map((s) => [s.email, s.reason])).toEqual([['dan@example.com', 'bounced']]);
      const cid = { customerId: 'acme', campaignId: 'c-one', recipientId: recipientIdFor('acme', 'cid@example.com') };
      expect(await ledger.readDelivery(cid)).toMatchObject({ status: 'deferred', reason: expect.stringContaining('421 later') });
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });

  it('refuses a test send to an address suppressed for any reason, and sends one to an address that is not', async () => {
    // Prepare: one address for each reason
    const { baton, dataDir } = await startBaton();
    try {
      const call = api(baton);
      await sendAndWait(baton, campaign('email\nbounce+b@example.com\ncomplain+c@example.com\nunsubscribe+u@example.com\n'));
      await baton.sinkWebhooks!.settled();
      await call('POST', '/api/customers/acme/suppressions', { email: 'manual@example.com' });
      const draft = await call<View>('POST', '/api/campaigns', campaign('email\nann@example.com\n', 'Draft'));
      baton.sink!.clear();

      // Act
      const answers: Record<string, [number, unknown]> = {};
      for (const to of [
        'bounce+b@example.com',
        'complain+c@example.com',
        'unsubscribe+u@example.com',
        'Manual@Example.com',
        'tester@example.com',
      ]) {
        const r = await call('POST', `/api/campaigns/${draft.body.id}/test-send`, { to });
        answers[to] = [r.status, r.body.error];
      }

      // Assess
      expect(answers).toEqual({
        'bounce+b@example.com': [422, 'RECIPIENT_SUPPRESSED'],
        'complain+c@example.com': [422, 'RECIPIENT_SUPPRESSED'],
        'unsubscribe+u@example.com': [422, 'RECIPIENT_SUPPRESSED'],
        'Manual@Example.com': [422, 'RECIPIENT_SUPPRESSED'],
        'tester@example.com': [202, undefined],
      });
      expect(baton.sink!.messages().map((m) => m.to)).toEqual(['tester@example.com']);
    } finally {
      await baton.stop();
      removeDir(dataDir);
    }
  });
});
