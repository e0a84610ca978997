import { analyzeSync, type Template } from 'liquidjs';
import { normaliseFieldName } from './audience';
import { BUILT_IN_FIELDS } from './template';

/**
 * Which merge fields a template uses, and which of them an audience does not have. A merge field
 * is the root of a Liquid variable read from outside the template (a placeholder, or a variable in
 * a tag or a filter's argument: `{% if vip %}`, `{{ name | default: nickname }}`), not one the
 * template assigns itself or a loop variable. The renderer fills them from the audience's columns
 * by their normalised names (`First Name` → `first_name`, see `normaliseFieldName`) and from
 * `BUILT_IN_FIELDS`; Liquid matches names as written, so `{{ First_Name }}` is unknown too.
 */

export interface MergeFieldUse {
  name: string;
  /** The lines it is used on (1-based, in the source given), in order. */
  lines: number[];
}

export interface UnknownMergeField extends MergeFieldUse {
  /** A column it probably means, when one is close. */
  suggestion?: string;
}

/** The merge fields `template` reads, each with its lines, in the order of their first use. */
export function mergeFieldsUsed(template: Template[]): MergeFieldUse[] {
  const { globals } = analyzeSync(template, { partials: false });
  const uses = Object.entries(globals).map(([name, found]) => ({
    name,
    lines: [...new Set(found.map((v) => v.location.row))].sort((a, b) => a - b),
  }));
  return uses.sort((a, b) => (a.lines[0] ?? 0) - (b.lines[0] ?? 0));
}

/** Suggestions are looked for among at most this many columns (an edit distance per column). */
const MAX_SUGGESTION_COLUMNS = 500;
const MAX_SUGGESTION_LENGTH = 64;

/** The uses whose name is neither a column (`columns`: normalised names) nor a built-in field. */
export function unknownMergeFields(uses: readonly MergeFieldUse[], columns: readonly string[]): UnknownMergeField[] {
  const known = new Set([...columns, ...BUILT_IN_FIELDS]);
  const unknown: UnknownMergeField[] = [];
  for (const use of uses) {
    if (known.has(use.name)) continue;
    const suggestion = suggest(use.name, columns, known);
    unknown.push(suggestion === undefined ? use : { ...use, suggestion });
  }
  return unknown;
}

/** The column `name` most probably means: its normalised form, or the one column within two edits. */
function suggest(name: string, columns: readonly string[], known: ReadonlySet<string>): string | undefined {
  const normalised = normaliseFieldName(name);
  if (known.has(normalised)) return normalised;
  if (columns.length > MAX_SUGGESTION_COLUMNS || name.length > MAX_SUGGESTION_LENGTH) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  for (const column of [...columns, ...BUILT_IN_FIELDS]) {
    if (Math.abs(column.length - normalised.length) >= bestDistance || column.length > MAX_SUGGESTION_LENGTH) continue;
    const d = editDistance(normalised, column);
    if (d < bestDistance) [best, bestDistance] = [column, d];
  }
  return best;
}

/** Levenshtein distance, with adjacent swaps counting one (`frist` → `first`). */
function editDistance(a: string, b: string): number {
  let before = Array.from({ length: b.length + 1 }, (_, j) => j);
  let previous = before;
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = previous;
    previous = row;
  }
  return previous[b.length]!;
}
