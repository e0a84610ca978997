import { compile as compileHtmlToText } from 'html-to-text';
import { Liquid, type Template } from 'liquidjs';
import {
  PermanentError,
  ValidationError,
  assertCampaignId,
  assertCustomerId,
  assertRecipientId,
  unsubscribeUrl,
  type InputIssue,
  type RenderedMessage,
} from '@baton/shared';
import { addressProblem, checkMailbox } from './email-address';
import { mjml2html, type MjmlStrictError } from './mjml';

/**
 * A campaign's template: MJML compiled once to HTML, the text part derived once from that HTML,
 * and both merged per recipient with Liquid, like the subject.
 *
 * Merge data is HTML-escaped in the HTML part (`outputEscape: 'escape'`) and left as written in
 * the text part and the subject; the subject then loses every control character, so CR, LF and
 * NUL can never reach a header.
 */

export interface TemplateInput {
  /** `address` or `Name <address>`. */
  from: string;
  /** A Liquid template. */
  subject: string;
  /** An MJML document with Liquid placeholders and tags. */
  mjml: string;
}

export interface CompiledTemplate {
  /** The `from` header value: one mailbox, canonical (`Name <address>`, the name quoted where RFC 5322 requires). */
  readonly from: string;
  readonly subject: Template[];
  readonly html: Template[];
  readonly text: Template[];
  /** The Liquid sources after MJML and html-to-text, for previews and debugging. */
  readonly source: { readonly html: string; readonly text: string };
}

export interface RecipientData {
  customerId: string;
  campaignId: string;
  recipientId: string;
  email: string;
  fields: Record<string, string>;
}

export interface RenderSettings {
  /** Where the conductor serves `/unsubscribe/...`, e.g. `https://baton.example.com`. */
  publicUrl: string;
  /** Signs the unsubscribe link (BATON_UNSUBSCRIBE_SECRET); the conductor verifies it. */
  unsubscribeSecret: string;
}

/** RFC 5322's line limit; longer subjects are cut here. */
export const MAX_SUBJECT_LENGTH = 998;

// Generous for any real email, small enough that a runaway loop fails one recipient quickly.
const LIQUID_LIMITS = { parseLimit: 5_000_000, renderLimit: 1_000, memoryLimit: 20_000_000 } as const;

function createEngine(escapeOutput: boolean): Liquid {
  const engine = new Liquid({
    ...LIQUID_LIMITS,
    ...(escapeOutput ? { outputEscape: 'escape' as const } : {}),
    strictFilters: true,
    strictVariables: false, // a column missing from one audience renders empty, as marketers expect
    ownPropertyOnly: true,
    // No file system: partials resolve (and fail) against an empty in-memory map.
    templates: {},
    timezoneOffset: 0,
  });
  for (const tag of ['include', 'render', 'layout']) {
    engine.registerTag(tag, {
      parse() {
        throw new Error(`the {% ${tag} %} tag is not allowed: a template cannot read other files`);
      },
      render() {
        return undefined;
      },
    });
  }
  return engine;
}

const htmlEngine = createEngine(true);
const textEngine = createEngine(false);

/** Built once per container: html-to-text's `compile()` is the expensive part. */
const htmlToText = compileHtmlToText({
  wordwrap: false,
  selectors: [
    // Upper-casing would turn `{{ name }}` into `{{ NAME }}`, another variable.
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
    { selector: 'img', format: 'skip' },
  ],
});

/**
 * Compiles a campaign's template, or throws a ValidationError listing every problem found
 * (`from`, `subject`, `mjml line N`, `mjml`).
 */
