import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ID_PATTERN, ValidationError, parseWith } from '@baton/shared';
import type { Conductor } from '../core/conductor';

/**
 * The campaign editor's routes: a draft checked (`POST /api/drafts/check`) and previewed
 * (`POST /api/drafts/preview`) while it is edited, a campaign's definition for a clone
 * (`GET /api/campaigns/:id/definition`), and the deletion of a campaign that never started
 * (`DELETE /api/campaigns/:id`). The checks and previews run in the render pool.
 */

/** A draft's JSON: the template at most as large as a create takes, and the audience's head (more is accepted, only the head is read). */
export const DRAFT_BODY_BYTES = 8 * 1024 * 1024;

const id = z.string().regex(new RegExp(ID_PATTERN), { message: 'must be lower-case letters, digits and dashes (2-63)' });

const draftFields = {
  // Longer than a create allows, so that the check can say by how much (SUBJECT_TOO_LONG).
  subject: z.string().max(100_000),
  mjml: z.string().max(2_000_000),
  from: z.string().max(320).optional(),
  audienceCsv: z.string().max(DRAFT_BODY_BYTES).optional(),
  audienceKey: z.string().min(1).max(1024).optional(),
  /** Whose audience it is; taken from audienceKey when it names one. */
  customerId: id.optional(),
};

const oneAudience = <T extends { audienceCsv?: string; audienceKey?: string }>(v: T) =>
  v.audienceCsv === undefined || v.audienceKey === undefined;
const oneAudienceMessage = { message: 'give at most one of audienceCsv or audienceKey', path: ['audienceCsv'] };

export const draftCheckInput = z.object(draftFields).strict().refine(oneAudience, oneAudienceMessage);

export const draftPreviewInput = z
  .object({
    ...draftFields,
    row: z.number().int().min(1, { message: 'must be 1 or more (the first data row)' }).max(10_000_000).optional(),
  })
  .strict()
  .refine(oneAudience, oneAudienceMessage);

/** `?row=N` of a campaign's preview. */
export const previewQuery = z
  .object({ row: z.coerce.number().int().min(1, { message: 'must be 1 or more (the first data row)' }).max(10_000_000).optional() })
  .strict();

/** A problem with the chosen row (`where: 'row'` from the templating package) named as the request's field. */
export async function namingRow<T>(where: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ValidationError && err.issues.some((i) => i.where === 'row')) {
      throw new ValidationError(
        err.code,
        err.issues.map((i) => (i.where === 'row' ? { ...i, where } : i)),
      );
    }
    throw err;
  }
}

export async function draftRoutes(api: FastifyInstance, conductor: Conductor): Promise<void> {
  api.post('/drafts/check', { bodyLimit: DRAFT_BODY_BYTES }, async (req) =>
    conductor.drafts.check(parseWith(draftCheckInput, req.body ?? {}, 'DRAFT_INVALID', 'body')),
  );
  api.post('/drafts/preview', { bodyLimit: DRAFT_BODY_BYTES }, async (req) => {
    const { row, ...draft } = parseWith(draftPreviewInput, req.body ?? {}, 'DRAFT_INVALID', 'body');
    return namingRow('body.row', () => conductor.drafts.preview(draft, row ?? 1));
  });
  api.get<{ Params: { id: string } }>('/campaigns/:id/definition', async (req) => conductor.definition(req.params.id));
  api.delete<{ Params: { id: string } }>('/campaigns/:id', async (req, reply) => {
    await conductor.deleteCampaign(req.params.id);
    return reply.code(204).send();
  });
}
