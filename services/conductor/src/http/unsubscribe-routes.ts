import type { FastifyInstance } from 'fastify';
import type { Conductor } from '../core/conductor';

type Params = { customerId: string; campaignId: string; recipientId: string; signature: string };

const page = (title: string, body: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1d2330}
button{font:inherit;padding:.5rem 1rem;border:0;border-radius:6px;background:#3a6df0;color:#fff;cursor:pointer}</style>
</head><body>${body}</body></html>`;

/** A one-click body is `List-Unsubscribe=One-Click`; anything much larger is not one (413). */
export const ONE_CLICK_BODY_LIMIT_BYTES = 4 * 1024;

/**
 * The link behind `List-Unsubscribe`. GET only asks (mail scanners follow links); POST — the
 * button, or a mailbox provider's RFC 8058 one-click POST — records the suppression, with no
 * cookie, no token and no redirect.
 * The path holds ids and an HMAC of them (see shared `unsubscribeUrl`), validated before use;
 * nothing from it is echoed into the page.
 */
export async function unsubscribeRoutes(app: FastifyInstance, conductor: Conductor): Promise<void> {
  // RFC 8058 posts `List-Unsubscribe=One-Click` as urlencoded or as multipart form data (the
  // button posts an empty form). The signed path alone says who unsubscribes, so the body is
  // read as bounded text and not looked at; no multipart parser is needed for that.
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: ONE_CLICK_BODY_LIMIT_BYTES }, (_req, body, done) => done(null, body));
  }
  const path = '/unsubscribe/:customerId/:campaignId/:recipientId/:signature';
  app.get<{ Params: Params }>(path, async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .send(
        page(
          'Unsubscribe',
          '<h1>Unsubscribe?</h1><p>You will get no more email from this sender.</p><form method="post"><button type="submit">Unsubscribe</button></form>',
        ),
      ),
  );
  app.post<{ Params: Params }>(path, { bodyLimit: ONE_CLICK_BODY_LIMIT_BYTES }, async (req, reply) => {
    const { signature, ...ref } = req.params;
    await conductor.unsubscribe(ref, signature);
    return reply
      .type('text/html; charset=utf-8')
      .send(page('Unsubscribed', '<h1>You are unsubscribed</h1><p>You will get no more email from this sender.</p>'));
  });
}
