import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_EXPENSIVE_REQUESTS_AT_ONCE } from '@baton/shared';

/**
 * A bound on the expensive requests one API token has under way at once (creates, uploads,
 * previews, test sends: each holds a body, a render thread or the store for a while), so one
 * caller cannot take the render pool or the memory from every other. One over the bound is
 * answered at once with 429, naming the bound, and Retry-After.
 */

/** Routes (method and pattern, as Fastify names them) that count. */
const EXPENSIVE = new Set([
  'POST /api/campaigns',
  'PUT /api/uploads/:customerId/:name',
  'GET /api/campaigns/:id/preview',
  'POST /api/campaigns/:id/test-send',
  'POST /api/drafts/check',
  'POST /api/drafts/preview',
]);

const RETRY_AFTER_S = 1;

/**
 * A request body of these routes that stops arriving for this long is answered 408 and its
 * connection closed, which frees its place: four uploads stalled mid-body (a dropped mobile
 * connection, or a caller holding the token) kept every other create, upload, preview and test
 * send of the token at 429 for as long as their sockets stayed open. Counted from the last byte
 * received, so a slow upload that keeps coming is not cut off.
 */
export const BODY_IDLE_MS = 60_000;

/** Who is asking, as a digest of the bearer token: a map keyed by it never holds a token itself. */
export function tokenDigest(request: FastifyRequest): string {
  return createHash('sha256')
    .update(request.headers.authorization ?? '')
    .digest('base64url');
}

/** Adds the bound to `api`'s routes; call it after the bearer check, so only valid tokens count. */
export function limitExpensiveRequests(
  api: FastifyInstance,
  perToken = DEFAULT_EXPENSIVE_REQUESTS_AT_ONCE,
  bodyIdleMs = BODY_IDLE_MS,
): void {
  const underWay = new Map<string, number>();
  api.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!EXPENSIVE.has(`${request.method} ${request.routeOptions.url ?? ''}`)) return;
    const who = tokenDigest(request);
    const count = underWay.get(who) ?? 0;
    if (count >= perToken) {
      return reply
        .code(429)
        .header('retry-after', RETRY_AFTER_S)
        .send({
          error: 'TOO_MANY_REQUESTS',
          message: `at most ${perToken} expensive requests (create, upload, preview, test send, a draft's check or preview) run at once per API token; wait for one to finish`,
          limit: perToken,
        });
    }
    underWay.set(who, count + 1);
    const watch = watchBody(request, reply, bodyIdleMs);
    // Whatever ends the request (an answer, an error, the client going away): released once.
    reply.raw.once('close', () => {
      if (watch !== undefined) clearInterval(watch);
      const left = (underWay.get(who) ?? 1) - 1;
      if (left <= 0) underWay.delete(who);
      else underWay.set(who, left);
    });
  });
}

/**
 * Watches the request's body arrive (the socket's bytes read: no listener on the body itself,
 * which the route reads); once it is complete or answered, stops. Only the time the server is
 * waiting for more counts (the body flowing, none of it unread): while the route holds it back (a
 * render thread to wait for, the store, the upload pace) the client is not stalled. If nothing
 * more came for `idleMs` of that, answers 408 and closes the connection.
 */
function watchBody(request: FastifyRequest, reply: FastifyReply, idleMs: number): NodeJS.Timeout | undefined {
  const socket = request.raw.socket as (typeof request.raw.socket & { bytesRead?: unknown }) | undefined;
  // A request injected in a test has no socket of its own to watch.
  if (typeof socket?.bytesRead !== 'number') return undefined;
  let read = socket.bytesRead;
  let since = Date.now();
  const watch = setInterval(
    () => {
      if (request.raw.complete || socket.destroyed || reply.sent) return clearInterval(watch);
      const waiting = request.raw.readableFlowing === true && request.raw.readableLength === 0;
      if (socket.bytesRead !== read || !waiting) {
        read = socket.bytesRead;
        since = Date.now();
        return;
      }
      if (Date.now() - since < idleMs) return;
      clearInterval(watch);
      // `connection: close` ends the socket once the answer is written; destroyed only if that never happens.
      reply.raw.once('finish', () => setTimeout(() => socket.destroy(), 5_000).unref());
      void reply
        .code(408)
        .header('connection', 'close')
        .send({
          error: 'BODY_STALLED',
          message: `no more of the request body arrived for ${idleMs / 1000} s, so the request was ended; send it again`,
        });
    },
    Math.max(10, Math.min(idleMs / 4, 5_000)),
  );
  watch.unref();
  return watch;
}
