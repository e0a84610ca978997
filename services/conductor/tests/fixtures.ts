import {
  keys,
  recipientIdFor,
  type AudienceReport,
  type CampaignDefinition,
  type CampaignRef,
  type CampaignState,
  type ObjectStore,
} from '@baton/shared';
import type { ConductorSettings } from '../src/core/conductor';
import { SendingGovernors } from '../src/core/sending-governors';

export const DOMAIN = 'mg.example.com';

/** One sending domain with `cap` calls per minute, in one-second slices. */
export function testGovernors(cap: number): SendingGovernors {
  return new SendingGovernors({ domains: [{ domain: DOMAIN, perWindowMax: cap }], windowMs: 60_000, sliceMs: 1_000, marginMs: 500 });
}

export const buckets = { campaigns: 'campaigns', stubs: 'stubs', rendered: 'rendered' };
export const UNSUBSCRIBE_SECRET = 'test-unsubscribe-secret';

/** Settings for a conductor under test: small batches, a scan on every tick. */
export function testSettings(overrides: Partial<ConductorSettings> = {}): ConductorSettings {
  return {
    stage: 'dev',
    maxWorkers: 2,
    batchSize: 4,
    workerTimeBudgetMs: 60_000,
    leaseGraceMs: 10_000,
    scanIntervalMs: 0,
    stallMs: 30_000,
    maxAttempts: 3,
    leaseHorizonMs: 10_000,
    sigma: 2,
    publicUrl: 'http://localhost:8080',
    unsubscribeSecret: UNSUBSCRIBE_SECRET,
    ...overrides,
  };
}

/**
 * A stored campaign in `status`, with `n` recipients stubbed and rendered, as the pipeline
 * would leave it (the audience report and one rendered object per recipient). Returns their ids.
 */
export async function storeRenderedCampaign(
  store: ObjectStore,
  ref: CampaignRef,
  n: number,
  options: { status?: CampaignState['status']; createdAt: number },
): Promise<string[]> {
  const createdAt = new Date(options.createdAt).toISOString();
  const definition: CampaignDefinition = {
    version: 1,
    ...ref,
    name: 'Test',
    from: 'a@example.com',
    subject: 'Hi',
    mjml: '<mjml></mjml>',
    audienceKey: keys.audience(ref),
    createdAt,
  };
  const state: CampaignState = { version: 1, status: options.status ?? 'sending', updatedAt: createdAt };
  const report: AudienceReport = { version: 1, rows: n, valid: n, invalid: 0, duplicate: 0, problems: [], problemsTruncated: false };
  await store.put(buckets.campaigns, keys.campaign(ref), JSON.stringify(definition));
  await store.put(buckets.campaigns, keys.state(ref), JSON.stringify(state));
  await store.put(buckets.campaigns, keys.audienceReport(ref), JSON.stringify(report));
  const ids = Array.from({ length: n }, (_, i) => recipientIdFor(ref.customerId, `r${i}@example.com`));
  for (const recipientId of ids) await store.put(buckets.rendered, keys.rendered({ ...ref, recipientId }), '{}');
  return ids;
}
