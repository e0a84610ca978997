import { z } from 'zod';
import { ValidationError, type InputIssue } from './errors';
import { ID_PATTERN } from './keys';
import { CAMPAIGN_STATUSES, SUPPRESSION_REASONS, WEEKDAYS, type LocalSend, type SendWindow } from './api-types';

/**
 * Schemas of everything that crosses a boundary: messages, events, stored records, the lease
 * protocol. Messages carry ids and keys, never bodies.
 */

const id = z.string().regex(new RegExp(ID_PATTERN), { message: 'must be lower-case letters, digits and dashes (2-63)' });
const recipientId = z.string().regex(/^[0-9a-f]{32}$/, { message: 'must be 32 hex digits' });

/** Turns a zod failure into our ValidationError, each issue naming its path. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, code: string, what: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues: InputIssue[] = r.error.issues.map((i) => ({
    where: i.path.length > 0 ? `${what}.${i.path.map(String).join('.')}` : what,
    message: i.message,
  }));
  throw new ValidationError(code, issues);
}

/** JSON.parse that names what it was parsing when it fails. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ValidationError('JSON_INVALID', [{ where: what, message: `not valid JSON (${(err as Error).message})` }]);
  }
}

// ---- messages and events -------------------------------------------------------------------

export const campaignRequestedMessage = z.object({
  version: z.literal(1),
  type: z.literal('campaign.requested'),
  customerId: id,
  campaignId: id,
  requestedAt: z.string(),
});
export type CampaignRequestedMessage = z.infer<typeof campaignRequestedMessage>;

export const snsEvent = z.object({
  Records: z
    .array(
      z.object({
        EventSource: z.string().optional(),
        Sns: z.object({ MessageId: z.string().optional(), Message: z.string() }),
      }),
    )
    .min(1),
});
export type SnsEvent = z.infer<typeof snsEvent>;

export const s3EventRecord = z.object({
  eventSource: z.literal('aws:s3').optional(),
  eventName: z.string(),
  eventTime: z.string().optional(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({ key: z.string().min(1), size: z.number().optional(), eTag: z.string().optional() }),
  }),
});
export const s3Event = z.object({ Records: z.array(s3EventRecord).min(1) });
export type S3EventRecord = z.infer<typeof s3EventRecord>;
export type S3Event = z.infer<typeof s3Event>;

/** S3 notifications URL-encode keys, spaces as `+`. */
export function encodeS3EventKey(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
}
export function decodeS3EventKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    // A malformed escape (`%E0%A4%A`) cannot come from S3: refuse it as bad input, not as a crash.
    throw new ValidationError('EVENT_KEY_INVALID', [
      { where: 's3.object.key', message: `malformed URL encoding ${JSON.stringify(key.slice(0, 200))}` },
    ]);
  }
}

// ---- stored records ------------------------------------------------------------------------

export const campaignDefinition = z.object({
  version: z.literal(1),
  customerId: id,
  campaignId: id,
  name: z.string(),
  from: z.string(),
  subject: z.string(),
  mjml: z.string(),
  /** The audience CSV: an object key in the campaigns bucket. */
  audienceKey: z.string(),
  /** The Mailgun domain it is sent through (each has its own cap); the default domain when absent. */
  sendingDomain: z.string().optional(),
  createdAt: z.string(),
});
export type CampaignDefinition = z.infer<typeof campaignDefinition>;

const zoneAnswers = new Map<string, boolean>();
/** Whether `name` is an IANA time zone this runtime knows. */
export function isTimeZone(name: string): boolean {
  const known = zoneAnswers.get(name);
  if (known !== undefined) return known;
  let answer: boolean;
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    answer = true;
  } catch {
    answer = false;
  }
  // Asked once per recipient of a local send: a formatter costs tens of microseconds, a look-up nothing.
  if (zoneAnswers.size >= 1_000) zoneAnswers.clear();
  zoneAnswers.set(name, answer);
  return answer;
}

const wallTime = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be HH:MM (00:00 to 24:00)');

/**
 * When a campaign may send: on these weekdays, from `start` to `end` local time in `timeZone`
 * (an IANA name). An `end` before `start` runs past midnight into the next day.
 */
export const sendWindow = z
  .object({
    timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin'),
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .default([...WEEKDAYS]),
    start: wallTime,
    end: wallTime,
  })
  .strict()
  .refine((w) => w.start !== w.end, { message: 'start and end must differ', path: ['end'] });

/**
 * Send at a local time in each recipient's own zone: on `date`, at `time` where the recipient is
 * (the IANA name in the audience's `column`); a missing or unknown zone falls back to `timeZone`.
 */
export const localSend = z
  .object({
    date: z.iso.date({ message: 'must be a date, YYYY-MM-DD' }),
    time: z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (00:00 to 23:59)'),
    timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin'),
    column: z.string().trim().min(1).max(200).default('timezone'),
  })
  .strict();

