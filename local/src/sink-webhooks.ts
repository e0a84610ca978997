import { randomBytes } from 'node:crypto';
import { signMailgunWebhook, silentLogger, systemClock, type Clock, type Logger } from '@baton/shared';
import type { SinkMessage } from './mailgun-sink';

/**
 * The sink's webhooks: after the sink takes a message it posts, as Mailgun would, a signed event
 * webhook to the conductor (`POST /webhooks/mailgun`), so bounces, complaints and deliveries work
 * on one machine. What happens is chosen by the recipient's address:
 *
 *   bounce+…@…       failed, severity permanent (a hard bounce: the address gets suppressed)
 *   defer+…@…        failed, severity temporary (nothing is suppressed)
 *   complain+…@…     delivered, then complained (suppressed as a complaint)
 *   unsubscribe+…@…  delivered, then unsubscribed (suppressed)
 *   anything else    delivered
 *
 * Each post is signed with the webhook signing key (HMAC-SHA256 of timestamp + token) and retried
 * a few times on anything but 200 or 406, like Mailgun (whose schedule is minutes to hours; here
 * it is short).
 */

export type SinkEventName = 'delivered' | 'failed' | 'complained' | 'unsubscribed';

export interface SinkEvent {
  event: SinkEventName;
  severity?: 'permanent' | 'temporary';
  reason?: string;
}

export interface PostedWebhook {
  messageId: string;
  event: SinkEventName;
  /** The conductor's answer; undefined when it could not be reached at all. */
  status: number | undefined;
  attempts: number;
}

export interface SinkWebhooksOptions {
  signingKey: string;
  logger?: Logger;
  clock?: Clock;
  /** Attempts per webhook (default 4), and the wait before the first retry (default 200 ms, doubling). */
  attempts?: number;
  retryDelayMs?: number;
}

export interface SinkWebhooks {
  /** Where to post; until it is set, events wait. */
  setTarget(url: string): void;
  /** What the sink calls with each message it stored. */
  onStored(message: SinkMessage): void;
  /** Stops posting (webhooks still queued are dropped). */
  stop(): void;
  /** Resolves when every webhook queued so far has been posted (or given up). */
  settled(): Promise<void>;
  /** Every webhook posted so far, oldest first. */
  posted(): PostedWebhook[];
}

/** The events the address asks for, in the order Mailgun would post them. */
export function eventsFor(address: string): SinkEvent[] {
  const local = address.slice(0, address.lastIndexOf('@')).toLowerCase();
  if (local.startsWith('bounce+'))
    return [{ event: 'failed', severity: 'permanent', reason: '550 5.1.1 The email account that you tried to reach does not exist' }];
  if (local.startsWith('defer+')) return [{ event: 'failed', severity: 'temporary', reason: '421 4.7.0 Try again later' }];
  if (local.startsWith('complain+')) return [{ event: 'delivered' }, { event: 'complained' }];
  if (local.startsWith('unsubscribe+')) return [{ event: 'delivered' }, { event: 'unsubscribed' }];
  return [{ event: 'delivered' }];
}

/** The JSON body Mailgun posts for one event, signed with `signingKey` at `now`. */
export function mailgunWebhookBody(signingKey: string, message: SinkMessage, e: SinkEvent, now: number): unknown {
  const timestamp = String(Math.floor(now / 1000));
  const token = randomBytes(25).toString('hex');
  const messageId = message.id.replace(/^<|>$/g, '');
  return {
    signature: { timestamp, token, signature: signMailgunWebhook(signingKey, timestamp, token) },
    'event-data': {
      id: randomBytes(11).toString('base64url'),
      event: e.event,
      ...(e.severity !== undefined ? { severity: e.severity } : {}),
      ...(e.reason !== undefined
        ? { reason: e.event === 'failed' ? 'bounce' : e.reason, 'delivery-status': { description: e.reason } }
        : {}),
      timestamp: now / 1000,
      recipient: message.to.split(',')[0]!.trim(),
      'user-variables': message.variables,
      message: { headers: { 'message-id': messageId, to: message.to, from: message.from, subject: message.subject } },
    },
  };
}

export function createSinkWebhooks(options: SinkWebhooksOptions): SinkWebhooks {
  const log = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const attempts = options.attempts ?? 4;
  const retryDelayMs = options.retryDelayMs ?? 200;
  let target: string | undefined;
  let stopped = false;
  const waiting: SinkMessage[] = [];
  const inFlight = new Set<Promise<void>>();
  const posted: PostedWebhook[] = [];

  async function post(body: unknown): Promise<{ status: number | undefined; attempts: number }> {
    let status: number | undefined;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        const res = await fetch(target!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        status = res.status;
        await res.arrayBuffer();
        if (status === 200 || status === 406) return { status, attempts: attempt };
      } catch (err) {
        status = undefined;
        log.debug({ event: 'sink.webhook_unreachable', err: (err as Error).message });
      }
      if (stopped || attempt === attempts) break;
      await clock.sleep(retryDelayMs * 2 ** (attempt - 1));
    }
    return { status, attempts };
  }

  function deliver(message: SinkMessage): void {
    const run = (async () => {
      // One after another, as the mailbox would: a complaint follows its delivery.
      for (const e of eventsFor(message.to)) {
        if (stopped) return;
        const outcome = await post(mailgunWebhookBody(options.signingKey, message, e, clock.now()));
        posted.push({ messageId: message.id, event: e.event, ...outcome });
        if (outcome.status !== 200) log.warn({ event: 'sink.webhook_refused', status: outcome.status, kind: e.event });
      }
    })();
    inFlight.add(run);
    void run.finally(() => inFlight.delete(run));
  }

  return {
    setTarget(url) {
      target = url;
      for (const m of waiting.splice(0)) deliver(m);
    },
    onStored(message) {
      if (stopped) return;
      if (target === undefined) waiting.push(message);
      else deliver(message);
    },
    stop() {
      stopped = true;
      waiting.length = 0;
    },
    async settled() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    posted: () => posted.map((p) => ({ ...p })),
  };
}
