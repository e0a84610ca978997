/** Hostile inputs from issue 9, shared by the pool tests and the robustness suite. */

const SECTION = (inner: string) =>
  `<mjml><mj-body><mj-section><mj-column><mj-text>${inner}</mj-text></mj-column></mj-section></mj-body></mjml>`;

export const SIMPLE_MJML = SECTION('Hello {{ first_name }}');

/** `n` lines of `{% assign aN = 1 %}` between sections (the 20,000: 469 KB), which MJML drops. */
export function manyAssignTags(n: number): string {
  const tags = Array.from({ length: n }, (_, i) => `{% assign a${i} = 1 %}`).join('\n');
  return `<mjml><mj-body>\n${tags}\n<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>`;
}

/** Nested `for` loops that run until Liquid's render limit stops each part (about 1 s a part). */
export const NESTED_LOOPS_MJML = SECTION(
  '{% for a in (1..100000) %}{% for b in (1..100000) %}{% for c in (1..100000) %}x{% endfor %}{% endfor %}{% endfor %}',
);

/** An audience CSV of `rows` recipients (the 1M rows: 39.7 MB). */
export function bigAudience(rows: number): string {
  const lines = ['email,first_name,city'];
  for (let i = 0; i < rows; i++) lines.push(`reader${i}@example.com,Reader ${i},Oslo`);
  return lines.join('\n') + '\n';
}

/**
 * An audience CSV of `rows` malformed rows (the issue had 200,000 in 4.9 MB, 22 s in the request
 * when each cost a fresh parser pass; these 200,000 are 6.2 MB): by turns a quote inside an
 * unquoted field, and a closing quote followed by other characters.
 */
export function malformedAudience(rows: number): string {
  const lines = ['email,first_name,city'];
  for (let i = 0; i < rows; i++) lines.push(i % 2 === 0 ? `r${i}@example.com,Re"ad,Oslo` : `r${i}@example.com,"Re"ad,Oslo`);
  return lines.join('\n') + '\n';
}
