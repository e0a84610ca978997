import { PermanentError, ValidationError, unsubscribeSignature } from '@baton/shared';
import { compileCampaignTemplate, renderMessage, validateCampaignTemplate, type RecipientData } from '../src/template';
import { caught, helloMjml, mjmlBody, publicUrl, unsubscribeSecret } from './fixtures';

const recipient: RecipientData = {
  customerId: 'acme',
  campaignId: 'c-spring',
  recipientId: '0123456789abcdef0123456789abcdef',
  email: 'Ann@example.com',
  fields: { email: 'Ann@example.com', first_name: 'Ann' },
};

function withFields(fields: Record<string, string>): RecipientData {
  return { ...recipient, fields: { ...recipient.fields, ...fields } };
}

const base = { from: 'Acme <news@acme.example>', subject: 'Hi {{ first_name }}', mjml: helloMjml };

describe('compileCampaignTemplate and renderMessage', () => {
  it('merges the fields and the address into the subject, the html and the text', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate({
      ...base,
      mjml: mjmlBody('<mj-text>Hello {{ first_name }}, this is for {{ email }}</mj-text>'),
    });

    // Act
    const message = renderMessage(compiled, recipient, { publicUrl, unsubscribeSecret });

    // Assess
    expect(message).toMatchObject({
      version: 1,
      customerId: 'acme',
      campaignId: 'c-spring',
      recipientId: recipient.recipientId,
      to: 'Ann@example.com',
      from: 'Acme <news@acme.example>',
      subject: 'Hi Ann',
    });
    expect(message.html).toContain('Hello Ann, this is for Ann@example.com');
    expect(message.text).toContain('Hello Ann, this is for Ann@example.com');
    expect(message.html).toMatch(/^<!doctype html>/i);
  });

  it('adds one-click unsubscribe headers naming the customer, campaign and recipient, signed', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate(base);

    // Act
    const message = renderMessage(compiled, recipient, { publicUrl: `${publicUrl}/`, unsubscribeSecret });

    // Assess
    expect(message.headers).toEqual({
      'List-Unsubscribe': `<https://baton.example.com/unsubscribe/acme/c-spring/${recipient.recipientId}/${unsubscribeSignature(unsubscribeSecret, recipient)}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
    expect(unsubscribeSignature('another-secret-entirely', recipient)).not.toBe(unsubscribeSignature(unsubscribeSecret, recipient));
  });

  it('merges {{ unsubscribe_url }} into a visible link in the html and the text, the same signed link as List-Unsubscribe, whatever the audience says', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate({
      ...base,
      mjml: mjmlBody('<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>'),
    });

    // Act
    const message = renderMessage(compiled, withFields({ unsubscribe_url: 'https://evil.example/' }), { publicUrl, unsubscribeSecret });

    // Assess
    const link = `https://baton.example.com/unsubscribe/acme/c-spring/${recipient.recipientId}/${unsubscribeSignature(unsubscribeSecret, recipient)}`;
    expect(message.html).toContain(`href="${link}"`);
    expect(message.text).toContain(link);
    expect(message.headers['List-Unsubscribe']).toBe(`<${link}>`);
    expect(message.html).not.toContain('evil.example');
  });

  it('escapes markup from merge fields in the html but leaves the text part and subject as written', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate({
      ...base,
      subject: 'For {{ first_name }}',
      mjml: mjmlBody('<mj-text>Hi {{ first_name }}</mj-text><mj-button href="https://acme.example/?u={{ first_name }}">Go</mj-button>'),
    });
    const name = '<script>alert("x")</script> & Tom\'s';

    // Act
    const message = renderMessage(compiled, withFields({ first_name: name }), { publicUrl, unsubscribeSecret });

    // Assess
    expect(message.html).toContain('Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Tom&#39;s');
    expect(message.html).toContain('href="https://acme.example/?u=&lt;script&gt;');
    expect(message.html).not.toContain('<script>');
    expect(message.text).toContain(`Hi ${name}`);
    expect(message.subject).toBe(`For ${name}`);
  });

  it('leaves no CR, LF, NUL or other control character in a subject built from hostile merge data', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate({ ...base, subject: 'Hello {{ first_name }}!' });

    // Act
    const message = renderMessage(compiled, withFields({ first_name: 'Ann\r\nBcc: eve@evil.example\u0000\t\u000b\u2028x' }), {
      publicUrl,
      unsubscribeSecret,
    });

    // Assess
    expect(message.subject).toBe('Hello Ann Bcc: eve@evil.example x!');
    expect(message.subject).not.toMatch(/[\u0000-\u001f]/);
  });

  it('cuts a long subject to 998 characters without splitting an emoji', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate({ ...base, subject: '{{ first_name }}' });

    // Act
    const message = renderMessage(compiled, withFields({ first_name: `${'a'.repeat(997)}😀😀` }), { publicUrl, unsubscribeSecret });

    // Assess
    expect(Array.from(message.subject)).toHaveLength(998);
    expect(message.subject.endsWith('a😀')).toBe(true);
  });

  it('carries emoji, CJK and right-to-left text into the html and the text intact', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate(base);
    const name = 'Zoë 😀👩‍👩‍👧 田中太郎 שָׁלוֹם مرحبا';

    // Act
    const message = renderMessage(compiled, withFields({ first_name: name }), { publicUrl, unsubscribeSecret });

    // Assess
    expect(message.html).toContain(`Hello ${name}`);
    expect(message.text).toContain(`Hello ${name}`);
    expect(message.subject).toBe(`Hi ${name}`);
  });

  it('runs {% if %} placed in <mj-raw> between sections, in the html and in the text', async () => {
    // Prepare
    const mjml = `<mjml><mj-body>
      <mj-section><mj-column><mj-text>Hello {{ first_name }}</mj-text></mj-column></mj-section>
      <mj-raw>{% if tier == "gold" %}</mj-raw>
      <mj-section><mj-column><mj-text>Gold offer for {{ first_name }}</mj-text></mj-column></mj-section>
      <mj-raw>{% endif %}</mj-raw>
    </mj-body></mjml>`;
    const compiled = await compileCampaignTemplate({ ...base, mjml });

    // Act
    const gold = renderMessage(compiled, withFields({ tier: 'gold' }), { publicUrl, unsubscribeSecret });
    const plain = renderMessage(compiled, withFields({ tier: 'basic' }), { publicUrl, unsubscribeSecret });

    // Assess
    expect(gold.html).toContain('Gold offer for Ann');
    expect(gold.text).toContain('Gold offer for Ann');
    expect(plain.html).not.toContain('Gold offer');
    expect(plain.text).not.toContain('Gold offer');
  });

  it('keeps placeholders in headings lower-case in the text part, so they still merge', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate({ ...base, mjml: mjmlBody('<mj-text><h1>Welcome {{ first_name }}</h1></mj-text>') });

    // Act
    const message = renderMessage(compiled, recipient, { publicUrl, unsubscribeSecret });

    // Assess
    expect(message.text).toContain('Welcome Ann');
  });

  it('renders a field the audience lacks as empty', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate({ ...base, subject: 'Hi {{ nickname }}!' });

    // Act
    const message = renderMessage(compiled, recipient, { publicUrl, unsubscribeSecret });

    // Assess
    expect(message.subject).toBe('Hi !');
  });

  it('turns a Liquid error at render time into a permanent RENDER_FAILED error naming the part', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate({
      ...base,
      mjml: mjmlBody('<mj-text>{% for i in (1..count) %}x{% endfor %}</mj-text>'),
    });

    // Act
    const error = await caught(() => renderMessage(compiled, withFields({ count: '100000000' }), { publicUrl, unsubscribeSecret }));

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'RENDER_FAILED', message: expect.stringMatching(/^html: .*limit exceeded/) });
  });

  it('refuses to render for an address that could break a header', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate(base);

    // Act
    const error = await caught(() =>
      renderMessage(compiled, { ...recipient, email: 'ann@example.com\r\nBcc: eve@evil.example' }, { publicUrl, unsubscribeSecret }),
    );

    // Assess
    expect(error).toMatchObject({ code: 'RECIPIENT_INVALID' });
  });

  it('refuses a public URL that could break the List-Unsubscribe header', async () => {
    // Prepare
    const compiled = await compileCampaignTemplate(base);

    // Act
    const error = await caught(() =>
      renderMessage(compiled, recipient, { publicUrl: 'https://x.example/>\r\nBcc: a@b.c', unsubscribeSecret }),
    );

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues[0]!.where).toBe('publicUrl');
  });
});

