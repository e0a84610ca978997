import { performance } from 'node:perf_hooks';
import { campaignRequestedMessage, decodeS3EventKey, parseKey, type S3Event, type SnsEvent } from '@baton/shared';
import type { RenderSummary } from '@baton/renderer';
import { FairQueue } from './fair-queue';
import type { Invocation } from './local-lambda';

/**
 * The local renderer's order (see `FairQueue`): one queue per campaign, served by the least render
 * time used, so one campaign's slow or huge renders hold another's back by about one render, not
 * by its whole queue. A render's duration is its own synchronous work, measured in the function
 * thread and answered with it (renders overlap there: each awaits the store while others run);
 * a render that threw is measured here, on the performance clock (monotonic), not the
 * composition's clock, which tests may move by hand.
 */
export function createRenderQueue(now: () => number = () => performance.now()): FairQueue<Invocation<S3Event>> {
  return new FairQueue({ flowOf: (invocation) => campaignOfStubEvent(invocation.event), now, ownTimeOf: renderOwnTime });
}

/** A render's own time in the function thread, from its handler's answer (`RenderSummary`); undefined if it is not one. */
export function renderOwnTime(answer: unknown): number | undefined {
  const ownMs = (answer as Partial<RenderSummary> | null)?.ownMs;
  return typeof ownMs === 'number' ? ownMs : undefined;
}

/** `customer/campaign` of the stub an event tells of; a key that is no stub's shares one queue (its render fails anyway). */
export function campaignOfStubEvent(event: S3Event): string {
  const key = event.Records[0]?.s3.object.key;
  try {
    const ref = parseKey.stub(decodeS3EventKey(key ?? ''));
    return `${ref.customerId}/${ref.campaignId}`;
  } catch {
    return '';
  }
}

/**
 * `customer/campaign` of the campaign a stubber's event requests (its renders' queue), for
 * `FairQueue.producing`; a message that is not one shares the no-stub queue (the stubber refuses it anyway).
 */
export function campaignOfRequest(event: SnsEvent): string {
  try {
    const message = campaignRequestedMessage.parse(JSON.parse(event.Records[0]?.Sns.Message ?? ''));
    return `${message.customerId}/${message.campaignId}`;
  } catch {
    return '';
  }
}
