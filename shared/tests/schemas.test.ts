import fc from 'fast-check';
import { ValidationError } from '../src/errors';
import { leasePermits, leaseSendUntil } from '../src/slice-schedule';
import {
  campaignRequestedMessage,
  checkInRequest,
  decodeS3EventKey,
  encodeS3EventKey,
  lease,
  parseJson,
  sendResult,
  parseWith,
  s3Event,
  stubRecord,
} from '../src/schemas';

const recipientId = '0123456789abcdef0123456789abcdef';

function validationErrorFrom(act: () => unknown): ValidationError {
  try {
    act();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('S3 event keys', () => {
  it('encode as AWS does: spaces as +, + as %2B, slashes kept', () => {
    // Act
    const encoded = encodeS3EventKey('a b+c/ü%.json');

    // Assess
    expect(encoded).toBe('a+b%2Bc/%C3%BC%25.json');
  });

  it('decode what AWS sends back to the stored key', () => {
    // Act
    const decoded = decodeS3EventKey('a+b%2Bc/%C3%BC%25.json');

    // Assess
    expect(decoded).toBe('a b+c/ü%.json');
  });

  it('round-trip any key (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (key) => {
        expect(decodeS3EventKey(encodeS3EventKey(key))).toBe(key);
      }),
      { numRuns: 200 },
    );
  });

  it.each([['%'], ['%E0%A4%A'], ['a%zz']])('refuse to decode the malformed key %j with a ValidationError', (key) => {
    // Act
    const decoding = () => decodeS3EventKey(key);

    // Assess
    expect(decoding).toThrow(ValidationError);
    expect(decoding).toThrow(expect.objectContaining({ code: 'EVENT_KEY_INVALID' }));
  });

  it('leave our own keys readable: ids, dashes, dots and slashes pass unchanged', () => {
    // Act
    const encoded = encodeS3EventKey(`stubs/acme/c-1/01/${recipientId}.json`);

    // Assess
    expect(encoded).toBe(`stubs/acme/c-1/01/${recipientId}.json`);
  });
});

describe('parseWith', () => {
  it('returns the parsed value when it is valid', () => {
    // Prepare
    const message = { version: 1, type: 'campaign.requested', customerId: 'acme', campaignId: 'c-1', requestedAt: '2025-05-01T00:00:00Z' };

    // Act
    const parsed = parseWith(campaignRequestedMessage, message, 'MESSAGE_INVALID', 'message');

    // Assess
    expect(parsed).toEqual(message);
  });

  it('names the path of each bad field, under what was parsed', () => {
    // Prepare
    const request = {
      leaseId: 'l-1',
      workerId: 'w-1',
      results: [
        { recipientId, status: 'sent', providerId: '<1@mg>' },
        { recipientId: 'nope', status: 'exploded' },
      ],
      unattempted: [],
      permitsUsed: -1,
      wantsMore: true,
    };

    // Act
    const error = validationErrorFrom(() => parseWith(checkInRequest, request, 'CHECKIN_INVALID', 'checkIn'));

    // Assess
    expect(error.code).toBe('CHECKIN_INVALID');
    expect(error.issues.map((i) => i.where).sort()).toEqual([
      'checkIn.permitsUsed',
      'checkIn.results.1.recipientId',
      'checkIn.results.1.status',
    ]);
    expect(error.issues.find((i) => i.where === 'checkIn.results.1.recipientId')!.message).toBe('must be 32 hex digits');
    expect(error.message).toContain('checkIn.results.1.recipientId: must be 32 hex digits');
  });

  it('names just what was parsed when the whole value is wrong', () => {
    // Act
    const parsing = () => parseWith(stubRecord, 'not an object', 'STUB_INVALID', 'stub');

    // Assess
    expect(parsing).toThrow(expect.objectContaining({ code: 'STUB_INVALID', issues: [expect.objectContaining({ where: 'stub' })] }));
  });

  it('refuses an S3 event with no records', () => {
    // Act
    const parsing = () => parseWith(s3Event, { Records: [] }, 'EVENT_INVALID', 'event');

    // Assess
    expect(parsing).toThrow(expect.objectContaining({ issues: [expect.objectContaining({ where: 'event.Records' })] }));
  });
});