describe('template validation', () => {
  async function issuesOf(input: Partial<typeof base>) {
    const error = await caught(() => validateCampaignTemplate({ ...base, ...input }));
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues;
  }

  it('accepts a valid template', async () => {
    // Act
    const result = validateCampaignTemplate(base);

    // Assess
    await expect(result).resolves.toEqual({ warnings: expect.any(Array) });
  });

  it('warns, without refusing, about a template with no visible unsubscribe link', async () => {
    // Act
    const without = await validateCampaignTemplate({ ...base, mjml: mjmlBody('<mj-text>Hello</mj-text>') });
    const withLink = await validateCampaignTemplate({
      ...base,
      mjml: mjmlBody('<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>'),
    });

    // Assess
    expect(without.warnings).toEqual([expect.stringContaining('{{ unsubscribe_url }}')]);
    expect(withLink.warnings).toEqual([]);
  });

  it('names the MJML line and element of each MJML error', async () => {
    // Prepare
    const mjml =
      '<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-text colour="red">Hi</mj-text>\n<mj-bogus />\n</mj-column>\n</mj-section>\n</mj-body>\n</mjml>';

    // Act
    const issues = await issuesOf({ mjml });

    // Assess
    expect(issues).toEqual([
      { where: 'mjml line 5', message: '<mj-text> Attribute colour is illegal' },
      { where: 'mjml line 6', message: "<mj-bogus> Element mj-bogus doesn't exist or is not registered" },
    ]);
  });

  it('reports MJML that cannot be parsed at all', async () => {
    // Act
    const issues = await issuesOf({ mjml: 'just some text' });

    // Assess
    expect(issues).toEqual([{ where: 'mjml', message: expect.stringContaining('Parsing failed') }]);
  });

  it('names the subject when its Liquid does not parse', async () => {
    // Act
    const issues = await issuesOf({ subject: 'Hi {{ first_name' });

    // Assess
    expect(issues).toEqual([{ where: 'subject', message: expect.stringContaining('not closed') }]);
  });

  it('names the mjml when its Liquid does not parse, with the line in the MJML source', async () => {
    // Prepare
    const mjml = '<mjml><mj-body><mj-section><mj-column>\n<mj-text>\n{% if vip %}VIP</mj-text>\n</mj-column></mj-section></mj-body></mjml>';

    // Act
    const issues = await issuesOf({ mjml });

    // Assess
    expect(issues).toEqual([{ where: 'mjml', message: expect.stringMatching(/not closed, line:3/) }]);
  });

  it('refuses an unknown filter', async () => {
    // Act
    const issues = await issuesOf({ subject: 'Hi {{ first_name | shout }}' });

    // Assess
    expect(issues).toEqual([{ where: 'subject', message: expect.stringContaining('undefined filter: shout') }]);
  });

  it('refuses tags that would read files', async () => {
    // Act
    const issues = await issuesOf({ mjml: mjmlBody('<mj-text>{% include "/etc/passwd" %}</mj-text>') });

    // Assess
    expect(issues).toEqual([{ where: 'mjml', message: expect.stringContaining('the {% include %} tag is not allowed') }]);
  });

  it('reports a Liquid tag that MJML would silently drop from between sections', async () => {
    // Prepare
    const mjml = `<mjml><mj-body>
{% if vip %}
<mj-section><mj-column><mj-text>VIP</mj-text></mj-column></mj-section>
{% endif %}
</mj-body></mjml>`;

    // Act
    const issues = await issuesOf({ mjml });

    // Assess
    expect(issues).toEqual([
      { where: 'mjml line 2', message: expect.stringContaining('{% if vip %} is dropped by MJML') },
      { where: 'mjml line 4', message: expect.stringContaining('{% endif %} is dropped by MJML') },
    ]);
  });

  it('reports text that MJML would silently drop from outside mj-text, naming its line', async () => {
    // Prepare
    const mjml = `<mjml><mj-body>
<mj-section>Hello {{ first_name }}<mj-column><mj-text>kept</mj-text></mj-column></mj-section>
{% if vip %}{% endif %}
</mj-body></mjml>`;

    // Act
    const issues = await issuesOf({ mjml });

    // Assess: the tags alone are the dropped-tag check's to report
    expect(issues).toEqual([
      {
        where: 'mjml line 2',
        message: 'the text "Hello {{ first_name }}" is dropped by MJML: text belongs in <mj-text>, <mj-button> or <mj-raw>',
      },
      { where: 'mjml line 3', message: expect.stringContaining('{% if vip %} is dropped by MJML') },
      { where: 'mjml line 3', message: expect.stringContaining('{% endif %} is dropped by MJML') },
    ]);
  });

  it('checks 60,000 pieces of text MJML would drop in well under a second, without running MJML on them', async () => {
    // Prepare: MJML's parser copies its whole text so far for each piece (over 1.5 s for these 540 KB)
    const mjml = `<mjml><mj-body>${'--></div>'.repeat(60_000)}<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section></mj-body></mjml>`;

    // Act
    const started = performance.now();
    const issues = await issuesOf({ mjml });
    const elapsedMs = performance.now() - started;

    // Assess
    expect(elapsedMs).toBeLessThan(500);
    expect(issues).toHaveLength(51);
    expect(issues[0]).toEqual({ where: 'mjml line 1', message: expect.stringContaining('the text "-->" is dropped by MJML') });
    expect(issues[50]).toEqual({ where: 'template', message: '59,951 more problems were found and not listed' });
  });

  it('does not run MJML on thousands of Liquid tags between MJML elements, and says why', async () => {
    // Prepare: each piece of Liquid between stray end tags is text MJML would copy again and again
    const mjml = `<mjml><mj-body>${'{% if vip %}</div>'.repeat(30_000)}<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section></mj-body></mjml>`;

    // Act
    const started = performance.now();
    const issues = await issuesOf({ mjml });
    const elapsedMs = performance.now() - started;

    // Assess
    expect(elapsedMs).toBeLessThan(500);
    expect(issues).toContainEqual({
      where: 'mjml',
      message:
        'has 30,000 pieces of text or Liquid between MJML elements, where MJML drops them (at most 50 are checked further): put them in <mj-text>, <mj-button> or <mj-raw>',
    });
  });

  it('names the line of a dropped tag whatever ends the lines before it (CR LF, CR or LF)', async () => {
    // Prepare
    const mjml =
      '<mjml>\r\n<mj-body>\r<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>\n\n{% if vip %}{% endif %}\r\n</mj-body></mjml>';

    // Act
    const issues = await issuesOf({ mjml });

    // Assess
    expect(issues.map((i) => i.where)).toEqual(['mjml line 5', 'mjml line 5']);
  });

  it('checks 20,000 Liquid tags that MJML would drop in well under a second, with an error of a few KB', async () => {
    // Prepare: 469 KB that once took 27 s and answered with 6 MB
    const lines = Array.from({ length: 20_000 }, (_, i) => `{% assign a${i} = 1 %}`).join('\n');
    const mjml = `<mjml><mj-body>\n${lines}\n<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>`;

    // Act
    const started = performance.now();
    const error = await caught(() => validateCampaignTemplate({ ...base, mjml }));
    const elapsedMs = performance.now() - started;

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect(elapsedMs).toBeLessThan(500);
    const { message, issues } = error as ValidationError;
    expect(JSON.stringify({ message, issues }).length).toBeLessThan(20_000);
  });

  it('lists at most 50 problems, then says how many more were found', async () => {
    // Prepare: 3,000 distinct tags, each dropped
    const lines = Array.from({ length: 3_000 }, (_, i) => `{% assign a${i} = 1 %}`).join('\n');
    const mjml = `<mjml><mj-body>\n${lines}\n<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>`;

    // Act
    const issues = await issuesOf({ mjml });

    // Assess
    expect(issues).toHaveLength(51);
    expect(issues[0]).toEqual({ where: 'mjml line 2', message: expect.stringContaining('{% assign a0 = 1 %} is dropped by MJML') });
    expect(issues[49]).toEqual({ where: 'mjml line 51', message: expect.stringContaining('{% assign a49 = 1 %}') });
    expect(issues[50]).toEqual({ where: 'template', message: '2,950 more problems were found and not listed' });
  });

  it('refuses more than 5,000 Liquid tags and placeholders in the MJML, saying how many there are', async () => {
    // Act
    const issues = await issuesOf({ mjml: mjmlBody(`<mj-text>${'{{ first_name }}'.repeat(5_001)}</mj-text>`) });

    // Assess
    expect(issues).toEqual([
      { where: 'mjml', message: 'has 5,001 Liquid tags and placeholders ({% %}, {{ }}); at most 5,000 are allowed' },
    ]);
  });

  it('cuts a long problem message, so that a huge tag does not fill the error', async () => {
    // Prepare
    const mjml = `<mjml><mj-body>{% if ${'a'.repeat(100_000)} %}{% endif %}<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section></mj-body></mjml>`;

    // Act
    const issues = await issuesOf({ mjml });

    // Assess
    expect(issues[0]!.message).toHaveLength(300);
    expect(issues[0]!.message).toMatch(/^the Liquid tag \{% if a+…$/);
  });

  it.each([
    ['a CR LF', 'news@acme.example\r\nBcc: eve@evil.example', 'must not contain CR, LF or NUL'],
    ['a NUL', 'Acme\u0000 <news@acme.example>', 'must not contain CR, LF or NUL'],
    ['no address', 'Acme News', 'must be "address" or "Name <address>"'],
    ['a bad address in brackets', 'Acme <news at acme>', 'must be "address" or "Name <address>"'],
    ['a second address after a comma', 'evil@evil.com, Me <me@example.com>', 'not a list of 2 addresses'],
    ['an unbalanced quote', '"Me <me@example.com>', 'a double quote is not closed'],
    ['a NEL (U+0085) in the display name', 'Me\u0085Bcc: evil@evil.com <me@example.com>', 'found U+0085'],
    ['a line separator (U+2028) in the display name', 'Me\u2028Bcc: evil@evil.com <me@example.com>', 'found U+2028'],
    ['a group', 'Us: a@example.com, b@example.com;', 'not a group'],
  ])('refuses a from line with %s', async (_, from, message) => {
    // Act
    const issues = await issuesOf({ from });

    // Assess
    expect(issues).toEqual([{ where: 'from', message: expect.stringContaining(message) }]);
  });

  it.each([
    ['news@acme.example', 'news@acme.example'],
    ['Acme <news@acme.example>', 'Acme <news@acme.example>'],
    ['"Acme, Inc." <news@acme.example>', '"Acme, Inc." <news@acme.example>'],
    ['Acme Inc. <news@acme.example>', '"Acme Inc." <news@acme.example>'],
    ['Zoë (marketing) <zoe@acme.example>', 'Zoë <zoe@acme.example>'],
  ])('accepts the from line %s and sends it as %s', async (from, header) => {
    // Act
    const compiled = await compileCampaignTemplate({ ...base, from });
    const message = renderMessage(compiled, recipient, { publicUrl, unsubscribeSecret });

    // Assess
    expect(compiled.from).toBe(header);
    expect(message.from).toBe(header);
  });

  it('lists every problem at once', async () => {
    // Act
    const issues = await issuesOf({ from: 'nobody', subject: '', mjml: mjmlBody('<mj-text>{{ x | nope }}</mj-text>') });

    // Assess
    expect(issues.map((i) => i.where)).toEqual(['from', 'subject', 'mjml']);
  });
});
