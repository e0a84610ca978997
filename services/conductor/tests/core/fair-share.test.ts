import { FairShare } from '../../src/core/fair-share';

type C = { customerId: string; campaignId: string };
const big: C = { customerId: 'bigco', campaignId: 'c-big' };
const small: C = { customerId: 'smallco', campaignId: 'c-small' };

/** Serves `rounds` leases of `permits` each and counts permits per campaign. */
function serve(fair: FairShare, candidates: () => C[], rounds: number, permits = 10): Map<string, number> {
  const got = new Map<string, number>();
  for (let i = 0; i < rounds; i++) {
    const c = fair.pick(candidates());
    if (!c) break;
    fair.charge(c.customerId, c.campaignId, permits);
    got.set(c.campaignId, (got.get(c.campaignId) ?? 0) + permits);
  }
  return got;
}

describe('FairShare', () => {
  it('shares equally between customers with work, whatever the sizes of their campaigns', () => {
    const got = serve(new FairShare(), () => [big, small], 100);
    expect(got.get('c-big')).toBe(500);
    expect(got.get('c-small')).toBe(500);
  });

  it('gives a newcomer its share from now on, not a catch-up that starves the others', () => {
    // Prepare: the big campaign alone for a while.
    const fair = new FairShare();
    serve(fair, () => [big], 50);
    // Act
    const got = serve(fair, () => [big, small], 20);
    // Assess
    expect(got.get('c-small')).toBe(100);
    expect(got.get('c-big')).toBe(100);
  });

  it('weights customers', () => {
    const fair = new FairShare((c) => (c === 'bigco' ? 3 : 1));
    const got = serve(fair, () => [big, small], 80);
    expect(got.get('c-big')).toBe(600);
    expect(got.get('c-small')).toBe(200);
  });

  it("shares one customer's part between its campaigns", () => {
    const second: C = { customerId: 'bigco', campaignId: 'c-big-2' };
    const got = serve(new FairShare(), () => [big, second, small], 40);
    expect(got.get('c-small')).toBe(200);
    expect(got.get('c-big')).toBe(100);
    expect(got.get('c-big-2')).toBe(100);
  });
});
