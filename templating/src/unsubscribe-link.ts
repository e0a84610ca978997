import { Parser } from 'htmlparser2';

/**
 * The rule for "a visible unsubscribe link", applied to the HTML MJML made of a template (its
 * Liquid still unmerged). CAN-SPAM expects one in the body, and so do recipients: the
 * List-Unsubscribe header alone is not shown by every mail client.
 *
 * The HTML has one when some `<a>`:
 *  - has an `href` that starts with the `unsubscribe_url` variable (`{{ unsubscribe_url }}`,
 *    filters allowed, such as `{{ unsubscribe_url | append: '&lang=de' }}`), so the link goes
 *    there and not to a page that merely names it;
 *  - holds something to click: text other than whitespace (a Liquid placeholder counts: it is
 *    merged per recipient), or an image with a `src`;
 *  - is not hidden: neither it nor an element around it has `display:none`, `opacity:0`,
 *    `hidden`, or `max-height:0` with `overflow:hidden` (the preheader trick MJML's
 *    `<mj-preview>` uses), nor is its text in `visibility:hidden` or at a font size of 0, as the
 *    nearest declaration decides (MJML sets `font-size:0px` on the cells around every column and
 *    sets it again on the text inside).
 * Colours (white on white) are not judged. A link inside `{% if %}` counts, though some
 * recipients may not get it; a variable assigned from `unsubscribe_url` does not. One pass,
 * linear in the HTML.
 */

const UNSUBSCRIBE_HREF = /^\s*\{\{-?\s*unsubscribe_url\s*(\||-?\}\})/;

export const UNSUBSCRIBE_LINK_MISSING =
  'no visible unsubscribe link: add one with {{ unsubscribe_url }}, e.g. <a href="{{ unsubscribe_url }}">Unsubscribe</a> (the List-Unsubscribe header alone is not shown by every mail client)';

/** What holds at an open element: whether everything inside is hidden, and the two inherited properties that hide text. */
interface Frame {
  hidesAll: boolean;
  visibilityHidden: boolean;
  fontZero: boolean;
  isUnsubscribeLink: boolean;
}

/** `undefined` when `html` has a visible unsubscribe link; otherwise what to tell the author. */
export function unsubscribeLinkProblem(html: string): string | undefined {
  return hasVisibleUnsubscribeLink(html) ? undefined : UNSUBSCRIBE_LINK_MISSING;
}

export function hasVisibleUnsubscribeLink(html: string): boolean {
  const stack: Frame[] = [];
  /** Open unsubscribe links (usually 0 or 1): how many are around the current point. */
  let inLink = 0;
  let found = false;
  const top = (): Frame | undefined => stack[stack.length - 1];
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        const parent = top();
        const style = parseStyle(attributes.style ?? '');
        const hidesAll =
          (parent?.hidesAll ?? false) ||
          'hidden' in attributes ||
          style.get('display') === 'none' ||
          isZero(style.get('opacity')) ||
          (isZero(style.get('max-height')) && style.get('overflow') === 'hidden');
        // Each is inherited until an element declares its own (the nearest declaration decides).
        const visibility = style.get('visibility');
        const fontSize = style.get('font-size');
        const visibilityHidden =
          visibility === undefined ? (parent?.visibilityHidden ?? false) : visibility === 'hidden' || visibility === 'collapse';
        const fontZero = fontSize === undefined ? (parent?.fontZero ?? false) : isZero(fontSize);
        const isUnsubscribeLink = name === 'a' && UNSUBSCRIBE_HREF.test(attributes.href ?? '');
        const frame: Frame = { hidesAll, visibilityHidden, fontZero, isUnsubscribeLink };
        stack.push(frame);
        if (isUnsubscribeLink) inLink++;
        if (inLink > 0 && name === 'img' && !hidesAll && (attributes.src ?? '').trim() !== '') found = true;
      },
      onclosetag() {
        const frame = stack.pop();
        if (frame?.isUnsubscribeLink) inLink--;
      },
      ontext(text) {
        if (found || inLink === 0) return;
        const frame = top();
        if (frame === undefined || frame.hidesAll || frame.visibilityHidden || frame.fontZero) return;
        if (text.trim() !== '') found = true;
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.end(html);
  return found;
}

/** `a: b; c: d` → lower-cased names and values (the last declaration wins, `!important` dropped). */
function parseStyle(style: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const declaration of style.split(';')) {
    const colon = declaration.indexOf(':');
    if (colon < 0) continue;
    const name = declaration.slice(0, colon).trim().toLowerCase();
    const value = declaration
      .slice(colon + 1)
      .replace(/!important/i, '')
      .trim()
      .toLowerCase();
    if (name !== '') out.set(name, value);
  }
  return out;
}

/** `0`, `0px`, `0.0em`, `0%`: a length or number that is zero. */
function isZero(value: string | undefined): boolean {
  return value !== undefined && /^[+-]?0*\.?0+(px|em|rem|pt|%)?$/.test(value);
}
