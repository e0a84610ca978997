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

/** The simulated Mailgun: records when every call arrives, answers 429 while throttling. */
export class SimProvider {
  readonly arrivals: number[] = [];
  throttled = 0;
  /** Recipients who got a second message (a 429 is not a message). */
  duplicates = 0;
  private readonly delivered = new Set<string>();

  /** `start`: the run's first moment, which the throttle's spans count from. */
  constructor(
    private readonly start: number,
    private readonly throttle: ThrottleSpan | undefined,
  ) {}

  call(arrival: number, recipientId: string): 'ok' | 'throttled' {
    this.arrivals.push(arrival);
    if (isThrottled(this.throttle, arrival - this.start)) {
      this.throttled++;
      return 'throttled';
    }
    if (this.delivered.has(recipientId)) this.duplicates++;
    this.delivered.add(recipientId);
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
      return { providerId: `<sim-${this.workerId}-${this.seq++}@mg.example.com>` };
    });
  }
}
