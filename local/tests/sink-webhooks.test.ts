import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isValidMailgunSignature } from '@baton/shared';
import { createSinkWebhooks, eventsFor } from '../src/sink-webhooks';
import type { SinkMessage } from '../src/mailgun-sink';

const KEY = 'sink-webhook-signing-key-0123';

function message(to: string): SinkMessage {
  return {
    id: '<1.2.abc@mg.example.com>',
    receivedAt: Date.now(),
    domain: 'mg.example.com',
    from: 'news@acme.example',
    to,
    subject: 'Hi',
    html: '<p>Hi</p>',
    text: 'Hi',
    headers: {},
    variables: { 'customer-id': 'acme', 'campaign-id': 'c-1', 'recipient-id': 'ab'.repeat(16) },
  };
}

/** A receiver on loopback that answers each post with the next status of `statuses` (then 200). */
async function receiver(statuses: number[] = []) {
  const bodies: { signature: { timestamp: string; token: string; signature: string }; 'event-data': Record<string, unknown> }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      res.writeHead(statuses.shift() ?? 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/mailgun`;
  return { url, bodies, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('the sink webhooks', () => {
  it.each([
    ['ann@example.com', ['delivered']],
    ['bounce+ann@example.com', ['failed']],
    ['defer+ann@example.com', ['failed']],
    ['Complain+ann@example.com', ['delivered', 'complained']],
    ['unsubscribe+ann@example.com', ['delivered', 'unsubscribed']],
  ])('lets the address %s provoke %j', (to, events) => {
    expect(eventsFor(to).map((e) => e.event)).toEqual(events);
  });

  it("posts each event signed as Mailgun signs it, with the message's variables and id, in order", async () => {
    // Prepare
    const target = await receiver();
    const webhooks = createSinkWebhooks({ signingKey: KEY });
    try {
      // Act: a message stored before the target is known waits for it
      webhooks.onStored(message('complain+ann@example.com'));
      webhooks.setTarget(target.url);
      await webhooks.settled();

      // Assess
      expect(target.bodies.map((b) => b['event-data'].event)).toEqual(['delivered', 'complained']);
      for (const b of target.bodies) expect(isValidMailgunSignature(KEY, b.signature)).toBe(true);
      expect(target.bodies[0]!['event-data']).toMatchObject({
        recipient: 'complain+ann@example.com',
        'user-variables': { 'customer-id': 'acme', 'campaign-id': 'c-1' },
        message: { headers: { 'message-id': '1.2.abc@mg.example.com' } },
      });
      expect(new Set(target.bodies.map((b) => b.signature.token)).size).toBe(2);
    } finally {
      await target.close();
    }
  });

  it('retries what the conductor did not take, and stops on 406 as Mailgun does', async () => {
    // Prepare
    const target = await receiver([503, 500, 406]);
    const webhooks = createSinkWebhooks({ signingKey: KEY, retryDelayMs: 1 });
    webhooks.setTarget(target.url);
    try {
      // Act
      webhooks.onStored(message('bounce+ann@example.com'));
      await webhooks.settled();

      // Assess
      expect(webhooks.posted()).toEqual([{ messageId: '<1.2.abc@mg.example.com>', event: 'failed', status: 406, attempts: 3 }]);
      expect(target.bodies[0]!['event-data']).toMatchObject({ event: 'failed', severity: 'permanent' });
    } finally {
      await target.close();
    }
  });
});
