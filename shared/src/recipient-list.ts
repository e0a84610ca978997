import { RECIPIENT_STATUSES, type RecipientStatus } from './api-types';
import { ValidationError } from './errors';

// The recipient list's rules shared by the conductor (which builds it) and the CLI (which reads
// it); its statuses, rows and pages are the API's types (api-types.ts).

/** `in-doubt`, `in_doubt`, `INDOUBT` and `inDoubt` all name the same status (the CLI writes kebab-case). */
export function parseRecipientStatus(value: string, where = 'status'): RecipientStatus {
  const squashed = value.replace(/[-_\s]/g, '').toLowerCase();
  const found = RECIPIENT_STATUSES.find((s) => s.toLowerCase() === squashed);
  if (!found)
    throw new ValidationError('STATUS_INVALID', [
      { where, message: `must be one of ${RECIPIENT_STATUSES.join(', ')} (got ${JSON.stringify(value.slice(0, 40))})` },
    ]);
  return found;
}
