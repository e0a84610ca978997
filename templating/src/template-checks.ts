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
  let from = 0;
  for (;;) {
    const open = s.indexOf('{%', from);
    if (open < 0) return;
    const close = s.indexOf('%}', open + 2);
    if (close < 0) return; // no tag can close after this: nothing left to find
    const inside = s
      .slice(open + 2, close)
      .replace(/^-/, '')
      .replace(/-$/, '');
    yield { tag: inside.trim().replace(/\s+/g, ' '), index: open };
    from = close + 2;
  }
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
