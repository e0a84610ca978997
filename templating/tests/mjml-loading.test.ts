import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** Which of MJML's packages a fresh process has loaded after `script` (run with tsx, as in development). */
function mjmlLoadedAfter(script: string): string[] {
  const probe = `${script}.then(() => console.log(JSON.stringify(Object.keys(require.cache).filter((f) => /node_modules\\/mjml[^/]*\\//.test(f)).map((f) => f.split('node_modules/')[1].split('/')[0]))))`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return [...new Set(JSON.parse(run.stdout) as string[])];
}

describe('loading MJML', () => {
  it('is not done by importing the package (the conductor parses audiences with it and never compiles)', () => {
    expect(mjmlLoadedAfter(`Promise.resolve(require('./src/index.ts').parseAudience('email\\nann@example.com\\n', 'c1'))`)).toEqual([]);
  });

  it('is done by the first compile', () => {
    const compile = `require('./src/index.ts').validateCampaignTemplate({ from: 'A <a@example.com>', subject: 'Hi', mjml: '<mjml><mj-body></mj-body></mjml>' })`;
    expect(mjmlLoadedAfter(compile)).toEqual(expect.arrayContaining(['mjml', 'mjml-core']));
  });
});
