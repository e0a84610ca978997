import { keys, type Buckets, type CampaignDefinition, type CampaignRef, type ObjectStore } from '@baton/shared';
import { helloMjml } from '../../../templating/tests/fixtures';

// The template helpers have one home, beside the templating tests.
export { caught, helloMjml, mjmlBody, publicUrl, unsubscribeSecret } from '../../../templating/tests/fixtures';

export const buckets: Buckets = { campaigns: 'baton-campaigns', stubs: 'baton-stubs', rendered: 'baton-rendered' };
export const ref: CampaignRef = { customerId: 'acme', campaignId: 'c-spring' };

export interface SeedOptions {
  campaign?: CampaignRef;
  from?: string;
  subject?: string;
  mjml?: string;
  csv?: string;
}

/** Writes a campaign definition and its audience, as the conductor would. */
export async function seedCampaign(store: ObjectStore, options: SeedOptions = {}): Promise<CampaignDefinition> {
  const campaign = options.campaign ?? ref;
  const definition: CampaignDefinition = {
    version: 1,
    customerId: campaign.customerId,
    campaignId: campaign.campaignId,
    name: 'Spring sale',
    from: options.from ?? 'Acme <news@acme.example>',
    subject: options.subject ?? 'Hi {{ first_name }}',
    mjml: options.mjml ?? helloMjml,
    audienceKey: keys.audience(campaign),
    createdAt: '2025-01-01T00:00:00.000Z',
  };
  await store.put(buckets.campaigns, keys.campaign(campaign), JSON.stringify(definition));
  if (options.csv !== undefined) await store.put(buckets.campaigns, definition.audienceKey, options.csv);
  return definition;
}

/** The keys a store holds in one bucket under a prefix. */
export function keysIn(store: { objects: Map<string, string> }, bucket: string, prefix = ''): string[] {
  return [...store.objects.keys()]
    .filter((id) => id.startsWith(`${bucket}/${prefix}`))
    .map((id) => id.slice(bucket.length + 1))
    .sort();
}
