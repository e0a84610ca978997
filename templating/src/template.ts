import { compile as compileHtmlToText } from 'html-to-text';
import { Liquid, type Template } from 'liquidjs';
import {
  PermanentError,
  ValidationError,
  assertCampaignId,
  assertCustomerId,
  assertRecipientId,
  unsubscribeUrl,
  type RenderedMessage,
} from '@baton/shared';
import { addressProblem, checkMailbox } from './email-address';
import { mjml2html, mjmlEndingTags, type MjmlStrictError } from './mjml';
import { unsubscribeLinkProblem } from './unsubscribe-link';
import {
  IssueList,
  MAX_LIQUID_MARKUP,
  checkHtmlNesting,
  checkInlinedPlaceholders,
  checkStructure,
  readsBodyAsXml,
  checkTagsSurvived,
  compileFailure,
  countLiquidMarkup,
  isStackOverflow,
} from './template-checks';

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
 * Compiles a campaign's template, or throws a ValidationError listing the problems found
 * (`from`, `subject`, `mjml line N`, `mjml`; at most `MAX_TEMPLATE_ISSUES`, then a count).
 * Linear in the size of its input.
 */
export async function compileCampaignTemplate(input: TemplateInput): Promise<CompiledTemplate> {
  return (await checkedTemplate(input)).compiled;
}

/** The inspection of a template with no error, or the ValidationError listing its errors (whatever the libraries threw included). */
async function checkedTemplate(input: TemplateInput): Promise<TemplateInspection & { compiled: CompiledTemplate }> {
  let inspection: TemplateInspection;
  try {
    inspection = await inspectCampaignTemplate(input);
  } catch (err) {
    throw asTemplateError(err);
  }
  const { compiled, issues } = inspection;
  if (!issues.empty || compiled === undefined) {
    throw new ValidationError('TEMPLATE_INVALID', issues.empty ? [{ where: 'mjml', message: 'could not be compiled' }] : issues.toIssues());
  }
  return { ...inspection, compiled };
}

/** Whatever MJML, html-to-text or Liquid throws on pathological input is the template's problem, not ours. */
export function asTemplateError(err: unknown): PermanentError {
  if (err instanceof PermanentError) return err;
  return new ValidationError('TEMPLATE_INVALID', [{ where: 'mjml', message: compileFailure(err) }], { cause: err });
}

/** What `inspectCampaignTemplate` found: the compiled template when there is no error, every problem, and the Liquid of the sources as parsed. */
export interface TemplateInspection {
  compiled?: CompiledTemplate;
  /** Errors and warnings, each with its code and, where known, the author's line. */
  issues: IssueList;
  /** The subject's and the MJML source's Liquid (before MJML), when they parse: where merge fields are read from. */
  liquid: { subject?: Template[]; mjml?: Template[] };
}

/**
 * Every check of a campaign's template, without throwing: the one place the rules of
 * `compileCampaignTemplate` (errors) and `templateWarnings` (warnings) are applied, for the
 * create and for the editor's check alike. Without `from`, the sender is not checked.
 * Linear in the size of its input.
 */
export async function inspectCampaignTemplate(input: Omit<TemplateInput, 'from'> & { from?: string }): Promise<TemplateInspection> {
  const issues = new IssueList();
  const from = input.from === undefined ? '' : checkFrom(input.from, issues);

  if (input.subject.trim() === '') issues.add('subject', 'is empty', { code: 'SUBJECT_EMPTY' });
  const subject = parseLiquid(textEngine, input.subject, 'subject', '', issues);

  // Liquid in the MJML source first: its errors then carry the author's own line numbers.
  const sourceLiquid = parseLiquid(htmlEngine, input.mjml, 'mjml', '', issues);
  // Markup too deep for the libraries' recursion, or too costly for MJML's parser, never reaches them.
  const mjmlOutput =
    checkStructure(input.mjml, issues, mjmlEndingTags()) && checkInlinedPlaceholders(input.mjml, issues)
      ? await compileMjml(input.mjml, issues)
      : undefined;
  // …and HTML too deep for the readers of MJML's output (html-to-text, the unsubscribe check) never reaches them.
  const compiledHtml =
    mjmlOutput !== undefined && checkHtmlNesting(mjmlOutput, issues, { fromXml: readsBodyAsXml(input.mjml) }) ? mjmlOutput : undefined;

  let html: Template[] | undefined;
  let text: Template[] | undefined;
  let textSource: string | undefined;
  if (compiledHtml !== undefined && sourceLiquid !== undefined) {
    checkTagsSurvived(input.mjml, compiledHtml, issues);
    html = parseLiquid(htmlEngine, compiledHtml, 'mjml', 'after MJML compilation: ', issues);
    textSource = deriveText(compiledHtml, issues);
    if (textSource !== undefined) text = parseLiquid(textEngine, textSource, 'mjml', 'in the text part derived from the HTML: ', issues);
  }
  if (compiledHtml !== undefined) {
    const unsubscribe = unsubscribeLinkProblem(compiledHtml);
    if (unsubscribe !== undefined) issues.warn('mjml', unsubscribe, { code: 'UNSUBSCRIBE_LINK_MISSING' });
  }
  const liquid = { ...(subject ? { subject } : {}), ...(sourceLiquid ? { mjml: sourceLiquid } : {}) };
  if (!issues.empty || subject === undefined || html === undefined || text === undefined || compiledHtml === undefined) {
    return { issues, liquid };
  }
  const compiled: CompiledTemplate = { from, subject, html, text, source: { html: compiledHtml, text: textSource ?? '' } };
  return { compiled, issues, liquid };
}

