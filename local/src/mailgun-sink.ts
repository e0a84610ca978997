import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { silentLogger, type Logger } from '@baton/shared';

/**
 * A Mailgun-compatible HTTP server for one machine and for tests: it speaks enough of
 * `POST /v3/{domain}/messages` for mailgun.js (multipart, or urlencoded) and keeps what it
 * receives in memory. Nothing is delivered. Fault knobs reproduce a throttling or slow provider.
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

export interface MailgunSinkOptions {
  /** Default `127.0.0.1`: the sink is never meant to face a network. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Basic auth is `api:{apiKey}`, as with Mailgun. */
  apiKey: string;
  logger?: Logger;
}

export interface MailgunSink {
  /** Base URL to give mailgun.js as `url`. */
  url: string;
  port: number;
  /** What was accepted, oldest first. */
  messages(): SinkMessage[];
  clear(): void;
  /** The next `count` message calls answer `status` (e.g. 429) with `body` (default `{ message }`), storing nothing. */
  failNext(count: number, status: number, body?: unknown): void;
  /**
   * Every message call waits this long before answering. An accepted message is stored before
   * the wait, so a latency above the client's timeout reproduces a provider that took the
   * message but answered too late: the sender's outcome is in doubt.
   */
  setLatency(ms: number): void;
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
  let faults: Fault[] = [];
  let latencyMs = 0;
  const waits = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let sequence = 0;

  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT });
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

  async function answer(reply: FastifyReply, status: number, body: unknown): Promise<FastifyReply> {
    await delay();
    return reply.code(status).send(body);
  }

  app.post<{ Params: { domain: string } }>('/v3/:domain/messages', async (req, reply) => {
    const fault = faults.shift();
    if (fault) return answer(reply, fault.status, fault.body);

    if (!authorised(req, expectedAuth)) return answer(reply, 401, { message: 'Forbidden' });

    const form = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, FormValue | undefined>;
    const problem = invalidForm(form);
    if (problem) return answer(reply, 400, { message: problem });

    const { domain } = req.params;
    const message = toMessage(form, domain, `<${Date.now()}.${++sequence}.${randomBytes(6).toString('hex')}@${domain}>`);
    stored.push(message);
    log.debug({ event: 'sink.message-accepted', id: message.id, domain });
    return answer(reply, 200, { id: message.id, message: 'Queued. Thank you.' });
  });

  app.get('/sink/messages', async () => stored.slice());
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
    clear: () => {
      stored.length = 0;
      faults = [];
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
    close: async () => {
      for (const wait of [...waits]) wait.resolve();
      await app.close();
    },
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
