import {
  CAMPAIGNS_PREFIX,
  assertCustomerId,
  campaignDefinition,
  describeError,
  campaignState,
  keys,
  listAll,
  newCampaignId,
  parseJson,
  parseKey,
  parseWith,
  ValidationError,
  type Buckets,
  type CampaignDefinition,
  type CampaignRef,
  type CampaignState,
  type Clock,
  type DamagedCampaign,
  type Logger,
  type ObjectStore,
} from '@baton/shared';
import { AUDIENCE_HEAD_BYTES, audienceHead, audienceHeadOf } from '@baton/templating';
import { readAudienceHead } from './audience-heads';
import { splitHead, type AudienceUpload } from './audience-upload';
import { CampaignRun } from './campaign-run';
import { refuseOutsideQaAllowList } from './qa-audience';
import { isActive, isFinal, storedStatus, transition, type CampaignAction } from './campaign-status';
import { CampaignNotFoundError, CampaignStateError } from './errors';
import type { RenderPool } from './ports';
import type { SendingGovernors } from './sending-governors';

/** A campaign to create, already parsed from the request at the HTTP edge. */
export interface NewCampaign {
  name: string;
  customerId: string;
  from: string;
  subject: string;
  mjml: string;
  /** Exactly one of these two: the CSV itself (bytes as uploaded, or text), or an object under `uploads/{customerId}/`. */
  audienceCsv?: string | Uint8Array;
  audienceKey?: string;
  /** Or the audience as it streams in (a multipart file part): its head checked, then streamed into the store. */
  audienceUpload?: AudienceUpload;
  /** One of the configured sending domains (any case); the default domain when absent. */
  sendingDomain?: string;
}

/**
 * Which audiences a campaign may name by key: an upload under `uploads/{customerId}/`, or
 * another campaign's own audience of the same customer (`keys.audience`, for a clone). Refuses
 * any other key, naming `where`. Without `customerId`, the key's own customer is taken (a
 * draft's check names none).
 */
export function audienceKeySource(key: string, customerId: string | undefined, where: string): 'upload' | 'campaign' {
  const owner = customerId ?? /^(?:uploads|campaigns)\/([^/]+)\//.exec(key)?.[1] ?? '';
  const upload = `uploads/${owner}/`;
  if (owner !== '' && key.startsWith(upload) && key.length > upload.length && !key.includes('..')) return 'upload';
  try {
    if (parseKey.audience(key).customerId === owner) return 'campaign';
  } catch {
    // not a campaign's audience either: refused below
  }
  const allowed = customerId === undefined ? 'uploads/{customerId}/' : upload;
  throw new ValidationError('CAMPAIGN_INVALID', [
    {
      where,
      message: `must be under ${allowed} or be a campaign's audience (campaigns/{customerId}/{campaignId}/audience.csv) of the same customer`,
    },
  ]);
}

/** A stored campaign whose definition cannot be read: the API's type (shared api-types.ts). */
export type { DamagedCampaign };

export interface CampaignsDeps {
  store: ObjectStore;
  buckets: Buckets;
  clock: Clock;
  logger: Logger;
  governors: SendingGovernors;
  /** Set in the `qa` stage: every recipient of a new campaign must be on it. */
  qaAllowList?: readonly string[];
  /** Where the template and the audience's header are checked, off the event loop. */
  renderPool: RenderPool;
}

/**
 * Every campaign the conductor knows, and the only place that moves one along its transition
 * table (campaign-status.ts) and stores its state.
 */
export class Campaigns {
  private readonly runs = new Map<string, CampaignRun>();
  private readonly unreadable: DamagedCampaign[] = [];
  /** Campaigns with a move under way. */
  private readonly moving = new Set<string>();
  /** Per campaign, the end of the last `serially` task: finishing and re-queueing never interleave. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: CampaignsDeps) {}

  all(): IterableIterator<CampaignRun> {
    return this.runs.values();
  }

  get size(): number {
    return this.runs.size;
  }

  find(campaignId: string): CampaignRun | undefined {
    return this.runs.get(campaignId);
  }

  get(campaignId: string): CampaignRun {
    const run = this.runs.get(campaignId);
    if (!run) throw new CampaignNotFoundError(campaignId);
    return run;
  }

  /** Newest first. */
  list(): CampaignRun[] {
    return [...this.runs.values()].sort((a, b) => (a.definition.createdAt < b.definition.createdAt ? 1 : -1));
  }

