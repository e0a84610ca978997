import FormData from 'form-data';
import type MailgunClass from 'mailgun.js' with { 'resolution-mode': 'import' };
import type { EventsList } from 'mailgun.js/definitions' with { 'resolution-mode': 'import' };
import { ValidationError } from '../errors';
import type { ProviderLookup, ProviderQuery, ProviderRecord } from '../ports';
import { isDomainName } from '../domain-name';
import { checkMailgunOptions, classifyMailgunError } from './mailgun-sender';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Mailgun = require('mailgun.js') as typeof MailgunClass;

export interface MailgunLookupOptions {
  url: string;
  /** The default sending domain: events are read from `GET /v3/{domain}/events`. */
  domain: string;
  apiKey: string;
  timeoutMs: number;
  /** Events read per page (Mailgun's maximum is 300). */
  pageSize?: number;
  /** Pages followed at most before the answer counts as unknown. */
  maxPages?: number;
}

/** The `accepted` events of one address: small, however large the campaign. */
const PAGE_SIZE = 300;
const MAX_PAGES = 5;

/**
 * Asks Mailgun's events API (through mailgun.js) whether it accepted Baton's message: the
 * `accepted` events for the address since the send, matched on the `v:` variables Baton sets
 * (customer, campaign and recipient id). Mailgun deprecates `events` in favour of `logs`, but both
 * answer this question; `events` is the one both Mailgun and the local sink speak.
 */
export function createMailgunLookup(options: MailgunLookupOptions): ProviderLookup {
  checkMailgunOptions(options);
  const client = new Mailgun(FormData).client({
    username: 'api',
    key: options.apiKey,
    url: options.url.replace(/\/+$/, ''),
    timeout: options.timeoutMs,
  });
  // mailgun.js warns on the console at every `events.get` that it is deprecated: once is enough.
  (client.events as unknown as { logger: { warn(message: string): void } }).logger = { warn: () => undefined };
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const maxPages = options.maxPages ?? MAX_PAGES;

  return {
    async find(query: ProviderQuery): Promise<ProviderRecord> {
      const domain = query.domain ?? options.domain;
      if (!isDomainName(domain)) throw new ValidationError('DOMAIN_INVALID', [{ where: 'domain', message: 'is not a domain name' }]);
      let page: string | undefined;
      for (let n = 0; n < maxPages; n++) {
        let list: EventsList;
        try {
          list = await client.events.get(domain, {
            event: 'accepted',
            recipient: query.to,
            begin: String(Math.floor(query.since / 1000)),
            ascending: 'yes',
            limit: pageSize,
            ...(page ? { page } : {}),
          });
        } catch (error) {
          throw classifyMailgunError(error);
        }
        for (const item of list.items) {
          const vars = item['user-variables'] ?? {};
          if (
            vars['customer-id'] === query.customerId &&
            vars['campaign-id'] === query.campaignId &&
            vars['recipient-id'] === query.recipientId
          ) {
            const id = item.message?.headers?.['message-id'];
            return { kind: 'accepted', providerId: id ? `<${id.replace(/^<|>$/g, '')}>` : 'unknown' };
          }
        }
        if (list.items.length < pageSize) return { kind: 'none' };
        page = list.pages?.next?.page;
        if (!page) return { kind: 'none' };
      }
      throw new Error(`more than ${maxPages * pageSize} accepted events for one address: not read to the end`);
    },
  };
}
