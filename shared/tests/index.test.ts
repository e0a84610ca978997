import { readFileSync } from 'node:fs';
import path from 'node:path';

const SRC = path.join(__dirname, '..', 'src');

/** Every module specifier a source file imports or re-exports (type-only imports included). */
function specifiersOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(
      /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g,
    ),
  ].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** The files reachable from `entry` through relative imports, and the packages they import. */
function closureOf(entry: string): { files: string[]; packages: Set<string> } {
  const files: string[] = [];
  const packages = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.includes(file)) continue;
    files.push(file);
    for (const spec of specifiersOf(file)) {
      if (spec.startsWith('.')) pending.push(`${path.resolve(path.dirname(file), spec)}.ts`);
      else packages.add(spec);
    }
  }
  return { files, packages };
}

describe('the @baton/shared core entry point', () => {
  it('never loads the AWS SDK, directly or through another module', () => {
    // Act
    const { files, packages } = closureOf(path.join(SRC, 'index.ts'));

    // Assess
    expect(files.map((f) => path.relative(SRC, f))).not.toContain(path.join('object-store', 's3-object-store.ts'));
    expect([...packages].filter((p) => p.startsWith('@aws-sdk/') || p.startsWith('@smithy/'))).toEqual([]);
  });

  it('leaves the S3 adapter to its own subpath export', () => {
    // Prepare
    const pkg = JSON.parse(readFileSync(path.join(SRC, '..', 'package.json'), 'utf8')) as { exports: Record<string, string> };

    // Act
    const s3Export = pkg.exports['./s3-object-store'];

    // Assess
    expect(s3Export).toBe('./src/object-store/s3-object-store.ts');
    expect(specifiersOf(path.join(SRC, 'object-store', 's3-object-store.ts'))).toContain('@aws-sdk/client-s3');
  });
});

describe('the AWS subpaths of @baton/shared', () => {
  it('keeps the environment and error helpers free of the SDK, so any entry point may load them', () => {
    // Act
    const env = closureOf(path.join(SRC, 'aws', 'aws-env.ts'));
    const errors = closureOf(path.join(SRC, 'aws', 'sdk-errors.ts'));

    // Assess
    for (const { packages } of [env, errors]) {
      expect([...packages].filter((p) => p.startsWith('@aws-sdk/') || p.startsWith('@smithy/'))).toEqual([]);
    }
  });

  it('exports the Secrets Manager reader under its own subpath, away from the core', () => {
    // Prepare
    const pkg = JSON.parse(readFileSync(path.join(SRC, '..', 'package.json'), 'utf8')) as { exports: Record<string, string> };

    // Act
    const { files } = closureOf(path.join(SRC, 'index.ts'));

    // Assess
    expect(pkg.exports['./secrets-manager']).toBe('./src/aws/secrets-manager-secrets.ts');
    expect(pkg.exports['./aws-env']).toBe('./src/aws/aws-env.ts');
    expect(pkg.exports['./aws-errors']).toBe('./src/aws/sdk-errors.ts');
    expect(files.map((f) => path.relative(SRC, f)).filter((f) => f.startsWith('aws'))).toEqual([]);
  });
});

describe('the Mailgun subpath of @baton/shared', () => {
  it('exports the sender under its own subpath, so the core entry point never loads mailgun.js', () => {
    // Prepare
    const pkg = JSON.parse(readFileSync(path.join(SRC, '..', 'package.json'), 'utf8')) as { exports: Record<string, string> };

    // Act
    const { files, packages } = closureOf(path.join(SRC, 'index.ts'));

    // Assess
    expect(pkg.exports['./mailgun']).toBe('./src/mailgun/mailgun-sender.ts');
    expect(specifiersOf(path.join(SRC, 'mailgun', 'mailgun-sender.ts'))).toContain('mailgun.js');
    expect(files.map((f) => path.relative(SRC, f)).filter((f) => f.startsWith('mailgun'))).toEqual([]);
    expect([...packages].filter((p) => p.startsWith('mailgun.js') || p === 'form-data')).toEqual([]);
  });
});

describe("the API's answer types (api-types.ts)", () => {
  it('import nothing, so the console type-checks them without Node and bundles none of shared', () => {
    // Act
    const types = closureOf(path.join(SRC, 'api-types.ts'));
    const cap = closureOf(path.join(SRC, 'cap.ts'));

    // Assess
    expect(types.files.map((f) => path.relative(SRC, f))).toEqual(['api-types.ts']);
    expect([...types.packages]).toEqual([]);
    // The cap in words stays pure too: the configured cap (config.ts) is configured-cap.ts'.
    expect(cap.files.map((f) => path.relative(SRC, f)).sort()).toEqual(['api-types.ts', 'cap.ts']);
    expect([...cap.packages]).toEqual([]);
  });
});
