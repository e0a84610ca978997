/**
 * @baton/renderer: the stubber (campaign requested → one stub per recipient) and the renderer
 * (stub → subject, html, text). Cores are pure and talk through the ObjectStore port; the
 * handlers are thin adapters for SNS and S3 events.
 */
export { parseAudience, normaliseFieldName, MAX_FIELD_LENGTH, MAX_REPORTED_PROBLEMS } from './core/audience';
export type { AudienceRecipient, ParsedAudience } from './core/audience';
export { addressProblem, isValidAddress, normaliseAddress, sendableAddress, MAX_ADDRESS_LENGTH } from './core/email-address';
export { compileCampaignTemplate, validateCampaignTemplate, renderMessage, checkPublicUrl, MAX_SUBJECT_LENGTH } from './core/template';
export type { TemplateInput, CompiledTemplate, RecipientData, RenderSettings } from './core/template';
export { TemplateCache } from './core/template-cache';
export type { TemplateCacheOptions } from './core/template-cache';
export { loadCampaignDefinition } from './core/campaign';
export { stubCampaign } from './core/stubber';
export type { StubberDeps } from './core/stubber';
export { renderStub } from './core/render';
export type { RenderDeps, RenderResult } from './core/render';
export { createStubberHandler } from './handlers/stubber-handler';
export { createRenderHandler } from './handlers/render-handler';
export { RecordsFailedError } from './errors';
export type { RecordFailure } from './errors';
