import { ValidationError, type DraftCheck, type DraftField, type DraftPreview, type DraftProblem } from '@baton/shared';
import { parseAudience, type AudienceRecipient, type ParsedAudience } from './audience';
import { AUDIENCE_HEAD_BYTES } from './audience-head';
import { unknownMergeFields, mergeFieldsUsed } from './merge-fields';
import {
  asTemplateError,
  compileCampaignTemplate,
  inspectCampaignTemplate,
  MAX_SUBJECT_LENGTH,
  renderMessage,
  type RenderSettings,
  type TemplateInspection,
} from './template';
import { MAX_TEMPLATE_ISSUES, type TemplateProblem } from './template-checks';

/**
 * A campaign being edited, checked and previewed before it exists: the same rules as a create
 * (`inspectCampaignTemplate`, `parseAudience`) and the same renderer (`renderMessage`), with
 * every problem answered as data rather than thrown, plus what only an editor needs to hear:
 * merge fields the audience has no column for. Linear in its input.
 */

/** What a check and a preview answer: the API's types (shared api-types.ts), made here. */
export type { DraftCheck, DraftField, DraftPreview, DraftProblem };

export interface DraftTemplate {
  subject: string;
  mjml: string;
  /** Checked when given; a preview without one is sent from `preview@example.com`. */
  from?: string;
}

export interface DraftAudience {
  /**
   * The audience's text, or its head: text of `AUDIENCE_HEAD_BYTES` bytes or more is taken as
   * cut anywhere, so it is read up to its last line break only (its last line may be a row cut
   * short). Shorter text is the whole file.
   */
  csv: string;
  /** The customer the rows belong to (their recipient ids); any id for a check. */
  customerId: string;
  /** Known to be the whole file (true), or a head cut after a line break (false); judged by its size when absent. */
  complete?: boolean;
}

/** Every problem of a draft: the template's (as a create finds them), the audience header's, its first rows', and unknown merge fields. */
export async function checkDraft(template: DraftTemplate, audience?: DraftAudience): Promise<DraftCheck> {
  const problems: DraftProblem[] = [];
  if (template.subject.length > MAX_SUBJECT_LENGTH) {
    problems.push({
      field: 'subject',
      severity: 'error',
      code: 'SUBJECT_TOO_LONG',
      message: `is ${template.subject.length.toLocaleString('en')} characters long; a subject may have at most ${MAX_SUBJECT_LENGTH}`,
    });
  }
  let inspection: TemplateInspection | undefined;
  try {
    inspection = await inspectCampaignTemplate(template);
    problems.push(...inspection.issues.problems().map(fromTemplateProblem));
  } catch (err) {
    // What a library threw on pathological input: the error a create would answer, as a problem.
    const error = asTemplateError(err);
    const issues = error instanceof ValidationError ? error.issues : [{ where: 'mjml', message: error.message }];
    for (const issue of issues) problems.push(fromTemplateProblem({ ...issue, severity: 'error', code: error.code }));
  }

  const parsed = audience === undefined ? undefined : readAudience(audience, problems);
  if (parsed !== undefined) {
    for (const [field, liquid] of [
      ['subject', inspection?.liquid.subject],
      ['mjml', inspection?.liquid.mjml],
    ] as const) {
      if (liquid !== undefined) problems.push(...unknownFieldProblems(field, mergeFieldsUsed(liquid), parsed.columns));
    }
  }
  return { columns: parsed?.columns ?? [], problems };
}

/**
 * The audience text read as far as it is whole, and whether it was cut: `complete` true is the
 * whole file, false a head cut after a line break; without it, text of `AUDIENCE_HEAD_BYTES` or
 * more is taken as cut anywhere (up to its last line break), shorter text as whole.
 */
export function wholeRows(csv: string, complete?: boolean): { text: string; cut: boolean } {
  if (complete === true || (complete === undefined && Buffer.byteLength(csv, 'utf8') < AUDIENCE_HEAD_BYTES))
    return { text: csv, cut: false };
  const end = Math.max(csv.lastIndexOf('\n'), csv.lastIndexOf('\r'));
  return end < 0 ? { text: csv, cut: false } : { text: csv.slice(0, end + 1), cut: true };
}

function readAudience(audience: DraftAudience, problems: DraftProblem[]): ParsedAudience | undefined {
  try {
    const parsed = parseAudience(wholeRows(audience.csv, audience.complete).text, audience.customerId);
    const { report } = parsed;
    for (const p of report.problems.slice(0, MAX_TEMPLATE_ISSUES)) {
      const code = p.kind === 'duplicate' ? 'AUDIENCE_ROW_DUPLICATE' : 'AUDIENCE_ROW_INVALID';
      problems.push({ field: 'audience', line: p.line, severity: 'warning', code, message: `${p.reason}; the row is skipped` });
    }
    const unlisted = report.invalid + report.duplicate - Math.min(report.problems.length, MAX_TEMPLATE_ISSUES);
    if (unlisted > 0) {
      const message = `${unlisted.toLocaleString('en')} more row${unlisted === 1 ? ' is' : 's are'} skipped and not listed`;
      problems.push({ field: 'audience', severity: 'warning', code: 'MORE_PROBLEMS', message });
    }
    return parsed;
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    for (const issue of err.issues) {
      const line = lineOf(issue.where);
      problems.push({
        field: 'audience',
        ...(line !== undefined ? { line } : {}),
        severity: 'error',
        code: err.code,
        message: issue.message,
      });
    }
    return undefined;
  }
}

