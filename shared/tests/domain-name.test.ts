import { isDomainName } from '../src/domain-name';

describe('isDomainName', () => {
  it.each(['mg.example.com', 'MG.Example.COM', 'a-b.example.co', 'x.io', `${'a'.repeat(63)}.example.com`])('takes %s', (d) => {
    expect(isDomainName(d)).toBe(true);
  });

  it.each([
    ['no dot', 'localhost'],
    ['an empty label', 'mg..example.com'],
    ['a leading hyphen', '-mg.example.com'],
    ['a trailing hyphen in a label', 'mg-.example.com'],
    ['a one-letter top level', 'mg.example.c'],
    ['a digit top level', 'mg.example.123'],
    ['a path', 'mg.example.com/../v3'],
    ['a label over 63', `${'a'.repeat(64)}.example.com`],
    ['a name over 253', `${'abcdefghi.'.repeat(25)}example.com`],
    ['whitespace', ' mg.example.com'],
  ])('refuses %s', (_why, d) => {
    expect(isDomainName(d)).toBe(false);
  });
});
