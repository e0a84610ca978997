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
export { createRenderHandler, type RenderSummary } from './handlers/render-handler';
export { RecordsFailedError } from './errors';
export type { RecordFailure } from './errors';
