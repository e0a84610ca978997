import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { silentLogger, type Logger } from '@baton/shared';
import { sinkEventsRoutes } from './sink-events';

/**
 * A Mailgun-compatible HTTP server for one machine and for tests: it speaks enough of
 * `POST /v3/{domain}/messages` for mailgun.js (multipart, or urlencoded) and keeps what it
 * receives in memory. Nothing is delivered. Fault knobs reproduce a throttling, failing, slow
 * or forgetful provider, and every call is logged with what the sink did with it, so a test can
 * judge a run against the provider's side of the story.
 */

export interface SinkMessage {
  /** `<…@domain>`, as Mailgun answers. */
  id: string;
  /** Epoch ms. */
  receivedAt: number;
  domain: string;
  from: string;
  to: string;
  subject: string;
  html: string | undefined;
  text: string | undefined;
  /** `h:Name` fields, without the prefix. */
  headers: Record<string, string>;
  /** `v:name` fields, without the prefix. */
  variables: Record<string, string>;
}

/** What the sink did with one message call. */
export type SinkCallOutcome =
  /** Stored and answered 200. */
  | 'accepted'
  /** Stored, then the answer was dropped (`setFaults({ dropAnswerShare })`): the sender cannot know. */
  | 'dropped'
  /** Answered with an injected status (`failNext`, `unavailableShare`, a burst), nothing stored. */
  | 'refused'
  /** Answered 401 or 400 (credentials, a missing field, a line break), nothing stored. */
  | 'rejected';

/** One message call, in arrival order. */
export interface SinkCall {
  /** Epoch ms the call arrived (its body read). */
  at: number;
  /** Epoch ms the answer was sent, or the socket dropped; undefined while it is still pending. */
  answeredAt: number | undefined;
  outcome: SinkCallOutcome;
  /** The HTTP status answered; undefined when the answer was dropped. */
  status: number | undefined;
  to: string;
  /** The `v:recipient-id` field, when the call had one. */
  recipientId: string | undefined;
  /** The stored message's id (accepted and dropped calls). */
  messageId: string | undefined;
}

/**
 * Faults drawn per call. Every share is a probability in [0, 1] drawn from a PRNG seeded with
 * `seed`, so a run's sequence of decisions repeats (which call gets which depends on arrival order).
 */
export interface SinkFaults {
  /** Default 1. */
  seed?: number;
  /** Share of calls answered `unavailableStatus` (default 503) before anything is stored. */
  unavailableShare?: number;
  unavailableStatus?: number;
  /**
   * Share of calls whose message is stored and whose answer is then dropped: `reset` destroys
   * the connection (the sender sees a reset), `hang` never answers (the sender times out; the
   * socket is closed when the sink closes).
   */
  dropAnswerShare?: number;
  dropMode?: 'reset' | 'hang';
  /**
   * Periodic throttling: from the moment the faults are set, every `everyMs` the sink answers
   * every call `status` (default 429) for `forMs`, storing nothing. `startAfterMs` (default 0)
   * delays the first burst.
   */
  bursts?: { everyMs: number; forMs: number; status?: number; startAfterMs?: number };
}

export interface MailgunSinkOptions {
  /** Default `127.0.0.1`: the sink is never meant to face a network. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Basic auth is `api:{apiKey}`, as with Mailgun. */
  apiKey: string;
  logger?: Logger;
  /** Called with each message stored (accepted, or accepted with its answer dropped): the webhooks (sink-webhooks.ts). */
  onStored?: (message: SinkMessage) => void;
}

