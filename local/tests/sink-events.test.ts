import { createMailgunSender } from '@baton/shared/mailgun';
import { createMailgunLookup } from '@baton/shared/mailgun-lookup';
import { startMailgunSink, type MailgunSink } from '../src/mailgun-sink';

/** The provider look-up (mailgun.js `events.get`) against the sink's events API, over loopback. */
describe('the sink answers the events API the way mailgun.js asks it', () => {
  const apiKey = 'key-0123456789abcdef';
  const domain = 'mg.example.com';
  let sink: MailgunSink;

  beforeAll(async () => {
    sink = await startMailgunSink({ apiKey });
  });
  afterAll(async () => {
    await sink.close();
  });

  const ids = { customerId: 'acme', campaignId: 'c-1' };
  const sender = () => createMailgunSender({ url: sink.url, domain, apiKey, timeoutMs: 5_000 });
  const lookup = (pageSize?: number) => createMailgunLookup({ url: sink.url, domain, apiKey, timeoutMs: 5_000, pageSize });
  const send = (to: string, recipientId: string) =>
    sender().send({
      from: 'a@acme.example',
      to,
      subject: 'Hi',
      html: '<p>Hi</p>',
      text: 'Hi',
      headers: {},
      variables: { 'customer-id': ids.customerId, 'campaign-id': ids.campaignId, 'recipient-id': recipientId },
    });

  it('finds an accepted message by its v: variables, with the id the send was answered', async () => {
    // Prepare
    const since = Date.now() - 1_000;
    const { providerId } = await send('ann@example.com', 'a'.repeat(32));

    // Act
    const found = await lookup().find({ ...ids, recipientId: 'a'.repeat(32), to: 'ann@example.com', since });
    const other = await lookup().find({ ...ids, recipientId: 'b'.repeat(32), to: 'ann@example.com', since });
    const later = await lookup().find({ ...ids, recipientId: 'a'.repeat(32), to: 'ann@example.com', since: Date.now() + 5_000 });

    // Assess
    expect(found).toEqual({ kind: 'accepted', providerId });
    expect(other).toEqual({ kind: 'none' });
    expect(later).toEqual({ kind: 'none' });
  });

  it('follows the paging links mailgun.js hands back', async () => {
    const since = Date.now() - 1_000;
    for (let i = 0; i < 5; i++) await send('bob@example.com', String(i).repeat(32));
    const found = await lookup(2).find({ ...ids, recipientId: '4'.repeat(32), to: 'bob@example.com', since });
    expect(found.kind).toBe('accepted');
  });

  it('throws when the provider cannot answer, so nothing is concluded', async () => {
    sink.setEventsAvailable(false);
    try {
      await expect(lookup().find({ ...ids, recipientId: 'a'.repeat(32), to: 'ann@example.com', since: 0 })).rejects.toMatchObject({
        code: 'PROVIDER_UNAVAILABLE',
      });
    } finally {
      sink.setEventsAvailable(true);
    }
    const wrongKey = createMailgunLookup({ url: sink.url, domain, apiKey: 'key-wrong', timeoutMs: 5_000 });
    await expect(wrongKey.find({ ...ids, recipientId: 'a'.repeat(32), to: 'ann@example.com', since: 0 })).rejects.toMatchObject({
      code: 'PROVIDER_AUTH',
    });
  });
});
