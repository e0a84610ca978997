import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { BodyTooLargeError, DEFAULT_UPLOAD_BYTES_PER_SECOND, ValidationError, parseWith } from '@baton/shared';
import type { AudienceUpload } from '../core/audience-upload';
import type { Conductor } from '../core/conductor';
import { tokenDigest } from './expensive-requests';
import { answerTooLarge, createCampaignInput, describeBytes, timeOf } from './requests';
import { UploadRate } from './upload-rate';

/**
 * The routes that take a campaign or an audience in (`POST /api/campaigns` as JSON or as
 * multipart with the audience as a file part, `PUT /api/uploads/:customerId/:name` as a raw
 * CSV body), each with its own body limit; a body over it is a 413 that names the limit and
 * the way to send more, and leaves nothing stored. An uploaded audience streams from the request
 * into the store as it arrives (never held whole, never parsed as one JSON document) and is
 * checked from its head only: its rows are read by the stubber, whose report lists their
 * problems as it finds them. An upload is read no faster than its token's upload rate
 * (upload-rate.ts): the answer names the bound in `upload-rate-limit` (bytes a second per token).
 */

export interface BodyLimits {
  /** A JSON create, audience included (default 8 MiB: parsing a JSON document holds the event loop). */
  jsonBytes: number;
  /** An audience sent as a file part or a raw CSV body (default 200 MB, the most an audience may be). */
  audienceBytes: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = { jsonBytes: 8 * 1024 * 1024, audienceBytes: 200_000_000 };

/** A multipart create's parts: its text fields, and the audience. */
const MULTIPART_LIMITS = { fields: 10, files: 1, parts: 11 };

/** A text field of a multipart create (the longest is mjml, up to 2,000,000 characters). */
const TEXT_FIELD_BYTES = 8 * 1024 * 1024;
const UPLOAD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export async function createRoutes(
  api: FastifyInstance,
  conductor: Conductor,
  limits: BodyLimits = DEFAULT_BODY_LIMITS,
  uploadRate: UploadRate = new UploadRate(DEFAULT_UPLOAD_BYTES_PER_SECOND),
): Promise<void> {
  /** The request's audience bytes, read at its token's rate; the reply says the rate. */
  const paced = (req: FastifyRequest, reply: FastifyReply, chunks: AsyncIterable<Uint8Array>) => {
    if (uploadRate.bytesPerSecond > 0)
      void reply.header('upload-rate-limit', `${uploadRate.bytesPerSecond};unit=bytes-per-second;per=api-token`);
    const { chunks: read, read: stats } = uploadRate.throttle(tokenDigest(req), chunks);
    reply.raw.once('close', () => {
      if (stats.waitedMs > 0)
        req.log.info(
          { event: 'upload.slowed', waitedMs: Math.round(stats.waitedMs), bytesPerSecond: uploadRate.bytesPerSecond },
          `upload read at its token's rate (${uploadRate.describe()})`,
        );
    });
    return read;
  };
  await api.register(async (scope) => {
    scope.setErrorHandler((err, request, reply) => {
      if (isTooLarge(err)) return tooLarge(request, reply, limits);
      throw err; // the API's own handler maps the rest
    });
    await scope.register(multipart, {
      limits: { ...MULTIPART_LIMITS, fieldSize: TEXT_FIELD_BYTES, fileSize: limits.audienceBytes },
    });
    // The raw body is handed on as its stream, read by the store as it arrives (its limit is
    // enforced there, and from the Content-Length before a byte is read).
    scope.addContentTypeParser(['text/csv', 'text/plain'], (_req, payload, done) => done(null, payload));

    scope.post('/campaigns', { bodyLimit: limits.jsonBytes }, async (req, reply) => {
      if (!req.isMultipart()) {
        const { sendAt, sendWindow, localSend, ...input } = parseWith(createCampaignInput, req.body, 'CAMPAIGN_INVALID', 'body');
        return reply.code(201).send(await conductor.createCampaign(input, { sendAt: timeOf(sendAt), sendWindow, localSend }));
      }
      return reply.code(201).send(await createFromMultipart(req, conductor, limits, (chunks) => paced(req, reply, chunks)));
    });

    scope.put<{ Params: { customerId: string; name: string } }>(
      '/uploads/:customerId/:name',
      { bodyLimit: limits.audienceBytes },
      async (req, reply) => {
        const body = req.body as Readable | undefined;
        if (body === undefined || typeof (body as Partial<Readable>)[Symbol.asyncIterator] !== 'function') {
          throw new ValidationError('UPLOAD_INVALID', [{ where: 'content-type', message: 'must be text/csv' }]);
        }
        if (!UPLOAD_NAME.test(req.params.name)) {
          body.resume();
          throw new ValidationError('UPLOAD_INVALID', [
            { where: 'path.name', message: 'must be letters, digits, dots, dashes and underscores (1-128), not starting with a dot' },
          ]);
        }
        const length = Number(req.headers['content-length']);
        const contentLength = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
        // Refused before a byte is read when the sender says it is too large.
        if (contentLength !== undefined && contentLength > limits.audienceBytes)
          throw new BodyTooLargeError(limits.audienceBytes, 'the audience');
        const upload: AudienceUpload = {
          chunks: paced(req, reply, body),
          maxBytes: limits.audienceBytes,
          ...(contentLength !== undefined ? { contentLength } : {}),
        };
        try {
          const { key, bytes } = await conductor.storeUpload(req.params.customerId, req.params.name, upload);
          return await reply.code(201).send({ audienceKey: key, bytes });
        } catch (err) {
          // Refused before the body was read to its end (its head, its size): close after the answer.
          if (!body.readableEnded) void reply.header('connection', 'close');
          throw err;
        }
      },
    );
  });
}

/**
 * A multipart create: the text fields, then the audience as a file part named `audience`, last.
 * Once the file part begins, the fields are checked and the campaign is created with the
 * audience streaming from the request into the store; a create without a file part (an
 * audienceKey) is made once every part is read. A part after the audience, or past the form's
 * limits, is refused, and the campaign made from the parts before it is deleted again: the
 * caller, told the create failed, would otherwise make it twice. So the campaign is a draft until
 * every part is read, and only then scheduled (`sendAt`, `sendWindow`, `localSend`): a scheduled
 * or sending one could not be deleted.
 */
async function createFromMultipart(
  req: FastifyRequest,
  conductor: Conductor,
  limits: BodyLimits,
  paced: (chunks: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>,
): Promise<unknown> {
  const fields: Record<string, unknown> = {};
  let created: { id: string } | undefined;
  let schedule: Parameters<Conductor['schedule']>[1] = {};
  try {
    for await (const part of req.parts()) {
      if (created !== undefined || (part.type === 'file' && part.fieldname !== 'audience')) {
        if (part.type === 'file') part.file.resume();
        const message =
          created !== undefined ? 'comes after the audience file part, which must be the last part' : 'the only file part is audience';
        throw new ValidationError('CAMPAIGN_INVALID', [{ where: `body.${part.fieldname}`, message }]);
      }
      if (part.type === 'field') {
        if (part.valueTruncated) {
          throw new ValidationError('CAMPAIGN_INVALID', [
            { where: `body.${part.fieldname}`, message: `is over ${describeBytes(TEXT_FIELD_BYTES)}` },
          ]);
        }
        fields[part.fieldname] = part.value;
        continue;
      }
      try {
        // 'x' stands in for the audience in the schema's one-of check: its bytes are still arriving.
        const { sendAt, sendWindow, localSend, ...input } = parseWith(
          createCampaignInput,
          { ...withJsonWindow(fields), audienceCsv: 'x' },
          'CAMPAIGN_INVALID',
          'body',
        );
        const { audienceCsv: _placeholder, ...rest } = input;
        const audienceUpload: AudienceUpload = { chunks: paced(bounded(part.file, limits.audienceBytes)), maxBytes: limits.audienceBytes };
        schedule = { sendAt: timeOf(sendAt), sendWindow, localSend };
        created = await conductor.createCampaign({ ...rest, audienceUpload });
      } finally {
        // Whatever was refused before the audience was read: let the request finish arriving.
        if (!part.file.readableEnded) part.file.resume();
      }
    }
  } catch (err) {
    if (created !== undefined) await deleteAgain(conductor, created.id, req);
    throw formLimit(err) ?? err;
  }
  if (created !== undefined) {
    if (Object.values(schedule).every((v) => v === undefined)) return created;
    return { ...created, ...(await conductor.schedule(created.id, schedule)) };
  }
  const { sendAt, sendWindow, localSend, ...input } = parseWith(createCampaignInput, withJsonWindow(fields), 'CAMPAIGN_INVALID', 'body');
  return conductor.createCampaign(input, { sendAt: timeOf(sendAt), sendWindow, localSend });
}

/** Deletes the draft a refused multipart create made; if that fails too, says so in the log (the refusal is still the answer). */
async function deleteAgain(conductor: Conductor, campaignId: string, req: FastifyRequest): Promise<void> {
  try {
    await conductor.deleteCampaign(campaignId);
  } catch (err) {
    req.log.error({ event: 'campaign.create_undo_failed', campaignId, err }, 'a refused create left its draft: it could not be deleted');
  }
}

/** The multipart form's own limits (see the `multipart` registration) as the field they concern, or undefined for any other error. */
function formLimit(err: unknown): ValidationError | undefined {
  const code = (err as { code?: unknown }).code;
  const message =
    code === 'FST_FILES_LIMIT'
      ? 'holds more than one file part: the only file part is audience, the last part'
      : code === 'FST_FIELDS_LIMIT'
        ? `holds more than ${MULTIPART_LIMITS.fields} text fields`
        : code === 'FST_PARTS_LIMIT'
          ? `holds more than ${MULTIPART_LIMITS.parts} parts: at most ${MULTIPART_LIMITS.fields} text fields and the audience`
          : undefined;
  return message === undefined ? undefined : new ValidationError('CAMPAIGN_INVALID', [{ where: 'body', message }]);
}

/** A file part's chunks; busboy stops a part at its size limit and marks it truncated: that ends in BodyTooLargeError, so nothing is stored. */
async function* bounded(file: Readable & { truncated?: boolean }, limit: number): AsyncGenerator<Uint8Array> {
  for await (const chunk of file) yield chunk as Buffer;
  if (file.truncated === true) throw new BodyTooLargeError(limit, 'the audience');
}

function isTooLarge(err: unknown): boolean {
  const { code, statusCode } = err as { code?: string; statusCode?: number };
  return (
    err instanceof BodyTooLargeError ||
    code === 'FST_ERR_CTP_BODY_TOO_LARGE' ||
    code === 'FST_REQ_FILE_TOO_LARGE' ||
    (statusCode === 413 && code === undefined)
  );
}

function tooLarge(request: FastifyRequest, reply: FastifyReply, limits: BodyLimits): FastifyReply {
  const json = request.method === 'POST' && !request.isMultipart();
  const message = json
    ? `a JSON create takes at most ${describeBytes(limits.jsonBytes)}; send a larger audience as the file part "audience" of a multipart/form-data create, or PUT it as text/csv to /api/uploads/{customerId}/{name} and give its audienceKey`
    : `an audience takes at most ${describeBytes(limits.audienceBytes)}`;
  return answerTooLarge(reply, message, json ? limits.jsonBytes : limits.audienceBytes);
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
