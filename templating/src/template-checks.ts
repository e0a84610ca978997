import { Parser } from 'htmlparser2';
import type { InputIssue } from '@baton/shared';

/**
 * The checks `compileCampaignTemplate` runs around MJML and Liquid, each linear in its input: a
 * hostile template of 2 MB must be answered in well under a second, with an error of a few KB.
 */

/** At most this many problems are listed in one error; the rest are counted in a last issue. */
export const MAX_TEMPLATE_ISSUES = 50;
/** A listed problem's message is cut to this many characters (a message may quote a tag). */
export const MAX_ISSUE_MESSAGE_LENGTH = 300;
/**
 * Liquid tags and placeholders (`{% %}`, `{{ }}`) allowed in one template part. Generous for
 * any email; the bound is there because liquidjs takes tokens from the front of an array
 * (`Array#shift`), which costs time proportional to the array once it holds more than ~16k
 * tokens: parsing 20,000 tags took over a second, and it grows with the square.
 */
export const MAX_LIQUID_MARKUP = 5_000;

/**
 * Elements (MJML or HTML) allowed inside one another. Real emails stay within a few dozen; the
 * libraries after us walk the tree recursively (html-to-text overflowed the stack at a few
 * thousand), so deeper markup is refused before any of them sees it.
 */
export const MAX_NESTING_DEPTH = 100;

/**
 * One problem of a template, as the editor's check lists it: a stable `code`, the part it is in
 * (`where`, as in a ValidationError's issues), the author's line when known, and whether it stops
 * a create (`error`) or is allowed but unwise (`warning`).
 */
export interface TemplateProblem {
  where: string;
  line?: number;
  severity: 'error' | 'warning';
  code: string;
  message: string;
}

/** What a problem is, besides where and what: its code (default TEMPLATE_INVALID) and the author's line. */
export interface ProblemDetail {
  code?: string;
  line?: number;
}

/** Problems found so far: the first `MAX_TEMPLATE_ISSUES` errors and warnings kept, the rest counted. */
export class IssueList {
  private readonly errors: TemplateProblem[] = [];
  private readonly warned: TemplateProblem[] = [];
  private unlistedErrors = 0;
  private unlistedWarnings = 0;

  /** An error: the template cannot be used as it is. */
  add(where: string, message: string, detail: ProblemDetail = {}): void {
    if (this.errors.length >= MAX_TEMPLATE_ISSUES) this.unlistedErrors++;
    else this.errors.push(problem(where, message, 'error', detail));
  }

  /** A warning: allowed, but probably not what the author meant. */
  warn(where: string, message: string, detail: ProblemDetail = {}): void {
    if (this.warned.length >= MAX_TEMPLATE_ISSUES) this.unlistedWarnings++;
    else this.warned.push(problem(where, message, 'warning', detail));
  }

  /** No error so far (warnings do not count). */
  get empty(): boolean {
    return this.errors.length === 0;
  }

  /** The errors for a ValidationError, with a last one saying how many more were found. */
  toIssues(): InputIssue[] {
    const listed = this.errors.map(({ where, message }) => ({ where, message }));
    if (this.unlistedErrors === 0) return listed;
    return [...listed, { where: 'template', message: moreFound(this.unlistedErrors) }];
  }

  /** The warnings as create answers them: `where: message`. */
  warnings(): string[] {
    const listed = this.warned.map(({ where, message }) => `${where}: ${message}`);
    return this.unlistedWarnings === 0 ? listed : [...listed, `template: ${moreFound(this.unlistedWarnings)}`];
  }

  /** Errors, then warnings, each with its code and line; a count of those not listed comes last in each. */
  problems(): TemplateProblem[] {
    const more = (n: number, severity: TemplateProblem['severity']): TemplateProblem[] =>
      n === 0 ? [] : [{ where: 'template', severity, code: 'MORE_PROBLEMS', message: moreFound(n) }];
    return [...this.errors, ...more(this.unlistedErrors, 'error'), ...this.warned, ...more(this.unlistedWarnings, 'warning')];
  }
}

function problem(where: string, message: string, severity: TemplateProblem['severity'], detail: ProblemDetail): TemplateProblem {
  const cut = message.length > MAX_ISSUE_MESSAGE_LENGTH ? `${message.slice(0, MAX_ISSUE_MESSAGE_LENGTH - 1)}…` : message;
  return {
    where,
    ...(detail.line !== undefined ? { line: detail.line } : {}),
    severity,
    code: detail.code ?? 'TEMPLATE_INVALID',
    message: cut,
  };
}

