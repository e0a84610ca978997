import { keys } from '@baton/shared';
import { campaignOfRequest, campaignOfStubEvent, renderOwnTime } from '../src/render-order';

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

describe('campaignOfRequest', () => {
  const sns = (message: string) => ({ Records: [{ Sns: { Message: message } }] });

  it("names the customer and campaign a stubber's event requests", () => {
    const message = { version: 1, type: 'campaign.requested', customerId: 'acme', campaignId: 'c1', requestedAt: '2026-12-01T00:00:00Z' };
    expect(campaignOfRequest(sns(JSON.stringify(message)))).toBe('acme/c1');
  });

  it('puts a message that is not a request in the no-stub queue rather than throwing', () => {
    expect(campaignOfRequest(sns('not json'))).toBe('');
    expect(campaignOfRequest(sns('{"type":"other"}'))).toBe('');
  });
});

describe('renderOwnTime', () => {
  it("reads a render's own time from its handler's answer", () => {
    expect(renderOwnTime({ ownMs: 1_143.5 })).toBe(1_143.5);
  });

  it.each([[undefined], [null], [{}], [{ ownMs: '5' }], ['5']])('reads no time from %p, so the queue measures it', (answer) => {
    expect(renderOwnTime(answer)).toBeUndefined();
  });
});
