import {
  ObjectExistsError,
  PermanentError,
  audienceReport,
  keys,
  parseJson,
  parseWith,
  silentLogger,
  type AudienceReport,
  type Buckets,
  type CampaignRef,
  type Logger,
  type ObjectStore,
  type StubRecord,
} from '@baton/shared';
import { parseAudience } from '@baton/templating';
import { loadCampaignDefinition } from './campaign';
import { forEachBounded } from './concurrency';

export interface StubberDeps {
  store: ObjectStore;
  buckets: Buckets;
  logger?: Logger;
  /** Stub writes in flight at once. */
  concurrency?: number;
}

const DEFAULT_CONCURRENCY = 16;

/**
 * Turns a campaign's audience into one stub per valid, unique recipient, then writes the
 * audience report; the report's presence means stubbing finished.
 *
 * Safe to run twice, and concurrently: stubs are created with `If-None-Match: *` (an existing
 * stub is left alone, so a re-run writes nothing and triggers no render), recipient ids are
 * derived from the address, and a run that finds the report returns it without re-reading the
 * audience.
 */
export async function stubCampaign(deps: StubberDeps, ref: CampaignRef): Promise<AudienceReport> {
  const { store, buckets } = deps;
  const log = (deps.logger ?? silentLogger).child({ customerId: ref.customerId, campaignId: ref.campaignId });
  const reportKey = keys.audienceReport(ref);

  const done = await readReport(store, buckets.campaigns, reportKey);
  if (done !== undefined) {
    log.info({ event: 'stubber.already-stubbed', rows: done.rows, valid: done.valid });
    return done;
  }

  const parsed = await readAudience(deps, ref);
  if (!('recipients' in parsed)) {
    // Retrying cannot help: say so in the report, so the campaign ends failed with the reason.
    await store.put(buckets.campaigns, reportKey, JSON.stringify(parsed), { contentType: 'application/json' });
    log.error({ event: 'stubber.audience-failed', code: parsed.error?.code, reason: parsed.error?.message });
    return parsed;
  }
  const { recipients, report } = parsed;
  // The rows' problems are known once the audience is read, long before a large audience's stubs
  // are written: the campaign view shows them from here on (the report follows at the end).
  await store.put(buckets.campaigns, keys.audienceProgress(ref), JSON.stringify(report), { contentType: 'application/json' });
  log.info({
    event: 'stubber.audience-parsed',
    rows: report.rows,
    valid: report.valid,
    invalid: report.invalid,
    duplicate: report.duplicate,
  });
  const { written, existing } = await writeStubs(deps, ref, recipients);
  await store.put(buckets.campaigns, reportKey, JSON.stringify(report), { contentType: 'application/json' });
  log.info({ event: 'stubber.done', valid: report.valid, written, alreadyStubbed: existing });
  return report;
}

async function readReport(store: ObjectStore, bucket: string, key: string): Promise<AudienceReport | undefined> {
  const body = await store.get(bucket, key);
  if (body === undefined) return undefined;
  try {
    return parseWith(audienceReport, parseJson(body, 'audience-report.json'), 'REPORT_INVALID', 'audience-report.json');
  } catch {
    return undefined; // unreadable: stub again (idempotent) and overwrite it
  }
}

/** The campaign's audience parsed, or a failed report when retrying cannot help (no such file, no email column). */
async function readAudience(deps: StubberDeps, ref: CampaignRef): Promise<ReturnType<typeof parseAudience> | AudienceReport> {
  const { store, buckets } = deps;
  const definition = await loadCampaignDefinition(store, buckets, ref);
  try {
    const csv = await store.get(buckets.campaigns, definition.audienceKey);
    if (csv === undefined) {
      throw new PermanentError('AUDIENCE_NOT_FOUND', `the audience ${definition.audienceKey} does not exist`);
    }
    return parseAudience(csv, ref.customerId);
  } catch (err) {
    if (!(err instanceof PermanentError)) throw err;
    return {
      version: 1,
      rows: 0,
      valid: 0,
      invalid: 0,
      duplicate: 0,
      problems: [],
      problemsTruncated: false,
      error: { code: err.code, message: err.message },
    };
  }
}

/** One stub per recipient, created only if absent: a re-run writes nothing new and triggers no render. */
async function writeStubs(
  deps: StubberDeps,
  ref: CampaignRef,
  recipients: ReturnType<typeof parseAudience>['recipients'],
): Promise<{ written: number; existing: number }> {
  const { store, buckets } = deps;
  let written = 0;
  let existing = 0;
  await forEachBounded(recipients, deps.concurrency ?? DEFAULT_CONCURRENCY, async (recipient) => {
    const stub: StubRecord = {
      version: 1,
      customerId: ref.customerId,
      campaignId: ref.campaignId,
      recipientId: recipient.recipientId,
      email: recipient.email,
      fields: recipient.fields,
      line: recipient.line,
    };
    try {
      await store.put(buckets.stubs, keys.stub({ ...ref, recipientId: recipient.recipientId }), JSON.stringify(stub), {
        ifNoneMatch: '*',
        contentType: 'application/json',
      });
      written += 1;
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw err;
      existing += 1; // an earlier run got here first
    }
  });
  return { written, existing };
}
