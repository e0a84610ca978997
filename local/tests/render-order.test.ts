import { keys } from '@baton/shared';
import { campaignOfStubEvent } from '../src/render-order';

function stubEvent(key: string) {
  return { Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'stubs' }, object: { key } } }] };
}

describe('campaignOfStubEvent', () => {
  it('names the customer and campaign of the stub, whichever recipient', () => {
    // Prepare
    const ref = { customerId: 'acme', campaignId: 'c1', recipientId: '0123456789abcdef0123456789abcdef' };
    // Act
    const flow = campaignOfStubEvent(stubEvent(keys.stub(ref)));
    // Assess
    expect(flow).toBe('acme/c1');
  });

  it('puts a key that is no stub in one queue of its own rather than throwing', () => {
    expect(campaignOfStubEvent(stubEvent('rendered/nothing'))).toBe('');
  });
});
