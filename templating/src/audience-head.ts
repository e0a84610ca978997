/** How much of an audience is read to check its header and find its first rows. */
export const AUDIENCE_HEAD_BYTES = 65_536;

/**
 * The start of an audience, cut after its last line break within the first
 * `AUDIENCE_HEAD_BYTES`, so no row (the header least of all) is cut short: enough to check the
 * header and read the first rows in constant time, whatever the file's size. The whole text when
 * it is shorter, or when no line break comes that early (a header longer than the head).
 */
export function audienceHead(csvText: string): string {
  if (csvText.length <= AUDIENCE_HEAD_BYTES) return csvText;
  const cut = csvText.lastIndexOf('\n', AUDIENCE_HEAD_BYTES) + 1;
  return cut > 0 ? csvText.slice(0, cut) : csvText;
}

/**
 * `audienceHead` for an audience still in bytes (an upload as it arrived): the head decoded
 * alone, cut after its last line break within the first `AUDIENCE_HEAD_BYTES` bytes, so that a
 * large upload is never turned into one string to check its header. The whole text when it is
 * shorter, or when no line break comes that early.
 */
export function audienceHeadOf(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length <= AUDIENCE_HEAD_BYTES) return buf.toString('utf8');
  const cut = buf.lastIndexOf(0x0a, AUDIENCE_HEAD_BYTES) + 1;
  return buf.toString('utf8', 0, cut > 0 ? cut : buf.length);
}
