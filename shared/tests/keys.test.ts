import fc from 'fast-check';
import { ValidationError } from '../src/errors';
import {
  CAMPAIGNS_PREFIX,
  keys,
  newCampaignId,
  parseKey,
  recipientIdFor,
  shardOf,
  trailingRecipientId,
  STUBS_PREFIX,
  type CampaignRef,
  type RecipientRef,
} from '../src/keys';

/** The documented rules, written out independently of the module's own patterns. */
const VALID_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;
const VALID_RECIPIENT_ID = /^[0-9a-f]{32}$/;

const customerId = 'acme';
const campaignId = 'c-spring-2025';
const recipientId = 'ab' + '0123456789abcdef0123456789abcd';
const ref: RecipientRef = { customerId, campaignId, recipientId };

const validId = fc.stringMatching(VALID_ID);
const validRecipientId = fc.stringMatching(VALID_RECIPIENT_ID);
/** Strings that are not ids: random text, near misses built from valid ids, and the classic escapes. */
const notAnId = fc
  .oneof(
    fc.string({ maxLength: 70 }),
    fc.string({ unit: fc.constantFrom('a', 'z', '0', '-', '.', '/', '%', '2', 'e', 'E', 'A', ' ', '\u0000', '\\', '\n'), maxLength: 70 }),
    validId.chain((id) => fc.constantFrom(`${id}/x`, `../${id}`, `${id}\n`, id.toUpperCase(), `-${id}`, `${id}${'x'.repeat(63)}`)),
    fc.constantFrom('', 'a', '..', '.', '%2e%2e', '%2E%2E', 'a/b', 'a\u0000b', 'ABC', 'a b', '-ab', 'é-id'),
  )
  .filter((s) => !VALID_ID.test(s));
const notARecipientId = fc
  .oneof(
    fc.string({ maxLength: 40 }),
    validRecipientId.map((id) => id.toUpperCase()),
    validRecipientId.map((id) => `${id}0`),
    fc.constantFrom('..', '%2e%2e', ''),
  )
  .filter((s) => !VALID_RECIPIENT_ID.test(s));

