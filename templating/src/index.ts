/**
 * @baton/templating: what turns a marketer's input into messages — the audience CSV parsed into
 * recipients, addresses checked, the MJML + Liquid template compiled once per campaign and merged
 * per recipient, and the cache of compiled templates. Pure: no store, no AWS SDK, no provider.
 */
export { parseAudience, AudienceParser, normaliseFieldName, MAX_FIELD_LENGTH, MAX_REPORTED_PROBLEMS } from './audience';
export type { AudienceRecipient, ParsedAudience } from './audience';
export { audienceHead, audienceHeadOf, AUDIENCE_HEAD_BYTES } from './audience-head';
export {
  addressProblem,
  isValidAddress,
  normaliseAddress,
  sendableAddress,
  checkMailbox,
  formatMailbox,
  MAX_ADDRESS_LENGTH,
  MAX_MAILBOX_LENGTH,
} from './email-address';
export type { Mailbox, MailboxCheck } from './email-address';
export {
  compileCampaignTemplate,
  validateCampaignTemplate,
  templateWarnings,
  renderMessage,
  checkPublicUrl,
  inspectCampaignTemplate,
  BUILT_IN_FIELDS,
  MAX_SUBJECT_LENGTH,
} from './template';
export type { TemplateInput, CompiledTemplate, RecipientData, RenderSettings, TemplateInspection } from './template';
export type { TemplateProblem } from './template-checks';
export { hasVisibleUnsubscribeLink, unsubscribeLinkProblem } from './unsubscribe-link';
export { mergeFieldsUsed, unknownMergeFields } from './merge-fields';
export type { MergeFieldUse, UnknownMergeField } from './merge-fields';
export { checkDraft, previewDraft, audienceRow, wholeRows } from './draft';
export type { DraftTemplate, DraftAudience, DraftProblem, DraftCheck, DraftPreview, DraftField } from './draft';
export { TemplateCache } from './template-cache';
export { loadMjml } from './mjml';
export type { TemplateCacheOptions } from './template-cache';
export { AudienceRecordReader, audienceColumns, MAX_RECORD_LENGTH } from './audience';
export type { AudienceRecord, MalformedAudienceRecord, AudienceColumns } from './audience';
export {
  AddressMapping,
  AudienceSanitiser,
  AudienceVerifier,
  SanitiseError,
  UNREADABLE_ROWS,
  findAddresses,
  parseUrlRewrite,
  sanitiseEmailValue,
} from './sanitise';
export type { FoundAddress, RewriteCounts, SanitiseOptions } from './sanitise';