/** Exactly the same type (not merely assignable both ways, which would let an optional field drift). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
// The schemas read what the API answers (api-types.ts): a field added to one and not the other fails the type-check here.
const _answersAgree: [Same<z.infer<typeof sendWindow>, SendWindow>, Same<z.infer<typeof localSend>, LocalSend>] = [true, true];
/** A failure kept for people to read: a stable code and a message. */
const failure = z.object({ code: z.string(), message: z.string() });

export const campaignState = z.object({
  version: z.literal(1),
  status: z.enum(CAMPAIGN_STATUSES),
  updatedAt: z.string(),
  sendRequestedAt: z.string().optional(),
  /** A `scheduled` campaign starts sending at this time (rendering runs ahead). */
  sendAt: z.iso.datetime({ offset: true }).optional(),
  /** Outside this window nothing is leased: a pause that lifts itself. */
  sendWindow: sendWindow.optional(),
  /** Each recipient released at a local time where they are. */
  localSend: localSend.optional(),
  finishedAt: z.string().optional(),
  /** Why a `failed` campaign failed. */
  error: failure.optional(),
});
export type CampaignState = z.infer<typeof campaignState>;

/** What every per-recipient object starts with. */
const recipientObject = { version: z.literal(1), customerId: id, campaignId: id, recipientId } as const;

export const stubRecord = z.object({
  ...recipientObject,
  email: z.string(),
  /** Merge fields from the audience row, by column name. */
  fields: z.record(z.string(), z.string()),
  /** The audience line the recipient came from (1-based, header is line 1). */
  line: z.number().int(),
});
export type StubRecord = z.infer<typeof stubRecord>;

export const audienceReport = z.object({
  version: z.literal(1),
  /** Data rows in the CSV (not counting the header). */
  rows: z.number().int(),
  valid: z.number().int(),
  invalid: z.number().int(),
  duplicate: z.number().int(),
  /** The first problems found, each with its line; capped so a huge bad file stays readable. */
  problems: z.array(
    z.object({
      line: z.number().int(),
      kind: z.enum(['invalid', 'duplicate']),
      reason: z.string(),
      /** The row's address, when it has one (the recipient list shows it). */
      email: z.string().optional(),
    }),
  ),
  problemsTruncated: z.boolean(),
  /** Stubbing failed for good (the audience is gone or unreadable): nobody can be sent to. */
  error: failure.optional(),
});
export type AudienceReport = z.infer<typeof audienceReport>;

export const renderedMessage = z.object({
  ...recipientObject,
  to: z.string(),
  from: z.string(),
  subject: z.string(),
  html: z.string(),
  text: z.string(),
  /** Extra headers, already checked to be free of CR, LF and NUL. */
  headers: z.record(z.string(), z.string()),
});
export type RenderedMessage = z.infer<typeof renderedMessage>;

/** A finished campaign's record: its final counts and who is in doubt, so a restart reads them back without the ledger. */
export const campaignSummary = z.object({
  version: z.literal(1),
  finishedAt: z.string(),
  counts: z.object({
    total: z.number().int().min(0),
    stubbed: z.number().int().min(0),
    rendered: z.number().int().min(0),
    sent: z.number().int().min(0),
    failed: z.number().int().min(0),
    invalid: z.number().int().min(0),
    duplicate: z.number().int().min(0),
    suppressed: z.number().int().min(0),
    inDoubt: z.number().int().min(0),
    cancelled: z.number().int().min(0),
    inFlight: z.number().int().min(0),
    // Added with the recipient lists: summaries written before read them as 0.
    queued: z.number().int().min(0).default(0),
    retrying: z.number().int().min(0).default(0),
    notAccepted: z.number().int().min(0).default(0),
  }),
  /** Recipient ids in doubt at the end. */
  inDoubt: z.array(recipientId),
});
export type CampaignSummary = z.infer<typeof campaignSummary>;

/**
 * Final outcomes a recipient can have after stubbing (invalid and duplicate rows never get stubs).
 * `notAccepted`: was in doubt, and the provider has no record of taking it after the settle time
 * (see ledger.ts `settleInDoubt`); only a marketer's explicit resend sends it again.
 */
export const OUTCOME_STATUSES = ['sent', 'failed', 'suppressed', 'inDoubt', 'cancelled', 'notAccepted'] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];
export const outcomeRecord = z.object({
  version: z.literal(1),
  recipientId,
  status: z.enum(OUTCOME_STATUSES),
  providerId: z.string().optional(),
  reason: z.string().optional(),
  at: z.string(),
  leaseId: z.string().optional(),
});
export type OutcomeRecord = z.infer<typeof outcomeRecord>;