  /** Campaigns whose definition cannot be read: named (with the key and why) so that none is hidden. */
  damaged(): DamagedCampaign[] {
    return [...this.unreadable];
  }

  /**
   * Runs `task` after every earlier one of the same campaign has ended. Finishing a campaign and
   * re-queueing its recipients both read and change what is left to send across awaits: run
   * side by side, a campaign could end with recipients just put back in its queue.
   */
  serially<T>(run: CampaignRun, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(run.id) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => undefined);
    this.queues.set(run.id, settled);
    void settled.then(() => {
      if (this.queues.get(run.id) === settled) this.queues.delete(run.id);
    });
    return next;
  }

  /** Loads every stored campaign; one whose definition cannot be read is listed as damaged. */
  async load(): Promise<void> {
    const { store, buckets, logger } = this.deps;
    for await (const key of listAll(store, buckets.campaigns, CAMPAIGNS_PREFIX)) {
      if (!key.endsWith('/campaign.json')) continue;
      try {
        const run = await this.read(key);
        this.runs.set(run.id, run);
      } catch (err) {
        const ref = parseKey.campaign(key);
        this.unreadable.push({ ...ref, key, reason: describeError(err) });
        logger.error({ event: 'campaign.load_failed', key, err }, 'a stored campaign could not be loaded');
      }
    }
  }

  /** Some campaign was mid-send (or paused mid-send) when the last conductor stopped. */
  wasSending(): boolean {
    return [...this.runs.values()].some((r) => isActive(r.phase));
  }

  /** Stores a new draft; `warnings` says what the template does that is allowed but unwise. */
  async create(input: NewCampaign): Promise<{ run: CampaignRun; warnings: string[] }> {
    const { store, buckets, clock, governors, logger } = this.deps;
    const { warnings } = await this.deps.renderPool.checkTemplate({ from: input.from, subject: input.subject, mjml: input.mjml });
    const sendingDomain = (input.sendingDomain ?? governors.defaultDomain).trim().toLowerCase();
    if (!governors.has(sendingDomain)) {
      throw new ValidationError('CAMPAIGN_INVALID', [
        { where: 'body.sendingDomain', message: `must be one of ${governors.domainNames().join(', ')}` },
      ]);
    }
    const now = clock.now();
    const campaignId = newCampaignId(now);
    const ref = { customerId: input.customerId, campaignId };
    const audienceKey = await this.storeAudience(ref, input);
    const definition: CampaignDefinition = {
      version: 1,
      customerId: input.customerId,
      campaignId,
      name: input.name,
      from: input.from,
      subject: input.subject,
      mjml: input.mjml,
      audienceKey,
      sendingDomain,
      createdAt: new Date(now).toISOString(),
    };
    const state: CampaignState = { version: 1, status: 'draft', updatedAt: definition.createdAt };
    await store.put(buckets.campaigns, keys.campaign(ref), JSON.stringify(definition), { ifNoneMatch: '*' });
    await this.saveState(ref, state);
    const run = new CampaignRun(definition, state);
    this.runs.set(campaignId, run);
    logger.info({ event: 'campaign.created', campaignId, customerId: input.customerId }, 'campaign created');
    return { run, warnings };
  }

  /**
   * Checks `action` against the transition table, runs `first` (what must happen before the
   * move, such as publishing "campaign requested"), then stores and applies the new state. One
   * move per campaign at a time: a second one while the first is under way is refused, so two
   * concurrent sends publish once.
   */
  async move(run: CampaignRun, action: CampaignAction, extra: Partial<CampaignState> = {}, first?: () => Promise<void>): Promise<void> {
    const phase = transition(run.id, run.phase, action);
    if (this.moving.has(run.id)) throw new CampaignStateError(run.id, 'changing', action);
    this.moving.add(run.id);
    try {
      await first?.();
      const state: CampaignState = {
        ...run.state,
        ...extra,
        status: storedStatus(phase),
        updatedAt: new Date(this.deps.clock.now()).toISOString(),
      };
      await this.saveState(run.ref, state);
      run.applyState(state);
      run.damaged.clear(keys.state(run.ref));
    } finally {
      this.moving.delete(run.id);
    }
  }

  /**
   * Changes what the state holds besides its phase (the send window), under the same one-move-
   * at-a-time rule; refused once the campaign has ended.
   */
  async update(run: CampaignRun, changes: Pick<Partial<CampaignState>, 'sendWindow' | 'localSend'>, action: string): Promise<void> {
    if (isFinal(run.phase)) throw new CampaignStateError(run.id, run.state.status, action);
    if (this.moving.has(run.id)) throw new CampaignStateError(run.id, 'changing', action);
    this.moving.add(run.id);
    try {
      const state: CampaignState = { ...run.state, ...changes, updatedAt: new Date(this.deps.clock.now()).toISOString() };
      for (const [key, value] of Object.entries(changes)) if (value === undefined) delete state[key as keyof typeof changes];
      await this.saveState(run.ref, state);
      run.applyState(state);
    } finally {
      this.moving.delete(run.id);
    }
  }

  /**
   * Deletes a campaign that never started: a draft, or a draft cancelled before any send was
   * asked for. Anything asked to send (scheduled included: its audience is being stubbed and
   * rendered ahead) is refused; cancel it instead. The definition goes first, so a conductor
   * that stops half-way never loads it again; then the rest of its folder (state, audience,
   * report). Uploads it named, other campaigns and the ledger are not touched.
   */
  async remove(run: CampaignRun): Promise<void> {
    const neverRequested = run.state.sendRequestedAt === undefined;
    if (!(neverRequested && (run.phase === 'draft' || run.phase === 'cancelled'))) {
      const hint = run.phase === 'scheduled' ? ' (it renders ahead of its start: cancel it instead)' : '';
      throw new CampaignStateError(run.id, `${run.state.status}${hint}`, 'delete');
    }
    if (this.moving.has(run.id)) throw new CampaignStateError(run.id, 'changing', 'delete');
    this.moving.add(run.id);
    const { store, buckets, logger } = this.deps;
    try {
      await store.delete(buckets.campaigns, keys.campaign(run.ref));
      this.runs.delete(run.id);
    } finally {
      this.moving.delete(run.id);
    }
    // The campaign is gone from here on; what is left over is only space, so a failure is logged, not thrown.
    // Nothing was ever asked to send, so nothing was stubbed or rendered: its own folder is all there is.
    try {
      for await (const key of listAll(store, buckets.campaigns, keys.campaignPrefix(run.ref))) await store.delete(buckets.campaigns, key);
    } catch (err) {
      logger.error({ event: 'campaign.delete_incomplete', campaignId: run.id, err }, 'campaign deleted; some of its objects were left');
    }
    logger.info({ event: 'campaign.deleted', campaignId: run.id, customerId: run.definition.customerId }, 'campaign deleted');
  }

  private async read(key: string): Promise<CampaignRun> {
    const { store, buckets } = this.deps;
    const ref = parseKey.campaign(key);
    const definition = parseWith(
      campaignDefinition,
      parseJson((await store.get(buckets.campaigns, key)) ?? '', key),
      'CAMPAIGN_INVALID',
      key,
    );
    const stateKey = keys.state(ref);
    const stateText = await store.get(buckets.campaigns, stateKey);
    if (stateText === undefined) return new CampaignRun(definition, { version: 1, status: 'draft', updatedAt: definition.createdAt });
    try {
      return new CampaignRun(definition, parseWith(campaignState, parseJson(stateText, stateKey), 'CAMPAIGN_INVALID', stateKey));
    } catch (err) {
      // Where it stood is unknown: hold it paused (the ledger keeps anyone from a second
      // message) and name the object, until an operator resumes or cancels it.
      const run = new CampaignRun(definition, { version: 1, status: 'paused', updatedAt: new Date(this.deps.clock.now()).toISOString() });
      run.damaged.note(stateKey, describeError(err));
      this.deps.logger.error(
        { event: 'campaign.object_damaged', campaignId: run.id, key: stateKey, err },
        'campaign state unreadable; held paused',
      );
      return run;
    }
  }

  /** The audience's key once it is known to parse (a header, an email column). */
  private async storeAudience(ref: CampaignRef, input: NewCampaign): Promise<string> {
    const { store, buckets } = this.deps;
    if (input.audienceUpload !== undefined) {
      await this.storeStreamed(keys.audience(ref), input.audienceUpload, input.customerId);
      return keys.audience(ref);
    }
    if (input.audienceCsv !== undefined) {
      await this.checkAudience(input.audienceCsv, input.customerId);
      await store.put(buckets.campaigns, keys.audience(ref), input.audienceCsv, { contentType: 'text/csv' });
      return keys.audience(ref);
    }
    const key = input.audienceKey ?? '';
    const source = audienceKeySource(key, input.customerId, 'body.audienceKey');
    // The header is checked from the head alone (a ranged read): a 200 MB upload costs 64 KiB here.
    const head = await readAudienceHead(store, buckets.campaigns, key);
    if (head === undefined) throw noSuchAudience();
    await this.deps.renderPool.checkAudienceHead(head.head, input.customerId);
    const { qaAllowList } = this.deps;
    if (source === 'upload' && qaAllowList === undefined) return key;
    // In qa every recipient is checked, and a clone copies the audience: both need it whole.
    const csv = await store.get(buckets.campaigns, key);
    if (csv === undefined) throw noSuchAudience();
    if (qaAllowList !== undefined) refuseOutsideQaAllowList(csv, input.customerId, qaAllowList);
    if (source === 'upload') return key;
    // Another campaign's audience (a clone): copied, so deleting that campaign never takes this one's audience.
    const copy = keys.audience(ref);
    await store.put(buckets.campaigns, copy, csv, { contentType: 'text/csv' });
    return copy;
  }

  /**
   * Refuses an audience with no header or no email column: the only problems that stop a whole
   * campaign. Read from the head alone, so a create answers in constant time whatever the
   * audience's size; each row's problems come from the stubber, in the campaign's report.
   */
  private async checkAudience(csv: string | Uint8Array, customerId: string): Promise<void> {
    await this.deps.renderPool.checkAudienceHead(typeof csv === 'string' ? audienceHead(csv) : audienceHeadOf(csv), customerId);
    // In qa, every recipient must be on the allow-list (the whole file is read: QA audiences are small).
    const { qaAllowList } = this.deps;
    if (qaAllowList !== undefined) {
      refuseOutsideQaAllowList(typeof csv === 'string' ? csv : new TextDecoder().decode(csv), customerId, qaAllowList);
    }
  }

  /**
   * Stores an audience uploaded on its own under `uploads/{customerId}/{name}` (replacing one of
   * that name) once its head has a usable header; a create then names it as its audienceKey.
   */
  async storeUpload(customerId: string, name: string, csv: string | Uint8Array | AudienceUpload): Promise<{ key: string; bytes: number }> {
    const key = `uploads/${assertCustomerId(customerId)}/${name}`;
    if (typeof csv === 'object' && !(csv instanceof Uint8Array)) return { key, bytes: await this.storeStreamed(key, csv, customerId) };
    await this.checkAudience(csv, customerId);
    await this.deps.store.put(this.deps.buckets.campaigns, key, csv, { contentType: 'text/csv' });
    return { key, bytes: Buffer.byteLength(csv) };
  }

  /**
   * An audience as it streams in: its head is checked before anything is stored, then the whole
   * body goes into the store as it arrives, within its size limit (over it: BodyTooLargeError,
   * nothing kept). Memory holds the head and a chunk, never the audience. Resolves with its size.
   */
  private async storeStreamed(key: string, upload: AudienceUpload, customerId: string): Promise<number> {
    const { store, buckets, qaAllowList } = this.deps;
    const { head, body } = await splitHead(upload.chunks, AUDIENCE_HEAD_BYTES);
    await this.deps.renderPool.checkAudienceHead(audienceHeadOf(head), customerId);
    const { bytes } = await store.putStream(buckets.campaigns, key, body, {
      contentType: 'text/csv',
      maxBytes: upload.maxBytes,
      ...(upload.contentLength !== undefined ? { contentLength: upload.contentLength } : {}),
    });
    if (qaAllowList !== undefined) {
      // In qa the whole audience is checked (QA audiences are small): read back, and removed if refused.
      try {
        refuseOutsideQaAllowList((await store.get(buckets.campaigns, key)) ?? '', customerId, qaAllowList);
      } catch (err) {
        await store.delete(buckets.campaigns, key);
        throw err;
      }
    }
    return bytes;
  }

  private async saveState(ref: CampaignRef, state: CampaignState): Promise<void> {
    await this.deps.store.put(this.deps.buckets.campaigns, keys.state(ref), JSON.stringify(state));
  }
}

function noSuchAudience(): ValidationError {
  return new ValidationError('CAMPAIGN_INVALID', [{ where: 'body.audienceKey', message: 'no such object' }]);
}
