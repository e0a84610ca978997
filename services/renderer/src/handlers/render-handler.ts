import { ValidationError, decodeS3EventKey, describeError, parseWith, s3Event, silentLogger, type S3EventRecord } from '@baton/shared';
import { checkPublicUrl } from '@baton/templating';
import { renderStub, type RenderDeps } from '../core/render';
import { throwIfAnyFailed, type RecordFailure } from '../errors';

/**
 * S3 ObjectCreated on the stubs bucket → rendered messages. Build once per container (the
 * template cache lives as long as the handler). Other event types are ignored; every record is
 * attempted, then any failure is thrown so the runtime retries (rendering is idempotent).
 * Answers the thread's time its renders' own work took (`RenderResult.ownMs`, summed); Lambda
 * ignores it, the local composition's fair order of renders reads it.
 */
export function createRenderHandler(deps: RenderDeps): (event: unknown) => Promise<RenderSummary> {
  checkPublicUrl(deps.publicUrl); // a bad setting fails at start, not per recipient
  const log = deps.logger ?? silentLogger;
  return async (event: unknown): Promise<RenderSummary> => {
    const { Records } = parseWith(s3Event, event, 'EVENT_INVALID', 'event');
    const failures: RecordFailure[] = [];
    let ownMs = 0;
    await Promise.all(
      Records.map(async (record, index) => {
        if (!record.eventName.startsWith('ObjectCreated:')) {
          log.debug({ event: 'render.event-ignored', eventName: record.eventName });
          return;
        }
        let subject = `event.Records.${index}`;
        try {
          const key = stubKeyOf(record, index, deps.buckets.stubs);
          subject = key;
          const result = await renderStub(deps, key);
          ownMs += result.ownMs; // after the await: `ownMs += await …` would add to what it read before
        } catch (error) {
          log.error({ event: 'render.record-failed', index, reason: describeError(error) });
          failures.push({ index, subject, error });
        }
      }),
    );
    failures.sort((a, b) => a.index - b.index);
    throwIfAnyFailed(Records.length, failures);
    return { ownMs };
  };
}

/** What a render invocation answers: the thread's time its renders' own work took. */
export interface RenderSummary {
  ownMs: number;
}

function stubKeyOf(record: S3EventRecord, index: number, stubsBucket: string): string {
  const where = `event.Records.${index}.s3`;
  if (record.s3.bucket.name !== stubsBucket) {
    throw new ValidationError('EVENT_INVALID', [
      {
        where: `${where}.bucket.name`,
        message: `is ${JSON.stringify(record.s3.bucket.name)}, not the stubs bucket ${JSON.stringify(stubsBucket)}`,
      },
    ]);
  }
  try {
    return decodeS3EventKey(record.s3.object.key);
  } catch {
    throw new ValidationError('EVENT_INVALID', [{ where: `${where}.object.key`, message: 'is not a valid URL-encoded key' }]);
  }
}
