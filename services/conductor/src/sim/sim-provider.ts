import { RetryableError } from '@baton/shared';
import type { OutgoingEmail, Sender } from '@baton/worker';
import type { Random } from './random';
import type { VirtualClock } from './virtual-clock';
import type { Vanishing } from './vanishing';
import type { WorkerProfile } from './worker-profile';

/** The simulated Mailgun: records when every call arrives, answers 429 while throttling. */
export class SimProvider {
  readonly arrivals: number[] = [];
  throttled = 0;
  /** Recipients who got a second message (a 429 is not a message). */
  duplicates = 0;
  private readonly delivered = new Set<string>();

  constructor(private readonly throttle: { from: number; to: number } | undefined) {}

  call(arrival: number, recipientId: string): 'ok' | 'throttled' {
    this.arrivals.push(arrival);
    if (this.throttle && arrival >= this.throttle.from && arrival < this.throttle.to) {
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
