import { PermanentError, ValidationError, isBatonError, type InputIssue, type RenderedMessage } from '@baton/shared';
import {
  TemplateCache,
  audienceRow,
  checkDraft,
  parseAudience,
  previewDraft,
  renderMessage,
  type AudienceRecipient,
  type DraftAudience,
  type DraftCheck,
  type DraftPreview,
  type DraftTemplate,
  type RecipientData,
  type RenderSettings,
  type TemplateInput,
  validateCampaignTemplate,
} from '@baton/templating';
import type { RenderPool } from './ports';

/**
 * The conductor's CPU-heavy work on templates and audiences, as plain-data tasks and answers, so
 * that it can run in a worker thread (adapters/render-worker.ts) as well as in-process (core
 * tests). Errors travel as data: a structured clone keeps neither an error's class nor its code.
 */
export type RenderTask =
  | { kind: 'check-template'; template: TemplateInput }
  | { kind: 'render'; template: TemplateInput; recipient: RecipientData; settings: RenderSettings }
  | { kind: 'check-audience-head'; head: string; customerId: string }
  | { kind: 'first-recipient'; csv: string; customerId: string }
  | { kind: 'check-draft'; template: DraftTemplate; audience?: DraftAudience }
  | { kind: 'preview-draft'; template: DraftTemplate; audience?: DraftAudience; row: number; settings: RenderSettings }
  | { kind: 'audience-row'; audience: DraftAudience; row: number };

/** Tasks that compile a template: they get the template check's time limit. */
export const COMPILING_TASKS: ReadonlySet<RenderTask['kind']> = new Set(['check-template', 'check-draft', 'preview-draft']);

export type WireError =
  | { type: 'validation'; code: string; issues: InputIssue[] }
  | { type: 'permanent'; code: string; message: string }
  | { type: 'other'; message: string };

export type RenderTaskResult = { ok: true; value: unknown } | { ok: false; error: WireError };

/** What a first-recipient task answers: the first valid row, and how many valid rows the text held. */
export interface FirstRecipient {
  recipient: AudienceRecipient | undefined;
  valid: number;
}

/**
 * A task runner with its own compiled templates, per campaign: a campaign's definition never
 * changes, so its id is the cache key (the template travels with every task, for a thread that
 * has not seen it yet). The runner never throws: whatever goes wrong is in the answer.
 */
export function createRenderTaskRunner(): (task: RenderTask) => Promise<RenderTaskResult> {
  const templates = new TemplateCache({ maxSize: 16 });
  return async (task) => {
    try {
      return { ok: true, value: await run(task, templates) };
    } catch (err) {
      return { ok: false, error: toWire(err) };
    }
  };
}

async function run(task: RenderTask, templates: TemplateCache): Promise<unknown> {
  switch (task.kind) {
    case 'check-template':
      return validateCampaignTemplate(task.template);
    case 'render': {
      const { recipient, template } = task;
      const compiled = await templates.get(recipient, async () => template);
      return renderMessage(compiled, recipient, task.settings);
    }
    case 'check-audience-head':
      parseAudience(task.head, task.customerId);
      return undefined;
    case 'first-recipient': {
      const { recipients } = parseAudience(task.csv, task.customerId);
      const answer: FirstRecipient = { recipient: recipients[0], valid: recipients.length };
      return answer;
    }
    case 'check-draft':
      return checkDraft(task.template, task.audience);
    case 'preview-draft':
      // A draft changes with every keystroke: compiled afresh, never cached.
      return previewDraft(task.template, task.audience, task.row, task.settings);
    case 'audience-row':
      return audienceRow(task.audience, task.row);
  }
}

function toWire(err: unknown): WireError {
  if (err instanceof ValidationError) return { type: 'validation', code: err.code, issues: err.issues };
  if (isBatonError(err) && err.kind === 'permanent') return { type: 'permanent', code: err.code, message: err.message };
  return { type: 'other', message: err instanceof Error ? err.message : String(err) };
}

/** The answer's value, or the error it carries rebuilt as the class the caller expects. */
export function unwrap<T>(result: RenderTaskResult): T {
  if (result.ok) return result.value as T;
  const { error } = result;
  if (error.type === 'validation') throw new ValidationError(error.code, error.issues);
  if (error.type === 'permanent') throw new PermanentError(error.code, error.message);
  throw new Error(error.message);
}

/** A RenderPool over any task runner: the thread pool's adapter and the in-process one share it. */
export function renderPoolOver(runTask: (task: RenderTask) => Promise<RenderTaskResult>, close: () => Promise<void>): RenderPool {
  return {
    checkTemplate: async (template) => unwrap<{ warnings: string[] }>(await runTask({ kind: 'check-template', template })),
    render: async (template, recipient, settings) =>
      unwrap<RenderedMessage>(await runTask({ kind: 'render', template, recipient, settings })),
    checkAudienceHead: async (head, customerId) => unwrap<undefined>(await runTask({ kind: 'check-audience-head', head, customerId })),
    firstRecipient: async (csv, customerId) => unwrap<FirstRecipient>(await runTask({ kind: 'first-recipient', csv, customerId })),
    checkDraft: async (template, audience) => unwrap<DraftCheck>(await runTask({ kind: 'check-draft', template, audience })),
    previewDraft: async (template, audience, row, settings) =>
      unwrap<DraftPreview>(await runTask({ kind: 'preview-draft', template, audience, row, settings })),
    audienceRow: async (audience, row) => unwrap<AudienceRecipient>(await runTask({ kind: 'audience-row', audience, row })),
    close,
  };
}

/**
 * The work done on the calling thread: for core unit tests and tools. The service never uses
 * it (a slow template would stall every request meanwhile); it runs a thread pool.
 */
export function inProcessRenderPool(): RenderPool {
  return renderPoolOver(createRenderTaskRunner(), async () => {});
}
