import { PermanentError, ValidationError } from '@baton/shared';
import { compileCampaignTemplate, validateCampaignTemplate } from '../src/template';
import { mjmlEndingTags } from '../src/mjml';
import { IssueList, MAX_HTML_NESTING_DEPTH, checkHtmlNesting, checkHtmlText, checkStructure } from '../src/template-checks';
import { caught, helloMjml, mjmlBody } from './fixtures';

const base = { from: 'Acme <news@acme.example>', subject: 'Hi {{ first_name }}', mjml: helloMjml };

function nested(tag: string, depth: number, inside = 'x'): string {
  return `<${tag}>`.repeat(depth) + inside + `</${tag}>`.repeat(depth);
}

async function issuesOf(mjml: string) {
  const error = await caught(() => validateCampaignTemplate({ ...base, mjml }));
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues;
}

describe('deeply nested templates', () => {
  it('refuses 5,000 nested <div> in mj-text as too deeply nested, naming the line, instead of overflowing the stack', async () => {
    // Prepare
    const mjml = `<mjml>\n<mj-body>\n<mj-section><mj-column>\n<mj-text>${nested('div', 5_000)}</mj-text></mj-column></mj-section></mj-body></mjml>`;

    // Act
    const issues = await issuesOf(mjml);

    // Assess
    expect(issues).toEqual([
      { where: 'mjml line 4', message: 'is too deeply nested: more than 100 elements inside one another; flatten the markup' },
    ]);
  });

  it('refuses thousands of unclosed MJML elements as too deeply nested', async () => {
    // Act
    const issues = await issuesOf(`<mjml><mj-body>${'<mj-column>'.repeat(20_000)}</mj-body></mjml>`);

    // Assess
    expect(issues).toEqual([{ where: 'mjml line 1', message: expect.stringContaining('is too deeply nested') }]);
  });

  it('accepts markup nested as deep as real emails are', async () => {
    // Act
    const result = validateCampaignTemplate({
      ...base,
      mjml: mjmlBody(`<mj-text>${nested('div', 80, '<br/><img src="x.png"/>')}</mj-text>`),
    });

    // Assess
    await expect(result).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
  });

  it('counts self-closing MJML elements and HTML void elements as closed', async () => {
    // Prepare: 300 siblings that would be 300 levels deep if each were left open
    const mjml = mjmlBody(`${'<mj-spacer height="1px" />'.repeat(150)}<mj-text>${'<br><img src="x.png">'.repeat(150)}</mj-text>`);

    // Act
    const result = validateCampaignTemplate({ ...base, mjml });

    // Assess
    await expect(result).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
  });

  it('refuses an element written <x /> in mj-text, which HTML leaves open, once what follows nests too deep, naming its line', async () => {
    // Prepare: MJML's parser reads each <span /> as closed, so the source is flat; HTML nests all that follows in each
    const mjml = mjmlBody(`<mj-text>\n<p>Hi</p>\n${'<span class="gap" /><b>x</b>'.repeat(1_001)}</mj-text>`);

    // Act
    const issues = await issuesOf(mjml);

    // Assess
    const line = mjml.split('\n').findIndex((l) => l.includes('<span')) + 1;
    expect(issues).toEqual([
      {
        where: `mjml line ${line}`,
        message:
          '<span /> stays open in HTML (a "/>" closes only void elements such as <br />), so what follows it nests inside it: more than 1,000 elements inside one another; write <span></span>',
      },
    ]);
  });

  it('refuses them on the source, before MJML runs, so its style inliner never parses them', async () => {
    // Prepare: with inline styles MJML parses its own HTML again, and that parse grows with the square of the depth
    const mjml = `<mjml><mj-head><mj-style inline="inline">.x { color: red; }</mj-style></mj-head>${mjmlBody(`<mj-text>${'<span />'.repeat(40_000)}</mj-text>`).replace('<mjml>', '')}`;
    // Act
    const issues = await issuesOf(mjml);

    // Assess
    // (named on the source's line: the HTML MJML produces is checked too, but names no line)
    expect(issues).toEqual([{ where: 'mjml line 1', message: expect.stringContaining('<span /> stays open in HTML') }]);
  });

  it.each([
    ['with a space before its ">"', '<span / >x'.repeat(1_001)],
    ['after a <p> each time, which HTML cannot close over it', `${'<p>para'}${'<span />'.repeat(500)}`.repeat(3)],
  ])('refuses an element written <x /> %s just the same, before MJML runs', async (_, text) => {
    // Act
    const issues = await issuesOf(mjmlBody(`<mj-text>${text}</mj-text>`));

    // Assess
    expect(issues).toEqual([{ where: 'mjml line 1', message: expect.stringContaining('<span /> stays open in HTML') }]);
  });

  it('names the first element of the chain too deep that was written <x />, not one closed before it or a link ending in "/"', async () => {
    // Prepare: the span is closed with its <b>; the link's unquoted address ends in "/", and the link is left open
    const text = `<b><span />x</b><a href=https://x.example/>Home\n${'<i />x'.repeat(1_001)}`;

    // Act
    const issues = await issuesOf(mjmlBody(`<mj-text>${text}</mj-text>`));

    // Assess
    expect(issues).toEqual([{ where: 'mjml line 2', message: expect.stringMatching(/^<i \/> stays open in HTML/) }]);
  });

  it('reads tag names as MJML does, lower-cased: <BR>, <IMG> and <P> are void or closed by the next', async () => {
    // Act: 150 of each, over the 100 that nesting allows were they left open
    const text = `${'a<BR>'.repeat(150)}${'<IMG src="x.png">'.repeat(150)}${'<P>para'.repeat(150)}`;
    const result = validateCampaignTemplate({ ...base, mjml: mjmlBody(`<mj-text>${text}</mj-text>`) });

    // Assess
    await expect(result).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
  });

  it('takes a link whose unquoted address ends in "/" for an open link, closed by its end tag', async () => {
    // Act
    const text = '<a href=https://x.example/>Home</a> '.repeat(1_200);
    const result = validateCampaignTemplate({ ...base, mjml: mjmlBody(`<mj-text>${text}</mj-text>`) });

    // Assess
    await expect(result).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
  });

  it('accepts elements written <x /> where HTML closes them or they do not nest deep: void, SVG, <p />, a few hundred spans', async () => {
    // Act
    const svg = `<svg>${'<path d="M0 0" />'.repeat(1_200)}</svg>`;
    const text = `${'<span />'.repeat(300)}${'<br />'.repeat(1_200)}${'<p />'.repeat(1_200)}${svg}x`;
    const result = validateCampaignTemplate({ ...base, mjml: mjmlBody(`<mj-text>${text}</mj-text>`) });

    // Assess
    await expect(result).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
  });

  it('counts what HTML leaves open only until its parent closes', async () => {
    // Act: 600 in each of two texts, 1,200 in all
    const text = `<mj-text>${'<span />'.repeat(600)}x</mj-text>`;
    const result = validateCampaignTemplate({ ...base, mjml: mjmlBody(text + text) });

    // Assess
    await expect(result).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
  });

  it('refuses Liquid blocks nested too deep for the parser as too deeply nested, not as a crash', async () => {
    // Prepare: under the cap of 5,000 tags, but deeper than liquidjs's recursion reaches
    const mjml = mjmlBody(`<mj-text>${'{% if a %}'.repeat(2_400)}x${'{% endif %}'.repeat(2_400)}</mj-text>`);

    // Act
    const issues = await issuesOf(mjml);

    // Assess
    expect(issues).toEqual([{ where: 'mjml', message: expect.stringContaining('is too deeply nested or too complex to compile') }]);
  });

  it('still compiles an ordinary template after refusing a pathological one', async () => {
    // Prepare
    await issuesOf(mjmlBody(`<mj-text>${nested('div', 5_000)}</mj-text>`));

    // Act
    const compiled = await compileCampaignTemplate(base);

    // Assess
    expect(compiled.source.text).toContain('Hello {{ first_name }}');
  });
});

