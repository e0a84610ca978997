import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DELIVERY_EVENTS, parseWith, type DeliveryEvent, type Logger } from '@baton/shared';
import type { Feedback, ProviderEvent } from '../core/feedback';
import { WebhookRejectedError, type WebhookGuard } from '../core/webhook-guard';

export interface WebhookRoutesDeps {
  guard: WebhookGuard;
  feedback: Feedback;
  logger: Logger;
}

/** A webhook is one event: far below this. */
export const WEBHOOK_BODY_LIMIT_BYTES = 1024 * 1024;

/** Mailgun's envelope: checked before the signature is, so a malformed one is named (400). */
const envelope = z.object({
  signature: z.object({
    timestamp: z.union([z.string().regex(/^\d{1,12}$/, { message: 'must be seconds since the epoch' }), z.number().int().min(0)]),
    token: z.string().min(1).max(256),
    signature: z.string().regex(/^[0-9a-fA-F]{64}$/, { message: 'must be 64 hex digits' }),
  }),
  'event-data': z.record(z.string(), z.unknown()),
});

/** The part of `event-data` Baton reads (Mailgun sends much more). */
const eventData = z.object({
  event: z.string().min(1),
  severity: z.string().optional(),
  recipient: z.string().min(3).max(320),
  // Seconds since the epoch that a date can hold (a later one made every recording of it fail with a 500, which Mailgun retries).
  timestamp: z.number().positive().max(8.64e12, { message: 'must be seconds since the epoch, before the year 275760' }),
  id: z.string().max(200).optional(),
  reason: z.string().optional(),
  'user-variables': z.record(z.string(), z.unknown()).optional(),
  message: z
    .object({
      headers: z
        .object({ 'message-id': z.string().max(998).optional() })
        .partial()
        .optional(),
    })
    .optional(),
  'delivery-status': z.object({ message: z.string().optional(), description: z.string().optional() }).partial().optional(),
});

/**
 * `POST /webhooks/mailgun`: Mailgun's event webhooks (delivered, failed, complained,
 * unsubscribed). No bearer token: Mailgun signs each request (see `WebhookGuard`), and on AWS the
 * path is on the public load balancer's allow-list. Answers: 200 handled (or not ours, ignored),
 * 400 malformed, 401 bad signature or stale timestamp, 406 replayed token; nothing is recorded
 * unless the answer is 200.
 */
export async function webhookRoutes(app: FastifyInstance, deps: WebhookRoutesDeps): Promise<void> {
  app.post('/webhooks/mailgun', { bodyLimit: WEBHOOK_BODY_LIMIT_BYTES }, async (req, reply) => {
    const body = parseWith(envelope, req.body, 'WEBHOOK_INVALID', 'body');
    const signature = { ...body.signature, timestamp: String(body.signature.timestamp) };
    let admitted;
    try {
      admitted = await deps.guard.admit(signature);
    } catch (err) {
      if (!(err instanceof WebhookRejectedError)) throw err;
      deps.logger.warn({ event: 'webhook.rejected', code: err.code }, 'webhook refused');
      return reply.code(err.status).send({ error: err.code, message: err.message });
    }
    const event = toProviderEvent(parseWith(eventData, body['event-data'], 'WEBHOOK_INVALID', 'body.event-data'));
    if (typeof event === 'string') {
      await admitted.remember();
      return { ok: true, ignored: event };
    }
    const result = await deps.feedback.record(event);
    await admitted.remember();
    deps.logger.info(
      {
        event: 'webhook.handled',
        kind: event.kind,
        campaignId: event.campaignId,
        recorded: result.recorded,
        suppressed: result.suppressed,
      },
      'provider event handled',
    );
    return { ok: true, ...result };
  });
}

type EventData = z.infer<typeof eventData>;

/** Mailgun's words → Baton's; a string says why the event is not one Baton tracks. */
function toProviderEvent(data: EventData): ProviderEvent | string {
  const kind = kindOf(data);
  if (kind === undefined) return `event ${JSON.stringify(data.event.slice(0, 40))} is not tracked`;
  const vars = data['user-variables'] ?? {};
  const text = (name: string) => (typeof vars[name] === 'string' ? (vars[name] as string) : undefined);
  const customerId = text('customer-id');
  if (customerId === undefined) return 'not sent by Baton (no customer-id variable)';
  const messageId = data.message?.headers?.['message-id'];
  const status = data['delivery-status'];
  const reason = [data.reason, status?.description || status?.message].filter((s) => s !== undefined && s !== '').join(': ');
  return {
    kind,
    customerId,
    campaignId: text('campaign-id'),
    recipientId: text('recipient-id'),
    email: data.recipient,
    at: new Date(data.timestamp * 1000).toISOString(),
    ...(messageId !== undefined ? { providerMessageId: messageId.replace(/^<|>$/g, '') } : {}),
    ...(data.id !== undefined ? { providerEventId: data.id } : {}),
    ...(reason !== '' ? { reason } : {}),
    test: text('test') === 'true',
  };
}

function kindOf(data: EventData): DeliveryEvent | undefined {
  if (data.event === 'failed') return data.severity === 'permanent' ? 'bounced' : 'deferred';
  const known = (DELIVERY_EVENTS as readonly string[]).includes(data.event) && data.event !== 'bounced' && data.event !== 'deferred';
  return known ? (data.event as DeliveryEvent) : undefined;
}
