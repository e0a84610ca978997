import {
  PermanentError,
  ValidationError,
  assertCustomerId,
  assertRecipientId,
  recipientIdFor,
  type ImportResult,
  type Ledger,
  type Logger,
  type Suppression,
  type SuppressionPage,
  type SuppressionView,
} from '@baton/shared';
import { addressProblem, normaliseAddress, parseAudience } from '@baton/templating';

/** A suppression, a page of them and an import's report: the API's types (shared api-types.ts), made here. */
export type { ImportResult, SuppressionPage, SuppressionView };

/** Removing a suppression the recipient or the provider caused (only `manual` ones may be removed). */
export class SuppressionNotRemovableError extends PermanentError {
  constructor(reason: string) {
    super('SUPPRESSION_NOT_REMOVABLE', `this address is suppressed as ${reason}; only manual suppressions can be removed`);
  }
}

export class SuppressionNotFoundError extends PermanentError {
  constructor() {
    super('SUPPRESSION_NOT_FOUND', 'this address is not suppressed for this customer');
  }
}

export const MAX_PAGE = 1000;
/** Suppressions written at once during an import. */
const IMPORT_CONCURRENCY = 16;

export interface SuppressionsDeps {
  ledger: Ledger;
  logger: Logger;
}

/**
 * A customer's suppression list: addresses none of its campaigns (nor test sends) will mail,
 * each with why. The marketer lists, adds, imports and removes manual ones; the provider's
 * feedback and unsubscribe links add the others (see `Feedback`, `Conductor.unsubscribe`).
 */
export class Suppressions {
  constructor(private readonly deps: SuppressionsDeps) {}

  /** One page, in recipient-id order (stable while entries come and go); `cursor` is the last page's `next`. */
  async page(customerId: string, options: { cursor?: string; limit?: number } = {}): Promise<SuppressionPage> {
    const limit = pageLimit(options.limit);
    const afterRecipientId = options.cursor === undefined ? undefined : cursorOf(options.cursor);
    const suppressions: SuppressionView[] = [];
    for await (const s of this.deps.ledger.suppressions(assertCustomerId(customerId), { afterRecipientId })) {
      if (suppressions.length === limit) return { suppressions, next: suppressions[suppressions.length - 1]!.recipientId };
      suppressions.push(toView(s));
    }
    return { suppressions, next: null };
  }

  /** Every suppression, one at a time, for a streamed listing. */
  async *all(customerId: string): AsyncGenerator<SuppressionView> {
    for await (const s of this.deps.ledger.suppressions(assertCustomerId(customerId))) yield toView(s);
  }

  /** Suppresses an address as `manual`; `created: false` when it was already suppressed (its first reason stands). */
  async add(customerId: string, email: string): Promise<{ suppression: SuppressionView; created: boolean }> {
    const { recipientId, normalised } = addressRef(customerId, email, 'body.email');
    const written = await this.deps.ledger.suppress({ customerId, recipientId }, { reason: 'manual', email: normalised });
    const stored = await this.deps.ledger.readSuppression({ customerId, recipientId });
    if (written === 'written') this.deps.logger.info({ event: 'suppression.added', customerId, recipientId }, 'address suppressed by hand');
    return { suppression: toView(stored ?? { recipientId }), created: written === 'written' };
  }

  /** Removes a manual suppression; any other kind is refused. */
  async remove(customerId: string, email: string): Promise<void> {
    const { recipientId } = addressRef(customerId, email, 'email');
    const outcome = await this.deps.ledger.removeManualSuppression({ customerId, recipientId });
    if (outcome.result === 'absent') throw new SuppressionNotFoundError();
    if (outcome.result === 'kept') throw new SuppressionNotRemovableError(outcome.reason);
    this.deps.logger.info({ event: 'suppression.removed', customerId, recipientId }, 'manual suppression removed');
  }

  /**
   * Suppresses every address of a CSV as `manual`, read with the audience parser (an `email`
   * column; bad rows are reported by line and skipped, the rest imported).
   */
  async import(customerId: string, csv: string): Promise<ImportResult> {
    const parsed = parseAudience(csv, assertCustomerId(customerId));
    const result: ImportResult = {
      rows: parsed.report.rows,
      added: 0,
      alreadySuppressed: 0,
      invalid: parsed.report.invalid,
      duplicate: parsed.report.duplicate,
      problems: parsed.report.problems,
    };
    const queue = [...parsed.recipients];
    const work = async () => {
      for (let r = queue.shift(); r !== undefined; r = queue.shift()) {
        const written = await this.deps.ledger.suppress(
          { customerId, recipientId: r.recipientId },
          { reason: 'manual', email: normaliseAddress(r.email) },
        );
        if (written === 'written') result.added += 1;
        else result.alreadySuppressed += 1;
      }
    };
    await Promise.all(Array.from({ length: IMPORT_CONCURRENCY }, work));
    this.deps.logger.info({ event: 'suppression.imported', customerId, added: result.added }, 'suppressions imported');
    return result;
  }
}

function addressRef(customerId: string, email: string, where: string): { recipientId: string; normalised: string } {
  const trimmed = email.trim();
  const problem = addressProblem(trimmed);
  if (problem !== undefined) throw new ValidationError('EMAIL_INVALID', [{ where, message: problem }]);
  const normalised = normaliseAddress(trimmed);
  return { recipientId: recipientIdFor(assertCustomerId(customerId), normalised), normalised };
}

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
    throw new ValidationError('QUERY_INVALID', [{ where: 'query.limit', message: `must be a whole number from 1 to ${MAX_PAGE}` }]);
  return limit;
}

function cursorOf(cursor: string): string {
  try {
    return assertRecipientId(cursor);
  } catch {
    throw new ValidationError('QUERY_INVALID', [{ where: 'query.cursor', message: 'is not a cursor this listing gave' }]);
  }
}

function toView(s: Suppression): SuppressionView {
  const r = s.record;
  return {
    email: r?.email ?? null,
    recipientId: s.recipientId,
    reason: r?.reason ?? 'damaged',
    at: r?.at ?? null,
    campaignId: r?.campaignId ?? null,
    detail: r?.detail ?? s.damaged ?? null,
  };
}
