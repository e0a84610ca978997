/**
 * @baton/renderer: the stubber (campaign requested → one stub per recipient) and the renderer
 * (stub → subject, html, text). Cores are pure and talk through the ObjectStore port; audience
 * parsing and templates come from @baton/templating; the handlers are thin adapters for SNS
 * and S3 events.
 */
export { loadCampaignDefinition } from './core/campaign';
export { stubCampaign } from './core/stubber';
export type { StubberDeps } from './core/stubber';
export { renderStub } from './core/render';
export type { RenderDeps, RenderResult } from './core/render';
export { createStubberHandler } from './handlers/stubber-handler';
export { createRenderHandler } from './handlers/render-handler';
export { RecordsFailedError } from './errors';
export type { RecordFailure } from './errors';
// Re-exported from @baton/templating, their home now, for the conductor core until its split
// lands and it imports @baton/templating itself; nothing else should import them from here.
export {
  parseAudience,
  normaliseFieldName,
  MAX_FIELD_LENGTH,
  MAX_REPORTED_PROBLEMS,
  addressProblem,
  isValidAddress,
  normaliseAddress,
  sendableAddress,
  MAX_ADDRESS_LENGTH,
  compileCampaignTemplate,
  validateCampaignTemplate,
  renderMessage,
  checkPublicUrl,
  MAX_SUBJECT_LENGTH,
  TemplateCache,
} from '@baton/templating';
export type {
  AudienceRecipient,
  ParsedAudience,
  TemplateInput,
  CompiledTemplate,
  RecipientData,
  RenderSettings,
  TemplateCacheOptions,
} from '@baton/templating';
