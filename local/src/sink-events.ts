import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SinkMessage } from './mailgun-sink';

/**
 * The sink's answer to Mailgun's events API (`GET /v3/{domain}/events`, and the page URLs it
 * hands out), from what the sink stored: each message it took is an `accepted` event, whether or
 * not its answer reached the sender. Enough of the API for mailgun.js's `events.get`: the filters
 * `event`, `recipient`, `begin`, `end`, `ascending`, `limit`, and `paging` links whose last path
 * segment is the next page (mailgun.js joins it onto the events path).
 */
export interface SinkEventsOptions {
  messages: () => readonly SinkMessage[];
  authorised: (req: FastifyRequest) => boolean;
  /** False: every events call answers 503 (a provider whose records cannot be read right now). */
  available: () => boolean;
}

interface EventsQuery {
  event?: string;
  recipient?: string;
  begin?: string;
  end?: string;
  ascending?: string;
  limit?: string;
}

const MAX_LIMIT = 300;

export function sinkEventsRoutes(app: FastifyInstance, options: SinkEventsOptions): void {
  const handler = async (
    req: FastifyRequest<{ Params: { domain: string; page?: string }; Querystring: EventsQuery }>,
    reply: FastifyReply,
  ) => {
    if (!options.available()) return reply.code(503).send({ message: 'Events are unavailable right now (sink fault)' });
    if (!options.authorised(req)) return reply.code(401).send({ message: 'Forbidden' });
    const { domain, page } = req.params;
    let query: EventsQuery & { offset?: number };
    try {
      query = page ? (JSON.parse(Buffer.from(page, 'base64url').toString('utf8')) as EventsQuery & { offset?: number }) : req.query;
    } catch {
      return reply.code(400).send({ message: 'malformed page' });
    }
    const limit = Math.min(MAX_LIMIT, Math.max(1, Number(query.limit ?? MAX_LIMIT) || MAX_LIMIT));
    const begin = toMs(query.begin);
    const end = toMs(query.end);
    if (begin === null || end === null)
      return reply.code(400).send({ message: "'begin' and 'end' must be a date (epoch seconds or RFC 2822)" });
    if (query.event !== undefined && query.event !== 'accepted') return reply.send({ items: [], paging: paging(req, domain, query, 0) });
    const recipient = query.recipient?.toLowerCase();
    const matching = options
      .messages()
      .filter((m) => m.domain === domain)
      .filter((m) => recipient === undefined || m.to.toLowerCase() === recipient)
      .filter((m) => (begin === undefined || m.receivedAt >= begin) && (end === undefined || m.receivedAt <= end));
    if (query.ascending !== 'yes') matching.reverse();
    const offset = query.offset ?? 0;
    const items = matching.slice(offset, offset + limit).map(toEvent);
    return reply.send({ items, paging: paging(req, domain, query, offset + items.length) });
  };
  app.get('/v3/:domain/events', handler);
  app.get('/v3/:domain/events/:page', handler);
}

/** Mailgun's paging links, absolute URLs (mailgun.js parses them). */
function paging(req: FastifyRequest, domain: string, query: EventsQuery, nextOffset: number) {
  const base = `http://${req.headers.host ?? 'localhost'}/v3/${encodeURIComponent(domain)}/events`;
  const { offset: _, ...filters } = query as EventsQuery & { offset?: number };
  const token = (offset: number) => Buffer.from(JSON.stringify({ ...filters, offset }), 'utf8').toString('base64url');
  return {
    first: `${base}/${token(0)}`,
    next: `${base}/${token(nextOffset)}`,
    previous: `${base}/${token(0)}`,
    last: `${base}/${token(0)}`,
  };
}

function toEvent(m: SinkMessage) {
  return {
    event: 'accepted',
    id: m.id.replace(/^<|>$/g, ''),
    timestamp: m.receivedAt / 1000,
    recipient: m.to,
    'user-variables': { ...m.variables },
    message: { headers: { 'message-id': m.id.replace(/^<|>$/g, ''), to: m.to, from: m.from, subject: m.subject } },
  };
}

/** Epoch seconds (with a fraction) or an RFC 2822 date; `undefined` when absent, `null` when unreadable. */
function toMs(value: string | undefined): number | undefined | null {
  if (value === undefined || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
