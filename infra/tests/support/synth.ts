import path from 'node:path';
import { App, Stack, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { addBatonStage, type BatonStage } from '../../src/baton-stage';
import { serviceSources } from '../../src/service-sources';
import { resolveStageConfig, type StageConfig, type StageOverrides } from '../../src/stage-config';
import cdkJson from '../../cdk.json';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const SOURCES = serviceSources(REPO_ROOT);

/** The allow-list every qa synthesis needs. */
export const QA: StageOverrides = { qaAllowedRecipients: 'qa@example.com,@qa.example.com' };

/**
 * An app as `cdk synth` builds it (the feature flags of cdk.json), except that handlers are not
 * bundled (a few ms a stack instead of seconds), CDK's built-in CloudFormation validation, which
 * `cdk synth` runs, is skipped (about two seconds a synthesis), and warnings are not printed
 * again as a validation report (tests read them with `Annotations`).
 */
export function testApp(): App {
  return new App({
    context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], '@aws-cdk/core:annotationsInValidationReport': false },
    builtinCloudFormationValidation: false,
  });
}

export interface SynthesisedStage {
  readonly config: StageConfig;
  readonly stacks: BatonStage;
  readonly data: Template;
  readonly service: Template;
}

/** One stage, synthesised once: call it in `beforeAll`. */
export function synthStage(
  stage: 'qa' | 'prod',
  overrides: StageOverrides = stage === 'qa' ? QA : {},
  app: App = testApp(),
): SynthesisedStage {
  const config = resolveStageConfig(stage, overrides);
  const stacks = addBatonStage(app, config, SOURCES);
  return { config, stacks, data: Template.fromStack(stacks.data), service: Template.fromStack(stacks.service) };
}

/** The logical id CloudFormation knows a construct's resource by. */
export function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(element).getLogicalId(element);
}

export interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

export function resources(template: Template, type?: string): [string, Resource][] {
  const all = Object.entries((template.toJSON() as { Resources: Record<string, Resource> }).Resources);
  return type === undefined ? all : all.filter(([, r]) => r.Type === type);
}

export function resource(template: Template, id: string): Resource {
  const found = resources(template).find(([logical]) => logical === id);
  if (!found) throw new Error(`no resource ${id} in the template`);
  return found[1];
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Every statement of the identity policies attached to `roleId` (a role's logical id). */
export function statementsOfRole(template: Template, roleId: string): Statement[] {
  return resources(template, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties?.Roles).includes(`"${roleId}"`))
    .flatMap(([, p]) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement);
}

const BUCKET_LABELS: [string, string][] = [
  ['CampaignsBucket', 'campaigns'],
  ['StubsBucket', 'stubs'],
  ['RenderedBucket', 'rendered'],
];

/** `campaigns`, `campaigns/ledger/*`, or the resource as JSON when it is not a bucket. */
function label(resource: unknown): string {
  const json = JSON.stringify(resource);
  const bucket = BUCKET_LABELS.find(([id]) => json.includes(id));
  if (!bucket) return json;
  const suffix = /"(\/[^"]*)"\]\]\}$/.exec(json)?.[1];
  return suffix === undefined ? bucket[1] : `${bucket[1]}${suffix}`;
}

/**
 * A role's S3 permissions as readable lines, `s3:GetObject campaigns/ledger/*`, sorted: what a
 * reviewer would write down as the service's access.
 */
export function s3Grants(template: Template, roleId: string): string[] {
  const lines = new Set<string>();
  for (const statement of statementsOfRole(template, roleId)) {
    const actions = ([] as string[]).concat(statement.Action).filter((a) => a.startsWith('s3:'));
    const targets = ([] as unknown[]).concat(statement.Resource);
    for (const action of actions) for (const target of targets) lines.add(`${action} ${label(target)}`);
  }
  return [...lines].sort();
}
