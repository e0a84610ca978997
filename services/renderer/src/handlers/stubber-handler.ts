import { campaignRequestedMessage, parseJson, parseWith, snsEvent, silentLogger, describeError } from '@baton/shared';
import { stubCampaign, type StubberDeps } from '../core/stubber';
import { throwIfAnyFailed, type RecordFailure } from '../errors';

/**
 * SNS "campaign requested" → stubs. Build once per container with its dependencies; every
 * record is attempted, then any failure is thrown so the runtime retries (stubbing is idempotent).
 */
export function createStubberHandler(deps: StubberDeps): (event: unknown) => Promise<void> {
  const log = deps.logger ?? silentLogger;
  return async (event: unknown): Promise<void> => {
    const { Records } = parseWith(snsEvent, event, 'EVENT_INVALID', 'event');
    const failures: RecordFailure[] = [];
    // One at a time: each record may be a whole audience.
    for (const [index, record] of Records.entries()) {
      const where = `event.Records.${index}.Sns.Message`;
      let subject = where;
      try {
        const message = parseWith(campaignRequestedMessage, parseJson(record.Sns.Message, where), 'MESSAGE_INVALID', where);
        subject = `campaign ${message.customerId}/${message.campaignId}`;
        await stubCampaign(deps, { customerId: message.customerId, campaignId: message.campaignId });
      } catch (error) {
        log.error({ event: 'stubber.record-failed', index, reason: describeError(error) });
        failures.push({ index, subject, error });
      }
    }
    throwIfAnyFailed(Records.length, failures);
  };
}
