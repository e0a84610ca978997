import type { WaveView } from '@baton/shared';
import type { CampaignRun } from './campaign-run';

/**
 * The waves of a send at a local time: recipients whose local 09:00 falls at the same instant
 * go out together (Europe/Berlin and Africa/Lagos in winter), one wave per instant. The
 * reconciler places each recipient in its wave as it reads their zone; the campaign view shows
 * the waves and an ETA that waits for them. One rule here: when is everything sent.
 */

/** Recipients released at one instant (epoch ms), by zone. */
export interface Wave {
  at: number;
  count: number;
  zones: string[];
}

/** How many waves the view lists (the world has fewer distinct offsets than this). */
export const WAVES_SHOWN = 50;

export class LocalWaves {
  private readonly byInstant = new Map<number, Map<string, number>>();
  private placedCount = 0;

  /** One recipient goes out at `at`, its local time in `zone`. */
  add(at: number, zone: string): void {
    let zones = this.byInstant.get(at);
    if (!zones) this.byInstant.set(at, (zones = new Map()));
    zones.set(zone, (zones.get(zone) ?? 0) + 1);
    this.placedCount++;
  }

  /** Recipients placed in a wave so far (after a restart: those not sent before it). */
  get placed(): number {
    return this.placedCount;
  }

  /** Every wave, earliest first. */
  list(): Wave[] {
    return [...this.byInstant]
      .sort(([a], [b]) => a - b)
      .map(([at, zones]) => ({ at, count: [...zones.values()].reduce((n, c) => n + c, 0), zones: [...zones.keys()].sort() }));
  }
}

/**
 * When the last message goes out at `perMs` messages a millisecond: `backlog` may go from
 * `now`, each wave still ahead only from its instant (a wave already due is the caller's to
 * count in the backlog). Sending cannot run ahead of a wave, so the finish is the latest of
 * "this wave's instant, plus everything from it on at the rate", over every wave ahead and now
 * with the backlog: max over k of `start_k + (n_k + … + n_last) / rate`.
 */
export function finishAt(now: number, backlog: number, waves: readonly Pick<Wave, 'at' | 'count'>[], perMs: number): number {
  if (!(perMs > 0)) throw new RangeError('finishAt: the rate must be above 0');
  const ahead = waves.filter((w) => w.at > now).sort((a, b) => a.at - b.at);
  let tail = 0;
  let finish = Number.NEGATIVE_INFINITY;
  for (let k = ahead.length - 1; k >= 0; k--) {
    tail += ahead[k]!.count;
    finish = Math.max(finish, ahead[k]!.at + tail / perMs);
  }
  return Math.max(finish, now + (backlog + tail) / perMs);
}

/**
 * The view's block for a send at a local time: its waves, and an ETA that waits for them
 * (`undefined` for any other campaign: the view's own ETA applies). Recipients not placed yet
 * (not rendered, or their zone not read) are counted in the last wave ahead, so they never make
 * the ETA early. The rate is the campaign's over the last minute, or the domain's cap as the
 * governor applies it now when nothing went out in that minute (between waves).
 */
export function localSendView(
  run: CampaignRun,
  now: number,
  rates: { perMinuteNow: number; perMinuteCap: number },
  waiting: boolean,
): { waves: WaveView[]; etaSeconds: number | null } | undefined {
  if (!run.state.localSend) return undefined;
  const waves = run.waves.list();
  const shown = waves.slice(0, WAVES_SHOWN).map((w) => ({ at: new Date(w.at).toISOString(), count: w.count, zones: w.zones }));
  const perMinute = rates.perMinuteNow > 0 ? Math.min(rates.perMinuteNow, rates.perMinuteCap) : rates.perMinuteCap;
  if (run.phase !== 'sending' || waiting || !(perMinute > 0)) return { waves: shown, etaSeconds: null };
  // Until the audience report is read, the recipients counted so far.
  const valid = run.report?.valid ?? run.counts().total;
  const remaining = Math.max(0, valid - run.outcomeCount);
  const unplaced = Math.min(remaining, Math.max(0, valid - run.rendered) + run.awaitingZoneCount);
  const ahead = waves.filter((w) => w.at > now);
  if (ahead.length > 0) ahead[ahead.length - 1] = { ...ahead[ahead.length - 1]!, count: ahead[ahead.length - 1]!.count + unplaced };
  const aheadCount = ahead.reduce((n, w) => n + w.count, 0);
  const backlog = Math.max(0, remaining - aheadCount);
  const finish = finishAt(now, backlog, ahead, perMinute / 60_000);
  return { waves: shown, etaSeconds: Math.ceil((finish - now) / 1000) };
}
