import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DevSecretError, devSecret } from '../src/dev-secrets';

describe('devSecret', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'baton-secret-'));
    file = path.join(dir, 'unsubscribe-secret');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates a missing secret and keeps it, readable by its owner only', async () => {
    // Act
    const first = await devSecret(file, 'links stop working');
    const again = await devSecret(file, 'links stop working');

    // Assess
    expect(first).toEqual({ value: expect.stringMatching(/^[0-9a-f]{48}$/), created: true });
    expect(again).toEqual({ value: first.value, created: false });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('keeps a secret written by hand, without its line break', async () => {
    // Prepare
    writeFileSync(file, 'my-own-dev-secret-1234\r\n');

    // Act
    const secret = await devSecret(file, 'links stop working');

    // Assess
    expect(secret).toEqual({ value: 'my-own-dev-secret-1234', created: false });
  });

  it.each([
    ['a short', 'abc123\n', 'it holds 6 characters, at least 16 are expected'],
    ['an empty', '', 'it is empty'],
    ['a NUL-filled (cut short by a crash)', '\u0000'.repeat(24), 'it holds spaces, control or non-ASCII characters'],
    ['a garbled', 'f00d\ufffd\ufffdbeef-0123456789abcdef', 'it holds spaces, control or non-ASCII characters'],
  ])('refuses %s secret file, naming it and saying what deleting it costs, and leaves it as it was', async (_, content, problem) => {
    // Prepare
    writeFileSync(file, content);

    // Act
    const error = await devSecret(file, 'unsubscribe links in messages already sent will then stop working').catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DevSecretError);
    expect((error as DevSecretError).file).toBe(file);
    expect((error as Error).message).toBe(
      `${file} is damaged (${problem}): delete it to generate a new one; unsubscribe links in messages already sent will then stop working`,
    );
    expect(readFileSync(file, 'utf8')).toBe(content);
  });

  it('names a secret file that cannot be read', async () => {
    // Prepare: a folder where the file should be
    const folder = path.join(dir, 'api-token');
    mkdirSync(folder);

    // Act
    const error = await devSecret(folder, 'the CLI will use the new token').catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DevSecretError);
    expect((error as Error).message).toBe(`${folder} cannot be read (EISDIR): fix its permissions, or delete it to generate a new one`);
  });
});
