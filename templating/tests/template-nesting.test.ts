import { PermanentError, ValidationError } from '@baton/shared';
import { compileCampaignTemplate, validateCampaignTemplate } from '../src/template';
import { IssueList, MAX_HTML_NESTING_DEPTH, checkHtmlNesting, checkHtmlText } from '../src/template-checks';
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