/** A template whose head sets an HTML attribute (MJML then reads its body's HTML again as XML). */
function withHtmlAttributes(text: string, attribute = '<mj-html-attribute name="data-id">42</mj-html-attribute>'): string {
  return `<mjml>\n<mj-head><mj-html-attributes><mj-selector path=".note div">${attribute}</mj-selector></mj-html-attributes></mj-head>\n<mj-body><mj-section><mj-column>\n<mj-text css-class="note">${text}</mj-text></mj-column></mj-section></mj-body></mjml>`;
}

describe('templates MJML reads twice (<mj-html-attributes>) or two ways (<xmp>)', () => {
  it("accepts <mj-html-attribute>'s text as the attribute's value and sets it", async () => {
    // Act
    const compiled = await compileCampaignTemplate({ ...base, mjml: withHtmlAttributes('Hello {{ first_name }}') });

    // Assess
    expect(compiled.source.html).toContain('data-id="42"');
  });

  it('still refuses text in other elements of the head, and counts the second piece of text of an attribute among those MJML copies', async () => {
    // Prepare: 50 attributes with a value each; 26 whose text is split by elements (MJML appends each further piece, a copy)
    const many = '<mj-html-attribute name="data-a">1</mj-html-attribute>'.repeat(50);
    const split = '<mj-html-attribute name="data-b">1<mj-raw></mj-raw>2<mj-raw></mj-raw>3</mj-html-attribute>'.repeat(26);
    const stray = `<mjml><mj-head><mj-title>T</mj-title><mj-attributes>stray</mj-attributes></mj-head><mj-body></mj-body></mjml>`;

    // Act
    const fine = validateCampaignTemplate({ ...base, mjml: withHtmlAttributes('Hi', many) });
    const tooMany = await issuesOf(withHtmlAttributes('Hi', split));
    const refused = await issuesOf(stray);

    // Assess
    await expect(fine).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
    expect(tooMany).toEqual([{ where: 'mjml', message: expect.stringMatching(/^has 52 pieces of text or Liquid between MJML elements/) }]);
    expect(refused).toEqual([{ where: 'mjml line 1', message: expect.stringContaining('the text "stray" is dropped by MJML') }]);
  });

  it('refuses <br> repeated past the limit when the head has <mj-html-attributes>, naming the first one, before MJML reads it as XML', async () => {
    // Prepare: 1,001 <br>, fine as HTML (void), each left open as XML
    const brs = `Hi<br>${'<br>'.repeat(MAX_HTML_NESTING_DEPTH)}`;

    // Act
    const refused = await issuesOf(withHtmlAttributes(`\n\n${brs}`));
    const plain = validateCampaignTemplate({ ...base, mjml: mjmlBody(`<mj-text>${brs}</mj-text>`) });
    const closed = validateCampaignTemplate({ ...base, mjml: withHtmlAttributes('<br />'.repeat(2_000)) });

    // Assess
    expect(refused).toEqual([
      {
        where: 'mjml line 6',
        message:
          '<br> stays open as XML reads it (MJML reads the body again as XML when the head has <mj-html-attributes>), so what follows it nests inside it: more than 1,000 elements inside one another; write <br />',
      },
    ]);
    await expect(plain).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
    await expect(closed).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
  });

  it('names where the limit was passed as XML reads it when no element of the chain is one HTML closes', async () => {
    // Prepare: <p>s, each closed by the next in HTML, none in XML (1,001 of them), after a <br> XML closes with its parent
    const ps = '<div><br></div>' + '<p>x'.repeat(MAX_HTML_NESTING_DEPTH) + '\n<p>x';

    // Act
    const issues = await issuesOf(withHtmlAttributes(ps));

    // Assess
    expect(issues).toEqual([
      { where: 'mjml line 5', message: expect.stringMatching(/^is too deeply nested as XML reads it \(MJML reads/) },
    ]);
  });

  it('refuses empty elements repeated past the limit when the head has <mj-html-attributes>, which MJML writes <x/> and HTML leaves open', async () => {
    // Prepare: MJML's style inliner took 24 s over 2 MB of these, with an inline style
    const empties = `<b>x</b><br></br><div><i></i></div>\n${'<span></span>'.repeat(MAX_HTML_NESTING_DEPTH + 100)}`;

    // Act
    const issues = await issuesOf(withHtmlAttributes(empties));

    // Assess: named on the line of the first one still open (not <i>, which its parent closes), no void element
    expect(issues).toEqual([
      {
        where: 'mjml line 5',
        message:
          'the empty <span> is written <span/> by MJML (MJML reads the body again as XML when the head has <mj-html-attributes>), which HTML leaves open, so what follows it nests inside it: more than 1,000 elements inside one another; put something in it, or leave out <mj-html-attributes>',
      },
    ]);
  });

  it('accepts elements with text or a comment in them, and empty ones that their parent closes, when the head has <mj-html-attributes>', async () => {
    // Prepare
    const count = MAX_HTML_NESTING_DEPTH + 100;
    const texts = '<span>x</span>'.repeat(count);
    const comments = '<span><!-- c --></span>'.repeat(count);
    const inParents = '<div><span></span><i></i></div>'.repeat(count);

    // Act
    const answers = [texts, comments, inParents].map((text) => validateCampaignTemplate({ ...base, mjml: withHtmlAttributes(text) }));

    // Assess
    for (const answer of answers) await expect(answer).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
  });

  it('counts an element holding only whitespace as empty, since MJML strips it after an Outlook conditional comment', async () => {
    // Prepare: the review's case, with an inline style MJML's style inliner took 17.6 s over 2 MB of it
    const text = `<!--[if x]>-->\n${'<span> </span>'.repeat(MAX_HTML_NESTING_DEPTH + 100)}<![endif]-->`;

    // Act
    const issues = await issuesOf(withHtmlAttributes(text));

    // Assess
    expect(issues).toEqual([{ where: 'mjml line 5', message: expect.stringMatching(/^the empty <span> is written <span\/> by MJML/) }]);
  });

  it('refuses more than 50 <mj-html-attribute>s, and attributes that could add more than 16 MB to the email, on the line of the first', async () => {
    // Prepare: each selector is run over the whole body; a value is written on every element a selector matches
    const tooMany = Array.from({ length: 51 }, (_, i) => `<mj-html-attribute name="a${i}"/>`).join('');
    const long = `<mj-html-attribute name="d">${'a'.repeat(80_000)}</mj-html-attribute>`;
    const body = '<b>x</b>'.repeat(100);

    // Act
    const many = await issuesOf(withHtmlAttributes(body, tooMany));
    const large = await issuesOf(withHtmlAttributes(body, long));
    const fine = validateCampaignTemplate({
      ...base,
      mjml: withHtmlAttributes(body, `<mj-html-attribute name="d">${'a'.repeat(4_000)}</mj-html-attribute>`),
    });
    const mayRunMjml = [tooMany, long].map((attribute) =>
      checkStructure(withHtmlAttributes(body, attribute), new IssueList(), mjmlEndingTags()),
    );

    // Assess
    expect(many).toEqual([
      {
        where: 'mjml line 2',
        message: "has 51 <mj-html-attribute>s, more than the 50 allowed: MJML looks for each one's elements through the whole email",
      },
    ]);
    expect(large).toEqual([
      {
        where: 'mjml line 2',
        message:
          'the attributes <mj-html-attributes> sets could add 17.5 MB to the email (80,005 characters of names and values on each of the about 229 elements MJML writes for it), more than the 16 MB allowed: shorten their values',
      },
    ]);
    await expect(fine).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
    expect(mayRunMjml).toEqual([false, false]);
    // MJML's elements count for the HTML they become: 200 social elements under a 20 KB value on '*' made 49 MB of HTML
    const social = `<mjml><mj-head><mj-html-attributes><mj-selector path="*"><mj-html-attribute name="d">${'a'.repeat(20_000)}</mj-html-attribute></mj-selector></mj-html-attributes></mj-head><mj-body><mj-section><mj-column><mj-social>${'<mj-social-element name="x" href="https://x.example">x</mj-social-element>'.repeat(200)}</mj-social></mj-column></mj-section></mj-body></mjml>`;
    expect(checkStructure(social, new IssueList(), mjmlEndingTags())).toBe(false);
  });

  it('accepts a newsletter with an aria-label on each of its 20 buttons', async () => {
    // Prepare: 30 two-column rows of image, text, button and divider; a selector and a label per button
    const labels = Array.from(
      { length: 20 },
      (_, i) =>
        `<mj-selector path=".cta-${i} a"><mj-html-attribute name="aria-label">Read the whole of article number ${i} on our website now</mj-html-attribute></mj-selector>`,
    ).join('');
    const column = (i: number) =>
      `<mj-column><mj-image src="https://x.example/${i}.png" /><mj-text>Article ${i}</mj-text><mj-button css-class="cta-${i % 20}" href="https://x.example/${i}">Read</mj-button><mj-divider /></mj-column>`;
    const rows = Array.from({ length: 30 }, (_, i) => `<mj-section>${column(2 * i)}${column(2 * i + 1)}</mj-section>`).join('\n');
    const mjml = `<mjml><mj-head><mj-html-attributes>${labels}</mj-html-attributes></mj-head><mj-body>${rows}<mj-section><mj-column><mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section></mj-body></mjml>`;

    // Act
    const compiled = await compileCampaignTemplate({ ...base, mjml });

    // Assess
    expect(compiled.source.html).toContain('aria-label="Read the whole of article number 7 on our website now"');
  });

  it('refuses a carousel of more than 50 images, whose HTML grows with their square, before MJML runs, and accepts 50 and 30 in two', async () => {
    // Prepare: a carousel of 50 after one of 51
    const images = (n: number) => '<mj-carousel-image src="https://x.example/i.png" />'.repeat(n);
    const mjml = mjmlBody(`<mj-carousel>\n${images(51)}</mj-carousel><mj-carousel>${images(50)}</mj-carousel>`);

    // Act
    const issues = await issuesOf(mjml);
    const fine = validateCampaignTemplate({
      ...base,
      mjml: mjmlBody(`<mj-carousel>${images(50)}</mj-carousel><mj-carousel>${images(30)}</mj-carousel><mj-text>x</mj-text>`),
    });

    // Assess
    expect(issues).toEqual([
      {
        where: 'mjml line 2',
        message:
          'the <mj-carousel> has more than 50 images: MJML writes markup for each image once per image, so its HTML grows with their square; split it',
      },
    ]);
    expect(checkStructure(mjml, new IssueList(), mjmlEndingTags())).toBe(false);
    await expect(fine).resolves.toEqual({ warnings: [expect.stringContaining('unsubscribe_url')] });
  });

  it.each(['<xmp>', '<XMP>'])('refuses %s, which MJML reads as markup and html-to-text as text, on its line', async (tag) => {
    // Prepare: the trick a review found: an mj-text that MJML sees and the checks would not
    const mjml = mjmlBody(`<mj-text>\n${tag}</mj-text><mj-text>${'<span />'.repeat(2_000)}</mj-text></xmp></mj-text>`);

    // Act
    const issues = await issuesOf(mjml);

    // Assess
    expect(issues).toEqual([{ where: 'mjml line 2', message: expect.stringMatching(/^<xmp> cannot be used: .*use <pre>/) }]);
  });
});

describe('checkHtmlText (the content of an ending tag, as HTML reads it)', () => {
  it('names the line where the limit was passed when no element of the chain was written <x />', () => {
    // Prepare: MJML's own depth check stops this first in a template; here the HTML reading alone
    const source = `<mj-text>\n${'<div>'.repeat(MAX_HTML_NESTING_DEPTH)}\n<div>x</mj-text>`;
    const issues = new IssueList();

    // Act
    const fine = checkHtmlText(source, '<mj-text>'.length, source.indexOf('</mj-text>'), issues);

    // Assess
    expect(fine).toBe(false);
    expect(issues.toIssues()).toEqual([
      {
        where: 'mjml line 3',
        message:
          'is too deeply nested as HTML reads it: more than 1,000 elements inside one another (an element never closed runs on to the end of the text); close them',
      },
    ]);
  });
});

describe('checkHtmlNesting (the HTML MJML produced)', () => {
  it.each([
    [MAX_HTML_NESTING_DEPTH, true],
    [MAX_HTML_NESTING_DEPTH + 1, false],
  ])('takes %i elements inside one another as fine: %s', (depth, fine) => {
    // Act
    const issues = new IssueList();
    const answer = checkHtmlNesting(nested('div', depth), issues);

    // Assess
    expect(answer).toBe(fine);
    expect(issues.empty).toBe(fine);
  });

  it('says how closed markup can come out too deep when the head had <mj-html-attributes>', () => {
    // Act
    const issues = new IssueList();
    checkHtmlNesting('<span/>'.repeat(MAX_HTML_NESTING_DEPTH + 1), issues, { fromXml: true });

    // Assess
    expect(issues.toIssues()).toEqual([
      {
        where: 'mjml',
        message: expect.stringContaining(
          'with <mj-html-attributes> in the head, MJML writes an empty element as <span/>, which HTML leaves open',
        ),
      },
    ]);
  });

  it('names the element at the limit', () => {
    // Act
    const issues = new IssueList();
    checkHtmlNesting(`${'<div>'.repeat(MAX_HTML_NESTING_DEPTH)}<section>`, issues);

    // Assess
    expect(issues.toIssues()).toEqual([
      {
        where: 'mjml',
        message: `the HTML MJML produces is too deeply nested: more than 1,000 elements inside one another, at <section>; flatten the markup`,
      },
    ]);
  });
});

describe('what the libraries throw', () => {
  afterEach(() => {
    jest.resetModules();
    jest.dontMock('mjml');
    jest.dontMock('html-to-text');
    jest.dontMock('htmlparser2');
  });

  /** The template module and the error classes it throws, loaded afresh with `mocks` in place of the libraries. */
  function withMocks(mocks: () => void) {
    let loaded: {
      validate: typeof validateCampaignTemplate;
      errors: { PermanentError: typeof PermanentError; ValidationError: typeof ValidationError };
    };
    jest.isolateModules(() => {
      mocks();
      loaded = { validate: require('../src/template').validateCampaignTemplate, errors: require('@baton/shared') };
    });
    return loaded!;
  }

  it.each([
    ['a stack overflow', new RangeError('Maximum call stack size exceeded'), 'is too deeply nested or too complex to compile'],
    ['any other error', new TypeError("Cannot read properties of undefined (reading 'attributes')"), 'cannot be compiled: Cannot read'],
  ])('turns %s from MJML into a ValidationError naming mjml', async (_, thrown, message) => {
    // Prepare
    const { validate, errors } = withMocks(() =>
      jest.doMock('mjml', () => {
        jest.requireActual('mjml'); // registers MJML's components, as the real one does
        return async () => {
          throw thrown;
        };
      }),
    );

    // Act
    const error = await caught(() => validate(base));

    // Assess
    expect(error).toBeInstanceOf(errors.ValidationError);
    expect((error as ValidationError).issues).toEqual([{ where: 'mjml', message: expect.stringContaining(message) }]);
  });

  it('turns a stack overflow in html-to-text into a ValidationError naming the text part', async () => {
    // Prepare
    const { validate, errors } = withMocks(() =>
      jest.doMock('html-to-text', () => ({
        compile: () => () => {
          throw new RangeError('Maximum call stack size exceeded');
        },
      })),
    );

    // Act
    const error = await caught(() => validate(base));

    // Assess
    expect(error).toBeInstanceOf(errors.ValidationError);
    expect((error as ValidationError).issues).toEqual([
      {
        where: 'mjml',
        message:
          'in the text part derived from the HTML: is too deeply nested or too complex to compile; flatten the markup and the Liquid blocks',
      },
    ]);
  });

  it('turns an error from a step with no handler of its own into a ValidationError naming mjml', async () => {
    // Prepare: the structure check's parser fails
    const { validate, errors } = withMocks(() =>
      jest.doMock('htmlparser2', () => ({
        Parser: class {
          write(): void {
            throw new TypeError('parser exploded');
          }
        },
      })),
    );

    // Act
    const error = await caught(() => validate(base));

    // Assess
    expect(error).toBeInstanceOf(errors.ValidationError);
    expect((error as ValidationError).issues).toEqual([{ where: 'mjml', message: 'cannot be compiled: parser exploded' }]);
    expect((error as ValidationError).cause).toBeInstanceOf(TypeError);
  });
});

describe('placeholders under an inline style', () => {
  const INLINE_HEAD = '<mj-head><mj-style inline="inline">div { color: red }</mj-style></mj-head>';
  /** `blocks` paragraphs of a placeholder and filler, about `kb` KB in all, in one mj-text. */
  const body = (blocks: number, kb: number, head = INLINE_HEAD) => {
    const filler = 'word '.repeat(Math.max(0, Math.floor((kb * 1024 - blocks * 17) / 5 / blocks)));
    return `<mjml>${head}<mj-body><mj-section><mj-column><mj-text>${`{{ first_name }} ${filler}`.repeat(blocks)}</mj-text></mj-column></mj-section></mj-body></mjml>`;
  };

  it('refuses, before MJML runs, more placeholders times characters than its style inliner takes in reasonable time, saying what to change', async () => {
    // Act: 4,900 placeholders in 400 KB (MJML took 2.9 s on it).
    const issues = await issuesOf(body(4_900, 400));

    // Assess
    expect(issues).toEqual([
      expect.objectContaining({
        where: 'mjml',
        message: expect.stringMatching(
          /^has 4,900 \{\{ \}\} placeholders in 39\d KB with an inline style .* make the style a plain <mj-style>, or use fewer placeholders$/,
        ),
      }),
    ]);
  });

  it('accepts as many without an inline style, and a newsletter of 200 placeholders in 100 KB with one', async () => {
    await expect(validateCampaignTemplate({ ...base, mjml: body(4_900, 400, '') })).resolves.toBeDefined();
    await expect(validateCampaignTemplate({ ...base, mjml: body(200, 100) })).resolves.toBeDefined();
  });
});