function moreFound(n: number): string {
  return `${n.toLocaleString('en')} more problem${n === 1 ? ' was' : 's were'} found and not listed`;
}

/** How many Liquid tags and placeholders `source` opens (`{%` and `{{`). */
export function countLiquidMarkup(source: string): number {
  let count = 0;
  for (let i = source.indexOf('{'); i >= 0; i = source.indexOf('{', i + 1)) {
    const next = source.charCodeAt(i + 1);
    if (next === 0x25 /* % */ || next === 0x7b /* { */) {
      count++;
      i++;
    }
  }
  return count;
}

/**
 * Pieces of text or Liquid outside MJML's ending tags after which MJML is not run: its parser
 * appends each piece to the element's text so far, a copy each time (it grows with their square).
 */
export const MAX_DROPPED_TEXTS = 50;

/**
 * HTML elements whose end tag may be left out (HTML's own rule): their implied close is no
 * mistake. Any other element left open runs on to the end of its parent.
 */
const OPTIONAL_END_TAGS: ReadonlySet<string> = new Set(
  'p li dt dd option optgroup tr td th thead tbody tfoot colgroup caption rb rt rtc rp html head body'.split(' '),
);

/** An element open while the source is read: its name, where it opened, whether it holds anything yet. */
interface OpenElement {
  name: string;
  line: number;
  holdsContent: boolean;
  /** Pieces of text read directly inside it. */
  texts: number;
}

/**
 * The head element whose text MJML keeps though it is no ending tag: the value of the attribute
 * `<mj-html-attributes>` sets (`<mj-html-attribute name="data-id">42</mj-html-attribute>`).
 */
const ATTRIBUTE_VALUE_TAG = 'mj-html-attribute';

/**
 * When the head has `<mj-html-attributes>`, MJML reads the HTML of its body again as XML (cheerio,
 * to set the attributes), where `<br>` and every other element not written `<x />` stays open.
 */
const HTML_ATTRIBUTES = /<mj-html-attributes[\s>/]/i;

/**
 * `<mj-html-attribute>`s in one template at most: MJML runs each one's selector over the whole
 * body (5,000 of them over 40,000 elements took it 34 s).
 */
export const MAX_HTML_ATTRIBUTES = 50;
/**
 * What the attributes `<mj-html-attributes>` sets may add to the email at most, estimated as their
 * names' and values' length times the elements of the template (a selector such as `*` matches
 * each, and MJML writes the attribute on each): 1.9 MB of value over 150 elements made 340 MB of
 * HTML. Generous, since the estimate is (see MJML_ELEMENT_WEIGHT) and a selector matches few
 * elements as a rule: a 47 KB newsletter with an `aria-label` on each of its 20 buttons estimates
 * at 8.5 MB (about 1 KB in fact). Past this, MJML's output would still be about 12 MB at most.
 */
export const MAX_HTML_ATTRIBUTE_BYTES = 16 * 1024 * 1024;
/**
 * The HTML elements one MJML element is counted as, for that estimate: MJML writes its own tables,
 * rows and cells for each (a social element, a dozen; 200 of them under a 20 KB value on `*` made
 * 49 MB of HTML). An upper bound: a section or a column writes about four, a navbar link one or two.
 */
const MJML_ELEMENT_WEIGHT = 16;

/**
 * Images in one `<mj-carousel>` at most. MJML writes markup for each image per image (its
 * thumbnails, radio buttons and style rules), so its HTML grows with their square: 1,000 images,
 * 52 KB of source, made 17 MB. Real carousels have a handful.
 */
export const MAX_CAROUSEL_IMAGES = 50;

/**
 * What MJML's style inliner (juice, run when the head has an `<mj-style inline="inline">`) may
 * cost: it sets each `{{ }}` (and `<% %>`) aside, then puts each back with a pass over the whole
 * HTML, so its time is their count times the template's size. Measured, about 1.3 ms per million:
 * 4,900 placeholders in 400 KB took 2.9 s to check, and the renderer spends as much compiling it
 * on the thread every campaign's renders share. Past this bound (about 0.3 s) a template with an
 * inline style is refused before MJML runs; 200 placeholders in a 100 KB newsletter are 20 million.
 */