export async function compileCampaignTemplate(input: TemplateInput): Promise<CompiledTemplate> {
  const issues: InputIssue[] = [];
  const from = checkFrom(input.from, issues);

  if (input.subject.trim() === '') issues.push({ where: 'subject', message: 'is empty' });
  const subject = parseLiquid(textEngine, input.subject, 'subject', '', issues);

  // Liquid in the MJML source first: its errors then carry the author's own line numbers.
  const sourceParsed = parseLiquid(htmlEngine, input.mjml, 'mjml', '', issues) !== undefined;
  const compiledHtml = await compileMjml(input.mjml, issues);

  let html: Template[] | undefined;
  let text: Template[] | undefined;
  let textSource = '';
  if (compiledHtml !== undefined && sourceParsed) {
    checkTagsSurvived(input.mjml, compiledHtml, issues);
    html = parseLiquid(htmlEngine, compiledHtml, 'mjml', 'after MJML compilation: ', issues);
    textSource = htmlToText(compiledHtml);
    text = parseLiquid(textEngine, textSource, 'mjml', 'in the text part derived from the HTML: ', issues);
  }

  if (issues.length > 0 || subject === undefined || html === undefined || text === undefined || compiledHtml === undefined) {
    throw new ValidationError('TEMPLATE_INVALID', issues.length > 0 ? issues : [{ where: 'mjml', message: 'could not be compiled' }]);
  }
  return { from, subject, html, text, source: { html: compiledHtml, text: textSource } };
}

/** Throws a ValidationError listing every problem in the template; the conductor calls it when a campaign is created. */
export async function validateCampaignTemplate(input: TemplateInput): Promise<void> {
  await compileCampaignTemplate(input);
}

/**
 * Merges one recipient into a compiled template. Throws a PermanentError (`RENDER_FAILED`,
 * `RECIPIENT_INVALID`, `KEY_INVALID`) when this recipient cannot be rendered; nothing here is
 * worth retrying.
 */