export interface MailgunSink {
  /** Base URL to give mailgun.js as `url`. */
  url: string;
  port: number;
  /** What was accepted, oldest first. */
  messages(): SinkMessage[];
  /** The same, without a copy (for reading only): the inbox pages through it. */
  messagesView(): readonly SinkMessage[];
  /** Where the message of this Mailgun id (`<…@domain>`) is in `messagesView()`; -1 when it is not (or was cleared). */
  indexOf(id: string): number;
  clear(): void;
  /** The next `count` message calls answer `status` (e.g. 429) with `body` (default `{ message }`), storing nothing. */
  failNext(count: number, status: number, body?: unknown): void;
  /**
   * Every message call waits this long before answering. An accepted message is stored before
   * the wait, so a latency above the client's timeout reproduces a provider that took the
   * message but answered too late: the sender's outcome is in doubt.
   */
  setLatency(ms: number): void;
  /** Replaces the drawn faults (`{}` turns them off). `failNext` still comes first. */
  setFaults(faults: SinkFaults): void;
  /** Every message call so far, oldest first, with what the sink did with it. */
  calls(): SinkCall[];
  /** Message calls that arrived and have not been answered (nor dropped) yet. */
  pending(): number;
  /** Whether a call arriving at `at` (epoch ms, default now) falls in a throttling burst. */
  inBurst(at?: number): boolean;
  /** `false`: the events API (`GET /v3/{domain}/events`) answers 503, as a provider whose records cannot be read. Default true. */
  setEventsAvailable(available: boolean): void;
  close(): Promise<void>;
}

const BODY_LIMIT = 25 * 1024 * 1024;
const LINE_BREAK = /[\r\n\0]/;

type FormValue = string | Buffer | (string | Buffer)[];

interface Fault {
  status: number;
  body: unknown;
}

