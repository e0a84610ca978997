import FormData from 'form-data';
import { MultipartForm } from '../../src/mailgun/multipart-form';

/** Every field of a message as mailgun.js appends them, with what could trip an encoder. */
const FIELDS: [string, string][] = [
  ['from', 'Acme <news@acme.test>'],
  ['to', 'zoë@example.com'],
  ['subject', 'Grüße, Zoë — 50% off 🎉'],
  ['html', '<p class="x">Hello "Zoë"</p>\r\n<p>--not a boundary--</p>'],
  ['text', ''],
  ['h:List-Unsubscribe', '<https://acme.test/u/1>'],
  ['v:recipient-id', 'ab'.repeat(16)],
  ['odd"name\r\n', 'escaped as form-data escapes it'],
];

describe('MultipartForm', () => {
  it('writes the very bytes form-data writes for the same fields and boundary', () => {
    // Prepare
    const ours = new MultipartForm();
    const theirs = new FormData();
    theirs.setBoundary(ours.getBoundary());

    // Act
    for (const [name, value] of FIELDS) {
      ours.append(name, value);
      theirs.append(name, value);
    }

    // Assess
    expect(ours.bytes().toString('utf8')).toBe(theirs.getBuffer().toString('utf8'));
    expect(ours.getLengthSync()).toBe(theirs.getLengthSync());
    expect(ours.getHeaders()).toEqual({ ...theirs.getHeaders(), 'Content-Length': String(theirs.getLengthSync()) });
  });

  it("draws a boundary of form-data's form, a different one for each form", () => {
    // Act
    const boundaries = Array.from({ length: 600 }, () => new MultipartForm().getBoundary());

    // Assess
    for (const b of boundaries) expect(b).toMatch(/^-{26}[0-9a-f]{24}$/);
    expect(new Set(boundaries).size).toBe(boundaries.length);
  });

  it('streams the body in one piece', async () => {
    // Prepare
    const form = new MultipartForm();
    form.append('to', 'ann@example.com');

    // Act
    const chunks: Buffer[] = [];
    for await (const chunk of form) chunks.push(chunk as Buffer);

    // Assess
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.equals(form.bytes())).toBe(true);
  });

  it('refuses anything but text, naming the field', () => {
    // Prepare
    const form = new MultipartForm();

    // Act and assess
    expect(() => form.append('attachment', Buffer.from('x'))).toThrow('"attachment" is object');
    expect(() => form.append('o:tag', null)).toThrow('"o:tag" is null');
  });

  it('refuses a field appended once its body was read', () => {
    // Prepare
    const form = new MultipartForm();
    form.append('to', 'ann@example.com');
    form.bytes();

    // Act and assess
    expect(() => form.append('subject', 'late')).toThrow('"subject" appended after the body was read');
  });
});