describe('key builders', () => {
  it('lay out every key as documented', () => {
    // Act
    const built = {
      campaignPrefix: keys.campaignPrefix(ref),
      campaign: keys.campaign(ref),
      audience: keys.audience(ref),
      audienceReport: keys.audienceReport(ref),
      state: keys.state(ref),
      claim: keys.claim(ref),
      claimsPrefix: keys.claimsPrefix(ref),
      outcome: keys.outcome(ref),
      outcomesPrefix: keys.outcomesPrefix(ref),
      stub: keys.stub(ref),
      stubsPrefix: keys.stubsPrefix(ref),
      rendered: keys.rendered(ref),
      renderedPrefix: keys.renderedPrefix(ref),
    };

    // Assess
    expect(built).toEqual({
      campaignPrefix: 'campaigns/acme/c-spring-2025/',
      campaign: 'campaigns/acme/c-spring-2025/campaign.json',
      audience: 'campaigns/acme/c-spring-2025/audience.csv',
      audienceReport: 'campaigns/acme/c-spring-2025/audience-report.json',
      state: 'campaigns/acme/c-spring-2025/state.json',
      claim: `ledger/acme/c-spring-2025/claims/ab/${recipientId}`,
      claimsPrefix: 'ledger/acme/c-spring-2025/claims/',
      outcome: `ledger/acme/c-spring-2025/outcomes/ab/${recipientId}.json`,
      outcomesPrefix: 'ledger/acme/c-spring-2025/outcomes/',
      stub: `stubs/acme/c-spring-2025/ab/${recipientId}.json`,
      stubsPrefix: 'stubs/acme/c-spring-2025/',
      rendered: `rendered/acme/c-spring-2025/ab/${recipientId}.json`,
      renderedPrefix: 'rendered/acme/c-spring-2025/',
    });
    expect(built.stub.startsWith(STUBS_PREFIX)).toBe(true);
    expect(built.campaign.startsWith(CAMPAIGNS_PREFIX)).toBe(true);
  });

  it('put the shard, the first two hex digits of the recipient id, before the recipient', () => {
    // Act
    const shard = shardOf('7f' + '0'.repeat(30));

    // Assess
    expect(shard).toBe('7f');
    expect(keys.stub({ ...ref, recipientId: '7f' + '0'.repeat(30) })).toContain('/7f/7f');
  });

  const traversal: [string, string][] = [
    ['a parent segment', '..'],
    ['a slash', 'a/b'],
    ['an encoded parent segment', '%2e%2e'],
    ['a NUL', 'ab\u0000'],
    ['upper case', 'Acme'],
    ['an empty string', ''],
  ];

  describe.each([
    ['customerId', (bad: string) => ({ ...ref, customerId: bad })],
    ['campaignId', (bad: string) => ({ ...ref, campaignId: bad })],
    ['recipientId', (bad: string) => ({ ...ref, recipientId: bad })],
  ])('for the %s', (field, withBad) => {
    it.each(traversal)('refuse %s', (_what, bad) => {
      // Act
      const building = () => keys.stub(withBad(bad));

      // Assess
      expect(building).toThrow(ValidationError);
      expect(building).toThrow(expect.objectContaining({ code: 'KEY_INVALID', issues: [expect.objectContaining({ where: field })] }));
    });
  });

  it('refuse any string that is not a valid id, for every builder (property)', () => {
    const campaignBuilders = [
      keys.campaignPrefix,
      keys.campaign,
      keys.audience,
      keys.audienceReport,
      keys.state,
      keys.claimsPrefix,
      keys.outcomesPrefix,
      keys.stubsPrefix,
      keys.renderedPrefix,
    ];
    const recipientBuilders = [keys.claim, keys.outcome, keys.stub, keys.rendered];
    fc.assert(
      fc.property(notAnId, notARecipientId, (bad, badRecipient) => {
        for (const build of campaignBuilders) {
          expect(() => build({ customerId: bad, campaignId })).toThrow(ValidationError);
          expect(() => build({ customerId, campaignId: bad })).toThrow(ValidationError);
        }
        for (const build of recipientBuilders) {
          expect(() => build({ ...ref, customerId: bad })).toThrow(ValidationError);
          expect(() => build({ ...ref, campaignId: bad })).toThrow(ValidationError);
          expect(() => build({ ...ref, recipientId: badRecipient })).toThrow(ValidationError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('key parsers', () => {
  it('round-trip stub, rendered, ledger and campaign keys', () => {
    // Act
    const parsed = {
      stub: parseKey.stub(keys.stub(ref)),
      rendered: parseKey.rendered(keys.rendered(ref)),
      claim: parseKey.ledger(keys.claim(ref)),
      outcome: parseKey.ledger(keys.outcome(ref)),
      campaign: parseKey.campaign(keys.campaign(ref)),
    };

    // Assess
    expect(parsed).toEqual({ stub: ref, rendered: ref, claim: ref, outcome: ref, campaign: { customerId, campaignId } });
  });

  it('give back exactly what was built, for any valid ids (property)', () => {
    fc.assert(
      fc.property(validId, validId, validRecipientId, (cu, ca, r) => {
        const x: RecipientRef = { customerId: cu, campaignId: ca, recipientId: r };
        const c: CampaignRef = { customerId: cu, campaignId: ca };
        expect(parseKey.stub(keys.stub(x))).toEqual(x);
        expect(parseKey.rendered(keys.rendered(x))).toEqual(x);
        expect(parseKey.ledger(keys.claim(x))).toEqual(x);
        expect(parseKey.ledger(keys.outcome(x))).toEqual(x);
        expect(parseKey.campaign(keys.campaign(c))).toEqual(c);
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a stub key whose shard does not match its recipient', () => parseKey.stub(`stubs/acme/c-1/ff/${recipientId}.json`)],
    ['a rendered key whose shard does not match its recipient', () => parseKey.rendered(`rendered/acme/c-1/00/${recipientId}.json`)],
    ['a claim whose shard does not match its recipient', () => parseKey.ledger(`ledger/acme/c-1/claims/ba/${recipientId}`)],
    ['an outcome whose shard does not match its recipient', () => parseKey.ledger(`ledger/acme/c-1/outcomes/ba/${recipientId}.json`)],
  ])('reject %s', (_what, parse) => {
    // Assess
    expect(parse).toThrow(expect.objectContaining({ code: 'KEY_INVALID', message: expect.stringContaining('shard matches') }));
  });

  it.each([
    ['a rendered key given to the stub parser', () => parseKey.stub(keys.rendered(ref))],
    ['a stub key given to the rendered parser', () => parseKey.rendered(keys.stub(ref))],
    ['a claim with .json', () => parseKey.ledger(`${keys.claim(ref)}.json`)],
    ['an outcome without .json', () => parseKey.ledger(keys.outcome(ref).replace(/\.json$/, ''))],
    ['a state key given to the campaign parser', () => parseKey.campaign(keys.state(ref))],
    ['a stub key with a parent segment for the customer', () => parseKey.stub(`stubs/../c-1/ab/${recipientId}.json`)],
    ['a stub key with an encoded parent segment for the campaign', () => parseKey.stub(`stubs/acme/%2e%2e/ab/${recipientId}.json`)],
    ['a stub key with an upper-case recipient id', () => parseKey.stub(`stubs/acme/c-1/ab/${recipientId.toUpperCase()}.json`)],
    ['a stub key with a short recipient id', () => parseKey.stub('stubs/acme/c-1/ab/abc.json')],
    ['a stub key with a NUL', () => parseKey.stub(`stubs/acme/c-1\u0000/ab/${recipientId}.json`)],
    ['a stub key with an extra folder', () => parseKey.stub(`stubs/acme/c-1/x/ab/${recipientId}.json`)],
    ['an empty key', () => parseKey.stub('')],
  ])('reject %s', (_what, parse) => {
    // Assess
    expect(parse).toThrow(ValidationError);
  });
});

describe('recipientIdFor', () => {
  it('is 32 hex digits and stable for the same customer and address', () => {
    // Act
    const first = recipientIdFor('acme', 'alice@example.com');
    const again = recipientIdFor('acme', 'alice@example.com');

    // Assess
    expect(first).toMatch(VALID_RECIPIENT_ID);
    expect(again).toBe(first);
  });

  it('differs between customers for the same address, and between addresses', () => {
    // Act
    const acme = recipientIdFor('acme', 'alice@example.com');
    const globex = recipientIdFor('globex', 'alice@example.com');
    const bob = recipientIdFor('acme', 'bob@example.com');

    // Assess
    expect(new Set([acme, globex, bob]).size).toBe(3);
  });

  it('cannot be confused by moving characters between customer and address', () => {
    // Act
    const a = recipientIdFor('ab', 'c@example.com');
    const b = recipientIdFor('a', 'bc@example.com');

    // Assess
    expect(a).not.toBe(b);
  });
});

describe('newCampaignId', () => {
  it.each([[0], [Date.UTC(2025, 4, 1)], [8.64e15]])('matches the id pattern at time %d', (now) => {
    // Act
    const id = newCampaignId(now);

    // Assess
    expect(id).toMatch(VALID_ID);
    expect(() => keys.campaign({ customerId, campaignId: id })).not.toThrow();
  });

  it('sorts by creation time and never repeats', () => {
    // Act
    const earlier = newCampaignId(Date.UTC(2025, 0, 1));
    const later = newCampaignId(Date.UTC(2025, 0, 2));
    const many = new Set(Array.from({ length: 1000 }, () => newCampaignId(1)));

    // Assess
    expect(earlier < later).toBe(true);
    expect(many.size).toBe(1000);
  });
});

describe('trailingRecipientId', () => {
  it('reads the recipient id a stub, rendered or outcome key ends with', () => {
    const r = { customerId: 'acme', campaignId: 'c-1', recipientId: 'a'.repeat(32) };
    expect(trailingRecipientId(keys.rendered(r))).toBe(r.recipientId);
    expect(trailingRecipientId(keys.stub(r))).toBe(r.recipientId);
    expect(trailingRecipientId(keys.claim(r))).toBe(r.recipientId);
  });
});
