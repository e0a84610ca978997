import fc from 'fast-check';
import emailAddresses from 'email-addresses';
import { checkMailbox, formatMailbox } from '../src/email-address';

function problemOf(value: string): string {
  const checked = checkMailbox(value);
  if (checked.ok) throw new Error(`expected ${JSON.stringify(value)} to be refused, got ${checked.mailbox.header}`);
  return checked.problem;
}

function headerOf(value: string): string {
  const checked = checkMailbox(value);
  if (!checked.ok) throw new Error(`expected ${JSON.stringify(value)} to be accepted: ${checked.problem}`);
  return checked.mailbox.header;
}

describe('checkMailbox', () => {
  it.each([
    ['two addresses separated by a comma', 'evil@evil.com, Me <me@example.com>', 'not a list of 2 addresses'],
    ['a display name with a comma outside quotes', 'Acme, Inc. <news@acme.example>', 'a comma outside quotes'],
    ['an unclosed double quote', '"Me <me@example.com>', 'a double quote is not closed'],
    ['a quote closed too early', '"Me" x" <me@example.com>', 'a double quote is not closed'],
    ['a group', 'Friends: a@example.com, b@example.com;', 'not a group'],
    ['an empty group', 'Friends:;', 'not a group'],
    ['a NEL (U+0085) hiding a Bcc', 'Me\u0085Bcc: evil@evil.com <me@example.com>', 'control characters or line separators (found U+0085)'],
    ['a line separator (U+2028)', 'Me\u2028Bcc: evil@evil.com <me@example.com>', 'found U+2028'],
    ['a paragraph separator (U+2029)', 'Me\u2029 <me@example.com>', 'found U+2029'],
    ['a C1 control (U+009B)', 'Me\u009B <me@example.com>', 'found U+009B'],
    ['a DEL', 'Me\u007F <me@example.com>', 'found U+007F'],
    ['a tab', 'Me\t<me@example.com>', 'found U+0009'],
    ['a CR LF', 'Me <me@example.com>\r\nBcc: evil@evil.com', 'must not contain CR, LF or NUL'],
    ['an unclosed angle bracket', 'Me <me@example.com', 'must be "address" or "Name <address>" (one mailbox)'],
    ['nested angle brackets', 'Me <<me@example.com>>', 'must be "address" or "Name <address>" (one mailbox)'],
    ['an @ in an unquoted display name', 'Me@Home <me@example.com>', 'must be "address" or "Name <address>" (one mailbox)'],
    ['a trailing comma', 'Me <me@example.com>,', 'must be "address" or "Name <address>" (one mailbox)'],
    ['a bare name', 'Acme News', 'must be "address" or "Name <address>" (one mailbox)'],
    ['an address our sender refuses (quoted local part with a space)', 'Me <"me too"@example.com>', '(the address contains'],
    ['an encoded-word display name', '=?utf-8?q?Me=0D=0ABcc=3A_x?= <me@example.com>', 'not a MIME encoded-word'],
    ['nothing but spaces', '   ', 'is empty'],
    ['a value longer than 320 characters', `${'a'.repeat(310)} <me@example.com>`, 'longer than 320 characters'],
  ])('refuses %s, saying what is wrong', (_, value, message) => {
    // Act
    const problem = problemOf(value);

    // Assess
    expect(problem).toContain(message);
  });

  it.each([
    ['a bare address', 'news@acme.example', 'news@acme.example'],
    ['an address in angle brackets', '<news@acme.example>', 'news@acme.example'],
    ['a plain display name', 'Acme <news@acme.example>', 'Acme <news@acme.example>'],
    ['a quoted name with a comma', '"Acme, Inc." <news@acme.example>', '"Acme, Inc." <news@acme.example>'],
    ['a name with a dot, which RFC 5322 wants quoted', 'Acme Inc. <news@acme.example>', '"Acme Inc." <news@acme.example>'],
    ['quotes that are not needed', '"Acme" <news@acme.example>', 'Acme <news@acme.example>'],
    ['an escaped quote in a quoted name', '"The \\"Best\\" News" <news@acme.example>', '"The \\"Best\\" News" <news@acme.example>'],
    ['a comment, which is dropped', 'Acme (marketing) <news@acme.example>', 'Acme <news@acme.example>'],
    ['runs of spaces', '  Acme   News   <news@acme.example>  ', 'Acme News <news@acme.example>'],
    ['a non-ASCII name (the provider MIME-encodes it)', 'Zoë Ünïcode <zoe@example.com>', 'Zoë Ünïcode <zoe@example.com>'],
    ['an apostrophe in the local part and name', "O'Brien <o'brien@example.com>", "O'Brien <o'brien@example.com>"],
    ['an upper-case domain', 'Acme <news@ACME.example>', 'Acme <news@acme.example>'],
  ])('accepts %s and gives the header to send', (_, value, header) => {
    // Act
    const sent = headerOf(value);

    // Assess
    expect(sent).toBe(header);
  });

  it('gives a header that any RFC 5322 reader sees as exactly the one mailbox that was checked', () => {
    // Prepare: display names of any printable characters, specials included
    const name = fc.string({
      unit: fc.constantFrom('a', 'Z', ' ', '"', '\\', ',', ';', ':', '<', '>', '@', '(', ')', '.', '[', ']', 'é', '😀'),
      maxLength: 40,
    });

    // Act and Assess
    fc.assert(
      fc.property(name, (display) => {
        const checked = checkMailbox(formatMailbox(display.trim() || undefined, 'news@acme.example'));
        if (!checked.ok) return false;
        const reread = emailAddresses.parseAddressList({ input: checked.mailbox.header, rfc6532: true });
        return reread !== null && reread.length === 1 && reread[0]!.type === 'mailbox' && reread[0]!.address === 'news@acme.example';
      }),
    );
  });
});
