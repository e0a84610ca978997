import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ID_PATTERN, parseWith } from '@baton/shared';
import { csvExport } from './csv-export';
import { answerTooLarge, describeBytes } from './requests';
import { SuppressionNotFoundError, SuppressionNotRemovableError, type SuppressionView, type Suppressions } from '../core/suppressions';

/**
 * A CSV of addresses to suppress, at most this large (about 40,000 addresses): it is parsed on the
 * event loop (about 0.35 s for 1 MB, measured), so a larger one would stall the governor and the
 * lease API. Larger lists go in several imports (`baton suppressions import` splits them).
 */
export const IMPORT_BODY_LIMIT_BYTES = 1024 * 1024;

const params = z.object({ customer: z.string().regex(new RegExp(ID_PATTERN), { message: 'must be a customer id' }) });
const listQuery = z
  .object({
    cursor: z.string().optional(),
    limit: z.coerce.number().optional(),
    format: z.enum(['json', 'csv'], { message: 'must be json or csv' }).optional(),
  })
  .strict();
const addBody = z.object({ email: z.string({ message: 'is required' }).min(1, { message: 'is required' }).max(320) }).strict();

const CSV_COLUMNS = ['email', 'reason', 'at', 'campaign_id', 'detail', 'recipient_id'] as const;

/**
 * A customer's suppression list (`/api/customers/:customer/suppressions`, behind the API token):
 * GET lists it as JSON pages (`?cursor=&limit=`) or, with `Accept: text/csv` or `?format=csv`,
 * as one streamed CSV; POST adds an address (`manual`); POST `/import` suppresses every address of
 * a CSV body (an `email` column, like an audience); DELETE `/:email` removes a manual one.
 */
export async function suppressionRoutes(api: FastifyInstance, suppressions: Suppressions): Promise<void> {
  await api.register(async (scope) => {
    scope.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT_BYTES }, (_req, body, done) =>
      done(null, body),
    );
    scope.setErrorHandler((err, _req, reply) => {
      if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const limit = describeBytes(IMPORT_BODY_LIMIT_BYTES);
        const message = `an import takes at most ${limit} of CSV; split a larger list into several imports (baton suppressions import does)`;
        return answerTooLarge(reply, message, IMPORT_BODY_LIMIT_BYTES);
      }
      if (err instanceof SuppressionNotFoundError) return reply.code(404).send({ error: err.code, message: err.message });
      if (err instanceof SuppressionNotRemovableError) return reply.code(409).send({ error: err.code, message: err.message });
      throw err;
    });

    scope.get('/customers/:customer/suppressions', async (req, reply) => {
      const { customer } = parseWith(params, req.params, 'QUERY_INVALID', 'path');
      const query = parseWith(listQuery, req.query, 'QUERY_INVALID', 'query');
      if (wantsCsv(req, query.format)) {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="suppressions-${customer}.csv"`)
          .send(csvExport(CSV_COLUMNS, csvRows(suppressions.all(customer))));
      }
      return suppressions.page(customer, { cursor: query.cursor, limit: query.limit });
    });

    scope.post('/customers/:customer/suppressions', async (req, reply) => {
      const { customer } = parseWith(params, req.params, 'QUERY_INVALID', 'path');
      const { email } = parseWith(addBody, req.body, 'SUPPRESSION_INVALID', 'body');
      const { suppression, created } = await suppressions.add(customer, email);
      return reply.code(created ? 201 : 200).send({ ...suppression, created });
    });

    scope.post('/customers/:customer/suppressions/import', { bodyLimit: IMPORT_BODY_LIMIT_BYTES }, async (req) => {
      const { customer } = parseWith(params, req.params, 'QUERY_INVALID', 'path');
      const csv =
        typeof req.body === 'string'
          ? req.body
          : parseWith(z.object({ csv: z.string().min(1) }).strict(), req.body, 'IMPORT_INVALID', 'body').csv;
      return suppressions.import(customer, csv);
    });

    scope.delete<{ Params: { customer: string; email: string } }>('/customers/:customer/suppressions/:email', async (req, reply) => {
      const { customer } = parseWith(params, { customer: req.params.customer }, 'QUERY_INVALID', 'path');
      await suppressions.remove(customer, req.params.email);
      return reply.code(204).send();
    });
  });
}

function wantsCsv(req: FastifyRequest, format: 'json' | 'csv' | undefined): boolean {
  if (format !== undefined) return format === 'csv';
  return /\btext\/csv\b/.test(req.headers.accept ?? '');
}

async function* csvRows(all: AsyncIterable<SuppressionView>): AsyncGenerator<(string | null)[]> {
  for await (const s of all) yield [s.email, s.reason, s.at, s.campaignId, s.detail, s.recipientId];
}