/**
 * Why an address gets no more of a customer's mail: it unsubscribed (List-Unsubscribe, or the
 * provider's unsubscribe event), hard-bounced, complained (marked as spam), or the marketer
 * added it (`manual`, the only kind a marketer may remove).
 */

/**
 * A recipient suppressed for every campaign of a customer. Records written before reasons other
 * than `unsubscribed` existed have no `email` (the signed link names only the recipient id).
 */
export const suppressionRecord = z.object({
  version: z.literal(1),
  at: z.string(),
  reason: z.enum(SUPPRESSION_REASONS),
  /** The campaign whose mail led to it; absent for manual and imported ones. */
  campaignId: id.optional(),
  /** The address, when known (webhooks, manual, import). */
  email: z.string().optional(),
  /** What the provider said (a bounce's reason), at most a line. */
  detail: z.string().optional(),
});
export type SuppressionRecord = z.infer<typeof suppressionRecord>;

/**
 * What the provider reported about a message after accepting it (its webhooks): `delivered`,
 * `bounced` (failed, permanent), `deferred` (failed, temporary: it will retry), `complained`,
 * `unsubscribed`. "Sent" is Baton's word for "the provider accepted it"; these come after.
 */
export const DELIVERY_EVENTS = ['delivered', 'bounced', 'deferred', 'complained', 'unsubscribed'] as const;
export type DeliveryEvent = (typeof DELIVERY_EVENTS)[number];

/** One provider event about one recipient of one campaign; the first of each kind stands. */
export const deliveryRecord = z.object({
  version: z.literal(1),
  recipientId,
  event: z.enum(DELIVERY_EVENTS),
  /** When the provider says it happened (ISO). */
  at: z.string(),
  /** When Baton recorded it (ISO). */
  recordedAt: z.string(),
  /** The provider's message id (`message.headers.message-id`), without angle brackets. */
  providerMessageId: z.string().optional(),
  /** The provider's own event id. */
  providerEventId: z.string().optional(),
  /** The provider's explanation (a bounce's or deferral's reason), at most a line. */
  reason: z.string().optional(),
});
export type DeliveryRecord = z.infer<typeof deliveryRecord>;

/** Written (conditionally) by a worker before the provider call: the at-most-once guard. */
export const claimRecord = z.object({
  version: z.literal(1),
  leaseId: z.string(),
  at: z.string(),
  /** Random per claim attempt: lets a worker recognise its own claim when the write's reply was lost. */
  token: z.string(),
});
export type ClaimRecord = z.infer<typeof claimRecord>;

// ---- the lease protocol (workers <-> conductor) ---------------------------------------------

/**
 * When permits may be used: `permits[k]` calls may start while the holder's clock is in
 * `[start + k·sliceMs, start + (k+1)·sliceMs)`, and no other time (see `slice-schedule.ts`).
 */
export const sliceSchedule = z.object({
  start: z.number(),
  sliceMs: z.number().positive(),
  permits: z.array(z.number().int().min(0)),
});

export const lease = z.object({
  leaseId: z.string().min(1),
  workerId: z.string().min(1),
  customerId: id,
  campaignId: id,
  recipientIds: z.array(recipientId),
  /** The sending domain (its governor issued the permits); the worker's default when absent. */
  domain: z.string().optional(),
  /**
   * The lease's permits and when each may be used. The schedule is the only statement of both:
   * the lease may make `leasePermits(lease)` calls (the sum), none at or after
   * `leaseSendUntil(lease)` (the end of the last slice).
   */
  schedule: sliceSchedule,
  /** Epoch ms: after this the conductor treats the lease as abandoned. */
  expiresAt: z.number(),
});
export type Lease = z.infer<typeof lease>;

export const RESULT_STATUSES = ['sent', 'failed', 'suppressed', 'inDoubt', 'retryable', 'claimedElsewhere'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];
/**
 * What became of one key, as the worker reports it: each status with the fields it always has.
 * (An intersection rather than one discriminated union, so a result with a bad status still has
 * its recipient id checked and reported.)
 */
export const sendResult = z.object({ recipientId }).and(
  z.discriminatedUnion('status', [
    /** The provider accepted the message ("submitted", not "delivered"). */
    z.object({ status: z.literal('sent'), providerId: z.string() }),
    z.object({ status: z.literal('failed'), reason: z.string() }),
    z.object({ status: z.literal('suppressed'), reason: z.string() }),
    z.object({ status: z.literal('inDoubt'), reason: z.string() }),
    /** Certainly not sent: the key goes back to the queue. */
    z.object({
      status: z.literal('retryable'),
      /** The error's stable code (`PROVIDER_THROTTLED` makes the governor back off). */
      code: z.string(),
      reason: z.string(),
      /** When the provider asked us to slow down. */
      retryAfterMs: z.number().optional(),
    }),
    /** Another lease holds the claim, or the ledger already has an outcome: nothing was sent. */
    z.object({ status: z.literal('claimedElsewhere') }),
  ]),
);
export type SendResult = z.infer<typeof sendResult>;

