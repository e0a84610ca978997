import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import cdkJson from '../cdk.json';

const INFRA = path.resolve(__dirname, '..');

/**
 * Runs bin/app.ts as `cdk synth` does (context in CDK_CONTEXT_JSON, output in CDK_OUTDIR), with
 * bundling skipped and CDK's built-in template validation off, to keep it quick.
 */
function runApp(context: Record<string, unknown>, env: Record<string, string> = {}) {
  const outdir = mkdtempSync(path.join(tmpdir(), 'baton-app-'));
  const inherited = { ...process.env };
  delete inherited.QA_ALLOWED_RECIPIENTS;
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
    cwd: INFRA,
    encoding: 'utf8',
    env: {
      ...inherited,
      ...env,
      CDK_CONTEXT_JSON: JSON.stringify({ ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...context }),
      CDK_OUTDIR: outdir,
      CDK_VALIDATION: 'false',
    },
  });
  const file = (stack: string) => path.join(outdir, `${stack}.template.json`);
  const templates = ['Baton-qa-Data', 'Baton-qa-Service', 'Baton-prod-Data', 'Baton-prod-Service'].filter((s) => existsSync(file(s)));
  const conductorEnv = templates.includes('Baton-prod-Service')
    ? conductorEnvironment(readFileSync(file('Baton-prod-Service'), 'utf8'))
    : {};
  rmSync(outdir, { recursive: true, force: true });
  return { status: result.status, stderr: result.stderr, templates, conductorEnv };
}

function conductorEnvironment(template: string): Record<string, unknown> {
  const { Resources } = JSON.parse(template) as {
    Resources: Record<
      string,
      { Type: string; Properties: { ContainerDefinitions?: { Environment: { Name: string; Value: unknown }[] }[] } }
    >;
  };
  const task = Object.values(Resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition');
  return Object.fromEntries((task?.Properties.ContainerDefinitions?.[0]?.Environment ?? []).map((e) => [e.Name, e.Value]));
}

describe('bin/app.ts', () => {
  it('refuses to synthesise qa without an allow-list, with a message that says what to pass', () => {
    // Act
    const run = runApp({ stage: 'qa' });

    // Assess
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('qaAllowedRecipients: is required for the qa stage');
    expect(run.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(run.templates).toEqual([]);
  });

  it('synthesises qa with the allow-list from QA_ALLOWED_RECIPIENTS', () => {
    const run = runApp({ stage: 'qa' }, { QA_ALLOWED_RECIPIENTS: 'qa@example.com' });
    expect(run.stderr).not.toContain('Invalid Baton stage configuration');
    expect(run.templates).toEqual(['Baton-qa-Data', 'Baton-qa-Service']);
  });

  it('synthesises prod with no context beyond the stage', () => {
    const run = runApp({ stage: 'prod' });
    expect(run.status).toBe(0);
    expect(run.templates).toEqual(['Baton-prod-Data', 'Baton-prod-Service']);
  });

  it("takes the stage's settings committed in cdk.json, and lets the command line override them", () => {
    // Act
    const run = runApp({ stage: 'prod', 'baton:prod': { perMinuteMax: 1000, maxWorkers: 3 }, perMinuteMax: '2000' });

    // Assess
    expect(run.status).toBe(0);
    expect(run.conductorEnv).toMatchObject({ PER_MINUTE_MAX: '2000', MAX_WORKERS: '3' });
  });
});
