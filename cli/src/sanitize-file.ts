import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { AudienceSanitiser, AudienceVerifier, SanitiseError, type AddressMapping, type RewriteCounts } from '@baton/templating';
import { UsageError } from './usage-error';

/**
 * Streams `input` through the sanitiser into a temporary file beside `output`, re-reads that
 * file to verify it, and only then renames it into place; on any error it is removed.
 */
export async function sanitizeFile(
  input: string,
  output: string,
  args: { mapping: AddressMapping; urlRewrites: readonly { from: string; to: string }[] },
): Promise<{ records: number; rewritten: RewriteCounts; urlsRewritten: number }> {
  const tmp = path.join(path.dirname(output), `.${path.basename(output)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const sanitiser = new AudienceSanitiser({ mapping: args.mapping, urlRewrites: args.urlRewrites });
  try {
    const sink = await fsp.open(tmp, 'wx');
    try {
      for await (const chunk of readChunks(input, '--in')) {
        const text = sanitiser.write(chunk);
        if (text) await sink.write(text);
      }
      await sink.write(sanitiser.end());
    } finally {
      await sink.close();
    }
    const verifier = new AudienceVerifier(args.mapping.domain);
    for await (const chunk of readChunks(tmp, 'the sanitised copy')) verifier.write(chunk);
    verifier.end();
    if (verifier.records !== sanitiser.records) {
      throw new SanitiseError(`verification failed: the copy has ${verifier.records} records, the input ${sanitiser.records}`);
    }
    await fsp.rename(tmp, output);
    return { records: sanitiser.records, rewritten: sanitiser.rewritten, urlsRewritten: sanitiser.urlsRewritten };
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

async function* readChunks(file: string, what: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 16 })) yield chunk as Buffer;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === undefined) throw err;
    throw new UsageError(`${what} ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a folder' : e.message}`);
  }
}
