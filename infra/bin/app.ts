/**
 * The CDK app: one stage per synthesis, `-c stage=qa` or `-c stage=prod`.
 *
 * The only place that reads the CDK context or the environment. Overrides come from context keys
 * (`-c perMinuteMax=1200`, or committed in cdk.json under `baton:<stage>`); on the command line
 * they win over cdk.json. QA's allow-list may also come from QA_ALLOWED_RECIPIENTS.
 */
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { addBatonStage } from '../src/baton-stage';
import { serviceSources } from '../src/service-sources';
import { OVERRIDE_KEYS, StageConfigError, resolveStageConfig, type StageConfig } from '../src/stage-config';

const app = new App();
const stage: unknown = app.node.tryGetContext('stage');

// Committed per-stage settings first, then keys given on the command line.
const committed: unknown = typeof stage === 'string' ? app.node.tryGetContext(`baton:${stage}`) : undefined;
const overrides: Record<string, unknown> = typeof committed === 'object' && committed !== null ? { ...committed } : {};
for (const key of OVERRIDE_KEYS) {
  const value: unknown = app.node.tryGetContext(key);
  if (value !== undefined) overrides[key] = value;
}
if (stage === 'qa') overrides.qaAllowedRecipients ??= process.env.QA_ALLOWED_RECIPIENTS;

let config: StageConfig;
try {
  config = resolveStageConfig(stage, overrides);
} catch (err) {
  if (!(err instanceof StageConfigError)) throw err;
  // A clear list for the operator, not a stack trace.
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}

addBatonStage(app, config, serviceSources(path.resolve(__dirname, '..', '..')));
app.synth();
