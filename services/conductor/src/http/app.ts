import { timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import {
  BatonError,
  DEFAULT_UPLOAD_BYTES_PER_SECOND,
  RetryableError,
  ValidationError,
  checkInRequest,
  renewRequest,
  parseWith,
  watchRequest,
  type CampaignList,
  type CampaignPreview,
  type Logger,
} from '@baton/shared';
import type { Conductor } from '../core/conductor';
import { CampaignNotFoundError, CampaignStateError, NoPermitError } from '../core/errors';
import { consoleRoutes, type ConsoleAssetSource } from './console-assets';
import { createRoutes, type BodyLimits } from './create-routes';
import { draftRoutes, namingRow, previewQuery } from './draft-routes';
import { limitExpensiveRequests } from './expensive-requests';
import { UploadRate } from './upload-rate';
import { recipientRoutes } from './recipient-routes';
import { rateQuery, scheduleInput, sendInput, testSendInput, timeOf } from './requests';
import { setupRoute, type SetupView } from './setup-route';
import { suppressionRoutes } from './suppression-routes';
import { unsubscribeRoutes } from './unsubscribe-routes';
import { webhookRoutes, type WebhookRoutesDeps } from './webhook-routes';
import type { Suppressions } from '../core/suppressions';

export interface AppOptions {
  conductor: Conductor;
  registry: Registry;
  /** Refreshes gauges just before `/metrics` is read. */
  beforeMetrics?: () => void;
  apiToken: string;
  leaseToken: string;
  logger: Logger;
  /** Extra routes from the composition (the local inbox view). */
  plugins?: ((app: FastifyInstance) => Promise<void>)[];
  bodyLimitBytes?: number;
  /** The provider's feedback (`/webhooks/mailgun`) and the suppression lists; both absent in tests of the rest. */
  feedback?: { webhooks: WebhookRoutesDeps; suppressions: Suppressions };
  /** Per-route body limits of creates and uploads (defaults: create-routes.ts). */
  bodyLimits?: BodyLimits;
  /** How fast one token's audience uploads are read, bytes a second (0: no bound; default upload-rate.ts). */
  uploadBytesPerSecond?: number;
  /** Expensive requests (create, upload, preview, test send) one token may have under way at once. */
  expensivePerToken?: number;
  /** How long such a request's body may stop arriving before it is answered 408 (default BODY_IDLE_MS). */
  bodyIdleMs?: number;
  /** The console's files (`/` and `/console/…`); without it `/` says the console is not part of this conductor. */
  console?: ConsoleAssetSource;
  /** `GET /api/setup`: the stage, the sending domains and their caps (absent: no such route). */
  setup?: () => SetupView;
}

/**
 * The conductor's HTTP face: campaign API (marketer token), lease API (worker token),
 * health, Prometheus metrics and the console.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { conductor } = options;
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // Request lines would carry URLs with ids on every poll; our own events say what matters.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 50 * 1024 * 1024,
  });

  app.setErrorHandler((err, request, reply) => sendError(err, request, reply, options.logger));
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => {
    options.beforeMetrics?.();
    void reply.header('content-type', options.registry.contentType);
    return options.registry.metrics();
  });
  consoleRoutes(app, options.console);

  await app.register(async (scope) => unsubscribeRoutes(scope, conductor));
  if (options.feedback) await app.register(async (scope) => webhookRoutes(scope, options.feedback!.webhooks));

  await app.register(
    async (api) => {
      api.addHook('onRequest', bearer(options.apiToken));
      // No API route takes a query parameter twice: `limit=1&limit=2` is named as such, not as
      // "expected number, received NaN". (Outside the API, a link tracker may repeat its own on an unsubscribe link.)
      api.addHook('onRequest', async (request) => {
        const repeated = Object.entries((request.query ?? {}) as Record<string, unknown>).find(([, value]) => Array.isArray(value));
        if (repeated !== undefined)
          throw new ValidationError('QUERY_INVALID', [{ where: `query.${repeated[0]}`, message: 'must be given once' }]);
      });
      limitExpensiveRequests(api, options.expensivePerToken, options.bodyIdleMs);
      if (options.setup) setupRoute(api, options.setup);
      api.get('/campaigns', async (): Promise<CampaignList> => {
        const damaged = conductor.damagedCampaigns();
        // `damaged` only when there are some: campaigns whose definition cannot be read are named, never hidden.
        return { campaigns: conductor.listCampaigns(), ...(damaged.length > 0 ? { damaged } : {}) };
      });
      await createRoutes(
        api,
        conductor,
        options.bodyLimits,
        new UploadRate(options.uploadBytesPerSecond ?? DEFAULT_UPLOAD_BYTES_PER_SECOND),
      );
      api.patch<{ Params: { id: string } }>('/campaigns/:id', async (req) => {
        const changes = parseWith(scheduleInput, req.body ?? {}, 'SCHEDULE_INVALID', 'body');
        return conductor.schedule(req.params.id, {
          sendAt: timeOf(changes.sendAt),
          sendWindow: changes.sendWindow,
          localSend: changes.localSend,
        });
      });
      api.get<{ Params: { id: string } }>('/campaigns/:id', async (req) => conductor.getCampaign(req.params.id));
      api.get<{ Params: { id: string } }>('/campaigns/:id/rate', async (req) => {
        const { minutes } = parseWith(rateQuery, req.query ?? {}, 'RATE_QUERY_INVALID', 'query');
        return conductor.rate(req.params.id, minutes);
      });
      api.post<{ Params: { id: string } }>('/campaigns/:id/send', async (req, reply) => {
        const { at } = parseWith(sendInput, req.body ?? {}, 'SEND_INVALID', 'body');
        return reply.code(202).send(await conductor.send(req.params.id, { at: timeOf(at) }));
      });
      api.post<{ Params: { id: string } }>('/campaigns/:id/pause', async (req) => conductor.pause(req.params.id));
      api.post<{ Params: { id: string } }>('/campaigns/:id/resume', async (req) => conductor.resume(req.params.id));
      api.post<{ Params: { id: string } }>('/campaigns/:id/cancel', async (req) => conductor.cancel(req.params.id));
      api.get<{ Params: { id: string } }>('/campaigns/:id/preview', async (req): Promise<CampaignPreview> => {
        const { row } = parseWith(previewQuery, req.query ?? {}, 'PREVIEW_INVALID', 'query');
        const m = await namingRow('query.row', () => conductor.preview(req.params.id, undefined, row));
        // Without a row, the first row that is sent (as before); with one, that row.
        return { subject: m.subject, html: m.html, text: m.text, ...(row !== undefined ? { row } : {}) };
      });
      api.post<{ Params: { id: string } }>('/campaigns/:id/test-send', async (req, reply) =>
        reply
          .code(202)
          .send(await conductor.testSend(req.params.id, parseWith(testSendInput, req.body ?? {}, 'TEST_SEND_INVALID', 'body').to)),
      );
      await recipientRoutes(api, conductor);
      await draftRoutes(api, conductor);
      if (options.feedback) await suppressionRoutes(api, options.feedback.suppressions);
      for (const plugin of options.plugins ?? []) await plugin(api);
    },
    { prefix: '/api' },
  );

  await app.register(
    async (lease) => {
      lease.addHook('onRequest', bearer(options.leaseToken));
      lease.post('/check-in', async (req) => conductor.checkIn(parseWith(checkInRequest, req.body, 'CHECK_IN_INVALID', 'body')));
      lease.post('/renew', async (req) => conductor.renew(parseWith(renewRequest, req.body, 'RENEW_INVALID', 'body')));
      lease.post('/watch', async (req) => conductor.watch(parseWith(watchRequest, req.body, 'WATCH_INVALID', 'body')));
    },
    { prefix: '/lease/v1' },
  );

  return app;
}

function bearer(token: string) {
  const expected = Buffer.from(token);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'UNAUTHORIZED', message: 'a valid bearer token is required' });
    }
  };
}

function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply, logger: Logger): FastifyReply {
  if (err instanceof ValidationError) {
    return reply.code(400).send({ error: err.code, message: err.message, issues: err.issues });
  }
  if (err instanceof CampaignNotFoundError) return reply.code(404).send({ error: err.code, message: err.message });
  if (err instanceof CampaignStateError) return reply.code(409).send({ error: err.code, message: err.message });
  if (err instanceof RetryableError) {
    // Our own cap is 429; the provider or the store pushing back (a test send) is 503, not "internal".
    return reply
      .code(err instanceof NoPermitError ? 429 : 503)
      .header('retry-after', Math.ceil((err.retryAfterMs ?? 1000) / 1000))
      .send({ error: err.code, message: err.message });
  }
  if (err instanceof BatonError && err.kind === 'permanent') {
    return reply.code(422).send({ error: err.code, message: err.message });
  }
  if (err instanceof BatonError && err.kind === 'in-doubt') {
    // The provider may have taken the message: name the code so nobody blindly retries an "internal error".
    logger.warn(
      { event: 'http.in_doubt', method: request.method, url: request.url.split('?')[0], code: err.code },
      'request ended in doubt',
    );
    return reply.code(502).send({ error: err.code, message: err.message });
  }
  const status = (err as { statusCode?: number }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own: malformed JSON, body too large, wrong content type.
    const code = (err as { code?: string }).code;
    const message =
      code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? `a body of type ${JSON.stringify((request.headers['content-type'] ?? '').slice(0, 100))} is not taken here: send application/json (a create also takes multipart/form-data, an upload text/csv)`
        : (err as Error).message;
    return reply.code(status).send({ error: code ?? 'BAD_REQUEST', message });
  }
  logger.error({ event: 'http.error', method: request.method, url: request.url.split('?')[0], err }, 'request failed');
  return reply.code(500).send({ error: 'INTERNAL', message: 'internal error' });
}
