import { DateTime } from 'luxon';
import { isTimeZone, keys, stubRecord, type Buckets, type LocalSend, type ObjectStore } from '@baton/shared';
import type { CampaignRun } from './campaign-run';

/** How many recipients' zones one scan reads. */
export const ZONES_PER_SCAN = 2_000;

/** The moment it is `local.time` on `local.date` in `zone`. */
export function localInstant(local: LocalSend, zone: string): number {
  return DateTime.fromISO(`${local.date}T${local.time}`, { zone }).toMillis();
}

/**
 * Sent at a local time: each rendered recipient's zone is read from its stub (a bounded batch a
 * scan) and it is queued for that moment where it is; a missing or unknown zone falls back to
 * the campaign's, and is named with its line.
 */
export async function releaseByZone(deps: { store: ObjectStore; buckets: Buckets }, run: CampaignRun, local: LocalSend): Promise<void> {
  // One local instant per zone and scan: Luxon's arithmetic costs more than the rest of a recipient.
  const instants = new Map<string, number>();
  const instantIn = (zone: string) => instants.get(zone) ?? instants.set(zone, localInstant(local, zone)).get(zone)!;
  for (const recipientId of run.takeAwaitingZone(ZONES_PER_SCAN)) {
    const text = await deps.store.get(deps.buckets.stubs, keys.stub({ ...run.ref, recipientId }));
    const stub = text === undefined ? undefined : stubRecord.safeParse(safeJson(text)).data;
    const value = stub?.fields[local.column]?.trim() ?? '';
    const known = value !== '' && isTimeZone(value);
    if (stub && !known) {
      const said = value === '' ? `no ${local.column}` : `unknown time zone "${value}"`;
      run.noteZoneProblem({ line: stub.line, kind: 'timezone', reason: `${said}: sent at ${local.time} ${local.timeZone}` });
    }
    const zone = known ? value : local.timeZone;
    const at = instantIn(zone);
    if (run.releaseAt(recipientId, at)) run.waves.add(at, zone);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
