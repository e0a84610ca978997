import { ValidationError } from '@baton/shared';
import { AUDIENCE_HEAD_BYTES } from '../src/audience-head';
import { audienceRow, checkDraft, previewDraft, wholeRows } from '../src/draft';
import { validateCampaignTemplate } from '../src/template';
import { caught, mjmlBody, publicUrl, unsubscribeSecret } from './fixtures';

const LINK = '<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>';
const CSV = 'email,First Name\nann@example.com,Ann\n\nbad,Bad\nann@example.com,Again\nbob@example.com,Bob\n';
const audience = { csv: CSV, customerId: 'acme' };

describe('checkDraft', () => {
  it('says nothing about a good draft', async () => {
    expect(await checkDraft({ subject: 'Hi {{ first_name }}', mjml: mjmlBody(`<mj-text>Hi</mj-text>${LINK}`) })).toEqual({
      columns: [],
      problems: [],
    });
  });

  it('gives each template error its code and the line the author wrote it on', async () => {
    const mjml = [
      '<mjml><mj-body><mj-section><mj-column>',
      `${LINK}<mj-text>{% if x %}`,
      '</mj-text>',
      '</mj-column></mj-section></mj-body></mjml>',
    ].join('\n');
    const { problems } = await checkDraft({ subject: '', mjml, from: 'a@' });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'from', code: 'FROM_INVALID', severity: 'error' }),
        expect.objectContaining({ field: 'subject', code: 'SUBJECT_EMPTY', severity: 'error' }),
        expect.objectContaining({ field: 'mjml', code: 'LIQUID_ERROR', line: 2, message: expect.stringContaining('not closed') }),
      ]),
    );
  });

  it('reports an MJML element never closed as an error, on the line it opened, and an HTML one inside text as a warning', async () => {
    const mjml = [
      '<mjml><mj-body><mj-section>',
      '<mj-column>',
      `${LINK}<mj-text><b>bold`,
      'text</mj-text>',
      '</mj-section></mj-body></mjml>',
    ].join('\n');
    const { problems } = await checkDraft({ subject: 'Hi', mjml });
    expect(problems).toEqual([
      expect.objectContaining({
        field: 'mjml',
        line: 2,
        severity: 'error',
        code: 'MJML_ERROR',
        message: expect.stringContaining('<mj-column> is never closed'),
      }),
      expect.objectContaining({
        field: 'mjml',
        line: 3,
        severity: 'warning',
        code: 'MJML_WARNING',
        message: expect.stringContaining('<b> is never closed'),
      }),
    ]);
  });

  it('reports what is still open at the end of the source', async () => {
    const { problems } = await checkDraft({ subject: 'Hi', mjml: '<mjml>\n<mj-body>\n<mj-section><mj-column><mj-text>Hello' });
    expect(problems.filter((p) => p.code === 'MJML_ERROR').map((p) => [p.line, p.message.split(' ')[0]])).toEqual([
      [3, '<mj-text>'],
      [3, '<mj-column>'],
      [3, '<mj-section>'],
      [2, '<mj-body>'],
      [1, '<mjml>'],
    ]);
  });

  it('accepts self-closing and void elements, and HTML end tags that may be left out', async () => {
    const mjml = mjmlBody(
      `<mj-image src="https://x.example/a.png" /><mj-divider></mj-divider><mj-text><p>one<p>two<br>three<ul><li>a<li>b</ul></mj-text>${LINK}`,
    );
    expect((await checkDraft({ subject: 'Hi', mjml })).problems).toEqual([]);
  });

  it('a create refuses what the check calls an error, and answers its warnings', async () => {
    const unclosed = mjmlBody('<mj-text>Hello');
    expect(await caught(() => validateCampaignTemplate({ from: 'a@example.com', subject: 'Hi', mjml: unclosed }))).toBeInstanceOf(
      ValidationError,
    );
    const { warnings } = await validateCampaignTemplate({
      from: 'a@example.com',
      subject: 'Hi',
      mjml: mjmlBody('<mj-text><i>x</mj-text>'),
    });
    expect(warnings).toEqual([
      expect.stringMatching(/^mjml line 1: <i> is never closed/),
      expect.stringMatching(/^mjml: no visible unsubscribe link/),
    ]);
  });

  it('says a subject over 998 characters is too long, counted as a create counts it', async () => {
    const long = await checkDraft({ subject: 'x'.repeat(999), mjml: mjmlBody(LINK) });
    expect(long.problems).toEqual([expect.objectContaining({ field: 'subject', code: 'SUBJECT_TOO_LONG', severity: 'error' })]);
    expect((await checkDraft({ subject: 'x'.repeat(998), mjml: mjmlBody(LINK) })).problems).toEqual([]);
  });

  it('names the audience columns, its skipped rows by line, and merge fields it has no column for', async () => {
    const check = await checkDraft(
      { subject: 'Hi {{ frist_name }}', mjml: mjmlBody(`<mj-text>{{ first_name }} {{ plan }}</mj-text>${LINK}`) },
      audience,
    );
    expect(check.columns).toEqual(['email', 'first_name']);
    expect(check.problems).toEqual([
      expect.objectContaining({ field: 'audience', line: 4, code: 'AUDIENCE_ROW_INVALID', severity: 'warning' }),
      expect.objectContaining({ field: 'audience', line: 5, code: 'AUDIENCE_ROW_DUPLICATE', severity: 'warning' }),
      expect.objectContaining({
        field: 'subject',
        line: 1,
        code: 'MERGE_FIELD_UNKNOWN',
        message: expect.stringContaining('did you mean {{ first_name }}'),
      }),
      expect.objectContaining({ field: 'mjml', line: 1, code: 'MERGE_FIELD_UNKNOWN', message: expect.stringContaining('"plan"') }),
    ]);
  });

  it('names the header problems a create refuses, and then judges no merge field', async () => {
    const check = await checkDraft({ subject: '{{ x }}', mjml: mjmlBody(LINK) }, { csv: 'Email,EMAIL\na,b\n', customerId: 'acme' });
    expect(check).toEqual({
      columns: [],
      problems: [expect.objectContaining({ field: 'audience', line: 1, code: 'AUDIENCE_DUPLICATE_COLUMN', severity: 'error' })],
    });
  });

  it('reads a head of 64 KiB or more only to its last line break: a row cut short is not a problem', async () => {
    const rows = Array.from({ length: 3_000 }, (_, i) => `reader${i}@example.com,Reader ${i}`).join('\n');
    const head = `email,first_name\n${rows}`.slice(0, AUDIENCE_HEAD_BYTES + 10);
    expect((await checkDraft({ subject: 'Hi', mjml: mjmlBody(LINK) }, { csv: head, customerId: 'acme' })).problems).toEqual([]);
    expect(wholeRows('email\na@example.com')).toEqual({ text: 'email\na@example.com', cut: false });
    expect(wholeRows(head).cut).toBe(true);
    expect(wholeRows(head, true)).toEqual({ text: head, cut: false });
  });

  it('answers a large template in linear time', async () => {
    const text = (n: number) => mjmlBody(`${LINK}${'<mj-text>Hello {{ first_name }} <b>and</b> welcome</mj-text>\n'.repeat(n)}`);
    const time = async (n: number) => {
      const started = performance.now();
      await checkDraft({ subject: 'Hi', mjml: text(n) }, audience);
      return performance.now() - started;
    };
    await time(100); // warm
    const small = await time(300);
    const large = await time(1_200);
    expect(large / small).toBeLessThan(12); // 16 would be quadratic
  });
});

