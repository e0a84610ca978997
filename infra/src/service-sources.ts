import path from 'node:path';

/**
 * Where the deployable code of each service lives. The CDK app only points at these files; the
 * services own them. Paths are absolute so that synthesis works from any working directory.
 */
export interface ServiceSources {
  /** The repository root: npm workspaces resolve from here, and it is the conductor's Docker build context. */
  readonly repoRoot: string;
  /** The lock file NodejsFunction hashes and uses to pick the package manager. */
  readonly lockFile: string;
  readonly stubberEntry: string;
  readonly rendererEntry: string;
  readonly workerEntry: string;
  /** Relative to `repoRoot`, as Docker expects with the root as context. */
  readonly conductorDockerfile: string;
  /**
   * The conductor's build context, as Docker ignore patterns: everything is left out but what its
   * Dockerfile copies (the manifests, the lock file, the sources of shared, templating, the services and the console).
   * Whatever is in the context is in the image's asset hash, and a new hash redeploys the
   * conductor (a gap in sending): so a change to this app, a test or the docs does not restart
   * it, and the host's node_modules (hundreds of MB) never travel. The repository's
   * .dockerignore is applied too; infra/tests/conductor.test.ts checks every COPY still finds
   * its source here.
   */
  readonly dockerExclude: readonly string[];
}

export function serviceSources(repoRoot: string): ServiceSources {
  const root = path.resolve(repoRoot);
  return {
    repoRoot: root,
    lockFile: path.join(root, 'package-lock.json'),
    stubberEntry: path.join(root, 'services/renderer/src/lambda/stubber.ts'),
    rendererEntry: path.join(root, 'services/renderer/src/lambda/renderer.ts'),
    workerEntry: path.join(root, 'services/worker/src/lambda/worker.ts'),
    conductorDockerfile: 'services/conductor/Dockerfile',
    dockerExclude: [
      '*',
      '!package.json',
      '!package-lock.json',
      '!*/package.json',
      '!services/*/package.json',
      '!cli/bin',
      '!shared/src',
      '!templating/src',
      '!services/*/src',
      '!console/src',
      '!console/app',
      '!services/conductor/Dockerfile',
      '!services/conductor/scripts',
      '**/node_modules',
    ],
  };
}