export const MAX_INLINED_PLACEHOLDER_BYTES = 250_000_000;
const INLINE_STYLE = /<mj-style\b[^>]*\binline\s*=\s*["']?inline\b/i;

/** Refuses a template whose inline style would take MJML's style inliner too long (see MAX_INLINED_PLACEHOLDER_BYTES). Answers whether MJML may run. */
export function checkInlinedPlaceholders(source: string, issues: IssueList): boolean {
  if (!INLINE_STYLE.test(source)) return true;
  const placeholders = occurrences(source, '{{') + occurrences(source, '<%');
  if (placeholders * source.length <= MAX_INLINED_PLACEHOLDER_BYTES) return true;
  const kb = Math.ceil(source.length / 1024).toLocaleString('en');
  issues.add(
    'mjml',
    `has ${placeholders.toLocaleString('en')} {{ }} placeholders in ${kb} KB with an inline style (<mj-style inline="inline">): MJML's style inliner goes over the whole email once for each, which would take seconds (placeholders times characters at most ${(MAX_INLINED_PLACEHOLDER_BYTES / 1e6).toLocaleString('en')} million); make the style a plain <mj-style>, or use fewer placeholders`,
    { code: 'TEMPLATE_TOO_COMPLEX' },
  );
  return false;
}

function occurrences(source: string, what: string): number {
  let count = 0;
  for (let i = source.indexOf(what); i >= 0; i = source.indexOf(what, i + what.length)) count++;
  return count;
}

/** Whether MJML may read the body of `source` again as XML (see HTML_ATTRIBUTES). */
export function readsBodyAsXml(source: string): boolean {
  return HTML_ATTRIBUTES.test(source);
}

/**
 * An element read as raw text by one version of htmlparser2 and as markup by another, both of
 * which read a template (MJML's parser and style inliner have 9, html-to-text and these checks 10):
 * what MJML renders from inside it is then never checked.
 */
const READ_TWO_WAYS = 'xmp';

/**
 * Reads the MJML source as MJML's own parser does (htmlparser2, self-closing tags recognised,
 * HTML's implied end tags applied), in one streaming pass with no recursion, and reports:
 *  - markup nested more than `MAX_NESTING_DEPTH` deep (the pass stops there), and
 *  - text outside MJML's ending tags (mj-text, mj-button, mj-raw, …), which MJML drops
 *    silently (Liquid tags there are left to `checkTagsSurvived`), and
 *  - more than `MAX_DROPPED_TEXTS` such pieces, text or Liquid (the first piece of an
 *    `<mj-html-attribute>`, the attribute's value, is kept by MJML and not counted), and
 *  - an `<xmp>` (see `READ_TWO_WAYS`), and
 *  - the raw content of each ending tag nested more than `MAX_HTML_NESTING_DEPTH` deep as HTML
 *    reads it (`checkHtmlText`: an element written `<x />` there is closed for MJML's parser but
 *    left open by HTML), and
 *  - an MJML element that holds something and is never closed (an error: MJML drops or
 *    misplaces what it holds; an unclosed `<mj-text>` renders empty), and an HTML element in an
 *    ending tag left open whose end tag HTML does not let one leave out (a warning: `<b>` runs
 *    on to the end of the text).
 * Answers whether MJML may be run on the source: not when it is too deep or holds too many pieces.
 */
export function checkStructure(source: string, issues: IssueList, endingTags: ReadonlySet<string>): boolean {
  const lines = new LineCounter(source);
  const open: OpenElement[] = [];
  let inEndingTag = 0;
  /** Where the raw content of the outermost ending tag open now starts. */
  let contentStart = 0;
  let tooDeep = false;
  let droppedTexts = 0;
  const readAsXml = readsBodyAsXml(source);
  /** The elements of the HTML MJML will write, estimated (see MJML_ELEMENT_WEIGHT). */
  let elements = 0;
  /** The `<mj-html-attribute>`s, and the length of their names and values (with `=""` and a space). */
  const attributes = { count: 0, bytes: 0, firstLine: 0 };
  /** The images of the last `<mj-carousel>`, and whether any had too many. */
  let carouselImages = 0;
  let tooManyImages = false;
  const parser = new Parser(
    {
      onopentag(name, attrs) {
        elements += name.startsWith('mj-') ? MJML_ELEMENT_WEIGHT : 1;
        const parent = open[open.length - 1];
        if (parent) parent.holdsContent = true;
        // Asked for in source order (an element's line is known when it opens): the counter goes forward only.
        const line = lines.lineAt(parser.startIndex);
        open.push({ name, line, holdsContent: false, texts: 0 });
        if (name === 'mj-carousel') carouselImages = 0;
        if (name === 'mj-carousel-image' && ++carouselImages === MAX_CAROUSEL_IMAGES + 1) {
          tooManyImages = true;
          issues.add(
            `mjml line ${line}`,
            `the <mj-carousel> has more than ${MAX_CAROUSEL_IMAGES} images: MJML writes markup for each image once per image, so its HTML grows with their square; split it`,
            { code: 'MJML_ERROR', line },
          );
        }
        if (name === ATTRIBUTE_VALUE_TAG) {
          if (attributes.count++ === 0) attributes.firstLine = line;
          attributes.bytes += (attrs['name'] ?? '').length + 4;
        }
        if (name === READ_TWO_WAYS && !tooDeep) {
          tooDeep = true;
          issues.add(
            `mjml line ${line}`,
            `<${name}> cannot be used: the libraries that build the email disagree on what it holds (some read text, some markup), and mail clients do not support it; use <pre> and write < as &lt;`,
            { code: 'MJML_ERROR', line },
          );
          parser.pause();
          return;
        }
        if (inEndingTag > 0 || endingTags.has(name)) {
          if (inEndingTag++ === 0) contentStart = parser.endIndex + 1;
        }
        if (open.length > MAX_NESTING_DEPTH && !tooDeep) {
          tooDeep = true;
          issues.add(
            `mjml line ${line}`,
            `is too deeply nested: more than ${MAX_NESTING_DEPTH} elements inside one another; flatten the markup`,
            { code: 'MJML_ERROR', line },
          );
          // htmlparser2 keeps its open elements with `unshift`: stopping here keeps this pass linear.
          parser.pause();
        }
      },
      onclosetag(_name, isImplied) {
        const element = open.pop();
        if (
          inEndingTag > 0 &&
          --inEndingTag === 0 &&
          !tooDeep &&
          !checkHtmlText(source, contentStart, parser.startIndex, issues, { alsoAsXml: readAsXml })
        ) {
          tooDeep = true;
          parser.pause();
        }
        // Self-closing and void elements are closed "implied" at once, holding nothing: no mistake.
        if (element && isImplied && element.holdsContent) reportUnclosed(element, inEndingTag > 0, issues);
      },
      ontext(text) {
        const parent = open[open.length - 1];
        if (parent && !parent.holdsContent && text.trim() !== '') parent.holdsContent = true;
        if (open.length === 0 || inEndingTag > 0) return;
        if (text.trim() === '') return;
        // An attribute's value: kept. Further pieces (around elements inside it) are appended to it, each a copy.
        if (parent!.name === ATTRIBUTE_VALUE_TAG) {
          attributes.bytes += text.trim().length;
          if (parent!.texts++ > 0) droppedTexts++;
          return;
        }
        droppedTexts++;
        const visible = withoutLiquidTags(text).trim();
        if (visible === '') return;
        const quoted = visible.length > 40 ? `${visible.slice(0, 40)}…` : visible;
        const line = lines.lineAt(parser.startIndex);
        issues.add(`mjml line ${line}`, `the text "${quoted}" is dropped by MJML: text belongs in <mj-text>, <mj-button> or <mj-raw>`, {
          code: 'MJML_ERROR',
          line,
        });
      },
    },
    // As MJML's parser reads it: tag names lower-cased (so `<BR>` is void), attribute names as written.
    { recognizeSelfClosing: true, decodeEntities: false, lowerCaseTags: true, lowerCaseAttributeNames: false },
  );
  parser.write(source);
  // The end closes what is still open (implied), so elements never closed are reported too.
  if (!tooDeep) parser.end();
  const attributesFit = checkHtmlAttributes(attributes, elements, issues);
  if (droppedTexts > MAX_DROPPED_TEXTS) {
    const [found, allowed] = [droppedTexts, MAX_DROPPED_TEXTS].map((n) => n.toLocaleString('en'));
    issues.add(
      'mjml',
      `has ${found} pieces of text or Liquid between MJML elements, where MJML drops them (at most ${allowed} are checked further): put them in <mj-text>, <mj-button> or <mj-raw>`,
      { code: 'MJML_ERROR' },
    );
  }
  return !tooDeep && droppedTexts <= MAX_DROPPED_TEXTS && attributesFit && !tooManyImages;
}

/** Reports `<mj-html-attribute>`s past `MAX_HTML_ATTRIBUTES`, or adding past `MAX_HTML_ATTRIBUTE_BYTES`; answers whether they fit. */
function checkHtmlAttributes(
  attributes: { count: number; bytes: number; firstLine: number },
  elements: number,
  issues: IssueList,
): boolean {
  const where = `mjml line ${attributes.firstLine}`;
  const detail = { code: 'MJML_ERROR', line: attributes.firstLine };
  if (attributes.count > MAX_HTML_ATTRIBUTES) {
    const [found, allowed] = [attributes.count, MAX_HTML_ATTRIBUTES].map((n) => n.toLocaleString('en'));
    issues.add(
      where,
      `has ${found} <mj-html-attribute>s, more than the ${allowed} allowed: MJML looks for each one's elements through the whole email`,
      detail,
    );
    return false;
  }
  const added = attributes.bytes * elements;
  if (added > MAX_HTML_ATTRIBUTE_BYTES) {
    const mb = (n: number) => `${(n / 1024 / 1024).toLocaleString('en', { maximumFractionDigits: 1 })} MB`;
    issues.add(
      where,
      `the attributes <mj-html-attributes> sets could add ${mb(added)} to the email (${attributes.bytes.toLocaleString('en')} characters of names and values on each of the about ${elements.toLocaleString('en')} elements MJML writes for it), more than the ${mb(MAX_HTML_ATTRIBUTE_BYTES)} allowed: shorten their values`,
      detail,
    );
    return false;
  }
  return true;
}

/**
 * Elements inside one another in the HTML MJML produces, and in the HTML an MJML text becomes.
 * MJML wraps a template's own markup in at most about 30 levels of its own (tables, rows, cells,
 * an accordion's parts), so a source within `MAX_NESTING_DEPTH` stays far under this. What passes
 * it is markup HTML reads as left open, such as `<span />` repeated in `<mj-text>`. Below where
 * html-to-text overflows the stack (about 4,000), and cheap for the parsers that keep their open
 * elements with `unshift` (their cost grows with the square of the depth).
 */
export const MAX_HTML_NESTING_DEPTH = 1_000;

/** HTML's void elements: the only ones a `/>` closes in HTML (outside SVG and MathML it is ignored, and the element stays open). */
const VOID_ELEMENTS: ReadonlySet<string> = new Set('area base br col embed hr img input link meta param source track wbr'.split(' '));

/**
 * Reads the HTML MJML produced as html-to-text and the unsubscribe-link check will (HTML's rules),
 * in one pass that stops at `MAX_HTML_NESTING_DEPTH`, and reports markup nested deeper: those
 * libraries' parser keeps its open elements with `unshift`, so a pass over deeper markup grows
 * with the square of its depth, and html-to-text recurses on it. `checkStructure` already refuses
 * the usual cause (`<x />` in an MJML text) on the author's line; this is for what it cannot see.
 * With `fromXml` (the head had `<mj-html-attributes>`), the error says how that can happen to
 * markup that was closed. Answers whether the HTML may be read further.
 */
export function checkHtmlNesting(html: string, issues: IssueList, options: { fromXml?: boolean } = {}): boolean {
  let depth = 0;
  let deepest: string | undefined;
  const parser = new Parser({
    onopentag(name) {
      if (++depth > MAX_HTML_NESTING_DEPTH) {
        deepest = name;
        parser.pause();
      }
    },
    onclosetag() {
      depth--;
    },
  });
  parser.write(html);
  if (deepest === undefined) return true;
  const limit = MAX_HTML_NESTING_DEPTH.toLocaleString('en');
  issues.add(
    'mjml',
    `the HTML MJML produces is too deeply nested: more than ${limit} elements inside one another, at <${deepest}>; ${
      options.fromXml === true
        ? `with <mj-html-attributes> in the head, MJML writes an empty element as <${deepest}/>, which HTML leaves open: give empty elements content, or leave out <mj-html-attributes>`
        : 'flatten the markup'
    }`,
    {
      code: 'MJML_ERROR',
    },
  );
  return false;
}

/**
 * Reads the raw content of an ending tag, `source` from `start` to `end`, as HTML does (as
 * html-to-text, MJML's style inliner and mail clients will: `/>` closes only void elements,
 * outside SVG and MathML), in one pass that stops once more than `MAX_HTML_NESTING_DEPTH`
 * elements are open inside one another, and reports that: on the line of the first element of
 * that chain written `<x />` (it stays open, and what follows nests inside it), else on the line
 * where the limit was passed. With `alsoAsXml` (the head has `<mj-html-attributes>`: MJML reads
 * its body's HTML again as XML), the content is then read as XML too (`checkXmlText`).
 * Answers whether the content stayed within.
 */
export function checkHtmlText(
  source: string,
  start: number,
  end: number,
  issues: IssueList,
  options: { alsoAsXml?: boolean } = {},
): boolean {
  if (end <= start) return true;
  const text = source.slice(start, end);
  let depth = 0;
  let deepestAt: number | undefined;
  /** The first element open now that was written `<x />` (HTML left it open), and its depth. */
  let selfClosed: { name: string; at: number; depth: number } | undefined;
  const parser = new Parser({
    onopentag(name, attributes) {
      depth++;
      if (
        selfClosed === undefined &&
        !VOID_ELEMENTS.has(name) &&
        writtenSelfClosed(text.slice(parser.startIndex, parser.endIndex + 1), attributes)
      ) {
        selfClosed = { name, at: parser.startIndex, depth };
      }
      if (depth > MAX_HTML_NESTING_DEPTH) {
        deepestAt = parser.startIndex;
        parser.pause();
      }
    },
    onclosetag() {
      depth--;
      if (selfClosed !== undefined && depth < selfClosed.depth) selfClosed = undefined;
    },
  });
  parser.write(text);
  if (deepestAt === undefined) return options.alsoAsXml !== true || checkXmlText(source, start, text, issues);
  const limit = MAX_HTML_NESTING_DEPTH.toLocaleString('en');
  if (selfClosed === undefined)
    return tooDeep(
      source,
      start + deepestAt,
      `is too deeply nested as HTML reads it: more than ${limit} elements inside one another (an element never closed runs on to the end of the text); close them`,
      issues,
    );
  const { name } = selfClosed;
  return tooDeep(
    source,
    start + selfClosed.at,
    `<${name} /> stays open in HTML (a "/>" closes only void elements such as <br />), so what follows it nests inside it: more than ${limit} elements inside one another; write <${name}></${name}>`,
    issues,
  );
}

/** Reports markup nested past `MAX_HTML_NESTING_DEPTH` on the line of `source` at offset `at`. Answers false: the content did not stay within. */
function tooDeep(source: string, at: number, message: string, issues: IssueList): false {
  const line = new LineCounter(source).lineAt(at);
  issues.add(`mjml line ${line}`, message, { code: 'MJML_ERROR', line });
  return false;
}

/**
 * Reads `text`, the content of an ending tag at `start` in `source`, as MJML's second reading does
 * when the head has `<mj-html-attributes>`: as XML (cheerio), where every element stays open until
 * its end tag, `<br>` too; and then as HTML reads what that writes, where each empty element is
 * written `<x/>`, which HTML leaves open unless it is void. One pass, stopped past
 * `MAX_HTML_NESTING_DEPTH` open elements in either reading (MJML's XML reading grows with the
 * square of the depth: 35 s for 1 MB of `<br>`; its style inliner's HTML reading likewise: 24 s
 * for 2 MB of `<span></span>`). Reports it on the line of the first element of the chain that
 * HTML lets one leave unclosed (`<br>`, `<img>`) or that is empty, else where the limit was passed.
 * Answers whether the content stayed within.
 */
function checkXmlText(source: string, start: number, text: string, issues: IssueList): boolean {
  /** The elements open as XML reads it (a root first); each with how many empty ones it holds that HTML leaves open. */
  const frames: { name: string; at: number; empty: boolean; leftOpenInside: number }[] = [
    { name: '', at: 0, empty: false, leftOpenInside: 0 },
  ];
  let htmlDepth = 0;
  let deepestAt: number | undefined;
  /** The first element open now that HTML would have closed (a void one), and how many frames were open with it. */
  let leftOpen: { name: string; at: number; frames: number } | undefined;
  /** The first empty element HTML reads as open now (written `<x/>`), and how many frames its parent's close leaves. */
  let emptyOpen: { name: string; at: number; frames: number } | undefined;
  const nonEmpty = () => {
    frames[frames.length - 1]!.empty = false;
  };
  const parser = new Parser(
    {
      onopentag(name) {
        nonEmpty();
        frames.push({ name, at: parser.startIndex, empty: true, leftOpenInside: 0 });
        htmlDepth++;
        // One written <br /> closes at once, and is forgotten with its close.
        if (leftOpen === undefined && VOID_ELEMENTS.has(name.toLowerCase()))
          leftOpen = { name, at: parser.startIndex, frames: frames.length };
        // HTML's reading holds what XML's holds and the empty elements besides: never less deep.
        if (htmlDepth > MAX_HTML_NESTING_DEPTH) {
          deepestAt = parser.startIndex;
          parser.pause();
        }
      },
      onclosetag() {
        const frame = frames.pop()!;
        if (leftOpen !== undefined && frames.length < leftOpen.frames) leftOpen = undefined;
        if (emptyOpen !== undefined && frames.length < emptyOpen.frames) emptyOpen = undefined;
        if (frame.empty && !VOID_ELEMENTS.has(frame.name.toLowerCase())) {
          // Written <x/>: HTML keeps it open until its parent's end tag closes it.
          frames[frames.length - 1]!.leftOpenInside++;
          emptyOpen ??= { name: frame.name, at: frame.at, frames: frames.length };
        } else htmlDepth -= 1 + frame.leftOpenInside;
      },
      // MJML strips the whitespace between tags after an Outlook conditional comment before this
      // reading (`<!--[if …]>`): an element holding only whitespace may come out empty.
      ontext(text) {
        if (text.trim() !== '') nonEmpty();
      },
      oncomment: nonEmpty,
      oncdatastart: nonEmpty,
      onprocessinginstruction: nonEmpty,
    },
    { xmlMode: true, decodeEntities: false },
  );
  parser.write(text);
  if (deepestAt === undefined) return true;
  const limit = MAX_HTML_NESTING_DEPTH.toLocaleString('en');
  const why = 'MJML reads the body again as XML when the head has <mj-html-attributes>';
  const xmlTooDeep = frames.length - 1 > MAX_HTML_NESTING_DEPTH;
  const culprit = xmlTooDeep ? leftOpen : emptyOpen;
  if (culprit === undefined)
    return tooDeep(
      source,
      start + deepestAt,
      `is too deeply nested as ${xmlTooDeep ? 'XML' : 'HTML'} reads it (${why}): more than ${limit} elements inside one another (an element never closed runs on to the end of the text); close them`,
      issues,
    );
  const { name } = culprit;
  return tooDeep(
    source,
    start + culprit.at,
    xmlTooDeep
      ? `<${name}> stays open as XML reads it (${why}), so what follows it nests inside it: more than ${limit} elements inside one another; write <${name} />`
      : `the empty <${name}> is written <${name}/> by MJML (${why}), which HTML leaves open, so what follows it nests inside it: more than ${limit} elements inside one another; put something in it, or leave out <mj-html-attributes>`,
    issues,
  );
}

/** Whether a start tag ends in `/>` (or `/ >`) of its own, not as the last character of an unquoted attribute value. */
function writtenSelfClosed(tag: string, attributes: Record<string, string>): boolean {
  if (!/\/\s*>$/.test(tag)) return false;
  const values = Object.values(attributes);
  const last = values[values.length - 1];
  return last === undefined || !last.endsWith('/') || /["']\s*\/\s*>$/.test(tag);
}

function reportUnclosed(element: OpenElement, insideEndingTag: boolean, issues: IssueList): void {
  const { name, line } = element;
  const isMjml = name === 'mjml' || name.startsWith('mj-');
  if (!isMjml && (!insideEndingTag || OPTIONAL_END_TAGS.has(name.toLowerCase()))) return;
  if (isMjml) {
    issues.add(`mjml line ${line}`, `<${name}> is never closed: MJML drops or misplaces what it holds; close it with </${name}>`, {
      code: 'MJML_ERROR',
      line,
    });
  } else {
    issues.warn(`mjml line ${line}`, `<${name}> is never closed: it runs on to the end of the text around it; close it with </${name}>`, {
      code: 'MJML_WARNING',
      line,
    });
  }
}

/**
 * Why a library gave up on a template, for an issue: a stack overflow is "too deeply nested";
 * anything else cannot be compiled, with the library's own words.
 */
export function compileFailure(err: unknown): string {
  if (isStackOverflow(err)) return 'is too deeply nested or too complex to compile; flatten the markup and the Liquid blocks';
  const message = err instanceof Error ? err.message : String(err);
  return `cannot be compiled: ${message || (err instanceof Error ? err.name : 'unknown error')}`;
}

/** A RangeError from a full stack, possibly wrapped (liquidjs keeps the original as `originalError` and in its message). */
export function isStackOverflow(err: unknown): boolean {
  for (let e: unknown = err, hops = 0; e instanceof Error && hops < 5; hops++) {
    if (e instanceof RangeError || /maximum call stack size exceeded/i.test(e.message)) return true;
    e = (e as { originalError?: unknown }).originalError ?? e.cause;
  }
  return false;
}

/**
 * MJML silently drops markup it does not expect, such as a Liquid block tag between sections
 * (it must sit in `<mj-raw>`). A dropped `{% if %}` would send conditional content to everyone,
 * so every tag of the source must still be in the HTML. Each distinct tag is reported once, on
 * the line where it is first dropped.
 */
export function checkTagsSurvived(source: string, html: string, issues: IssueList): void {
  const inHtml = new Map<string, number>();
  for (const { tag } of liquidTags(decodeBasicEntities(html))) inHtml.set(tag, (inHtml.get(tag) ?? 0) + 1);
  const reported = new Set<string>();
  const lines = new LineCounter(source);
  for (const { tag, index } of liquidTags(blankComments(source))) {
    const left = inHtml.get(tag) ?? 0;
    if (left > 0) {
      inHtml.set(tag, left - 1);
    } else if (!reported.has(tag)) {
      reported.add(tag);
      const line = lines.lineAt(index);
      issues.add(
        `mjml line ${line}`,
        `the Liquid tag {% ${tag} %} is dropped by MJML: put tags that sit between sections or columns inside <mj-raw>`,
        { code: 'MJML_ERROR', line },
      );
    }
  }
}

/** Every `{% … %}` of `s`, its inside trimmed (whitespace control `-` too) and its whitespace collapsed. */
function* liquidTags(s: string): Generator<{ tag: string; index: number }> {
  for (const { start, end } of liquidTagSpans(s)) {
    const inside = s
      .slice(start + 2, end - 2)
      .replace(/^-/, '')
      .replace(/-$/, '');
    yield { tag: inside.trim().replace(/\s+/g, ' '), index: start };
  }
}

/** Where each `{% … %}` of `s` starts and ends (after `%}`), found without backtracking. */
function* liquidTagSpans(s: string): Generator<{ start: number; end: number }> {
  let from = 0;
  for (;;) {
    const start = s.indexOf('{%', from);
    if (start < 0) return;
    const close = s.indexOf('%}', start + 2);
    if (close < 0) return; // no tag can close after this: nothing left to find
    yield { start, end: close + 2 };
    from = close + 2;
  }
}

/** `s` without its `{% … %}` tags (an unclosed one is kept), in one pass. */
function withoutLiquidTags(s: string): string {
  let out = '';
  let from = 0;
  for (const { start, end } of liquidTagSpans(s)) {
    out += s.slice(from, start);
    from = end;
  }
  return out + s.slice(from);
}

/** `s` with each HTML comment's characters (not its line breaks) turned into spaces; an unclosed comment runs to the end, as in HTML. */
function blankComments(s: string): string {
  let out = '';
  let from = 0;
  for (;;) {
    const open = s.indexOf('<!--', from);
    if (open < 0) return out + s.slice(from);
    const end = s.indexOf('-->', open + 4);
    const stop = end < 0 ? s.length : end + 3;
    out += s.slice(from, open) + s.slice(open, stop).replace(/[^\r\n]/g, ' ');
    if (end < 0) return out;
    from = stop;
  }
}

function decodeBasicEntities(s: string): string {
  return s.replace(
    /&(lt|gt|quot|#39|#34|apos|amp);/g,
    (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", '#34': '"', apos: "'", amp: '&' })[e] ?? _,
  );
}

/** 1-based line numbers of increasing offsets, in one pass over the text (CR LF, CR and LF each end a line). */
export class LineCounter {
  private offset = 0;
  private line = 1;

  constructor(private readonly text: string) {}

  lineAt(index: number): number {
    if (index < this.offset) throw new RangeError('LineCounter goes forward only');
    const { text } = this;
    for (let i = this.offset; i < index; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) this.line++;
    }
    this.offset = index;
    return this.line;
  }
}