export async function startMailgunSink(options: MailgunSinkOptions): Promise<MailgunSink> {
  if (!options.apiKey) throw new Error('startMailgunSink: apiKey is required');
  const host = options.host ?? '127.0.0.1';
  const log = options.logger ?? silentLogger;
  const expectedAuth = digest(`api:${options.apiKey}`);

  const stored: SinkMessage[] = [];
  /** Each stored message's position in `stored`, by its id. */
  const positions = new Map<string, number>();
  const callLog: SinkCall[] = [];
  let faults: Fault[] = [];
  let drawn: DrawnFaults = noFaults();
  let latencyMs = 0;
  let pending = 0;
  const hung = new Set<() => void>();
  const waits = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let sequence = 0;
  let eventsAvailable = true;

  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT, routerOptions: { maxParamLength: 2048 } }); // events page tokens are long;
  await app.register(multipart, { attachFieldsToBody: 'keyValues', limits: { fieldSize: BODY_LIMIT, fileSize: BODY_LIMIT } });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => {
    const out: Record<string, FormValue> = {};
    for (const [key, value] of new URLSearchParams(body as string)) {
      const seen = out[key];
      out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    done(null, out);
  });

  /** Waits out the latency; `close()` cuts every wait short. */
  function delay(): Promise<void> {
    if (latencyMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wait = { timer: setTimeout(() => finish(), latencyMs), resolve };
      const finish = () => {
        clearTimeout(wait.timer);
        waits.delete(wait);
        resolve();
      };
      wait.resolve = finish;
      waits.add(wait);
    });
  }

  async function answer(reply: FastifyReply, call: SinkCall, status: number, body: unknown): Promise<FastifyReply> {
    await delay();
    call.answeredAt = Date.now();
    pending -= 1;
    return reply.code(status).send(body);
  }

  /** The message is stored; its answer never reaches the sender. */
  async function drop(req: FastifyRequest, reply: FastifyReply, call: SinkCall): Promise<void> {
    reply.hijack();
    if (drawn.dropMode === 'hang') {
      // Never answered: the socket is closed only when the sink closes.
      await new Promise<void>((resolve) => hung.add(resolve));
    } else {
      await delay();
    }
    call.answeredAt = Date.now();
    pending -= 1;
    req.raw.socket.destroy();
  }

  app.post<{ Params: { domain: string } }>('/v3/:domain/messages', async (req, reply) => {
    const form = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, FormValue | undefined>;
    const call: SinkCall = {
      at: Date.now(),
      answeredAt: undefined,
      outcome: 'refused',
      status: undefined,
      to: text(form.to),
      recipientId: text(form['v:recipient-id']) || undefined,
      messageId: undefined,
    };
    callLog.push(call);
    pending += 1;
    const refuse = (status: number, body: unknown, outcome: SinkCallOutcome = 'refused') => {
      call.outcome = outcome;
      call.status = status;
      return answer(reply, call, status, body);
    };

    const fault = faults.shift();
    if (fault) return refuse(fault.status, fault.body);
    const burst = drawn.bursts;
    if (burst && inBurstAt(burst, call.at)) return refuse(burst.status, { message: defaultFaultMessage(burst.status) });
    if (drawn.unavailableShare > 0 && drawn.random() < drawn.unavailableShare)
      return refuse(drawn.unavailableStatus, { message: defaultFaultMessage(drawn.unavailableStatus) });

    if (!authorised(req, expectedAuth)) return refuse(401, { message: 'Forbidden' }, 'rejected');

    const problem = invalidForm(form);
    if (problem) return refuse(400, { message: problem }, 'rejected');

    const { domain } = req.params;
    const message = toMessage(form, domain, `<${Date.now()}.${++sequence}.${randomBytes(6).toString('hex')}@${domain}>`);
    positions.set(message.id, stored.push(message) - 1);
    call.messageId = message.id;
    options.onStored?.(message);
    if (drawn.dropAnswerShare > 0 && drawn.random() < drawn.dropAnswerShare) {
      call.outcome = 'dropped';
      log.debug({ event: 'sink.answer-dropped', id: message.id, domain });
      return drop(req, reply, call);
    }
    call.outcome = 'accepted';
    call.status = 200;
    log.debug({ event: 'sink.message-accepted', id: message.id, domain });
    return answer(reply, call, 200, { id: message.id, message: 'Queued. Thank you.' });
  });

  app.get('/sink/messages', async () => stored.slice());
  sinkEventsRoutes(app, { messages: () => stored, authorised: (req) => authorised(req, expectedAuth), available: () => eventsAvailable });
  app.get('/healthz', async () => ({ ok: true }));

  await app.listen({ host, port: options.port ?? 0 });
  const port = (app.server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  log.info({ event: 'sink.started', url });

  return {
    url,
    port,
    messages: () => stored.slice(),
    messagesView: () => stored,
    indexOf: (id: string) => positions.get(id) ?? -1,
    clear: () => {
      stored.length = 0;
      positions.clear();
      callLog.length = 0;
      faults = [];
      drawn = noFaults();
    },
    failNext: (count: number, status: number, body?: unknown) => {
      if (!Number.isInteger(count) || count < 0) throw new Error(`failNext: count must be a whole number (got ${count})`);
      if (!Number.isInteger(status) || status < 100 || status > 599)
        throw new Error(`failNext: status must be an HTTP status (got ${status})`);
      for (let i = 0; i < count; i += 1) faults.push({ status, body: body ?? { message: defaultFaultMessage(status) } });
    },
    setLatency: (ms: number) => {
      latencyMs = Math.max(0, ms);
    },
    setFaults: (faults: SinkFaults) => {
      drawn = drawnFaults(faults, Date.now());
    },
    calls: () => callLog.map((c) => ({ ...c })),
    pending: () => pending,
    inBurst: (at = Date.now()) => drawn.bursts !== undefined && inBurstAt(drawn.bursts, at),
    setEventsAvailable: (available: boolean) => {
      eventsAvailable = available;
    },
    close: async () => {
      for (const wait of [...waits]) wait.resolve();
      for (const release of [...hung]) release();
      hung.clear();
      await app.close();
    },
  };
}

interface DrawnFaults {
  random: () => number;
  unavailableShare: number;
  unavailableStatus: number;
  dropAnswerShare: number;
  dropMode: 'reset' | 'hang';
  bursts: { everyMs: number; forMs: number; status: number; from: number } | undefined;
}

function noFaults(): DrawnFaults {
  return drawnFaults({}, 0);
}

