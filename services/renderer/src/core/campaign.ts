import {
  PermanentError,
  campaignDefinition,
  keys,
  parseJson,
  parseWith,
  type Buckets,
  type CampaignDefinition,
  type CampaignRef,
  type ObjectStore,
} from '@baton/shared';

/** Reads and validates a campaign's definition; a missing one is `CAMPAIGN_NOT_FOUND`. */
export async function loadCampaignDefinition(store: ObjectStore, buckets: Buckets, ref: CampaignRef): Promise<CampaignDefinition> {
  const key = keys.campaign(ref);
  const body = await store.get(buckets.campaigns, key);
  if (body === undefined) {
    throw new PermanentError(
      'CAMPAIGN_NOT_FOUND',
      `campaign ${ref.customerId}/${ref.campaignId} has no definition at ${buckets.campaigns}/${key}`,
    );
  }
  const definition = parseWith(campaignDefinition, parseJson(body, 'campaign.json'), 'CAMPAIGN_INVALID', 'campaign.json');
  if (definition.customerId !== ref.customerId || definition.campaignId !== ref.campaignId) {
    throw new PermanentError(
      'CAMPAIGN_MISMATCH',
      `${key} describes campaign ${definition.customerId}/${definition.campaignId}, not ${ref.customerId}/${ref.campaignId}`,
    );
  }
  return definition;
}
