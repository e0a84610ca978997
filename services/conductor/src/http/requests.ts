import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { ID_PATTERN, localSend, sendWindow } from '@baton/shared';
import { RATE_KEPT_MINUTES } from '../core/send-rates';

const sendAt = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with its zone, e.g. 2026-12-08T09:00:00+01:00' });

const id = z.string().regex(new RegExp(ID_PATTERN), { message: 'must be lower-case letters, digits and dashes (2-63)' });

/** What `POST /api/campaigns` accepts. The core checks the rest (template, audience, domain). */
export const createCampaignInput = z
  .object({
    name: z.string().trim().min(1, { message: 'is required' }).max(200),
    customerId: id,
    from: z.string().min(3).max(320),
    subject: z.string().min(1, { message: 'is required' }).max(998),
    mjml: z.string().min(1, { message: 'is required' }).max(2_000_000),
    audienceCsv: z.string().min(1).max(200_000_000).optional(),
    /** An object already in the campaigns bucket, under `uploads/{customerId}/`. */
    audienceKey: z.string().min(1).max(1024).optional(),
    /** One of the configured sending domains; the default domain when absent. */
    sendingDomain: z.string().trim().toLowerCase().optional(),
    /** Scheduled at once for this time (rendering starts now). */
    sendAt: sendAt.optional(),
    sendWindow: sendWindow.optional(),
    localSend: localSend.optional(),
  })
  .strict()
  .refine((v) => (v.audienceCsv === undefined) !== (v.audienceKey === undefined), {
    message: 'give exactly one of audienceCsv or audienceKey',
    path: ['audienceCsv'],
  });
export type CreateCampaignInput = z.input<typeof createCampaignInput>;

/** What `POST /api/campaigns/:id/test-send` accepts. */
export const testSendInput = z.object({ to: z.email({ message: 'must be an email address' }) }).strict();

/** What `POST /api/campaigns/:id/send` accepts: nothing (now), or a time to send at. */
export const sendInput = z.object({ at: sendAt.optional() }).strict();

/** What `PATCH /api/campaigns/:id` accepts: a new start, a send window (null clears it), or both. */
export const scheduleInput = z
  .object({ sendAt: sendAt.optional(), sendWindow: sendWindow.nullable().optional(), localSend: localSend.nullable().optional() })
  .strict()
  .refine((v) => v.sendAt !== undefined || v.sendWindow !== undefined || v.localSend !== undefined, {
    message: 'give sendAt, sendWindow, localSend or several',
    path: ['sendAt'],
  });

/** An ISO time already checked by the schemas above, as epoch ms. */
export function timeOf(iso: string | undefined): number | undefined {
  return iso === undefined ? undefined : Date.parse(iso);
}

/** `GET /api/campaigns/:id/rate?minutes=N`: how far back the chart reaches, in minutes (default 60). */
export const rateQuery = z
  .object({
    minutes: z.coerce
      .number({ message: 'must be a whole number of minutes' })
      .int({ message: 'must be a whole number of minutes' })
      .min(1, { message: 'must be at least 1' })
      .max(RATE_KEPT_MINUTES, { message: `must be at most ${RATE_KEPT_MINUTES} (the rates kept)` })
      .default(60),
  })
  .strict();

/**
 * A body over its route's limit: 413 naming the limit, and the connection closed after the answer
 * (the rest of the body is not read, so it is not left waiting on bytes nobody will take).
 */
export function answerTooLarge(reply: FastifyReply, message: string, limitBytes: number): FastifyReply {
  return reply.code(413).header('connection', 'close').send({ error: 'BODY_TOO_LARGE', message, limitBytes });
}

/** A byte count as the limits are named: whole MiB as such, else MB, with the exact bytes. */
export function describeBytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB (${n.toLocaleString('en')} bytes)`;
  return `${(n / 1_000_000).toLocaleString('en')} MB (${n.toLocaleString('en')} bytes)`;
}
