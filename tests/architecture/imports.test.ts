import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The flow, as the imports show it: cores and templating are pure TypeScript that talk to the
 * world through ports; the AWS SDK, mailgun.js and the adapters of @baton/shared are for
 * composition roots (handlers' module scope, main.ts, local/) only; and no service's core
 * reaches into another service.
 */

const ROOT = path.resolve(__dirname, '..', '..');

/** The adapters of @baton/shared, each behind its own subpath. */
const SHARED_ADAPTERS = [
  's3-object-store',
  'secrets-manager',
  'aws-env',
  'aws-errors',
  'mailgun',
  'fs-object-store',
  'lmdb-object-store',
  'data-folder-store',
];
/** Packages that are compositions or tools, never a dependency of a core. */
const COMPOSITIONS = ['@baton/worker', '@baton/conductor', '@baton/console', '@baton/local', '@baton/cli', '@baton/infra'];

interface Import {
  specifier: string;
  line: number;
}

/** Every module a source text imports, re-exports, requires or loads with `import()`; comments are not imports. */
function importsIn(text: string): Import[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => ({
    specifier: f.fileName,
    line: text.slice(0, f.pos).split('\n').length,
  }));
}

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return tsFilesUnder(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

const isPackage = (spec: string, name: string): boolean => spec === name || spec.startsWith(`${name}/`);
const isAwsSdk = (spec: string): boolean => spec.startsWith('@aws-sdk/') || spec.startsWith('@smithy/');
const isProviderLibrary = (spec: string): boolean => isPackage(spec, 'mailgun.js') || isPackage(spec, 'form-data');

/** Why `spec`, imported from a pure module under `home`, breaks the flow; `undefined` when it does not. */
function pureModuleProblem(spec: string, file: string, home: string): string | undefined {
  if (isAwsSdk(spec)) return 'the AWS SDK';
  if (isProviderLibrary(spec)) return 'the provider library';
  const adapter = SHARED_ADAPTERS.find((name) => spec === `@baton/shared/${name}`);
  if (adapter !== undefined) return `an adapter of @baton/shared (${adapter})`;
  const service = COMPOSITIONS.find((name) => isPackage(spec, name));
  if (service !== undefined) return `another service (${service})`;
  // A relative import is held to the same folder, or `../adapters/…` would get round the rules above.
  if (spec.startsWith('.') && path.relative(home, path.resolve(path.dirname(file), spec)).startsWith('..'))
    return `a module outside ${path.relative(ROOT, home)}`;
  return undefined;
}

/** One line per offending import: `file:line imports 'spec' (why)`. */
function violations(files: { file: string; home: string }[], problem: (spec: string, file: string, home: string) => string | undefined) {
  return files.flatMap(({ file, home }) =>
    importsIn(readFileSync(file, 'utf8')).flatMap(({ specifier, line }) => {
      const why = problem(specifier, file, home);
      return why === undefined ? [] : [`${path.relative(ROOT, file)}:${line} imports '${specifier}' (${why})`];
    }),
  );
}

function coreFiles(): { file: string; home: string }[] {
  const services = path.join(ROOT, 'services');
  return readdirSync(services, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => path.join(services, entry.name, 'src', 'core'))
    .flatMap((home) => {
      try {
        return tsFilesUnder(home).map((file) => ({ file, home }));
      } catch {
        return []; // a service without a core folder
      }
    });
}

const TEMPLATING = path.join(ROOT, 'templating', 'src');
const templatingFiles = () => tsFilesUnder(TEMPLATING).map((file) => ({ file, home: TEMPLATING }));

const SHARED = path.join(ROOT, 'shared', 'src');
/** Where @baton/shared keeps the modules that may load a vendor SDK. */
const SHARED_VENDOR_HOMES = [
  path.join(SHARED, 'aws'),
  path.join(SHARED, 'mailgun'),
  path.join(SHARED, 'object-store', 's3-object-store.ts'),
];

describe('the import checks', () => {
  it('see every form of import, and no import in a comment', () => {
    // Prepare
    const text = [
      "// import { S3Client } from '@aws-sdk/client-s3';",
      "import type Mailgun from 'mailgun.js' with { 'resolution-mode': 'import' };",
      "export * from '@baton/worker';",
      "const FormData = require('form-data');",
      "const later = () => import('@baton/shared/s3-object-store');",
    ].join('\n');

    // Act
    const found = importsIn(text);

    // Assess
    expect(found).toEqual([
      { specifier: 'mailgun.js', line: 2 },
      { specifier: '@baton/worker', line: 3 },
      { specifier: 'form-data', line: 4 },
      { specifier: '@baton/shared/s3-object-store', line: 5 },
    ]);
  });

  it('name what a pure module may not import, and let the rest through', () => {
    // Prepare
    const home = path.join(ROOT, 'services', 'worker', 'src', 'core');
    const file = path.join(home, 'send-lease.ts');
    const allowed = ['@baton/shared', '@baton/shared/memory-object-store', '@baton/templating', 'zod', 'node:crypto', './ports'];
    const refused = [
      '@aws-sdk/client-s3',
      'mailgun.js/definitions',
      'form-data',
      ...SHARED_ADAPTERS.map((name) => `@baton/shared/${name}`),
      '@baton/conductor',
      '@baton/local',
      '../adapters/mailgun-sender',
    ];

    // Act
    const problems = (specs: string[]) => specs.map((spec) => pureModuleProblem(spec, file, home));

    // Assess
    expect(problems(allowed)).toEqual(allowed.map(() => undefined));
    expect(problems(refused).filter((p) => p === undefined)).toEqual([]);
  });
});

describe('the imports show the flow', () => {
  it('finds the cores and templating to check', () => {
    // Act
    const checked = [...coreFiles(), ...templatingFiles()].map(({ file }) => path.relative(ROOT, file));

    // Assess
    expect(checked).toEqual(
      expect.arrayContaining([
        path.join('services', 'conductor', 'src', 'core', 'conductor.ts'),
        path.join('services', 'renderer', 'src', 'core', 'render.ts'),
        path.join('services', 'worker', 'src', 'core', 'send-key.ts'),
        path.join('templating', 'src', 'template.ts'),
      ]),
    );
  });

  it('keeps every service core free of the AWS SDK, mailgun.js, shared adapters and other services', () => {
    expect(violations(coreFiles(), pureModuleProblem)).toEqual([]);
  });

  it('keeps templating as pure as a core', () => {
    expect(violations(templatingFiles(), pureModuleProblem)).toEqual([]);
  });

  it('keeps templating below the services: it imports none of them', () => {
    const services = ['@baton/renderer', '@baton/worker', '@baton/conductor', '@baton/local'];
    const problem = (spec: string) => (services.some((name) => isPackage(spec, name)) ? 'a service' : undefined);
    expect(violations(templatingFiles(), problem)).toEqual([]);
  });

  it('keeps the console and its bundler out of the conductor: its image gets built files, never esbuild', () => {
    // Prepare
    const conductor = path.join(ROOT, 'services', 'conductor', 'src');
    const files = tsFilesUnder(conductor).map((file) => ({ file, home: conductor }));
    const problem = (spec: string) =>
      isPackage(spec, '@baton/console') ? 'the console (local/ builds it)' : isPackage(spec, 'esbuild') ? 'the bundler' : undefined;

    // Act
    const found = violations(files, problem);

    // Assess
    expect(files.map(({ file }) => path.relative(conductor, file))).toContain(path.join('http', 'console-assets.ts'));
    expect(found).toEqual([]);
  });

  it('keeps the AWS SDK and mailgun.js in the adapter modules of shared', () => {
    // Prepare
    const files = tsFilesUnder(SHARED)
      .filter((file) => !SHARED_VENDOR_HOMES.some((home) => file === home || file.startsWith(`${home}${path.sep}`)))
      .map((file) => ({ file, home: SHARED }));
    const problem = (spec: string) => (isAwsSdk(spec) ? 'the AWS SDK' : isProviderLibrary(spec) ? 'the provider library' : undefined);

    // Act
    const found = violations(files, problem);

    // Assess
    expect(files.map(({ file }) => path.relative(SHARED, file))).toContain('index.ts');
    expect(found).toEqual([]);
  });
});
