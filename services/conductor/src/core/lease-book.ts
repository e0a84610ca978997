import { packRecipientIds, unpackRecipientIds, type CheckInResponse, type Lease, type PackedRecipientIds } from '@baton/shared';
import type { CampaignRun } from './campaign-run';
import type { Governor, SliceGrant } from './governor';

export interface ActiveLease {
  lease: Lease;
  run: CampaignRun;
  grant: SliceGrant;
  /** The governors that gave the permits (the domain's first): unused ones go back to each. */
  governors: Governor[];
  /** Results already settled by a check-in that then failed: its retry skips them. */
  settled: Set<string>;
  /** Claims the worker could not remove (`claimHeld`) that the conductor has removed: a retried check-in skips them. */
  released?: Set<string>;
  /**
   * When the conductor planned it (its clock): the governor's level then is the one its calls
   * tried, so its 429s and its successes are news only if the level has not changed since.
   */
  issuedAt: number;
}

/** Late check-ins of expired leases are still matched for this long. */
const EXPIRED_KEPT_MS = 60 * 60_000;
/** A repeated check-in or renewal gets the same answer for this long. */
const ANSWERS_KEPT_MS = 10 * 60_000;

/**
 * The leases out with workers, and everything derived from them: which workers hold one (a
 * worker counts while any lease of it is out or its check-in is being handled), which of those
 * are on their last lease, the expired leases whose late check-ins still settle recipients, and
 * the answers already given, so a worker that retries a request gets the same reply.
 */
export class LeaseBook {
  private readonly active = new Map<string, ActiveLease>();
  private readonly expired = new Map<string, ActiveLease>();
  /** Check-ins being handled now, by lease and worker. */
  private readonly handling = new Map<string, { workerId: string; answer: Promise<CheckInResponse> }>();
  /**
   * The answer's lease, if any, keeps its recipient ids packed: ten minutes of answers are about
   * 650,000 ids at 1,100 sends a second (40 MB as strings, 10 MB packed).
   */
  private readonly answers = new Map<string, { at: number; response: CheckInResponse; ids: PackedRecipientIds | undefined }>();
  /** Workers on their last lease (too little time left for another): their successors may start now. */
  private readonly leaving = new Set<string>();

  get size(): number {
    return this.active.size;
  }

  add(entry: ActiveLease): void {
    this.active.set(entry.lease.leaseId, entry);
  }

  /** The lease, if it is out and held by this worker. */
  heldBy(leaseId: string, workerId: string): ActiveLease | undefined {
    const entry = this.active.get(leaseId);
    return entry && entry.lease.workerId === workerId ? entry : undefined;
  }

  /** The worker a lease out now, or expired not long ago, was issued to; undefined for a lease this conductor does not know. */
  workerOf(leaseId: string): string | undefined {
    return (this.active.get(leaseId) ?? this.expired.get(leaseId))?.lease.workerId;
  }

  /** The campaign's leases out now. */
  ofCampaign(campaignId: string): ActiveLease[] {
    return [...this.active.values()].filter((a) => a.run.id === campaignId);
  }

  remove(leaseId: string): ActiveLease | undefined {
    const entry = this.active.get(leaseId);
    this.active.delete(leaseId);
    return entry;
  }

  /** Workers holding a lease now, or whose check-in is being handled. */
  workers(): Set<string> {
    const ids = new Set<string>();
    for (const { lease } of this.active.values()) ids.add(lease.workerId);
    for (const { workerId } of this.handling.values()) ids.add(workerId);
    for (const id of this.leaving) if (!ids.has(id)) this.leaving.delete(id);
    return ids;
  }

  /** Workers that will want another lease: the ones MAX_WORKERS counts. */
  stayingWorkers(): number {
    const all = this.workers();
    let staying = 0;
    for (const id of all) if (!this.leaving.has(id)) staying++;
    return staying;
  }

  markLeaving(workerId: string): boolean {
    if (this.leaving.has(workerId)) return false;
    this.leaving.add(workerId);
    return true;
  }

  isLeaving(workerId: string): boolean {
    return this.leaving.has(workerId);
  }

  /** Moves every lease past its expiry to the expired list and returns them. */
  expire(now: number): ActiveLease[] {
    for (const [leaseId, old] of this.expired) if (old.lease.expiresAt < now - EXPIRED_KEPT_MS) this.expired.delete(leaseId);
    const due: ActiveLease[] = [];
    for (const [leaseId, entry] of this.active) {
      if (entry.lease.expiresAt > now) continue;
      this.active.delete(leaseId);
      this.expired.set(leaseId, entry);
      due.push(entry);
    }
    return due;
  }

  /** An expired lease this worker held; matched once. */
  takeExpired(leaseId: string, workerId: string): ActiveLease | 'unknown' | 'not-theirs' {
    const entry = this.expired.get(leaseId);
    if (!entry) return 'unknown';
    if (entry.lease.workerId !== workerId) return 'not-theirs';
    this.expired.delete(leaseId);
    return entry;
  }

  answered(key: string): CheckInResponse | undefined {
    const answer = this.answers.get(key);
    if (answer === undefined) return undefined;
    const { response, ids } = answer;
    return response.lease === null || ids === undefined
      ? response
      : { ...response, lease: { ...response.lease, recipientIds: unpackRecipientIds(ids) } };
  }

  remember(key: string, now: number, response: CheckInResponse): void {
    const lease = response.lease;
    if (lease === null) this.answers.set(key, { at: now, response, ids: undefined });
    else
      this.answers.set(key, {
        at: now,
        response: { ...response, lease: { ...lease, recipientIds: [] } },
        ids: packRecipientIds(lease.recipientIds),
      });
    for (const [k, a] of this.answers) if (a.at < now - ANSWERS_KEPT_MS) this.answers.delete(k);
  }

  inProgress(key: string): Promise<CheckInResponse> | undefined {
    return this.handling.get(key)?.answer;
  }

  /** Runs a check-in's handling once per key: a repeat while it runs waits for the same answer. */
  async handle(key: string, workerId: string, work: () => Promise<CheckInResponse>): Promise<CheckInResponse> {
    // In place before `work` starts: the worker keeps counting while its check-in is handled.
    const entry: { workerId: string; answer: Promise<CheckInResponse> } = { workerId, answer: Promise.resolve({ lease: null }) };
    this.handling.set(key, entry);
    try {
      entry.answer = work();
      return await entry.answer;
    } finally {
      this.handling.delete(key);
    }
  }
}
