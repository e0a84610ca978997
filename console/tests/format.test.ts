import { duration, headOf, isoFromLocalInput, plural } from '../app/format';

describe("the console's words", () => {
  it('says a time left in seconds, minutes or hours, never "0 s"', () => {
    expect(duration(0.2)).toBe('1 s');
    expect(duration(45)).toBe('45 s');
    expect(duration(200)).toBe('3 min 20 s');
    expect(duration(180)).toBe('3 min');
    expect(duration(7500)).toBe('2 h 5 min');
  });

  it('counts in words with thousands separators', () => {
    expect(plural(1, 'recipient', 'recipients')).toBe('1 recipient');
    expect(plural(12_000, 'recipient', 'recipients')).toBe('12,000 recipients');
  });

  it('cuts the head of a large audience file at its last whole line, and keeps a small file whole', () => {
    expect(headOf('email\na@x.com\nb@x.c', false)).toBe('email\na@x.com\n');
    expect(headOf('email\na@x.com\nb@x.com', true)).toBe('email\na@x.com\nb@x.com');
  });

  it('turns a datetime-local value into an ISO time, and nothing into nothing', () => {
    expect(isoFromLocalInput('')).toBeUndefined();
    expect(isoFromLocalInput('not a time')).toBeUndefined();
    expect(isoFromLocalInput('2026-12-08T09:00')).toBe(new Date('2026-12-08T09:00').toISOString());
  });
});
