import { writeConsole } from './index';

/** `tsx console/src/build-cli.ts OUTDIR`: the console's files for the AWS image (see the conductor's Dockerfile). */
const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: tsx console/src/build-cli.ts OUTDIR\n');
  process.exit(2);
}
writeConsole(dir).then(
  (names) => process.stdout.write(`console: ${names.length} files in ${dir}\n`),
  (err: unknown) => {
    process.stderr.write(`console: the build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
