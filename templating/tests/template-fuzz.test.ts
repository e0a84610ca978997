import fc from 'fast-check';
import { PermanentError } from '@baton/shared';
import { validateCampaignTemplate } from '../src/template';

/** Pieces a careless or hostile author puts in a template: valid MJML, broken MJML, Liquid, HTML, comments. */
const fragment = fc.oneof(
  fc.constantFrom(
    '<mj-section><mj-column><mj-text>Hi {{ first_name }}</mj-text></mj-column></mj-section>',
    '<mj-section><mj-column><mj-button href="https://x.example/?u={{ id }}">Go</mj-button></mj-column></mj-section>',
    '<mj-text colour="red">x</mj-text>',
    '<mj-bogus />',
    '<mj-raw>{% if vip %}VIP{% endif %}</mj-raw>',
    '{% if vip %}',
    '{% endif %}',
    '{% assign a = 1 %}',
    '{% include "x" %}',
    '{% for i in (1..3) %}{{ i }}{% endfor %}',
    '{{ first_name | shout }}',
    '{{ first_name | upcase }}',
    '{{',
    '{%',
    '%}',
    '}}',
    '{% raw %}',
    '<!--',
    '-->',
    '<!-- {% if x %} -->',
    '<div>',
    '</div>',
    '<div><p>x</p></div>',
    '<',
    '>',
    '&amp;',
    '&#xD;',
    '"',
    "'",
    '\r\n',
    '\u2028',
    '\u0000',
    '😀',
    '<mj-section>',
    '</mj-section>',
    '<mj-column>',
    '</mj-column>',
    '<mj-text>',
    '</mj-text>',
    '<mjml>',
    '</mjml>',
    '<mj-body>',
    '</mj-body>',
    '<mj-include path="/etc/passwd" />',
    '<mj-style inline="inline">.x { color: red }</mj-style>',
  ),
  fc.string({ maxLength: 20 }),
);

const template = fc.record({
  from: fc.oneof(fc.constant('Acme <news@acme.example>'), fc.string({ maxLength: 40 })),
  subject: fc.oneof(fc.constant('Hi {{ first_name }}'), fc.string({ maxLength: 40 })),
  mjml: fc.oneof(
    fc.array(fragment, { maxLength: 40 }).map((parts) => parts.join('')),
    fc
      .array(fragment, { maxLength: 20 })
      .map(
        (parts) => `<mjml><mj-body><mj-section><mj-column><mj-text>${parts.join('')}</mj-text></mj-column></mj-section></mj-body></mjml>`,
      ),
    fc.array(fragment, { maxLength: 20 }).map((parts) => `<mjml><mj-body>${parts.join('')}</mj-body></mjml>`),
  ),
});

describe('the template check under fuzzing', () => {
  it('lets only a ValidationError or a PermanentError escape, whatever the from, subject and MJML', async () => {
    await fc.assert(
      fc.asyncProperty(template, async (input) => {
        try {
          await validateCampaignTemplate(input);
        } catch (err) {
          if (!(err instanceof PermanentError)) throw err;
        }
      }),
      { numRuns: 150 },
    );
  });
});
