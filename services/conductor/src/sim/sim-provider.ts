import { RetryableError } from '@baton/shared';
import type { OutgoingEmail, Sender } from '@baton/worker';
import type { Random } from './random';
import type { VirtualClock } from './virtual-clock';
import type { Vanishing } from './vanishing';
import type { WorkerProfile } from './worker-profile';

/**
 * When the provider answers 429 to every call: `[fromMs, toMs)` from the start of the run, and
 * with `everyMs` again each `everyMs` after (a provider that throttles in periodic bursts).
 */
export interface ThrottleSpan {
  fromMs: number;
  toMs: number;
  everyMs?: number;
}

/** Whether a call arriving `sinceStartMs` into the run falls in a throttle burst. */
export function isThrottled(throttle: ThrottleSpan | undefined, sinceStartMs: number): boolean {
  if (!throttle) return false;
  const { fromMs, toMs, everyMs } = throttle;
  if (sinceStartMs < fromMs) return false;
  const into = everyMs === undefined ? sinceStartMs - fromMs : (sinceStartMs - fromMs) % everyMs;
  return into < toMs - fromMs;
}

/** How long, of the first `ms` of the run, the provider accepts calls (outside every burst). */
export function acceptingMs(throttle: ThrottleSpan | undefined, ms: number): number {
  if (!throttle) return ms;
  const { fromMs, toMs, everyMs } = throttle;
  const burst = toMs - fromMs;
  if (ms <= fromMs) return ms;
  if (everyMs === undefined) return ms - Math.min(burst, ms - fromMs);
  const periods = Math.floor((ms - fromMs) / everyMs);
  return ms - periods * burst - Math.min(burst, ms - fromMs - periods * everyMs);
}

const DAY_MS = 86_400_000;

/**
 * The simulated Mailgun: records when every call arrives, answers 429 while throttling, and with
 * a daily limit (per UTC day) answers 420 "try again after" the next midnight once it is reached.
 */
export class SimProvider {
  readonly arrivals: number[] = [];
  /** Arrival times of the messages it took. */
  readonly accepted: number[] = [];
  throttled = 0;
  limited = 0;
  private readonly perDay = new Map<number, number>();
  /** Recipients who got a second message (a 429 is not a message). */
  duplicates = 0;
  /** When each recipient's first message arrived. */
  readonly delivered = new Map<string, number>();

  /** `start`: the run's first moment, which the throttle's spans count from. */
  constructor(
    private readonly start: number,
    private readonly throttle: ThrottleSpan | undefined,
    private readonly dailyLimit?: number,
  ) {}

  call(arrival: number, recipientId: string): 'ok' | 'throttled' | { limitedUntil: number } {
    this.arrivals.push(arrival);
    if (isThrottled(this.throttle, arrival - this.start)) {
      this.throttled++;
      return 'throttled';
    }
    const day = Math.floor(arrival / DAY_MS);
    if (this.dailyLimit !== undefined && (this.perDay.get(day) ?? 0) >= this.dailyLimit) {
      this.limited++;
      return { limitedUntil: (day + 1) * DAY_MS };
    }
    this.perDay.set(day, (this.perDay.get(day) ?? 0) + 1);
    this.accepted.push(arrival);
    if (this.delivered.has(recipientId)) this.duplicates++;
    else this.delivered.set(recipientId, arrival);
    return 'ok';
  }
}

/**
 * What the worker's Mailgun adapter throws for a 429 (or 420): `classifyMailgunError` in
 * services/worker/src/adapters/mailgun-sender.ts. The sim test checks the two still agree.
 */
export function throttledError(): RetryableError {
  return new RetryableError('PROVIDER_THROTTLED', 'Mailgun throttled the request (429): simulated throttle burst');
}

/** What the adapter throws for Mailgun's 420 at a daily limit, whose body says when it lifts. */
export function limitError(until: number, now: number): RetryableError {
  return new RetryableError('PROVIDER_LIMIT_REACHED', "Mailgun's sending limit reached (420): simulated daily limit", {
    retryAfterMs: Math.max(0, until - now),
  });
}

/** The most messages the provider took in one UTC day. */
export function maxPerDay(accepted: readonly number[]): number {
  const days = new Map<number, number>();
  for (const t of accepted) days.set(Math.floor(t / DAY_MS), (days.get(Math.floor(t / DAY_MS)) ?? 0) + 1);
  return Math.max(0, ...days.values());
}

/**
 * The worker's `Sender` port in front of the simulated provider. A call arrives at the provider
 * (true time plus transit) the moment it starts, so it counts against the cap even if its worker
 * vanishes before the answer; the answer comes after the provider's latency, on the virtual clock.
 */
export class SimSender implements Sender {
  /** Provider calls this worker started (each spends a permit). */
  calls = 0;
  private seq = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly rnd: Random,
    private readonly profile: WorkerProfile,
    private readonly provider: SimProvider,
    private readonly vanishing: Vanishing,
    private readonly workerId: string,
  ) {}

  send(msg: OutgoingEmail): Promise<{ providerId: string }> {
    return this.vanishing.guard(async () => {
      const { clock, rnd, profile } = this;
      this.calls++;
      const recipientId = msg.variables['recipient-id'] ?? msg.to;
      const answer = this.provider.call(clock.now() + rnd.between(profile.transitMs[0], profile.transitMs[1]), recipientId);
      // If the worker vanishes meanwhile, the guard keeps the answer from it.
      await clock.sleep(rnd.lognormal(profile.latency.medianMs, profile.latency.sigma) * profile.slowness);
      if (answer === 'throttled') throw throttledError();
      if (typeof answer === 'object') throw limitError(answer.limitedUntil, clock.now());
      return { providerId: `<sim-${this.workerId}-${this.seq++}@mg.example.com>` };
    });
  }
}