/**
 * Throws a ValidationError listing every problem in the template; the conductor calls it when a
 * campaign is created. What is allowed but unwise comes back as `warnings` (`where: message`).
 */
export async function validateCampaignTemplate(input: TemplateInput): Promise<{ warnings: string[] }> {
  return { warnings: (await checkedTemplate(input)).issues.warnings() };
}

/** What a template may do but should not: no visible unsubscribe link (see unsubscribe-link.ts for the rule). */
export function templateWarnings(compiled: CompiledTemplate): string[] {
  const problem = unsubscribeLinkProblem(compiled.source.html);
  return problem === undefined ? [] : [`mjml: ${problem}`];
}

/**
 * Merge fields Baton fills in itself, whatever the audience's columns: the recipient's address
 * and their signed unsubscribe link. They win over audience columns of the same name.
 */
export const BUILT_IN_FIELDS: readonly string[] = ['email', 'unsubscribe_url'];

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

  const unsubscribe = unsubscribeUrl(publicUrl, settings.unsubscribeSecret, { customerId, campaignId, recipientId });
  // Baton's own merge tags (BUILT_IN_FIELDS) win over audience columns of the same name.
  const scope: Record<string, string> = { ...recipient.fields, email: recipient.email, unsubscribe_url: unsubscribe };
  const subject = cleanSubject(renderPart(textEngine, compiled.subject, scope, 'subject'));
  const html = renderPart(htmlEngine, compiled.html, scope, 'html');
  const text = renderPart(textEngine, compiled.text, scope, 'text');

  const headers: Record<string, string> = {
    'List-Unsubscribe': `<${unsubscribe}>`,
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

function parseLiquid(engine: Liquid, source: string, where: string, context: string, issues: IssueList): Template[] | undefined {
  const markup = countLiquidMarkup(source);
  if (markup > MAX_LIQUID_MARKUP) {
    const [found, allowed] = [markup, MAX_LIQUID_MARKUP].map((n) => n.toLocaleString('en'));
    issues.add(where, `${context}has ${found} Liquid tags and placeholders ({% %}, {{ }}); at most ${allowed} are allowed`, {
      code: 'TEMPLATE_TOO_COMPLEX',
    });
    return undefined;
  }
  try {
    return engine.parse(source);
  } catch (err) {
    const overflow = isStackOverflow(err);
    // The line is the author's only in the source itself, not in what MJML or html-to-text made of it.
    const line = context === '' && !overflow ? liquidErrorLine(err) : undefined;
    issues.add(where, `${context}${overflow ? compileFailure(err) : (err as Error).message}`, {
      code: overflow ? 'TEMPLATE_TOO_COMPLEX' : 'LIQUID_ERROR',
      ...(line !== undefined ? { line } : {}),
    });
    return undefined;
  }
}

/** The 1-based line liquidjs names in a parse error (its token's position), if any. */
function liquidErrorLine(err: unknown): number | undefined {
  const position = (err as { token?: { getPosition?: () => [number, number] } }).token?.getPosition?.();
  return position !== undefined && Number.isInteger(position[0]) ? position[0] : undefined;
}

function deriveText(html: string, issues: IssueList): string | undefined {
  try {
    return htmlToText(html);
  } catch (err) {
    issues.add('mjml', `in the text part derived from the HTML: ${compileFailure(err)}`);
    return undefined;
  }
}

async function compileMjml(mjml: string, issues: IssueList): Promise<string | undefined> {
  try {
    const result = await mjml2html(mjml, {
      validationLevel: 'strict',
      keepComments: false,
      ignoreIncludes: true, // never read files named by a template
      minify: false,
      beautify: false,
    });
    if (typeof result?.html !== 'string' || result.html === '') {
      issues.add('mjml', 'MJML produced no HTML', { code: 'MJML_ERROR' });
      return undefined;
    }
    return result.html;
  } catch (err) {
    const found = (err as MjmlStrictError).errors;
    if (Array.isArray(found) && found.length > 0) {
      for (const e of found) issues.add(`mjml line ${e.line}`, `<${e.tagName}> ${e.message.trim()}`, { code: 'MJML_ERROR', line: e.line });
    } else {
      issues.add('mjml', compileFailure(err), { code: 'MJML_ERROR' });
    }
    return undefined;
  }
}

/** The `from` header: exactly one mailbox, in its canonical form (see `checkMailbox`). */
function checkFrom(from: string, issues: IssueList): string {
  const checked = checkMailbox(from);
  if (!checked.ok) {
    issues.add('from', checked.problem, { code: 'FROM_INVALID' });
    return from;
  }
  return checked.mailbox.header;
}
