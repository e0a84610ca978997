import { keys, type ObjectStore } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { CampaignStateError } from '../../src/core/errors';
import { buckets } from '../fixtures';
import { harness } from '../harness';

const MJML = '<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ first_name }}</mj-text></mj-column></mj-section></mj-body></mjml>';
const draft = {
  name: 'Spring',
  customerId: 'acme',
  from: 'news@acme.example',
  subject: 'Hi',
  mjml: MJML,
  audienceCsv: 'email,first_name\nann@example.com,Ann\n',
};

/** A store whose deletes fail for keys matching `failing` (a store that goes away half-way). */
function failingDeletes(store: MemoryObjectStore, failing: RegExp): ObjectStore {
  return {
    get: (b, k) => store.get(b, k),
    getHead: (b, k, n) => store.getHead(b, k, n),
    put: (b, k, body, o) => store.put(b, k, body, o),
    putStream: (b, k, chunks, o) => store.putStream(b, k, chunks, o),
    list: (b, p, o) => store.list(b, p, o),
    delete: async (b, k) => {
      if (failing.test(k)) throw new Error(`store unavailable for ${k}`);
      return store.delete(b, k);
    },
  };
}

describe('deleting a campaign', () => {
  it('refuses a delete while another move of the campaign is under way (a send publishing), and the send goes on', async () => {
    // Prepare
    const h = harness();
    await h.conductor.start();
    const { id } = await h.conductor.createCampaign(draft);
    // Act: the send's move has begun (its publish awaited) when the delete comes
    const [sent, deleted] = await Promise.allSettled([h.conductor.send(id), h.conductor.deleteCampaign(id)]);
    // Assess
    expect(sent.status).toBe('fulfilled');
    expect(deleted).toMatchObject({ status: 'rejected', reason: expect.any(CampaignStateError) });
    expect(h.conductor.getCampaign(id).status).toBe('sending');
  });

  it('removes the definition first: when the rest cannot be deleted, the campaign is still gone, and stays gone after a restart', async () => {
    // Prepare
    const memory = new MemoryObjectStore();
    const h = harness({}, 620, memory);
    await h.conductor.start();
    const { id } = await h.conductor.createCampaign(draft);
    const ref = { customerId: 'acme', campaignId: id };
    const broken = harness({}, 620, failingDeletes(memory, /state\.json$|audience\.csv$/) as MemoryObjectStore);
    await broken.conductor.start();
    // Act
    await broken.conductor.deleteCampaign(id);
    // Assess: the leftovers are only space; no conductor loads the campaign again
    expect(await memory.get(buckets.campaigns, keys.state(ref))).toBeDefined();
    expect(await memory.get(buckets.campaigns, keys.campaign(ref))).toBeUndefined();
    const restarted = harness({}, 620, memory);
    await restarted.conductor.start();
    expect(restarted.conductor.listCampaigns()).toEqual([]);
    expect(restarted.conductor.damagedCampaigns()).toEqual([]);
  });

  it('keeps the campaign when its definition cannot be deleted', async () => {
    const memory = new MemoryObjectStore();
    const h = harness({}, 620, failingDeletes(memory, /campaign\.json$/) as MemoryObjectStore);
    await h.conductor.start();
    const { id } = await h.conductor.createCampaign(draft);
    await expect(h.conductor.deleteCampaign(id)).rejects.toThrow(/store unavailable/);
    expect(h.conductor.getCampaign(id).status).toBe('draft');
  });

  it('refuses a campaign cancelled after a send was asked for: it may have been stubbed, rendered and sent', async () => {
    // Prepare
    const h = harness();
    await h.conductor.start();
    const { id } = await h.conductor.createCampaign(draft);
    const ref = { customerId: 'acme', campaignId: id };
    const at = new Date().toISOString();
    const state = { version: 1, status: 'cancelled', updatedAt: at, sendRequestedAt: at, finishedAt: at };
    await h.store.put(buckets.campaigns, keys.state(ref), JSON.stringify(state));
    const again = harness({}, 620, h.store);
    await again.conductor.start();
    // Act, Assess
    await expect(again.conductor.deleteCampaign(id)).rejects.toBeInstanceOf(CampaignStateError);
    expect(again.conductor.getCampaign(id).status).toBe('cancelled');
  });
});
