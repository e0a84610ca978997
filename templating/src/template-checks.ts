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

/** Problems found so far: the first `MAX_TEMPLATE_ISSUES` kept, the rest counted. */
export class IssueList {
  private readonly listed: InputIssue[] = [];
  private unlisted = 0;

  add(where: string, message: string): void {
    if (this.listed.length >= MAX_TEMPLATE_ISSUES) {
      this.unlisted++;
      return;
    }
    const cut = message.length > MAX_ISSUE_MESSAGE_LENGTH ? `${message.slice(0, MAX_ISSUE_MESSAGE_LENGTH - 1)}…` : message;
    this.listed.push({ where, message: cut });
  }

  get empty(): boolean {
    return this.listed.length === 0;
  }

  /** The issues for a ValidationError, with a last one saying how many more were found. */
  toIssues(): InputIssue[] {
    if (this.unlisted === 0) return [...this.listed];
    const more = this.unlisted.toLocaleString('en');
    return [
      ...this.listed,
      { where: 'template', message: `${more} more problem${this.unlisted === 1 ? ' was' : 's were'} found and not listed` },
    ];
  }
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
 * Reads the MJML source as MJML's own parser does (htmlparser2, self-closing tags recognised,
 * HTML's implied end tags applied), in one streaming pass with no recursion, and reports:
 *  - markup nested more than `MAX_NESTING_DEPTH` deep (the pass stops there), and
 *  - text outside MJML's ending tags (mj-text, mj-button, mj-raw, …), which MJML drops
 *    silently (Liquid tags there are left to `checkTagsSurvived`), and
 *  - more than `MAX_DROPPED_TEXTS` such pieces, text or Liquid.
 * Answers whether MJML may be run on the source: not when it is too deep or holds too many pieces.
 */
export function checkStructure(source: string, issues: IssueList, endingTags: ReadonlySet<string>): boolean {
  const lines = new LineCounter(source);
  let depth = 0;
  let inEndingTag = 0;
  let tooDeep = false;
  let droppedTexts = 0;
  const parser = new Parser(
    {
      onopentag(name) {
        depth++;
        if (inEndingTag > 0 || endingTags.has(name)) inEndingTag++;
        if (depth > MAX_NESTING_DEPTH && !tooDeep) {
          tooDeep = true;
          issues.add(
            `mjml line ${lines.lineAt(parser.startIndex)}`,
            `is too deeply nested: more than ${MAX_NESTING_DEPTH} elements inside one another; flatten the markup`,
          );
          // htmlparser2 keeps its open elements with `unshift`: stopping here keeps this pass linear.
          parser.pause();
        }
      },
      onclosetag() {
        depth--;
        if (inEndingTag > 0) inEndingTag--;
      },
      ontext(text) {
        if (depth === 0 || inEndingTag > 0) return;
        if (text.trim() === '') return;
        droppedTexts++;
        const visible = withoutLiquidTags(text).trim();
        if (visible === '') return;
        const quoted = visible.length > 40 ? `${visible.slice(0, 40)}…` : visible;
        issues.add(
          `mjml line ${lines.lineAt(parser.startIndex)}`,
          `the text "${quoted}" is dropped by MJML: text belongs in <mj-text>, <mj-button> or <mj-raw>`,
        );
      },
    },
    { recognizeSelfClosing: true, decodeEntities: false, lowerCaseTags: false, lowerCaseAttributeNames: false },
  );
  // Only what opens, closes and lies between matters: the end of the input needs no flushing.
  parser.write(source);
  if (droppedTexts > MAX_DROPPED_TEXTS) {
    const [found, allowed] = [droppedTexts, MAX_DROPPED_TEXTS].map((n) => n.toLocaleString('en'));
    issues.add(
      'mjml',
      `has ${found} pieces of text or Liquid between MJML elements, where MJML drops them (at most ${allowed} are checked further): put them in <mj-text>, <mj-button> or <mj-raw>`,
    );
  }
  return !tooDeep && droppedTexts <= MAX_DROPPED_TEXTS;
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
      issues.add(
        `mjml line ${lines.lineAt(index)}`,
        `the Liquid tag {% ${tag} %} is dropped by MJML: put tags that sit between sections or columns inside <mj-raw>`,
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
class LineCounter {
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