function drawnFaults(f: SinkFaults, now: number): DrawnFaults {
  const share = (name: string, value: number | undefined): number => {
    if (value === undefined) return 0;
    if (!(value >= 0 && value <= 1)) throw new Error(`setFaults: ${name} must be between 0 and 1 (got ${value})`);
    return value;
  };
  const status = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < 400 || value > 599)
      throw new Error(`setFaults: ${name} must be a 4xx or 5xx status (got ${value})`);
    return value;
  };
  if (f.dropMode !== undefined && f.dropMode !== 'reset' && f.dropMode !== 'hang')
    throw new Error(`setFaults: dropMode must be 'reset' or 'hang' (got ${String(f.dropMode)})`);
  let bursts: DrawnFaults['bursts'];
  if (f.bursts) {
    const { everyMs, forMs, startAfterMs = 0 } = f.bursts;
    if (!(Number.isFinite(everyMs) && everyMs > 0 && forMs >= 0 && forMs <= everyMs && startAfterMs >= 0))
      throw new Error(`setFaults: bursts need 0 <= forMs <= everyMs, everyMs > 0 and startAfterMs >= 0 (got ${JSON.stringify(f.bursts)})`);
    bursts = { everyMs, forMs, status: status('bursts.status', f.bursts.status, 429), from: now + startAfterMs };
  }
  return {
    random: mulberry32(f.seed ?? 1),
    unavailableShare: share('unavailableShare', f.unavailableShare),
    unavailableStatus: status('unavailableStatus', f.unavailableStatus, 503),
    dropAnswerShare: share('dropAnswerShare', f.dropAnswerShare),
    dropMode: f.dropMode ?? 'reset',
    bursts,
  };
}

function inBurstAt(b: { everyMs: number; forMs: number; from: number }, at: number): boolean {
  return at >= b.from && (at - b.from) % b.everyMs < b.forMs;
}

/** A small seeded PRNG (mulberry32): the same seed draws the same sequence. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function authorised(req: FastifyRequest, expected: Buffer): boolean {
  const match = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!match) return false;
  const credentials = Buffer.from(match[1]!, 'base64').toString('utf8');
  return timingSafeEqual(digest(credentials), expected);
}

/** Mailgun's wording for what is missing or refused; `undefined` when the form is sendable. */
function invalidForm(form: Record<string, FormValue | undefined>): string | undefined {
  for (const field of ['from', 'to', 'subject']) {
    if (text(form[field]) === '') return `'${field}' parameter is missing`;
  }
  if (text(form.text) === '' && text(form.html) === '') return "Need at least one of 'text' or 'html' parameters specified";
  for (const [name, value] of Object.entries(form)) {
    const isHeader = name.startsWith('h:');
    if (!isHeader && name !== 'from' && name !== 'to' && name !== 'subject') continue;
    if (LINE_BREAK.test(name) || LINE_BREAK.test(text(value))) return `'${name}' parameter must not contain a line break`;
  }
  return undefined;
}

/** A form value as text: repeated fields (several `to`) joined as Mailgun lists them; files are not text. */
function text(value: FormValue | undefined): string {
  if (value === undefined || Buffer.isBuffer(value)) return '';
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string').join(', ');
  return value;
}

function toMessage(form: Record<string, FormValue | undefined>, domain: string, id: string): SinkMessage {
  const headers: Record<string, string> = {};
  const variables: Record<string, string> = {};
  for (const [name, value] of Object.entries(form)) {
    if (name.startsWith('h:')) headers[name.slice(2)] = text(value);
    else if (name.startsWith('v:')) variables[name.slice(2)] = text(value);
  }
  const html = text(form.html);
  const body = text(form.text);
  return {
    id,
    receivedAt: Date.now(),
    domain,
    from: text(form.from),
    to: text(form.to),
    subject: text(form.subject),
    html: html === '' ? undefined : html,
    text: body === '' ? undefined : body,
    headers,
    variables,
  };
}

function defaultFaultMessage(status: number): string {
  if (status === 429) return 'Too many requests';
  if (status === 401) return 'Forbidden';
  if (status >= 500) return 'Internal server error';
  return `Failure injected by the sink (${status})`;
}
