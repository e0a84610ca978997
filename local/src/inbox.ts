import type { FastifyInstance } from 'fastify';
import { ValidationError, type InboxItem, type InboxMessage, type InboxPage } from '@baton/shared';
import type { MailgunSink, SinkMessage } from './mailgun-sink';

/**
 * The local inbox: every message the built-in Mailgun sink accepted, for the console
 * (`GET /api/local/inbox`, `GET /api/local/inbox/:id`, behind the API token). Nothing here
 * leaves the machine. A message's id is its Mailgun id without the angle brackets
 * (`1733….1.9f3a…@mg.example.com`), so it goes in a URL path as it is.
 */

export interface InboxQuery {
  campaignId?: string;
  /** Found, case-insensitively, in the recipient, the sender or the subject. */
  q?: string;
  /** The `next` of the page before. */
  cursor?: string;
  /** Default 50, at most 200. */
  limit?: number;
}

/** The inbox's answers: the API's types (shared api-types.ts), made here. */
export type { InboxItem, InboxMessage, InboxPage };

export const DEFAULT_INBOX_LIMIT = 50;
export const MAX_INBOX_LIMIT = 200;
const MAX_QUERY_LENGTH = 200;

export function inboxId(message: SinkMessage): string {
  return message.id.replace(/^<|>$/g, '');
}

/**
 * One page of the inbox, newest first. Walks back from the cursor until the page is full, and
 * counts the matches of the whole inbox for `total`: linear in the inbox, over short fields only
 * (never the bodies).
 */
export function inboxPage(sink: Pick<MailgunSink, 'messagesView' | 'indexOf'>, query: InboxQuery): InboxPage {
  const all = sink.messagesView();
  const limit = query.limit ?? DEFAULT_INBOX_LIMIT;
  let from = all.length - 1;
  if (query.cursor !== undefined) {
    const at = sink.indexOf(`<${query.cursor}>`);
    if (at < 0) throw invalid('query.cursor', 'is not a message of the inbox (was it cleared?); start again without a cursor');
    from = at - 1;
  }
  const q = query.q?.toLowerCase();
  const matches = (m: SinkMessage): boolean =>
    (query.campaignId === undefined || m.variables['campaign-id'] === query.campaignId) &&
    (q === undefined || [m.to, m.from, m.subject].some((field) => field.toLowerCase().includes(q)));
  const messages: InboxItem[] = [];
  let i = from;
  for (; i >= 0 && messages.length < limit; i--) if (matches(all[i]!)) messages.push(item(all[i]!));
  let more = false;
  for (let j = i; j >= 0 && !more; j--) more = matches(all[j]!);
  let total = 0;
  for (const m of all) if (matches(m)) total++;
  const last = messages[messages.length - 1];
  return { messages, ...(more && last ? { next: last.id } : {}), total };
}

/** One message with its headers and both parts; undefined when the inbox has none of that id. */
export function inboxMessage(sink: Pick<MailgunSink, 'messagesView' | 'indexOf'>, id: string): InboxMessage | undefined {
  const at = sink.indexOf(`<${id}>`);
  const m = at < 0 ? undefined : sink.messagesView()[at];
  if (m === undefined) return undefined;
  const variables: Record<string, string> =
    Object.keys(m.variables).length > 0 ? { 'X-Mailgun-Variables': JSON.stringify(m.variables) } : {};
  return {
    ...item(m),
    messageId: m.id,
    headers: { From: m.from, To: m.to, Subject: m.subject, 'Message-Id': m.id, ...m.headers, ...variables },
    text: m.text ?? '',
    html: m.html ?? '',
  };
}

function item(m: SinkMessage): InboxItem {
  const campaignId = m.variables['campaign-id'];
  return {
    id: inboxId(m),
    to: m.to,
    from: m.from,
    subject: m.subject,
    receivedAt: new Date(m.receivedAt).toISOString(),
    ...(campaignId !== undefined ? { campaignId } : {}),
  };
}

/** The query string as given (every value text), checked: a bad one is a 400 naming it. */
export function parseInboxQuery(raw: Record<string, unknown>): InboxQuery {
  const known = new Set(['campaignId', 'q', 'cursor', 'limit']);
  for (const name of Object.keys(raw))
    if (!known.has(name)) throw invalid(`query.${name}`, 'is not a parameter of the inbox (campaignId, q, cursor, limit)');
  const text = (name: string, max: number): string | undefined => {
    const value = raw[name];
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw invalid(`query.${name}`, 'must be given once');
    if (value.length > max) throw invalid(`query.${name}`, `must be at most ${max} characters`);
    return value;
  };
  const limitText = text('limit', 10);
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= MAX_INBOX_LIMIT)) {
    throw invalid('query.limit', `must be a whole number from 1 to ${MAX_INBOX_LIMIT}`);
  }
  const out: InboxQuery = {};
  const campaignId = text('campaignId', 64);
  const q = text('q', MAX_QUERY_LENGTH);
  const cursor = text('cursor', 1024);
  if (campaignId !== undefined) out.campaignId = campaignId;
  if (q !== undefined) out.q = q;
  if (cursor !== undefined) out.cursor = cursor;
  if (limit !== undefined) out.limit = limit;
  return out;
}

function invalid(where: string, message: string): ValidationError {
  return new ValidationError('INBOX_QUERY_INVALID', [{ where, message }]);
}

/** The inbox's routes, added under `/api` (behind the API token) by the local composition. */
export function inboxRoutes(sink: MailgunSink) {
  return async (app: FastifyInstance) => {
    app.get('/local/inbox', async (req) => inboxPage(sink, parseInboxQuery((req.query ?? {}) as Record<string, unknown>)));
    app.get<{ Params: { id: string } }>('/local/inbox/:id', async (req, reply) => {
      const message = inboxMessage(sink, req.params.id);
      if (message === undefined) {
        return reply
          .code(404)
          .send({ error: 'MESSAGE_NOT_FOUND', message: `the local inbox has no message ${JSON.stringify(req.params.id.slice(0, 200))}` });
      }
      return message;
    });
  };
}
