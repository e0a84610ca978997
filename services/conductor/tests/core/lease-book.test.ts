import { recipientIdFor, type Lease } from '@baton/shared';
import { LeaseBook } from '../../src/core/lease-book';

function leaseOf(recipientIds: string[]): Lease {
  return {
    leaseId: 'l-1',
    workerId: 'w-1',
    customerId: 'acme',
    campaignId: 'c-1',
    recipientIds,
    schedule: { start: 1_000, sliceMs: 1_000, permits: [recipientIds.length] },
    expiresAt: 60_000,
  };
}

describe('LeaseBook answers', () => {
  it('gives a repeated check-in the same answer, its next lease and every recipient id included', () => {
    // Prepare
    const book = new LeaseBook();
    const lease = leaseOf(Array.from({ length: 1_000 }, (_, i) => recipientIdFor('acme', `reader${i}@example.com`)));
    const expected = structuredClone({ lease });
    // Act
    book.remember('l-0:w-1', 1_000, { lease });
    // Assess
    expect(book.answered('l-0:w-1')).toEqual(expected);
    expect(book.answered('l-0:w-1')).toEqual(expected);
    expect(book.answered('l-9:w-1')).toBeUndefined();
  });

  it('gives the same answer back with ids that are not hex, and with no lease', () => {
    // Prepare
    const book = new LeaseBook();
    // Act
    book.remember('a', 1_000, { lease: leaseOf(['r1', 'r2']) });
    book.remember('b', 1_000, { lease: null });
    // Assess
    expect(book.answered('a')?.lease?.recipientIds).toEqual(['r1', 'r2']);
    expect(book.answered('b')).toEqual({ lease: null });
  });

  it('forgets an answer ten minutes after it was given', () => {
    // Prepare
    const book = new LeaseBook();
    book.remember('old', 0, { lease: leaseOf(['r1']) });
    // Act
    book.remember('new', 10 * 60_000 + 1, { lease: null });
    // Assess
    expect(book.answered('old')).toBeUndefined();
    expect(book.answered('new')).toEqual({ lease: null });
  });
});