describe('audienceRow and previewDraft', () => {
  it('counts data rows as the file has them: the header and blank lines are not rows, skipped rows are', () => {
    expect(audienceRow(audience, 1).email).toBe('ann@example.com');
    expect(audienceRow(audience, 4).fields).toEqual({ email: 'bob@example.com', first_name: 'Bob' });
  });

  it('names a skipped row with its line and reason, and a row past the end with the count', async () => {
    expect(((await caught(() => audienceRow(audience, 2))) as ValidationError).issues).toEqual([
      { where: 'row', message: expect.stringMatching(/^data row 2 \(line 4\) is not sent: email/) },
    ]);
    expect(((await caught(() => audienceRow(audience, 3))) as ValidationError).issues[0]!.message).toMatch(
      /duplicate of the address on line 2/,
    );
    expect(((await caught(() => audienceRow(audience, 5))) as ValidationError).issues[0]!.message).toBe(
      'there is no data row 5: the audience has 4 data rows',
    );
  });

  it('renders the row as the recipient gets it, with its values', async () => {
    const preview = await previewDraft(
      { subject: 'Hi {{ first_name }}', mjml: mjmlBody(`<mj-text>{{ email }}</mj-text>${LINK}`) },
      audience,
      4,
      {
        publicUrl,
        unsubscribeSecret,
      },
    );
    expect(preview).toMatchObject({ subject: 'Hi Bob', row: 4, values: { email: 'bob@example.com', first_name: 'Bob' } });
    expect(preview.html).toContain('bob@example.com');
    expect(preview.html).toContain(`${publicUrl}/unsubscribe/acme/draft/`);
  });
});
