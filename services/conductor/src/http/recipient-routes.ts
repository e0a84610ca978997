import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  RECIPIENT_CSV_COLUMNS,
  ValidationError,
  parseRecipientStatus,
  parseWith,
  type RecipientRow,
  type RecipientsPage,
} from '@baton/shared';
import type { Conductor } from '../core/conductor';
import type { ListedRecipient, SearchBudget } from '../core/recipient-list';
import { csvExport } from './csv-export';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** Recipients a search (`q`) examines for one JSON page at most: a page that finds few ends there, with a cursor. */
export const SEARCH_EXAMINED_PER_PAGE = 10_000;

const listQuery = z
  .object({
    status: z.string().max(40).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_LIMIT).optional(),
    cursor: z.string().max(200).optional(),
    /** A part of the address, any case. */
    q: z.string().max(320, { message: 'must be at most 320 characters (an address is)' }).optional(),
    format: z.enum(['json', 'csv']).optional(),
  })
  .strict();

const resendBody = z.object({ status: z.string().max(40) }).strict();

type Params = { Params: { id: string } };

/**
 * Who got it and who did not: `GET /api/campaigns/:id/recipients` (a page of JSON, or the whole
 * list as CSV streamed row by row), `POST …/retry` and `POST …/resend`. Registered in the API scope
 * (bearer token).
 */
export async function recipientRoutes(api: FastifyInstance, conductor: Conductor): Promise<void> {
  api.get<Params>('/campaigns/:id/recipients', async (req, reply) => {
    const query = parseWith(listQuery, req.query, 'QUERY_INVALID', 'query');
    const status = query.status === undefined ? undefined : parseRecipientStatus(query.status, 'query.status');
    const options = { status, cursor: query.cursor, q: query.q };
    if (query.format === 'csv' || (query.format === undefined && wantsCsv(req))) {
      const name = `${req.params.id}-recipients${status ? `-${status}` : ''}.csv`;
      const listing = conductor.recipients(req.params.id, options);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(csvExport(RECIPIENT_CSV_COLUMNS, csvRecords(listing, query.limit)));
    }
    const budget: SearchBudget = { max: SEARCH_EXAMINED_PER_PAGE };
    return page(conductor.recipients(req.params.id, { ...options, budget }), query.limit ?? DEFAULT_LIMIT, budget);
  });

  api.post<Params>('/campaigns/:id/retry', async (req) => conductor.retry(req.params.id));

  api.post<Params>('/campaigns/:id/resend', async (req) => {
    const body = parseWith(resendBody, req.body ?? {}, 'RESEND_INVALID', 'body');
    if (parseRecipientStatus(body.status, 'body.status') !== 'notAccepted')
      throw new ValidationError('RESEND_INVALID', [
        { where: 'body.status', message: 'only notAccepted recipients can be resent (POST …/retry re-queues failed ones)' },
      ]);
    return conductor.resend(req.params.id, 'notAccepted');
  });
}

function wantsCsv(req: FastifyRequest): boolean {
  return /\btext\/csv\b/i.test(req.headers.accept ?? '');
}

/**
 * One page: `limit` rows, and a cursor when at least one more follows, or when a search stopped
 * for its budget (then more may follow, and the page may hold fewer rows, even none).
 */
async function page(listing: AsyncGenerator<ListedRecipient>, limit: number, budget: SearchBudget): Promise<RecipientsPage> {
  const recipients: RecipientRow[] = [];
  let last: string | null = null;
  let next: string | null = null;
  for await (const { row, cursor } of listing) {
    if (recipients.length === limit) {
      next = last;
      break; // `for await` ends the generator: its listings stop here
    }
    recipients.push(row);
    last = cursor;
  }
  return { recipients, next: next ?? budget.stoppedAt ?? null };
}

async function* csvRecords(
  listing: AsyncGenerator<ListedRecipient>,
  limit: number | undefined,
): AsyncGenerator<(string | number | null)[]> {
  let n = 0;
  for await (const { row } of listing) {
    if (limit !== undefined && n++ >= limit) break;
    yield RECIPIENT_CSV_COLUMNS.map((c) => (c === 'delivery' ? (row.delivery === null ? '' : JSON.stringify(row.delivery)) : row[c]));
  }
}
