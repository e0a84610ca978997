import { ValidationError, isAllowedRecipient } from '@baton/shared';
import { parseAudience } from '@baton/templating';

/** How many offending lines a refusal names. */
const NAMED = 5;

/**
 * In the `qa` stage an audience may hold only addresses QA may email (`QA_ALLOWED_RECIPIENTS`,
 * the worker's own rule, `isAllowedRecipient`). Checked at create so that a production copy is
 * refused with the lines to fix and the way to fix them, long before the worker's fence (which
 * stays, fail-closed, as the last one) would refuse each message.
 *
 * Only recipients the stubber would accept are checked: an invalid row is never sent. The whole
 * audience is parsed, which costs time in proportion to its size: QA audiences are small.
 */
export function refuseOutsideQaAllowList(csv: string, customerId: string, allowList: readonly string[]): void {
  const outside = parseAudience(csv, customerId).recipients.filter((r) => !isAllowedRecipient(allowList, r.email));
  if (outside.length === 0) return;
  // Lines only, never the addresses: the answer may end up in logs.
  const issues = outside
    .slice(0, NAMED)
    .map((r) => ({ where: `audience line ${r.line}`, message: 'the address is not in QA_ALLOWED_RECIPIENTS' }));
  const more = outside.length > NAMED ? ` (and ${outside.length - NAMED} more rows)` : '';
  issues.push({
    where: 'audience',
    message: `holds ${outside.length} addresses QA may not email${more}: give QA a sanitised copy (baton sanitize --in prod.csv --out qa.csv --domain <a domain in QA_ALLOWED_RECIPIENTS>)`,
  });
  throw new ValidationError('QA_AUDIENCE_NOT_ALLOWED', issues);
}
