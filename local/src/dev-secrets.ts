import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';

/**
 * Secrets kept in the data folder in dev, so they survive restarts: the API token (the console
 * link and the CLI read it) and the unsubscribe secret (links in messages already sent must keep
 * verifying). A missing file is generated; a damaged one is never replaced behind the user's back.
 */

/** A secret file in the data folder that cannot be used as it is. */
export class DevSecretError extends Error {
  override readonly name = 'DevSecretError';
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface DevSecret {
  value: string;
  /** True when the file did not exist and was written now. */
  created: boolean;
}

/** As short as the config accepts for a secret (`BATON_API_TOKEN` and the like). */
const MIN_LENGTH = 16;
const PRINTABLE = /^[\x21-\x7E]+$/;

/**
 * The secret in `file`, or a new one written there (mode 600) when the file does not exist.
 * Throws a DevSecretError naming the file when it cannot be read or is damaged (too short, or
 * holding spaces, control or non-ASCII characters); `whenReplaced` says what deleting it costs.
 */
export async function devSecret(file: string, whenReplaced: string): Promise<DevSecret> {
  const existing = await readIfPresent(file);
  if (existing !== undefined) return { value: checked(file, existing, whenReplaced), created: false };
  const value = randomBytes(24).toString('hex');
  try {
    // `wx`: never overwrite a file another process wrote in the meantime.
    await fs.writeFile(file, value + '\n', { mode: 0o600, flag: 'wx' });
    return { value, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new DevSecretError(file, `${file} cannot be written (${describe(err)}): check the data folder (BATON_DATA_DIR)`, {
        cause: err,
      });
    }
    const written = (await readIfPresent(file)) ?? '';
    return { value: checked(file, written, whenReplaced), created: false };
  }
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DevSecretError(file, `${file} cannot be read (${describe(err)}): fix its permissions, or delete it to generate a new one`, {
      cause: err,
    });
  }
}

function checked(file: string, content: string, whenReplaced: string): string {
  const value = content.trim();
  const problem =
    value.length === 0
      ? 'it is empty'
      : !PRINTABLE.test(value)
        ? 'it holds spaces, control or non-ASCII characters'
        : value.length < MIN_LENGTH
          ? `it holds ${value.length} characters, at least ${MIN_LENGTH} are expected`
          : undefined;
  if (problem === undefined) return value;
  throw new DevSecretError(file, `${file} is damaged (${problem}): delete it to generate a new one; ${whenReplaced}`);
}

function describe(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