function unknownFieldProblems(field: 'subject' | 'mjml', uses: ReturnType<typeof mergeFieldsUsed>, columns: string[]): DraftProblem[] {
  return unknownMergeFields(uses, columns)
    .slice(0, MAX_TEMPLATE_ISSUES)
    .map(({ name, lines, suggestion }) => {
      const also =
        lines.length > 1
          ? ` (also on line${lines.length > 2 ? 's' : ''} ${lines.slice(1, 6).join(', ')}${lines.length > 6 ? ', …' : ''})`
          : '';
      const hint = suggestion === undefined ? '' : `; did you mean {{ ${suggestion} }}?`;
      return {
        field,
        line: lines[0]!,
        severity: 'warning' as const,
        code: 'MERGE_FIELD_UNKNOWN',
        message: `the merge field "${name}"${also} is not a column of the audience (${describeColumns(columns)}), so it renders empty${hint}`,
      };
    });
}

function describeColumns(columns: string[]): string {
  const shown = columns.slice(0, 10).join(', ');
  return columns.length > 10 ? `${shown}, and ${columns.length - 10} more` : shown;
}

function fromTemplateProblem(p: TemplateProblem): DraftProblem {
  const field: DraftField = p.where === 'subject' ? 'subject' : p.where === 'from' ? 'from' : 'mjml';
  const line = p.line ?? lineOf(p.where);
  return { field, ...(line !== undefined ? { line } : {}), severity: p.severity, code: p.code, message: p.message };
}

/** `mjml line 7`, `audience line 1` → 7, 1. */
function lineOf(where: string): number | undefined {
  const m = /\bline (\d+)$/.exec(where);
  return m ? Number(m[1]) : undefined;
}

// ---- previews ------------------------------------------------------------------------------

/** Ids of a draft's preview, which belongs to no campaign yet. */
const PREVIEW_IDS = { campaignId: 'draft', recipientId: '0'.repeat(32) } as const;
const PREVIEW_FROM = 'Preview <preview@example.com>';

/**
 * The draft rendered for data row `row` of its audience (1-based; the header is not a row, blank
 * lines are not rows) as that recipient would get it. Throws a ValidationError when the template
 * has an error (as a create would), or naming `row` when that row is not there or is not sent
 * (an invalid address, a duplicate); a PermanentError (`RENDER_FAILED`) when rendering fails.
 */
export async function previewDraft(
  template: DraftTemplate,
  audience: DraftAudience | undefined,
  row: number,
  settings: RenderSettings,
): Promise<DraftPreview> {
  const compiled = await compileCampaignTemplate({ from: template.from ?? PREVIEW_FROM, subject: template.subject, mjml: template.mjml });
  const picked = audience === undefined ? undefined : audienceRow(audience, row);
  const recipient = {
    customerId: audience?.customerId ?? 'draft',
    ...PREVIEW_IDS,
    ...(picked !== undefined ? { recipientId: picked.recipientId } : {}),
    email: picked?.email ?? 'preview@example.com',
    fields: picked?.fields ?? {},
  };
  // A render that fails (Liquid's limits) is the template's doing: its PermanentError goes as it is, as a campaign's preview answers it.
  const message = renderMessage(compiled, recipient, settings);
  return { subject: message.subject, html: message.html, text: message.text, row: picked ? row : 0, values: { ...(picked?.fields ?? {}) } };
}

/**
 * Data row `row` (1-based) of an audience's text, when it is sent; a ValidationError naming
 * `row` when the text holds fewer rows or that row is skipped (with the reason and its line).
 */
export function audienceRow(audience: DraftAudience, row: number): AudienceRecipient {
  const { text, cut } = wholeRows(audience.csv, audience.complete);
  const { recipients, report } = parseAudience(text, audience.customerId);
  // Rows in file order: those sent and those skipped, each once, both lists already in line order.
  let r = 0;
  let p = 0;
  for (let n = 1; r < recipients.length || p < report.problems.length; n++) {
    const recipient = recipients[r];
    const problem = report.problems[p];
    const takeRecipient = recipient !== undefined && (problem === undefined || recipient.line < problem.line);
    if (n === row) {
      if (takeRecipient) return recipient;
      throw new ValidationError('PREVIEW_INVALID', [
        { where: 'row', message: `data row ${row} (line ${problem!.line}) is not sent: ${problem!.reason}` },
      ]);
    }
    if (takeRecipient) r++;
    else p++;
  }
  const rows = report.rows;
  const within = cut ? ` in the first ${AUDIENCE_HEAD_BYTES.toLocaleString('en')} bytes read` : '';
  throw new ValidationError('PREVIEW_INVALID', [
    {
      where: 'row',
      message: `there is no data row ${row}: the audience has ${rows.toLocaleString('en')} data row${rows === 1 ? '' : 's'}${within}`,
    },
  ]);
}
