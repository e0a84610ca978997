import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AddressMapping, SanitiseError, parseUrlRewrite, type RewriteCounts } from '@baton/templating';
import { UsageError } from './usage-error';
import { sanitizeFile } from './sanitize-file';
import { copySanitisedCustomer, openStore } from './sanitize-store';

export const SANITIZE_USAGE = `  baton sanitize --in PROD.csv --out QA.csv --domain QA_DOMAIN [--secret S] [--rewrite-url FROM=TO]…
  baton sanitize --from-store DIR|s3://BUCKET --to-store DIR|s3://BUCKET --customer ID --domain QA_DOMAIN
                 [--secret S] [--rewrite-url FROM=TO]…
      A QA-safe copy: every email address, in any column, becomes a QA address (the same
      person always the same one, keyed by --secret or $BATON_SANITIZE_SECRET); invalid
      addresses stay invalid; nothing else changes. The copy is verified before it is kept.`;

export interface SanitizeArgs {
  mapping: AddressMapping;
  urlRewrites: { from: string; to: string }[];
  /** True when no secret was given: the mapping differs from one run to the next. */
  randomSecret: boolean;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        in: { type: 'string' },
        out: { type: 'string' },
        'from-store': { type: 'string' },
        'to-store': { type: 'string' },
        customer: { type: 'string' },
        domain: { type: 'string' },
        secret: { type: 'string' },
        'rewrite-url': { type: 'string', multiple: true },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function common(values: ReturnType<typeof parse>): SanitizeArgs {
  if (!values.domain) throw new UsageError('sanitize needs --domain (the QA domain every address is moved to)');
  const given = values.secret ?? process.env.BATON_SANITIZE_SECRET;
  try {
    return {
      mapping: new AddressMapping(given || randomBytes(32).toString('hex'), values.domain.trim().toLowerCase()),
      urlRewrites: (values['rewrite-url'] ?? []).map(parseUrlRewrite),
      randomSecret: !given,
    };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `baton sanitize …`: resolves to 0; throws (exit 2) with nothing left behind on any error. */
export async function runSanitize(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const values = parse(argv);
  const args = common(values);
  if (args.randomSecret)
    out.write('note: no --secret (or $BATON_SANITIZE_SECRET): a random one is used, so other files will map differently\n');
  if (values['from-store'] !== undefined || values['to-store'] !== undefined) {
    if (!values['from-store'] || !values['to-store'] || !values.customer) {
      throw new UsageError('sanitize --from-store needs --to-store and --customer too');
    }
    return sanitizeStore({ from: values['from-store'], to: values['to-store'], customerId: values.customer, ...args }, out);
  }
  if (!values.in || !values.out) throw new UsageError('sanitize needs --in FILE and --out FILE (or --from-store and --to-store)');
  if (path.resolve(values.in) === path.resolve(values.out)) throw new UsageError('--out must not be the --in file');
  const result = await sanitizeFile(values.in, values.out, args);
  out.write(`${describeCounts(result.rewritten, result.urlsRewritten)}\nwrote ${values.out} (${result.records} records, verified)\n`);
  return 0;
}

export function describeCounts(rewritten: RewriteCounts, urls: number): string {
  const columns = Object.entries(rewritten);
  const total = columns.reduce((n, [, k]) => n + k, 0);
  const by = columns.map(([c, k]) => `  ${c}: ${k}`).join('\n');
  return `addresses rewritten: ${total}${by ? `\n${by}` : ''}\nURLs rewritten: ${urls}`;
}

/** `baton sanitize --from-store … --to-store …`. */
async function sanitizeStore(
  args: { from: string; to: string; customerId: string; mapping: AddressMapping; urlRewrites: { from: string; to: string }[] },
  out: NodeJS.WritableStream,
): Promise<number> {
  const from = openStore(args.from);
  const to = openStore(args.to);
  if (from.name === to.name) throw new SanitiseError('--to-store must not be the --from-store');
  const r = await copySanitisedCustomer(from, to, args);
  out.write(
    `${describeCounts(r.rewritten, r.urlsRewritten)}\n` +
      `copied ${r.campaigns} campaigns and ${r.suppressions} suppressions of ${args.customerId} to ${args.to}` +
      (r.suppressionsNotMapped > 0 ? ` (${r.suppressionsNotMapped} suppressions of people in no copied audience left out)` : '') +
      '\n',
  );
  return 0;
}