export function renderMessage(compiled: CompiledTemplate, recipient: RecipientData, settings: RenderSettings): RenderedMessage {
  const customerId = assertCustomerId(recipient.customerId);
  const campaignId = assertCampaignId(recipient.campaignId);
  const recipientId = assertRecipientId(recipient.recipientId);
  const publicUrl = checkPublicUrl(settings.publicUrl);
  const problem = addressProblem(recipient.email);
  if (problem !== undefined) throw new PermanentError('RECIPIENT_INVALID', `recipient ${recipientId}: ${problem}`);

  const scope: Record<string, string> = { ...recipient.fields, email: recipient.email };
  const subject = cleanSubject(renderPart(textEngine, compiled.subject, scope, 'subject'));
  const html = renderPart(htmlEngine, compiled.html, scope, 'html');
  const text = renderPart(textEngine, compiled.text, scope, 'text');

  const headers: Record<string, string> = {
    'List-Unsubscribe': `<${unsubscribeUrl(publicUrl, settings.unsubscribeSecret, { customerId, campaignId, recipientId })}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
  const message: RenderedMessage = {
    version: 1,
    customerId,
    campaignId,
    recipientId,
    to: recipient.email,
    from: compiled.from,
    subject,
    html,
    text,
    headers,
  };
  assertHeadersSafe(message);
  return message;
}

/** `https://host[:port][/path]` without a trailing slash; anything else is a configuration error. */
export function checkPublicUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  if (!/^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$/.test(trimmed)) {
    throw new ValidationError('PUBLIC_URL_INVALID', [
      { where: 'publicUrl', message: 'must be an http(s) URL without spaces, quotes or angle brackets' },
    ]);
  }
  return trimmed;
}

// ---- helpers --------------------------------------------------------------------------------

const CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/g;
const HEADER_BREAKING = /[\r\n\u0000]/;

function cleanSubject(rendered: string): string {
  const flat = rendered.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
  if (flat.length <= MAX_SUBJECT_LENGTH) return flat;
  // Cut by code point so a surrogate pair (an emoji) is never split in half.
  return Array.from(flat).slice(0, MAX_SUBJECT_LENGTH).join('').trim();
}

/** The last line of defence: whatever went before, no header-bound value may break a header. */
function assertHeadersSafe(message: RenderedMessage): void {
  const values: [string, string][] = [
    ['to', message.to],
    ['from', message.from],
    ['subject', message.subject],
    ...Object.entries(message.headers).map(([name, value]): [string, string] => [`header ${name}`, `${name}${value}`]),
  ];
  for (const [where, value] of values) {
    if (HEADER_BREAKING.test(value)) throw new PermanentError('HEADER_INVALID', `${where} would contain CR, LF or NUL`);
  }
}

function renderPart(engine: Liquid, template: Template[], scope: Record<string, string>, part: string): string {
  try {
    return String(engine.renderSync(template, scope));
  } catch (err) {
    throw new PermanentError('RENDER_FAILED', `${part}: ${(err as Error).message}`, { cause: err });
  }
}

function parseLiquid(engine: Liquid, source: string, where: string, context: string, issues: InputIssue[]): Template[] | undefined {
  try {
    return engine.parse(source);
  } catch (err) {
    issues.push({ where, message: `${context}${(err as Error).message}` });
    return undefined;
  }
}

async function compileMjml(mjml: string, issues: InputIssue[]): Promise<string | undefined> {
  try {
    const result = await mjml2html(mjml, {
      validationLevel: 'strict',
      keepComments: false,
      ignoreIncludes: true, // never read files named by a template
      minify: false,
      beautify: false,
    });
    if (typeof result?.html !== 'string' || result.html === '') {
      issues.push({ where: 'mjml', message: 'MJML produced no HTML' });
      return undefined;
    }
    return result.html;
  } catch (err) {
    const found = (err as MjmlStrictError).errors;
    if (Array.isArray(found) && found.length > 0) {
      for (const e of found) issues.push({ where: `mjml line ${e.line}`, message: `<${e.tagName}> ${e.message.trim()}` });
    } else {
      issues.push({ where: 'mjml', message: (err as Error).message || String(err) });
    }
    return undefined;
  }
}

const LIQUID_TAG = /\{%-?\s*([\s\S]*?)\s*-?%\}/g;

/**
 * MJML silently drops markup it does not expect, such as a Liquid block tag between sections
 * (it must sit in `<mj-raw>`). A dropped `{% if %}` would send conditional content to everyone,
 * so every tag of the source must still be in the HTML.
 */
function checkTagsSurvived(source: string, html: string, issues: InputIssue[]): void {
  const withoutComments = source.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
  const inHtml = new Map<string, number>();
  for (const m of decodeBasicEntities(html).matchAll(LIQUID_TAG)) {
    const tag = normaliseTag(m[1]!);
    inHtml.set(tag, (inHtml.get(tag) ?? 0) + 1);
  }
  const reported = new Set<string>();
  for (const m of withoutComments.matchAll(LIQUID_TAG)) {
    const tag = normaliseTag(m[1]!);
    const left = inHtml.get(tag) ?? 0;
    if (left > 0) {
      inHtml.set(tag, left - 1);
    } else if (!reported.has(tag)) {
      reported.add(tag);
      const line = source.slice(0, m.index).split(/\r\n|\r|\n/).length;
      issues.push({
        where: `mjml line ${line}`,
        message: `the Liquid tag {% ${tag} %} is dropped by MJML: put tags that sit between sections or columns inside <mj-raw>`,
      });
    }
  }
}

function normaliseTag(tag: string): string {
  return tag.replace(/\s+/g, ' ');
}

function decodeBasicEntities(s: string): string {
  return s.replace(
    /&(lt|gt|quot|#39|#34|apos|amp);/g,
    (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", '#34': '"', apos: "'", amp: '&' })[e] ?? _,
  );
}

/** The `from` header: exactly one mailbox, in its canonical form (see `checkMailbox`). */
function checkFrom(from: string, issues: InputIssue[]): string {
  const checked = checkMailbox(from);
  if (!checked.ok) {
    issues.push({ where: 'from', message: checked.problem });
    return from;
  }
  return checked.mailbox.header;
}
