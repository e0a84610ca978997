import { BatonError, describeError, isBatonError, type ErrorKind } from '@baton/shared';

export interface RecordFailure {
  /** The record's index in the event. */
  index: number;
  /** What the record was about (a stub key, a campaign), for the message. */
  subject: string;
  error: unknown;
}

/**
 * Some records of one event failed; the others were processed. Thrown after every record had
 * its turn, so the runtime retries the event (each record is safe to process twice). Its kind is
 * `permanent` only when every failure was, so a retry is pointless but the failure stays visible.
 */
export class RecordsFailedError extends BatonError {
  readonly kind: ErrorKind;
  readonly failures: RecordFailure[];

  constructor(total: number, failures: RecordFailure[]) {
    const shown = failures.slice(0, 10).map((f) => `#${f.index} ${f.subject}: ${describeError(f.error)}`);
    const more = failures.length > shown.length ? `; and ${failures.length - shown.length} more` : '';
    super('RECORDS_FAILED', `${failures.length} of ${total} records failed: ${shown.join('; ')}${more}`);
    this.failures = failures;
    this.kind = failures.every((f) => isBatonError(f.error) && f.error.kind === 'permanent') ? 'permanent' : 'retryable';
  }
}

/** Nothing failed: return. One record, failed: its own error. Several: a summary. */
export function throwIfAnyFailed(total: number, failures: RecordFailure[]): void {
  if (failures.length === 0) return;
  if (total === 1 && failures.length === 1) throw failures[0]!.error;
  throw new RecordsFailedError(total, failures);
}
