import type { BodyStream } from '@baton/shared';

/** An audience still arriving (a request's file part or raw body): its bytes come once, in order. */
export interface AudienceUpload {
  chunks: BodyStream;
  /** The most bytes it may have; past it the upload is refused and nothing of it is kept. */
  maxBytes: number;
  /** Its length when the sender said it (a Content-Length). */
  contentLength?: number;
}

/**
 * Reads an upload's first `headBytes` (and the rest of the chunk that crosses them), and gives
 * back that head and the whole body again, head first, to be streamed on: the head is checked
 * before anything is stored, and no more than it is ever held.
 */
export async function splitHead(chunks: BodyStream, headBytes: number): Promise<{ head: Buffer; body: BodyStream }> {
  const iterator = chunks[Symbol.asyncIterator]();
  const first: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  while (size <= headBytes) {
    const next = await iterator.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    first.push(next.value);
    size += next.value.byteLength;
  }
  const head = Buffer.concat(first);
  async function* whole(): AsyncGenerator<Uint8Array> {
    yield* first;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      yield next.value;
    }
  }
  return { head, body: whole() };
}