/**
 * Part of the protocol both sides rely on: a worker asks for another lease only with more than
 * this share of its budget left, and at least `WANTS_MORE_MIN_MS`; the conductor starts a
 * leaving worker's successor early by the same rule.
 */
export const WANTS_MORE_FRACTION = 0.1;
export const WANTS_MORE_MIN_MS = 5_000;

export const checkInRequest = z.object({
  leaseId: z.string().min(1),
  workerId: z.string().min(1),
  results: z.array(sendResult),
  /** Keys the worker did not attempt (out of permits or time): back to the queue. */
  unattempted: z.array(recipientId),
  /** Final results whose outcome record the worker could not write: the conductor writes them. */
  unrecorded: z.array(recipientId).optional(),
  /**
   * Keys whose call never reached the provider (not attempted, or refused) but whose claim the
   * worker could not remove: the conductor removes it before the key is leased again, so the
   * next worker does not take it for a call that may have been made (in doubt).
   */
  claimHeld: z.array(recipientId).optional(),
  permitsUsed: z.number().int().min(0),
  /** Calls started in each slice of the lease's schedule: exactly what the governor gets back. */
  usedPerSlice: z.array(z.number().int().min(0)).optional(),
  /** How long a key kept one of the worker's lanes busy (mean, standard deviation, count): the governor predicts from it. */
  timing: z.object({ n: z.number().int().min(0), meanMs: z.number().min(0), sdMs: z.number().min(0) }).optional(),
  /** Keys the worker works on at once. */
  lanes: z.number().int().min(1).optional(),
  /** Time the worker has left: before its last lease ends the conductor starts its successor. */
  budgetLeftMs: z.number().min(0).optional(),
  /** Of that, the end it keeps to finish its last call and check in: no lease should reach into it. */
  reserveMs: z.number().min(0).optional(),
  /** The worker has time left and wants another lease. */
  wantsMore: z.boolean(),
});
export type CheckInRequest = z.infer<typeof checkInRequest>;

/**
 * A worker whose lease has no call left to start asks for its next lease at once, while the
 * lease's last calls are still in flight; it checks that lease in (with every result) later.
 * So no slice passes while a worker waits for its slowest call.
 */
export const renewRequest = z
  .object({
    leaseId: z.string().min(1),
    workerId: z.string().min(1),
    budgetLeftMs: z.number().min(0).optional(),
    reserveMs: z.number().min(0).optional(),
  })
  .strict();
export type RenewRequest = z.infer<typeof renewRequest>;

export const checkInResponse = z.object({ lease: lease.nullable() });
export type CheckInResponse = z.infer<typeof checkInResponse>;

/**
 * A worker watches each lease it sends while the lease may still start calls: a stop (the
 * campaign was paused or cancelled) reaches it at once instead of at the lease's end. The first
 * watch of a lease (`first`) is answered at once, and the worker starts no call before that
 * answer; later ones are held until the lease is stopped or `until` (the end of its last slice),
 * at most `WATCH_HOLD_MS`. After a stop the worker says so (`stopped`): how many of its calls were
 * under way at the stop, or started before it heard of it (the only ones that may reach the
 * provider after the stop).
 */
export const watchRequest = z
  .object({
    leaseId: z.string().min(1),
    workerId: z.string().min(1),
    /** Epoch ms the lease's last slice ends (the worker's copy): a held watch is answered by then. */
    until: z.number(),
    first: z.boolean().optional(),
    /**
     * The lease's campaign and permits: a conductor that did not issue the lease (it restarted
     * since) still stops it when that campaign is paused or cancelled, and counts its permits.
     */
    campaignId: z.string().min(1).optional(),
    permits: z.number().int().min(0).optional(),
    stopped: z
      .object({ inFlight: z.number().int().min(0) })
      .strict()
      .optional(),
  })
  .strict();
export type WatchRequest = z.infer<typeof watchRequest>;

export const watchResponse = z.object({
  /** Start no new call for this lease; what it holds goes back unattempted at its check-in. */
  stop: z.boolean(),
  /** Epoch ms (the conductor's clock) the stop was given. */
  at: z.number().optional(),
});
export type WatchResponse = z.infer<typeof watchResponse>;

/** The longest a watch is held before it is answered "go on" (below load balancers' idle timeouts). */
export const WATCH_HOLD_MS = 20_000;

/** What a worker invocation receives: the first lease and where to check back. */
export const workerInvocation = z.object({ lease });
export type WorkerInvocation = z.infer<typeof workerInvocation>;
