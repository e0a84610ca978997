import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError, parseWith } from '@baton/shared';
import type { Conductor } from '../core/conductor';
import { createCampaignInput, timeOf } from './requests';

/**
 * The routes that take a campaign or an audience in (`POST /api/campaigns` as JSON or as
 * multipart with the audience as a file part, `PUT /api/uploads/:customerId/:name` as a raw
 * CSV body), each with its own body limit; a body over it is a 413 that names the limit and
 * the way to send more. Bodies are read as they arrive (never parsed as one JSON document when
 * large) and the audience is checked from its head only: its rows are read by the stubber,
 * whose report lists their problems as it finds them.
 */

export interface BodyLimits {
  /** A JSON create, audience included (default 8 MiB: parsing a JSON document holds the event loop). */
  jsonBytes: number;
  /** An audience sent as a file part or a raw CSV body (default 200 MB, the most an audience may be). */
  audienceBytes: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = { jsonBytes: 8 * 1024 * 1024, audienceBytes: 200_000_000 };

/** A text field of a multipart create (the longest is mjml, up to 2,000,000 characters). */
const TEXT_FIELD_BYTES = 8 * 1024 * 1024;
const UPLOAD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export async function createRoutes(api: FastifyInstance, conductor: Conductor, limits: BodyLimits = DEFAULT_BODY_LIMITS): Promise<void> {
  await api.register(async (scope) => {
    scope.setErrorHandler((err, request, reply) => {
      if (isTooLarge(err)) return tooLarge(request, reply, limits);
      throw err; // the API's own handler maps the rest
    });
    await scope.register(multipart, {
      limits: { fields: 10, files: 1, parts: 11, fieldSize: TEXT_FIELD_BYTES, fileSize: limits.audienceBytes },
    });
    scope.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'buffer', bodyLimit: limits.audienceBytes }, (_req, body, done) =>
      done(null, body),
    );

    scope.post('/campaigns', { bodyLimit: limits.jsonBytes }, async (req, reply) => {
      if (!req.isMultipart()) {
        const { sendAt, sendWindow, localSend, ...input } = parseWith(createCampaignInput, req.body, 'CAMPAIGN_INVALID', 'body');
        return reply.code(201).send(await conductor.createCampaign(input, { sendAt: timeOf(sendAt), sendWindow, localSend }));
      }
      // The audience stays in bytes, as it came: never one big string (decoding and re-encoding
      // 40 MB held the event loop for about 200 ms).
      const { fields, audience } = await readMultipartCreate(req);
      const checked = parseWith(
        createCampaignInput,
        { ...withJsonWindow(fields), ...(audience ? { audienceCsv: audience.length > 0 ? 'x' : '' } : {}) },
        'CAMPAIGN_INVALID',
        'body',
      );
      const { sendAt, sendWindow, localSend, ...input } = checked;
      return reply
        .code(201)
        .send(
          await conductor.createCampaign(
            { ...input, ...(audience ? { audienceCsv: audience } : {}) },
            { sendAt: timeOf(sendAt), sendWindow, localSend },
          ),
        );
    });

    scope.put<{ Params: { customerId: string; name: string } }>(
      '/uploads/:customerId/:name',
      { bodyLimit: limits.audienceBytes },
      async (req, reply) => {
        if (!Buffer.isBuffer(req.body)) {
          throw new ValidationError('UPLOAD_INVALID', [{ where: 'content-type', message: 'must be text/csv' }]);
        }
        if (!UPLOAD_NAME.test(req.params.name)) {
          throw new ValidationError('UPLOAD_INVALID', [
            { where: 'path.name', message: 'must be letters, digits, dots, dashes and underscores (1-128), not starting with a dot' },
          ]);
        }
        const key = await conductor.storeUpload(req.params.customerId, req.params.name, req.body);
        return reply.code(201).send({ audienceKey: key, bytes: req.body.length });
      },
    );
  });
}

/**
 * A multipart create: the text fields, then the audience as a file part named `audience` (last,
 * since nothing after it is read). The file is collected as it streams in, with its size bound.
 */
async function readMultipartCreate(req: FastifyRequest): Promise<{ fields: Record<string, unknown>; audience?: Buffer }> {
  const fields: Record<string, unknown> = {};
  let audience: Buffer | undefined;
  for await (const part of req.parts()) {
    if (part.type === 'field') {
      if (part.valueTruncated) {
        throw new ValidationError('CAMPAIGN_INVALID', [
          { where: `body.${part.fieldname}`, message: `is over ${describeBytes(TEXT_FIELD_BYTES)}` },
        ]);
      }
      fields[part.fieldname] = part.value;
      continue;
    }
    if (part.fieldname !== 'audience') {
      part.file.resume();
      throw new ValidationError('CAMPAIGN_INVALID', [{ where: `body.${part.fieldname}`, message: 'the only file part is audience' }]);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of part.file) chunks.push(chunk as Buffer);
    audience = Buffer.concat(chunks);
  }
  return { fields, audience };
}

function isTooLarge(err: unknown): boolean {
  const { code, statusCode } = err as { code?: string; statusCode?: number };
  return code === 'FST_ERR_CTP_BODY_TOO_LARGE' || code === 'FST_REQ_FILE_TOO_LARGE' || (statusCode === 413 && code === undefined);
}

function tooLarge(request: FastifyRequest, reply: FastifyReply, limits: BodyLimits): FastifyReply {
  const json = request.method === 'POST' && !request.isMultipart();
  const message = json
    ? `a JSON create takes at most ${describeBytes(limits.jsonBytes)}; send a larger audience as the file part "audience" of a multipart/form-data create, or PUT it as text/csv to /api/uploads/{customerId}/{name} and give its audienceKey`
    : `an audience takes at most ${describeBytes(limits.audienceBytes)}`;
  const limit = json ? limits.jsonBytes : limits.audienceBytes;
  return reply.code(413).send({ error: 'BODY_TOO_LARGE', message, limitBytes: limit });
}

function describeBytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB (${n.toLocaleString('en')} bytes)`;
  return `${(n / 1_000_000).toLocaleString('en')} MB (${n.toLocaleString('en')} bytes)`;
}

/** A multipart field is text: a `sendWindow` or `localSend` part is its JSON (left as it is when it is not JSON, for the schema to name). */
function withJsonWindow(fields: Record<string, unknown>): Record<string, unknown> {
  const out = { ...fields };
  for (const name of ['sendWindow', 'localSend']) {
    const text = out[name];
    if (typeof text !== 'string') continue;
    try {
      out[name] = JSON.parse(text) as unknown;
    } catch {
      // left as text: the schema names it
    }
  }
  return out;
}
