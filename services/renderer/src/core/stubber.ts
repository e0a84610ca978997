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
  ValidationError,
} from '@baton/shared';
import { AudienceParser, type AudienceRecipient } from '@baton/templating';
import { loadCampaignDefinition } from './campaign';
import { forEachBounded } from './concurrency';

export interface StubberDeps {
  store: ObjectStore;
  buckets: Buckets;
  logger?: Logger;
  /** Stub writes in flight at once. */
  concurrency?: number;
  /** Audience bytes read before their stubs are written. */
  chunkBytes?: number;
}

/** Enough that a store batching the writes of one event turn (LMDB) commits many at once. */
const DEFAULT_CONCURRENCY = 64;
/** About 1,300 rows of a plain four-column audience: read in well under 10 ms. */
const DEFAULT_CHUNK_BYTES = 64 * 1024;

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

  const audience = await readAudience(deps, ref);
  const outcome = audience instanceof Uint8Array ? await stubInChunks(deps, ref, audience) : audience;
  if ('failed' in outcome) {
    // Retrying cannot help: say so in the report, so the campaign ends failed with the reason.
    await store.put(buckets.campaigns, reportKey, JSON.stringify(outcome.failed), { contentType: 'application/json' });
    log.error({ event: 'stubber.audience-failed', code: outcome.failed.error?.code, reason: outcome.failed.error?.message });
    return outcome.failed;
  }
  const { report, written, existing } = outcome;
  log.info({
    event: 'stubber.audience-parsed',
    rows: report.rows,
    valid: report.valid,
    invalid: report.invalid,
    duplicate: report.duplicate,
  });
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

/**
 * The campaign's audience as UTF-8 bytes, or a failed report when retrying cannot help (no such
 * definition's audience). Only the bytes are kept while its stubs are written: the text as well
 * held a second copy of the whole audience (50 MB at 1,000,000 rows) for as long.
 */
async function readAudience(deps: StubberDeps, ref: CampaignRef): Promise<Buffer | { failed: AudienceReport }> {
  const { store, buckets } = deps;
  const definition = await loadCampaignDefinition(store, buckets, ref);
  const csv = await store.get(buckets.campaigns, definition.audienceKey);
  if (csv === undefined)
    return failedReport(new PermanentError('AUDIENCE_NOT_FOUND', `the audience ${definition.audienceKey} does not exist`));
  return Buffer.from(csv, 'utf8');
}

function failedReport(err: PermanentError): { failed: AudienceReport } {
  return {
    failed: {
      version: 1,
      rows: 0,
      valid: 0,
      invalid: 0,
      duplicate: 0,
      problems: [],
      problemsTruncated: false,
      error: { code: err.code, message: err.message },
    },
  };
}

/**
 * Reads the audience a chunk at a time and writes each chunk's stubs before reading on, so the
 * first recipients are rendered (and sent) while the rest of a large audience is still read:
 * the first send no longer waits for the whole parse, and only one chunk's recipients are held.
 * The header is in the first chunk, so a file refused as a whole (no email column) writes no stub.
 */
async function stubInChunks(
  deps: StubberDeps,
  ref: CampaignRef,
  bytes: Buffer,
): Promise<{ failed: AudienceReport } | { report: AudienceReport; written: number; existing: number }> {
  const parser = new AudienceParser(ref.customerId);
  const chunkBytes = deps.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  let written = 0;
  let existing = 0;
  let shown = 0;
  for (let at = 0; ; at += chunkBytes) {
    const last = at + chunkBytes >= bytes.length;
    let recipients: AudienceRecipient[];
    try {
      recipients = last ? parser.end(bytes.subarray(at)) : parser.write(bytes.subarray(at, at + chunkBytes));
    } catch (err) {
      // A file refused before any row was read fails as a whole. Past that, recipients of earlier
      // chunks may already be rendered and sent: the read ends there, the rest named as a problem.
      if (err instanceof ValidationError && parser.report.rows > 0) return { report: parser.stopAt(err), written, existing };
      if (err instanceof PermanentError) return failedReport(err);
      throw err;
    }
    // The rows' problems as they are found, long before a large audience's stubs are all written:
    // the campaign view shows them from here on (the report follows at the end).
    const found = parser.report.invalid + parser.report.duplicate;
    if (found > shown) {
      shown = found;
      const { store, buckets } = deps;
      await store.put(buckets.campaigns, keys.audienceProgress(ref), JSON.stringify(parser.report), { contentType: 'application/json' });
    }
    const counts = await writeStubs(deps, ref, recipients);
    written += counts.written;
    existing += counts.existing;
    if (last) return { report: parser.report, written, existing };
  }
}

/** One stub per recipient, created only if absent: a re-run writes nothing new and triggers no render. */
async function writeStubs(
  deps: StubberDeps,
  ref: CampaignRef,
  recipients: readonly AudienceRecipient[],
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
