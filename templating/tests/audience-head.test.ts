import { AUDIENCE_HEAD_BYTES, audienceHead, audienceHeadOf } from '../src/audience-head';

describe('audienceHead', () => {
  it('is the whole text when it is short', () => {
    expect(audienceHead('email\na@example.com\n')).toBe('email\na@example.com\n');
  });

  it('ends at a line break within the head, however long the audience', () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => `r${i}@example.com,Name ${i}`);
    const csv = `email,name\n${rows.join('\n')}\n`;
    const head = audienceHead(csv);
    expect(head.length).toBeLessThanOrEqual(AUDIENCE_HEAD_BYTES);
    expect(head.endsWith('\n')).toBe(true);
    expect(csv.startsWith(head)).toBe(true);
    expect(head.split('\n').length).toBeGreaterThan(100);
  });

  it('keeps a header longer than the head whole', () => {
    const header = Array.from({ length: 10_000 }, (_, i) => `column_${i}`).join(',');
    const csv = `email,${header}\na@example.com\n`;
    expect(audienceHead(csv)).toBe(csv);
  });
});

describe('audienceHeadOf (bytes)', () => {
  it('is the head audienceHead gives for the same text, decoded without decoding the rest', () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => `r${i}@example.com,Zoë ${i}`);
    const csv = `email,name\n${rows.join('\n')}\n`;
    const head = audienceHeadOf(Buffer.from(csv));
    expect(Buffer.byteLength(head)).toBeLessThanOrEqual(AUDIENCE_HEAD_BYTES);
    expect(head.endsWith('\n')).toBe(true);
    expect(csv.startsWith(head)).toBe(true);
  });

  it('is the whole text when short, or when its header is longer than the head', () => {
    expect(audienceHeadOf(Buffer.from('email\na@example.com\n'))).toBe('email\na@example.com\n');
    const csv = `email,${Array.from({ length: 10_000 }, (_, i) => `column_${i}`).join(',')}\na@example.com\n`;
    expect(audienceHeadOf(new Uint8Array(Buffer.from(csv)))).toBe(csv);
  });
});
