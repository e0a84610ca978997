import { ValidationError } from '@baton/shared';
import { inboxMessage, inboxPage, parseInboxQuery } from '../src/inbox';
import type { SinkMessage } from '../src/mailgun-sink';

/** The sink's view of `n` messages, the odd ones of campaign c-odd. */
function inbox(n: number) {
  const messages: SinkMessage[] = Array.from({ length: n }, (_, i) => ({
    id: `<${1000 + i}.${i}.abc@mg.example.com>`,
    receivedAt: Date.UTC(2026, 11, 1, 12, 0, i),
    domain: 'mg.example.com',
    from: 'news@acme.example',
    to: `reader${i}@example.com`,
    subject: i === 3 ? 'Your Invoice' : 'Hello',
    html: `<p>${i}</p>`,
    text: `${i}`,
    headers: { 'List-Id': 'acme' },
    variables: { 'campaign-id': i % 2 === 1 ? 'c-odd' : 'c-even', 'recipient-id': 'ab'.repeat(16) },
  }));
  return { messagesView: () => messages, indexOf: (id: string) => messages.findIndex((m) => m.id === id) };
}

describe('the local inbox', () => {
  it('pages newest first with a cursor until every message was seen once', () => {
    const sink = inbox(7);
    const first = inboxPage(sink, { limit: 3 });
    expect(first.messages.map((m) => m.to)).toEqual(['reader6@example.com', 'reader5@example.com', 'reader4@example.com']);
    expect(first).toMatchObject({ total: 7, next: '1004.4.abc@mg.example.com' });
    const second = inboxPage(sink, { limit: 3, cursor: first.next });
    const third = inboxPage(sink, { limit: 3, cursor: second.next });
    expect(third.messages.map((m) => m.to)).toEqual(['reader0@example.com']);
    expect(third.next).toBeUndefined();
  });

  it('has no next page when the page ends exactly at the last match', () => {
    const page = inboxPage(inbox(4), { limit: 2, campaignId: 'c-odd' });
    expect(page.messages.map((m) => m.to)).toEqual(['reader3@example.com', 'reader1@example.com']);
    expect(page).toMatchObject({ total: 2 });
    expect(page.next).toBeUndefined();
  });

  it('filters by campaign and by a case-insensitive text in the recipient, sender or subject', () => {
    const sink = inbox(6);
    expect(inboxPage(sink, { campaignId: 'c-odd' }).messages.map((m) => m.campaignId)).toEqual(['c-odd', 'c-odd', 'c-odd']);
    expect(inboxPage(sink, { q: 'invoice' }).messages.map((m) => m.to)).toEqual(['reader3@example.com']);
    expect(inboxPage(sink, { q: 'READER5' }).total).toBe(1);
    expect(inboxPage(sink, { q: 'ACME.example' }).total).toBe(6);
    expect(inboxPage(sink, { q: 'invoice', campaignId: 'c-even' }).total).toBe(0);
  });

  it('opens one message with its headers, the ids it carried, and both parts', () => {
    const message = inboxMessage(inbox(2), '1001.1.abc@mg.example.com');
    expect(message).toMatchObject({
      id: '1001.1.abc@mg.example.com',
      messageId: '<1001.1.abc@mg.example.com>',
      receivedAt: '2026-12-01T12:00:01.000Z',
      campaignId: 'c-odd',
      text: '1',
      html: '<p>1</p>',
      headers: { 'List-Id': 'acme', To: 'reader1@example.com', Subject: 'Hello' },
    });
    expect(JSON.parse(message!.headers['X-Mailgun-Variables']!)).toMatchObject({ 'campaign-id': 'c-odd' });
    expect(inboxMessage(inbox(2), 'nope')).toBeUndefined();
  });

  it.each([
    [{ limit: '0' }, 'query.limit'],
    [{ limit: '201' }, 'query.limit'],
    [{ limit: '2.5' }, 'query.limit'],
    [{ q: 'x'.repeat(201) }, 'query.q'],
    [{ q: ['a', 'b'] }, 'query.q'],
    [{ page: '2' }, 'query.page'],
  ])('refuses the query %j, naming %s', (raw, where) => {
    expect(() => parseInboxQuery(raw)).toThrow(ValidationError);
    try {
      parseInboxQuery(raw);
    } catch (err) {
      expect((err as ValidationError).issues).toEqual([expect.objectContaining({ where })]);
    }
  });

  it('refuses a cursor that is not a message of the inbox, naming it', () => {
    expect(() => inboxPage(inbox(2), { cursor: 'gone@mg.example.com' })).toThrow(/query.cursor: is not a message of the inbox/);
  });

  it('takes an empty query as no filter and the limit as a number', () => {
    expect(parseInboxQuery({ campaignId: '', limit: '20', q: 'x' })).toEqual({ limit: 20, q: 'x' });
  });
});
