import { OUTCOME_STATUSES, RecipientTable, type OutcomeStatus } from '@baton/shared';

/** A recipient's byte in the table: its outcome (0 for none, else 1 + its place in OUTCOME_STATUSES) and whether it is known. */
const OUTCOME_MASK = 0x07;
const KNOWN = 0x08;

/**
 * Every recipient a campaign run has seen, by index in a compact `RecipientTable`, with whether
 * it is known (queued or resolved at least once) and its outcome, both in its one byte, and how
 * many of each there are. The run's queues and sets hold these indexes.
 */
export class RecipientOutcomes {
  private readonly table = new RecipientTable();
  private known = 0;
  private resolved = 0;

  /** Recipients known (queued or resolved at least once). */
  get knownCount(): number {
    return this.known;
  }

  /** Recipients with an outcome. */
  get outcomeCount(): number {
    return this.resolved;
  }

  /** The bytes the table holds (capacity included). */
  get byteLength(): number {
    return this.table.byteLength;
  }

  /** The recipient's index, or -1 if it was never seen. */
  indexOf(recipientId: string): number {
    return this.table.indexOf(recipientId);
  }

  /** The recipient's index, seen from now on (neither known nor resolved by this alone). */
  add(recipientId: string): number {
    return this.table.add(recipientId);
  }

  idAt(i: number): string {
    return this.table.idAt(i);
  }

  isKnown(i: number): boolean {
    return (this.table.byteAt(i) & KNOWN) !== 0;
  }

  markKnown(i: number): void {
    const byte = this.table.byteAt(i);
    if ((byte & KNOWN) !== 0) return;
    this.table.setByte(i, byte | KNOWN);
    this.known++;
  }

  outcome(i: number): OutcomeStatus | undefined {
    const code = this.table.byteAt(i) & OUTCOME_MASK;
    return code === 0 ? undefined : OUTCOME_STATUSES[code - 1];
  }

  /** Sets (or with `undefined`, clears) the recipient's outcome. */
  setOutcome(i: number, status: OutcomeStatus | undefined): void {
    const byte = this.table.byteAt(i);
    const had = (byte & OUTCOME_MASK) !== 0;
    this.table.setByte(i, (byte & ~OUTCOME_MASK) | (status === undefined ? 0 : OUTCOME_STATUSES.indexOf(status) + 1));
    this.resolved += (status === undefined ? 0 : 1) - (had ? 1 : 0);
  }

  /** The ids of the recipients whose outcome is `status`, in the order they were first seen. */
  idsWith(status: OutcomeStatus): string[] {
    const code = OUTCOME_STATUSES.indexOf(status) + 1;
    const ids: string[] = [];
    for (let i = 0; i < this.table.size; i++) if ((this.table.byteAt(i) & OUTCOME_MASK) === code) ids.push(this.table.idAt(i));
    return ids;
  }
}
