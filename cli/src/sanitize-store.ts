import path from 'node:path';
import {
  CAMPAIGNS_PREFIX,
  ValidationError,
  assertCustomerId,
  campaignDefinition,
  keys,
  listAll,
  parseJson,
  parseKey,
  parseWith,
  recipientIdFor,
  type ObjectStore,
} from '@baton/shared';
import { DATA_FOLDER_BUCKETS, openDataFolderStore } from '@baton/shared/data-folder-store';
import { S3ObjectStore, createS3Client } from '@baton/shared/s3-object-store';
import {
  AudienceSanitiser,
  AudienceVerifier,
  SanitiseError,
  normaliseAddress,
  parseAudience,
  type AddressMapping,
  type RewriteCounts,
} from '@baton/templating';

/** Where a customer's campaigns live: the store and its campaigns bucket. */
export interface StoreLocation {
  store: ObjectStore;
  bucket: string;
  name: string;
}

/**
 * `s3://BUCKET` (the stage's campaigns bucket; `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` for a
 * non-AWS server) or the folder of a local Baton (`BATON_DATA_DIR`), opened as Baton opens it (its LMDB
 * store, or the filesystem store of an older folder).
 */
export function openStore(spec: string): StoreLocation {
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,62})\/?$/.exec(spec);
  if (s3) {
    const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    return { store: new S3ObjectStore(createS3Client(endpoint ? { endpoint } : {})), bucket: s3[1]!, name: spec };
  }
  if (spec.startsWith('s3:')) throw new ValidationError('SANITISE_INVALID', [{ where: 'store', message: `"${spec}" is not s3://BUCKET` }]);
  return { store: openDataFolderStore(path.resolve(spec)), bucket: DATA_FOLDER_BUCKETS.campaigns, name: spec };
}

export interface StoreCopyOptions {
  customerId: string;
  mapping: AddressMapping;
  urlRewrites: readonly { from: string; to: string }[];
}

export interface StoreCopyReport {
  campaigns: number;
  rewritten: RewriteCounts;
  urlsRewritten: number;
  suppressions: number;
  /** Suppressions of people in none of the copied audiences: an id cannot be turned back into an address. */
  suppressionsNotMapped: number;
}

/**
 * Copies one customer's campaigns (definitions and audiences) and suppressions from `from` to
 * `to`, sanitised: audiences through the audience sanitiser (each verified before it is written),
 * templates and subjects with their URLs rewritten, suppressions moved to the QA addresses' ids.
 * Never copied: state, reports, summaries, the ledger, stubs, rendered messages — QA starts each
 * campaign as a draft. A campaign's audience is written before its definition, so a campaign
 * never appears in `to` without its audience.
 */
export async function copySanitisedCustomer(from: StoreLocation, to: StoreLocation, options: StoreCopyOptions): Promise<StoreCopyReport> {
  const customerId = assertCustomerId(options.customerId);
  const report: StoreCopyReport = { campaigns: 0, rewritten: {}, urlsRewritten: 0, suppressions: 0, suppressionsNotMapped: 0 };
  /** Production recipient id → the QA address's recipient id, from every copied audience. */
  const qaIdOf = new Map<string, string>();
  const rewrite = (text: string) => {
    let out = text;
    for (const { from: a, to: b } of options.urlRewrites) {
      const parts = out.split(a);
      report.urlsRewritten += parts.length - 1;
      out = parts.join(b);
    }
    return out;
  };

  for await (const key of listAll(from.store, from.bucket, `${CAMPAIGNS_PREFIX}${customerId}/`)) {
    if (!key.endsWith('/campaign.json')) continue;
    parseKey.campaign(key);
    const definition = parseWith(
      campaignDefinition,
      parseJson((await from.store.get(from.bucket, key)) ?? '', key),
      'CAMPAIGN_INVALID',
      key,
    );
    const csv = await from.store.get(from.bucket, definition.audienceKey);
    if (csv === undefined) throw new SanitiseError(`${key}: its audience ${definition.audienceKey} is missing from ${from.name}`);
    const sanitised = sanitiseText(csv, options, report, definition.audienceKey);
    for (const r of parseAudience(csv, customerId).recipients) {
      qaIdOf.set(r.recipientId, recipientIdFor(customerId, normaliseAddress(options.mapping.map(normaliseAddress(r.email)))));
    }
    await to.store.put(to.bucket, definition.audienceKey, sanitised, { contentType: 'text/csv' });
    const copy = { ...definition, mjml: rewrite(definition.mjml), subject: rewrite(definition.subject) };
    await to.store.put(to.bucket, keys.campaign(definition), JSON.stringify(copy), { contentType: 'application/json' });
    report.campaigns += 1;
  }

  for await (const key of listAll(from.store, from.bucket, `suppressions/${customerId}/`)) {
    const recipientId = /\/([0-9a-f]{32})\.json$/.exec(key)?.[1];
    const qaId = recipientId === undefined ? undefined : qaIdOf.get(recipientId);
    if (qaId === undefined) {
      report.suppressionsNotMapped += 1;
      continue;
    }
    // The record holds no address (when and why only): copied as it is, under the QA id.
    const body = (await from.store.get(from.bucket, key)) ?? '';
    await to.store.put(to.bucket, keys.suppression({ customerId, recipientId: qaId }), body, { contentType: 'application/json' });
    report.suppressions += 1;
  }
  return report;
}

function sanitiseText(csv: string, options: StoreCopyOptions, report: StoreCopyReport, where: string): string {
  const sanitiser = new AudienceSanitiser({ mapping: options.mapping, urlRewrites: options.urlRewrites });
  let out: string;
  try {
    out = sanitiser.write(Buffer.from(csv, 'utf8')) + sanitiser.end();
    const verifier = new AudienceVerifier(options.mapping.domain);
    verifier.write(Buffer.from(out, 'utf8'));
    verifier.end();
  } catch (err) {
    throw new SanitiseError(`${where}: ${(err as Error).message}`);
  }
  for (const [column, n] of Object.entries(sanitiser.rewritten)) report.rewritten[column] = (report.rewritten[column] ?? 0) + n;
  report.urlsRewritten += sanitiser.urlsRewritten;
  return out;
}