describe('parseJson', () => {
  it('parses valid JSON', () => {
    // Act
    const value = parseJson('{"a":[1,2]}', 'stub stubs/x.json');

    // Assess
    expect(value).toEqual({ a: [1, 2] });
  });

  it('names what it was parsing when the text is not JSON', () => {
    // Act
    const parsing = () => parseJson('{"a":', 'stub stubs/x.json');

    // Assess
    expect(parsing).toThrow(ValidationError);
    expect(parsing).toThrow(
      expect.objectContaining({
        code: 'JSON_INVALID',
        issues: [expect.objectContaining({ where: 'stub stubs/x.json', message: expect.stringMatching(/^not valid JSON \(/) })],
      }),
    );
  });
});

describe('the lease', () => {
  const wire = {
    leaseId: 'l-1',
    workerId: 'w-1',
    customerId: 'acme',
    campaignId: 'c-1',
    recipientIds: [recipientId],
    schedule: { start: 10_000, sliceMs: 500, permits: [1, 0, 2] },
    expiresAt: 90_000,
  };

  it('states its permits and its end once, in its schedule', () => {
    // Act
    const parsed = parseWith(lease, wire, 'LEASE_INVALID', 'lease');

    // Assess
    expect(leasePermits(parsed)).toBe(3);
    expect(leaseSendUntil(parsed)).toBe(11_500);
  });

  it('refuses a lease without a schedule, naming the field', () => {
    // Prepare
    const { schedule: _schedule, ...unscheduled } = wire;

    // Act
    const error = validationErrorFrom(() => parseWith(lease, unscheduled, 'LEASE_INVALID', 'lease'));

    // Assess
    expect(error.issues.map((i) => i.where)).toEqual(['lease.schedule']);
  });

  it('drops a permit count or end sent beside the schedule, so nothing can contradict it', () => {
    // Act
    const parsed = parseWith(lease, { ...wire, permits: 99, sendUntil: 1 }, 'LEASE_INVALID', 'lease');

    // Assess
    expect(parsed).not.toHaveProperty('permits');
    expect(parsed).not.toHaveProperty('sendUntil');
    expect(leasePermits(parsed)).toBe(3);
  });
});

describe('a send result', () => {
  it.each([
    ['sent', { status: 'sent', providerId: '<1@mg>' }],
    ['failed', { status: 'failed', reason: 'PROVIDER_REJECTED: bad address' }],
    ['suppressed', { status: 'suppressed', reason: 'UNSUBSCRIBED' }],
    ['inDoubt', { status: 'inDoubt', reason: 'PROVIDER_TIMEOUT: no answer' }],
    ['retryable', { status: 'retryable', code: 'PROVIDER_THROTTLED', reason: 'PROVIDER_THROTTLED: 429', retryAfterMs: 1_000 }],
    ['claimedElsewhere', { status: 'claimedElsewhere' }],
  ])('accepts a %s result with what that status always carries', (_status, fields) => {
    // Act
    const parsed = parseWith(sendResult, { recipientId, ...fields }, 'RESULT_INVALID', 'result');

    // Assess
    expect(parsed).toEqual({ recipientId, ...fields });
  });

  it.each([
    ['a sent result without its provider id', { status: 'sent' }, 'result.providerId'],
    ['a failed result without its reason', { status: 'failed' }, 'result.reason'],
    ['a suppressed result without its reason', { status: 'suppressed' }, 'result.reason'],
    ['an in-doubt result without its reason', { status: 'inDoubt' }, 'result.reason'],
    ['a retryable result without its code', { status: 'retryable', reason: 'PROVIDER_THROTTLED: 429' }, 'result.code'],
  ])('refuses %s, naming the missing field', (_what, fields, where) => {
    // Act
    const error = validationErrorFrom(() => parseWith(sendResult, { recipientId, ...fields }, 'RESULT_INVALID', 'result'));

    // Assess
    expect(error.issues.map((i) => i.where)).toEqual([where]);
  });
});
