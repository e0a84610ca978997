import { createHash } from 'node:crypto';
import {
  PermanentError,
  isValidMailgunSignature,
  keys,
  parseKey,
  ObjectExistsError,
  WEBHOOK_TOKENS_PREFIX,
  type Clock,
  type Logger,
  type MailgunSignature,
  type ObjectStore,
} from '@baton/shared';

/**
 * A webhook refused before anything is recorded. `status` is what the provider should get:
 * 401 for a bad signature or a stale timestamp (Mailgun retries: if the signing key was just
 * misconfigured, or a retry comes signed anew, the event is not lost), 406 for a replay (the
 * event was already handled; Mailgun stops on 406).
 */
export class WebhookRejectedError extends PermanentError {
  constructor(
    code: 'WEBHOOK_SIGNATURE_INVALID' | 'WEBHOOK_STALE' | 'WEBHOOK_REPLAYED' | 'WEBHOOK_NOT_CONFIGURED',
    message: string,
    readonly status: 401 | 406 | 503,
  ) {
    super(code, message);
  }
}

export interface WebhookGuardDeps {
  store: ObjectStore;
  /** The campaigns bucket: remembered tokens live under `feedback/mailgun-tokens/`. */
  bucket: string;
  clock: Clock;
  logger: Logger;
  /** MAILGUN_WEBHOOK_SIGNING_KEY; without it every webhook is refused (503: the provider keeps it for later). */
  signingKey: string | undefined;
  /** MAILGUN_WEBHOOK_MAX_AGE_MS: how far a signed timestamp may be from our clock, either way. */
  maxAgeMs: number;
}

/**
 * Admits a webhook as Mailgun documents: the HMAC of `timestamp + token` matches, the timestamp
 * is within `maxAgeMs` of now, and the token was not seen before. Seen tokens are kept in the
 * store (so a restart does not forget them), one folder per `maxAgeMs` window of their signed
 * timestamp; a folder whose every token is stale is deleted, at most one sweep per window.
 *
 * A token is remembered only once its event has been handled (`remember`), so an event whose
 * handling failed can come again with the same token; handling is idempotent, so two copies
 * racing both through is harmless.
 */
export class WebhookGuard {
  private lastSweep = Number.NEGATIVE_INFINITY;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly deps: WebhookGuardDeps) {}

  /** Throws `WebhookRejectedError`; otherwise returns what to call once the event is handled. */
  async admit(signature: MailgunSignature): Promise<{ remember: () => Promise<void> }> {
    const { signingKey, maxAgeMs, clock, store, bucket } = this.deps;
    if (signingKey === undefined)
      throw new WebhookRejectedError('WEBHOOK_NOT_CONFIGURED', 'MAILGUN_WEBHOOK_SIGNING_KEY is not set: webhooks cannot be verified', 503);
    if (!isValidMailgunSignature(signingKey, signature))
      throw new WebhookRejectedError('WEBHOOK_SIGNATURE_INVALID', 'signature.signature does not match timestamp and token', 401);
    const signedAt = Number(signature.timestamp) * 1000;
    const now = clock.now();
    if (!Number.isSafeInteger(signedAt) || Math.abs(now - signedAt) > maxAgeMs)
      throw new WebhookRejectedError('WEBHOOK_STALE', `signature.timestamp is more than ${maxAgeMs / 1000} s from now`, 401);
    const key = keys.webhookToken(Math.floor(signedAt / maxAgeMs), createHash('sha256').update(signature.token).digest('hex'));
    if ((await store.get(bucket, key)) !== undefined)
      throw new WebhookRejectedError('WEBHOOK_REPLAYED', 'this signature.token was already used', 406);
    return {
      remember: async () => {
        try {
          await store.put(bucket, key, '', { ifNoneMatch: '*' });
        } catch (err) {
          if (!(err instanceof ObjectExistsError)) throw err;
        }
        this.sweepIfDue(now);
      },
    };
  }

  /** Waits for a sweep under way (tests). */
  async settled(): Promise<void> {
    await this.sweeping;
  }

  private sweepIfDue(now: number): void {
    if (this.sweeping !== undefined || now - this.lastSweep < this.deps.maxAgeMs) return;
    this.lastSweep = now;
    this.sweeping = this.sweep(now)
      .catch((err) => this.deps.logger.warn({ event: 'webhook.sweep_failed', err }, 'could not delete old webhook tokens'))
      .finally(() => {
        this.sweeping = undefined;
      });
  }

  /** Deletes whole windows, oldest first, while every token in them is past `maxAgeMs`. */
  private async sweep(now: number): Promise<void> {
    const { store, bucket, maxAgeMs } = this.deps;
    for (;;) {
      const first = (await store.list(bucket, WEBHOOK_TOKENS_PREFIX, { limit: 1 })).keys[0];
      if (first === undefined) return;
      const { window } = parseKey.webhookToken(first);
      // A token of window w was signed before (w + 1) · maxAgeMs, so it is stale for good after (w + 2) · maxAgeMs.
      if ((window + 2) * maxAgeMs >= now) return;
      let page = await store.list(bucket, keys.webhookWindowPrefix(window));
      while (page.keys.length > 0) {
        for (const key of page.keys) await store.delete(bucket, key);
        page = await store.list(bucket, keys.webhookWindowPrefix(window));
      }
    }
  }
}
