import { createHash, randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { compressSync, uncompressSync } from 'lz4-napi';
import { open, type Database, type RootDatabase } from 'lmdb';
import { BatonError, ObjectExistsError, RetryableError, ValidationError } from '../errors';
import { RecentMap } from '../recent-map';
import {
  ObjectCreatedEvents,
  type EventedObjectStore,
  type ObjectCreatedFilter,
  type ObjectCreatedListener,
} from './object-created-events';
import {
  checkHeadBytes,
  collectBody,
  headOf,
  type BodyStream,
  type ListPage,
  type ObjectHead,
  type PutOptions,
  type PutStreamOptions,
} from './port';

/**
 * The object-store port over LMDB (the `lmdb` package, prebuilt binaries from the registry): one
 * memory-mapped file under `path`, one named database per bucket, keys in byte order.
 *
 * - Reads are synchronous lookups in the map (microseconds, no thread hop); writes are queued
 *   and committed together, one transaction and one disk flush per batch.
 * - Durable: a put (and a delete) resolves only once its transaction is flushed to disk, so a
 *   power cut loses nothing acknowledged; a crash never leaves a partial object (LMDB is
 *   copy-on-write). lmdb's `overlappingSync` (its default on Linux) resolves a write when its
 *   transaction commits and flushes afterwards, outside the write lock: the store waits for that
 *   flush too (`separateFlushed`), so commits still overlap flushes but no put is acknowledged
 *   before it is on disk. (A killed process loses nothing committed either way: the committed
 *   pages are in the OS's cache.) The buckets given as `derived` are the exception: kept in an
 *   environment of their own, their writes resolve at the commit (see the option).
 * - Conditional create (`ifNoneMatch: '*'`) is checked inside the write transaction: of two
 *   racing creators, in this process or another one, exactly one wins.
 * - Bodies over 1 KB are stored LZ4-compressed (lmdb's own). Bodies that share a scope (given
 *   by `dictionaryScope`: a campaign's rendered messages, which differ only in their merge
 *   fields, its stubs, its claims) are instead LZ4-compressed against the scope's first body,
 *   kept once as a dictionary: a 9 KB rendered email takes a few hundred bytes, small enough to
 *   share LMDB's pages with other records instead of taking a 4 KB overflow page of its own, and
 *   a 270-byte stub about a third of that. Bodies the store deflated against their dictionary
 *   before are still read. A scope's dictionary is dropped once the scope is empty
 *   (`dropDictionary`: retention).
 * - A body of over `CHUNK_BYTES` bytes (an audience upload) is written as pieces of that size,
 *   each in a transaction of its own, then its key as a short list of them: LMDB has one writer
 *   and each batch one flush, so a 40 MB value written at once held every other durable write
 *   (the workers' claims) about 200 ms, behind its commit and flush; pieces let them in between.
 *   The key is still written in one transaction (an object appears whole or not at all), and a
 *   reader's synchronous gets share one snapshot, so it never sees a key without its pieces.
 *   Writes of one key that hold a large body run one after another in this store (see
 *   `oneWriterOf`), and the key of a large body, new or replaced, is written in a transaction
 *   that reads the value it replaces, so the pieces of a replaced value are the ones removed. A
 *   journal beside the pieces (see JOURNAL_PREFIX) names those that a crash may leave with no
 *   key naming them (between the pieces and the key, or before a replaced value's pieces are
 *   removed); the next open removes them (`swept`). Left: a small body written, or a delete, by
 *   another process at the same moment as this one's large write of the key, and pieces written
 *   before the journal.
 *   An earlier version of this store would read a list of pieces as its 25 bytes: do not open a
 *   data folder with one after a large upload.
 * - Emits S3-shaped `ObjectCreated:Put` events after each put, as the filesystem store does.
 */
export interface LmdbObjectStoreOptions {
  /** The folder holding the database (`data.mdb`, `lock.mdb`). */
  path: string;
  /**
   * Which bodies are alike: a key's scope (say, its campaign's rendered messages), or
   * `undefined`. Bodies of one scope are compressed against the first one stored in it.
   */
  dictionaryScope?: (bucket: string, key: string) => string | undefined;
  /**
   * Buckets whose objects are derived again when lost (stubs, rendered messages), kept in an LMDB
   * environment of their own at `path`: their writes resolve once committed (visible to every
   * reader, safe from a killed process) without waiting for the disk flush, and the flushes the
   * other buckets' writes wait for (the ledger's) carry only their own pages.
   */
  derived?: { path: string; buckets: readonly string[] };
  /** Milliseconds since the epoch, for the journal of pieces (see `swept`); `Date.now` by default. */
  now?: () => number;
}

/** Bodies this small gain nothing from a dictionary worth the CPU (a stub, a claim: 120–300 bytes, halve or better). */
const MIN_DICTIONARY_BODY = 64;
/** Deflate looks back at most 32 KiB: a longer dictionary would only cost room. */
const MAX_DICTIONARY_BYTES = 32 * 1024;
/** Bodies larger than this (an audience) are left to LZ4: a dictionary helps alike, small bodies. */
const MAX_DEFLATED_BODY = 256 * 1024;
/**
 * A body compressed against its dictionary starts with this byte, then a format byte, the
 * dictionary's 8-byte id, the compressed stream. Every other body is its UTF-8 text, and 0xC1
 * never occurs in UTF-8. Not a byte of 250 or more: lmdb takes a value that starts so for one of
 * its own compressed ones and compresses it again, on the writer's thread (about a tenth of the
 * pipeline's CPU, and as much again to read it back).
 */
const COMPRESSED = 0xc1;
// Versions before 0xC1 read such a body as its bytes: do not open a data folder with one after this one has written to it.
/** What marked such a body before (still read). */
const COMPRESSED_BEFORE = 0xff;
/** Raw deflate (zlib, level 3) against the dictionary: what the store wrote before LZ4; still read. */
const FORMAT_DEFLATE_RAW = 1;
/**
 * An LZ4 block (its length first) against the dictionary (`lz4-napi`, lz4_flex). Deflate's
 * sync calls cost about 30 µs each in the store, most of it zlib's set-up (a stream object and
 * about 270 KB of state per call), four writes and as many reads a recipient; LZ4 a few.
 */
const FORMAT_LZ4 = 2;
const HEADER_BYTES = 10;
/** Not a valid bucket name (no underscore allowed): never one of the port's buckets. */
const DICTIONARIES_DB = '_dictionaries';
/**
 * In `DICTIONARIES_DB`, beside the dictionaries (named by their id in hex): `<prefix><bucket>/<scope>`
 * holds the id of the scope's dictionary. Each dictionary gets a random id, so one made after a
 * scope's dictionary was dropped (see `dropDictionary`) is never read for a body of the one
 * before. Dictionaries made before these records are named by a hash of the scope (`hashedId`).
 */
const SCOPE_PREFIX = '~scope/';
/**
 * Dictionaries held in memory (by id, and by scope), the least recently used forgotten first and
 * read again when needed: a campaign has four scopes (stubs, rendered messages, claims, outcomes),
 * and a long-running process otherwise kept every campaign's, about 15 KB for the rendered
 * messages'. 256 holds 64 campaigns at work at once, at most 8 MB.
 */
const DICTIONARIES_HELD = 256;
/**
 * The value of a body stored in pieces: this byte, the pieces' 12-byte id, their count (4 bytes)
 * and the body's size (8 bytes); its pieces are `<id hex>/<n>` in `CHUNKS_DB`. Bytes are stored
 * as they came, so a plain body may start with this byte too (an upload in Windows-1252 whose
 * first letter is þ): a value is taken for a list of pieces only if all of it agrees and its
 * first piece exists (see `piecesOf`).
 */
const CHUNKED = 0xfe;
const CHUNKED_BYTES = 25;
const CHUNKS_DB = '_chunks';
/** More pieces than this (16 GiB) is no list of ours. */
const MAX_PIECES = 16_384;
/** Bodies larger than this are stored in pieces of this size (see the class comment). */
export const CHUNK_BYTES = 1024 * 1024;
/**
 * The journal of pieces no key may name, in `CHUNKS_DB` beside them: `<prefix><id hex>` holds
 * `{ state, at }`. "writing" is put before a body's pieces and removed in the transaction that
 * writes the key naming them; "dropped" is put in the transaction that replaces or removes a key
 * naming pieces, and removed with them. `~` sorts after every piece's key (hex).
 */
const JOURNAL_PREFIX = '~pieces/';
const JOURNAL_END = '~pieces0';
/** Pieces still being written after this long were left by a crash: swept at the next open. */
export const UNFINISHED_PIECES_MS = 60 * 60 * 1000;

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,62}$/;
/** S3's limit; LMDB's own is about 1,978 bytes. */
const MAX_KEY_BYTES = 1024;
const MAX_BUCKETS = 32;
/**
 * Address space reserved for the map up front (the file still grows only as pages are written; past
 * it lmdb grows the map itself: 16 GiB holds about 3,000,000 recipients).
 * Growing it from lmdb's small default remaps it several times on the way, and every old mapping's
 * pages stayed resident: 308 MB of file-backed RSS for a 20,000-recipient run, 162 MB with this.
 */
const MAP_BYTES = 16 * 1024 ** 3;

export class LmdbObjectStore implements EventedObjectStore {
  private readonly events = new ObjectCreatedEvents();
  private readonly root: RootDatabase;
  /** The environment of the derived buckets, when they have one of their own. */
  private readonly derivedRoot: RootDatabase | undefined;
  private readonly derivedBuckets: ReadonlySet<string>;
  private readonly buckets = new Map<string, Database<Buffer, string>>();
  /** Each environment's dictionaries: a body and its dictionary are committed in the same one. */
  private readonly dictionaries: Database<Buffer, string>;
  private readonly derivedDictionaries: Database<Buffer, string> | undefined;
  /** Each environment's pieces of bodies larger than `CHUNK_BYTES`. */
  private readonly chunks: Database<Buffer, string>;
  private readonly derivedChunks: Database<Buffer, string> | undefined;
  /** Writes of a key that hold a large body, by `bucket/key`: the last one's end (see `oneWriterOf`). */
  private readonly largeWrites = new Map<string, Promise<void>>();
  /** Dictionaries by id (hex), once read or made. */
  private readonly dictionaryById = new RecentMap<string, Buffer>(DICTIONARIES_HELD);
  /** A scope's dictionary being read or made: concurrent puts of a new scope make it once. */
  private readonly dictionaryOf = new RecentMap<string, Promise<{ id: Buffer; bytes: Buffer }>>(DICTIONARIES_HELD);
  private readonly dictionaryScope: LmdbObjectStoreOptions['dictionaryScope'];
  private readonly now: () => number;
  /**
   * How many sets of pieces that no key names the store removed when it opened (a crash between a
   * large body's pieces and its key, or before a replaced body's pieces were removed): the sweep
   * runs in the background from the constructor; a sweep that fails leaves them for the next open.
   */
  readonly swept: Promise<number>;

  constructor(options: LmdbObjectStoreOptions) {
    // The derived environment first: a folder whose `store` exists without it reads as one made before the split.
    this.derivedRoot = options.derived === undefined ? undefined : openRoot(options.derived.path);
    this.root = openRoot(options.path);
    this.derivedBuckets = new Set(this.derivedRoot === undefined ? [] : options.derived!.buckets);
    this.dictionaries = this.root.openDB<Buffer, string>(DICTIONARIES_DB, { encoding: 'binary' });
    this.derivedDictionaries = this.derivedRoot?.openDB<Buffer, string>(DICTIONARIES_DB, { encoding: 'binary' });
    this.chunks = this.root.openDB<Buffer, string>(CHUNKS_DB, { encoding: 'binary', compression: true });
    this.derivedChunks = this.derivedRoot?.openDB<Buffer, string>(CHUNKS_DB, { encoding: 'binary', compression: true });
    this.dictionaryScope = options.dictionaryScope;
    this.now = options.now ?? Date.now;
    const sweeps = [this.sweep(this.chunks), ...(this.derivedChunks === undefined ? [] : [this.sweep(this.derivedChunks)])];
    this.swept = Promise.all(sweeps).then(
      (counts) => counts.reduce((a, b) => a + b, 0),
      () => 0,
    );
  }

  onObjectCreated(filter: ObjectCreatedFilter, listener: ObjectCreatedListener): () => void {
    return this.events.subscribe(filter, listener);
  }

  async get(bucket: string, key: string): Promise<string | undefined> {
    checkKey(key);
    await nextTurn();
    try {
      const stored = this.db(bucket).get(key);
      return stored === undefined ? undefined : this.decode(stored, bucket, key);
    } catch (err) {
      throw unavailable(err, 'get', bucket, key);
    }
  }

  /** A value is read whole (LMDB keeps one per object), but a plain one is not turned into text. */
  async getHead(bucket: string, key: string, maxBytes: number): Promise<ObjectHead | undefined> {
    checkHeadBytes(maxBytes);
    checkKey(key);
    await nextTurn();
    let stored: Buffer | undefined;
    try {
      stored = this.db(bucket).get(key);
    } catch (err) {
      throw unavailable(err, 'read the head of', bucket, key);
    }
    if (stored === undefined) return undefined;
    const pieces = this.piecesOf(stored, bucket);
    if (pieces !== undefined) return { bytes: this.readPieces(pieces, bucket, key, maxBytes).subarray(0, maxBytes), size: pieces.size };
    return headOf(isDeflated(stored) ? Buffer.from(this.decode(stored, bucket, key), 'utf8') : stored, maxBytes);
  }

  async put(bucket: string, key: string, bytesOrText: string | Uint8Array, options: PutOptions = {}): Promise<void> {
    checkKey(key);
    // Every object is UTF-8 text (JSON, CSV, rendered messages), read back as text. Bytes are
    // stored as they are: a 40 MB upload turned into text and back held the event loop 80 ms.
    const body = bytesOrText;
    try {
      const db = this.db(bucket);
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const large = bytes.length > CHUNK_BYTES;
      const create = options.ifNoneMatch === '*';
      const encoded = await this.oneWriterOf(bucket, key, large || this.piecesOf(db.get(key), bucket) !== undefined, async () => {
        const settled = this.derivedBuckets.has(bucket) ? committed : durably;
        if (!large && this.piecesOf(db.get(key), bucket) === undefined) {
          // Neither this body nor the one it replaces has pieces: one write (the claims' and outcomes' path).
          const encoded = await this.encode(bucket, key, bytes);
          const value = encoded.value;
          if (!create) await settled(db.put(key, value));
          else if (!(await settled(db.ifNoExists(key, () => void db.put(key, value))))) throw new ObjectExistsError(bucket, key);
          return encoded;
        }
        // A create that will lose writes no pieces (the check inside the transaction still decides a race).
        if (create && large && db.get(key) !== undefined) throw new ObjectExistsError(bucket, key);
        // A large body's pieces first, then its key (see CHUNK_BYTES), in a transaction with the journal.
        const written = large ? await this.putPieces(bucket, bytes) : undefined;
        const encoded = written === undefined ? await this.encode(bucket, key, bytes) : { value: written.value };
        const value = encoded.value;
        const outcome = await this.transact(bucket, () => this.writeKey(bucket, key, value, written?.pieces, create));
        if (outcome === 'exists') {
          await this.removePieces(bucket, written?.pieces);
          throw new ObjectExistsError(bucket, key);
        }
        await this.removePieces(bucket, outcome);
        return encoded;
      });
      await this.againIfDropped(bucket, key, bytes, encoded);
    } catch (err) {
      throw unavailable(err, 'put', bucket, key);
    }
    this.events.emit(bucket, key, body);
    await nextTurn();
  }

  /**
   * The body is collected (bounded by `maxBytes`) and stored once it has all come, as `put` stores
   * it (a large one in pieces, then its key). The filesystem store writes it as it comes.
   */
  async putStream(bucket: string, key: string, body: BodyStream, options: PutStreamOptions = {}): Promise<{ bytes: number }> {
    checkKey(key);
    const bytes = await collectBody(body, { bucket, key }, options);
    await this.put(bucket, key, bytes, options);
    return { bytes: bytes.length };
  }

  async delete(bucket: string, key: string): Promise<void> {
    checkKey(key);
    try {
      const db = this.db(bucket);
      const pieced = this.piecesOf(db.get(key), bucket) !== undefined;
      await this.oneWriterOf(bucket, key, pieced, async () => {
        const settled = this.derivedBuckets.has(bucket) ? committed : durably;
        if (this.piecesOf(db.get(key), bucket) === undefined) {
          await settled(db.remove(key));
          return;
        }
        const removed = await this.transact(bucket, () => this.writeKey(bucket, key, undefined));
        if (removed !== 'exists') await this.removePieces(bucket, removed);
      });
    } catch (err) {
      throw unavailable(err, 'delete', bucket, key);
    }
    await nextTurn();
  }

  /**
   * Removes the dictionary of `scope`, which must be the prefix of its keys in `bucket` (as the
   * data folder's scopes are: a campaign's rendered messages), once no key under it is left: the
   * dictionary is a copy of the scope's first body, so retention, having deleted a finished
   * campaign's rendered messages, removes it too. Answers whether one was removed: none while a
   * key under `scope` remains (checked inside the write transaction), or when there is none. A
   * body of the scope written afterwards gets a new dictionary under a new id; one encoded
   * against the dropped dictionary by a writer that still knew it, in this process or another,
   * is written again (see `againIfDropped`). Until then it cannot be read (a retryable error),
   * and if the writer dies first, or its second write fails, it never can: such a write into a
   * scope as it is dropped needs a render of a campaign retention is sweeping, which nothing
   * starts (a finished campaign's renders are over).
   */
  async dropDictionary(bucket: string, scope: string): Promise<boolean> {
    const name = `${bucket}/${scope}`;
    const db = this.db(bucket);
    const dictionaries = this.dictionariesOf(bucket);
    let dropped: string | undefined;
    try {
      dropped = await this.transact(bucket, () => {
        for (const key of db.getKeys({ start: scope })) {
          if (key.startsWith(scope)) return undefined;
          break;
        }
        const named = dictionaries.get(SCOPE_PREFIX + name);
        const hex = (named ?? hashedId(name)).toString('hex');
        if (named !== undefined) void dictionaries.remove(SCOPE_PREFIX + name);
        if (!dictionaries.doesExist(hex)) return undefined;
        void dictionaries.remove(hex);
        return hex;
      });
    } catch (err) {
      throw unavailable(err, 'drop the dictionary of', bucket, scope);
    }
    this.dictionaryOf.delete(name);
    if (dropped !== undefined) this.dictionaryById.delete(dropped);
    return dropped !== undefined;
  }

  async list(bucket: string, prefix: string, options: { startAfter?: string; limit?: number } = {}): Promise<ListPage> {
    await nextTurn();
    const limit = options.limit ?? 1000;
    const { startAfter } = options;
    const start = startAfter !== undefined && startAfter > prefix ? startAfter : prefix;
    const keys: string[] = [];
    let more = false;
    try {
      for (const key of this.db(bucket).getKeys({ start })) {
        if (!key.startsWith(prefix)) break;
        if (startAfter !== undefined && key <= startAfter) continue;
        if (keys.length === limit) {
          more = true;
          break;
        }
        keys.push(key);
      }
    } catch (err) {
      throw unavailable(err, 'list', bucket, prefix);
    }
    return more ? { keys, nextStartAfter: keys[keys.length - 1] } : { keys };
  }

  /** Waits for queued writes, then closes the database (both environments). */
  async close(): Promise<void> {
    await this.swept;
    await Promise.all([this.root.close(), this.derivedRoot?.close()]);
  }

  /** The stored form of a body: compressed against its scope's dictionary (named, with the scope), or its UTF-8 text. */
  private async encode(bucket: string, key: string, body: string | Uint8Array): Promise<Encoded> {
    const text = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const scope = text.length >= MIN_DICTIONARY_BODY && text.length <= MAX_DEFLATED_BODY ? this.dictionaryScope?.(bucket, key) : undefined;
    if (scope === undefined) return { value: text };
    const name = `${bucket}/${scope}`;
    const dictionary = await this.dictionaryFor(bucket, name, text);
    const header = Buffer.from([COMPRESSED, FORMAT_LZ4]);
    return {
      value: Buffer.concat([header, dictionary.id, compressSync(text, dictionary.bytes)]),
      against: { scope, name, id: dictionary.id.toString('hex') },
    };
  }

  private decode(stored: Buffer, bucket: string, key: string): string {
    const pieces = this.piecesOf(stored, bucket);
    if (pieces !== undefined) return this.readPieces(pieces, bucket, key).toString('utf8');
    if (!isDeflated(stored)) return stored.toString('utf8');
    const id = stored.subarray(2, HEADER_BYTES).toString('hex');
    const dictionary = this.dictionaryById.get(id) ?? this.readDictionary(this.dictionariesOf(bucket), id);
    const format = stored[1];
    if ((format !== FORMAT_DEFLATE_RAW && format !== FORMAT_LZ4) || dictionary === undefined) {
      const why = dictionary === undefined ? `its dictionary ${id} is missing` : `its format ${format} is unknown`;
      throw new RetryableError('STORE_UNAVAILABLE', `the local store cannot read ${bucket}/${key}: ${why}`);
    }
    const body = stored.subarray(HEADER_BYTES);
    return (format === FORMAT_LZ4 ? uncompressSync(body, dictionary) : inflateRawSync(body, { dictionary })).toString('utf8');
  }

  /**
   * Writes `bytes` as pieces of CHUNK_BYTES, each in a batch of its own, after a journal entry that
   * says they are being written; returns the value that names them, and them.
   */
  private async putPieces(bucket: string, bytes: Buffer): Promise<{ value: Buffer; pieces: Pieces }> {
    const id = randomBytes(12);
    const hex = id.toString('hex');
    const count = Math.ceil(bytes.length / CHUNK_BYTES);
    const chunks = this.chunksOf(bucket);
    const settled = this.derivedBuckets.has(bucket) ? committed : durably;
    await settled(chunks.put(JOURNAL_PREFIX + hex, journalEntry('writing', this.now())));
    const keys: string[] = [];
    for (let n = 0; n < count; n++) {
      keys.push(`${hex}/${n}`);
      await settled(chunks.put(keys[n]!, bytes.subarray(n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES)));
    }
    const value = Buffer.alloc(CHUNKED_BYTES);
    value[0] = CHUNKED;
    id.copy(value, 1);
    value.writeUInt32BE(count, 13);
    value.writeBigUInt64BE(BigInt(bytes.length), 17);
    return { value, pieces: { id: hex, keys, size: bytes.length } };
  }

  /**
   * Inside a write transaction: sets `key` to `value` (removes it when undefined; a create leaves an
   * existing one and answers "exists"), and keeps the journal in step in the same commit: the new
   * value's pieces are no longer "writing", the old value's are "dropped". Answers the old pieces.
   */
  private writeKey(bucket: string, key: string, value: Buffer | undefined, pieces?: Pieces, create = false): Pieces | undefined | 'exists' {
    const db = this.db(bucket);
    const chunks = this.chunksOf(bucket);
    const before = db.get(key);
    if (create && before !== undefined) return 'exists';
    // Pieces whose entry is gone were swept by an open that took this writer for a crashed one
    // (paused over UNFINISHED_PIECES_MS): a key must not name them.
    if (pieces !== undefined && !chunks.doesExist(JOURNAL_PREFIX + pieces.id))
      throw new RetryableError(
        'STORE_UNAVAILABLE',
        `the local store removed the pieces of ${bucket}/${key} before its key was written; write it again`,
      );
    const replaced = this.piecesOf(before, bucket);
    if (value === undefined) void db.remove(key);
    else void db.put(key, value);
    if (pieces !== undefined) void chunks.remove(JOURNAL_PREFIX + pieces.id);
    if (replaced !== undefined) void chunks.put(JOURNAL_PREFIX + replaced.id, journalEntry('dropped', this.now()));
    return replaced;
  }

  /**
   * Removes the pieces the journal names that no key names: "dropped" ones, and "writing" ones
   * older than UNFINISHED_PIECES_MS (a writer in another process may still be at work on younger
   * ones). Answers how many sets it removed.
   */
  private async sweep(chunks: Database<Buffer, string>): Promise<number> {
    const now = this.now();
    const stale: string[] = [];
    for (const { key, value } of chunks.getRange({ start: JOURNAL_PREFIX, end: JOURNAL_END })) {
      const entry = readJournalEntry(value);
      if (entry !== undefined && (entry.state === 'dropped' || now - entry.at >= UNFINISHED_PIECES_MS))
        stale.push(key.slice(JOURNAL_PREFIX.length));
    }
    for (const id of stale) {
      // Every `<id>/<n>`: "/" is 0x2F and "0" the byte after it.
      const keys = [...chunks.getKeys({ start: `${id}/`, end: `${id}0` })].map(String);
      // Committed is enough: pieces a power cut brings back are swept at the next open again.
      await Promise.all([...keys.map((pieceKey) => chunks.remove(pieceKey)), chunks.remove(JOURNAL_PREFIX + id)]);
    }
    return stale.length;
  }

  /** The pieces a stored value names, or undefined for any other value (a plain body that starts with CHUNKED included). */
  private piecesOf(stored: Buffer | undefined, bucket: string): Pieces | undefined {
    if (stored === undefined || stored.length !== CHUNKED_BYTES || stored[0] !== CHUNKED) return undefined;
    const count = stored.readUInt32BE(13);
    const size = Number(stored.readBigUInt64BE(17));
    if (count < 2 || count > MAX_PIECES || size <= (count - 1) * CHUNK_BYTES || size > count * CHUNK_BYTES) return undefined;
    const id = stored.subarray(1, 13).toString('hex');
    const keys = Array.from({ length: count }, (_, n) => `${id}/${n}`);
    return this.chunksOf(bucket).doesExist(keys[0]!) ? { id, keys, size } : undefined;
  }

  private readPieces(pieces: Pieces, bucket: string, key: string, maxBytes = Infinity): Buffer {
    const chunks = this.chunksOf(bucket);
    const parts: Buffer[] = [];
    let bytes = 0;
    for (const pieceKey of pieces.keys) {
      if (bytes >= maxBytes) break;
      const part = chunks.get(pieceKey);
      if (part === undefined)
        throw new RetryableError('STORE_UNAVAILABLE', `the local store cannot read ${bucket}/${key}: its piece ${pieceKey} is missing`);
      parts.push(part);
      bytes += part.length;
    }
    return Buffer.concat(parts, bytes);
  }

  /** Removes pieces no key names any more, and their journal entry. */
  private async removePieces(bucket: string, pieces: Pieces | undefined): Promise<void> {
    if (pieces === undefined) return;
    const chunks = this.chunksOf(bucket);
    await Promise.all([...pieces.keys.map((pieceKey) => chunks.remove(pieceKey)), chunks.remove(JOURNAL_PREFIX + pieces.id)]);
  }

  /**
   * Runs a write of `bucket/key` after the other writes of it in this store that hold a large body
   * (writing one, or replacing one), when `large` or when one is under way: what a write reads as
   * the value it replaces is then the value it replaces, and no piece is left without a key.
   * (Writers in other processes are not ordered so: two of them overwriting one large body at
   * once may leave the pieces of one, unread.)
   */
  private async oneWriterOf<T>(bucket: string, key: string, large: boolean, write: () => Promise<T>): Promise<T> {
    const id = `${bucket}/${key}`;
    const before = this.largeWrites.get(id);
    if (!large && before === undefined) return write();
    const run = (before ?? Promise.resolve()).then(write);
    const after = run.then(
      () => undefined,
      () => undefined,
    );
    this.largeWrites.set(id, after);
    try {
      return await run;
    } finally {
      if (this.largeWrites.get(id) === after) this.largeWrites.delete(id);
    }
  }

  private chunksOf(bucket: string): Database<Buffer, string> {
    return this.derivedBuckets.has(bucket) ? this.derivedChunks! : this.chunks;
  }

  /**
   * `fn` in a write transaction of the bucket's environment; resolves once committed and, outside
   * the derived buckets, flushed (a transaction's promise carries no `flushed` of its own).
   */
  private async transact<T>(bucket: string, fn: () => T): Promise<T> {
    const derived = this.derivedBuckets.has(bucket);
    const root = derived ? this.derivedRoot! : this.root;
    // A child transaction: one that throws is rolled back (a plain one commits what it wrote so far).
    const result = await root.childTransaction(fn);
    if (!derived) await root.flushed;
    return result;
  }

  private dictionariesOf(bucket: string): Database<Buffer, string> {
    return this.derivedBuckets.has(bucket) ? this.derivedDictionaries! : this.dictionaries;
  }

  private readDictionary(dictionaries: Database<Buffer, string>, id: string): Buffer | undefined {
    const bytes = dictionaries.get(id);
    if (bytes !== undefined) this.dictionaryById.set(id, bytes);
    return bytes;
  }

  /**
   * The scope's dictionary: the one stored (by this process or another), else `first` (this
   * body) under a new random id, stored with the scope's record of it in one transaction before
   * any body uses it, in the bucket's environment (committed, and in a durable one flushed, first).
   * Of two processes making one at once, the first to commit wins and both use its dictionary. A
   * dictionary never changes once stored; it is only ever dropped whole (`dropDictionary`).
   */
  private dictionaryFor(bucket: string, scope: string, first: Buffer): Promise<{ id: Buffer; bytes: Buffer }> {
    let made = this.dictionaryOf.get(scope);
    if (made === undefined) {
      made = (async () => {
        const dictionaries = this.dictionariesOf(bucket);
        // A drop may remove the one found or made before it is read: then it is made again, twice at most.
        for (let tries = 0; ; tries++) {
          const stored = this.storedDictionary(dictionaries, scope);
          if (stored !== undefined) return stored;
          if (tries === 2)
            throw new RetryableError(
              'STORE_UNAVAILABLE',
              `the local store could not keep a dictionary for ${scope}: dropped each time it was made`,
            );
          const id = randomBytes(HEADER_BYTES - 2);
          const bytes = first.subarray(0, MAX_DICTIONARY_BYTES);
          await this.transact(bucket, () => {
            // Made meanwhile by another store on the folder (or, named by the scope's hash, by an earlier version).
            if (dictionaries.doesExist(SCOPE_PREFIX + scope) || dictionaries.doesExist(hashedId(scope).toString('hex'))) return;
            void dictionaries.put(id.toString('hex'), bytes);
            void dictionaries.put(SCOPE_PREFIX + scope, id);
          });
        }
      })();
      // A failed write is tried again by the next put rather than remembered.
      made.catch(() => {
        if (this.dictionaryOf.peek(scope) === made) this.dictionaryOf.delete(scope);
      });
      this.dictionaryOf.set(scope, made);
    }
    return made;
  }

  /** The scope's dictionary as stored: the one its record names, else one made before the records (under the scope's hash). */
  private storedDictionary(dictionaries: Database<Buffer, string>, scope: string): { id: Buffer; bytes: Buffer } | undefined {
    const named = dictionaries.get(SCOPE_PREFIX + scope);
    const id = named === undefined ? hashedId(scope) : Buffer.from(named);
    const bytes = this.readDictionary(dictionaries, id.toString('hex'));
    return bytes === undefined ? undefined : { id, bytes };
  }

  /**
   * After a put: if its body was compressed against a dictionary that is gone (a drop found the
   * scope empty just before the body committed), the body is written again against the scope's
   * new one, unless the key was written or removed meanwhile. One read per compressed body put.
   */
  private async againIfDropped(bucket: string, key: string, bytes: Buffer, encoded: Encoded): Promise<void> {
    const dictionaries = this.dictionariesOf(bucket);
    const db = this.db(bucket);
    while (encoded.against !== undefined && !dictionaries.doesExist(encoded.against.id)) {
      // The drop forgets the dictionary once it has ended; this put may come first.
      this.dictionaryOf.delete(encoded.against.name);
      this.dictionaryById.delete(encoded.against.id);
      const orphan = encoded.value;
      const again = await this.encode(bucket, key, bytes);
      const rewritten = await this.transact(bucket, () => {
        if (db.get(key)?.equals(orphan) !== true) return false;
        void db.put(key, again.value);
        return true;
      });
      if (!rewritten) {
        // Written or removed meanwhile. The dictionary this body may just have made must not outlive
        // it: dropped if its scope is empty.
        if (again.against !== undefined) await this.dropDictionary(bucket, again.against.scope);
        return;
      }
      encoded = again;
    }
  }

  private db(bucket: string): Database<Buffer, string> {
    let db = this.buckets.get(bucket);
    if (db === undefined) {
      if (!BUCKET.test(bucket)) {
        throw new ValidationError('BUCKET_INVALID', [{ where: 'bucket', message: `malformed bucket name ${JSON.stringify(bucket)}` }]);
      }
      // Binary: bodies are UTF-8 text or deflated (see `encode`); stores written as text read the same.
      const root = this.derivedBuckets.has(bucket) ? this.derivedRoot! : this.root;
      db = root.openDB<Buffer, string>(bucket, { encoding: 'binary', compression: true });
      this.buckets.set(bucket, db);
    }
    return db;
  }
}

/**
 * Every call answers in an event-loop turn of its own. A read from the map is synchronous, and
 * one commit resolves a whole batch of writes at once: answered in place, a chain of reads, or
 * the hundred worker lanes whose claims one commit made durable, all ran in one turn, and the
 * provider calls those lanes had just started reached the socket only at its end. In the kill -9
 * fault runs the time from a worker's last slot check to the call's arrival at the sink was then
 * 81 ms at the median and 644 ms at the 99th percentile (3 ms and 99 ms on the filesystem store,
 * whose calls complete one by one): past the governor's 150 ms margin, so calls of one slice could
 * reach the provider in the next, as in the one run whose sliding window held 1,017 calls against
 * 1,000. Node runs what a turn queued (a request's socket write) before the next `setImmediate`,
 * as it does between two file-system callbacks: with this, 5 ms and 132 ms in the same runs.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The id a dictionary made before the scopes' records was stored under: the first 8 bytes of the scope's SHA-256. */
function hashedId(scope: string): Buffer {
  return createHash('sha256')
    .update(scope)
    .digest()
    .subarray(0, HEADER_BYTES - 2);
}

function openRoot(path: string): RootDatabase {
  try {
    return open({ path, maxDbs: MAX_BUCKETS, compression: true, mapSize: MAP_BYTES, separateFlushed: true });
  } catch (err) {
    throw new RetryableError('STORE_UNAVAILABLE', `the local store at ${path} cannot be opened: ${reasonOf(err)}`, { cause: err });
  }
}

/** A write's result once it is committed: visible to every reader and safe from a killed process, maybe not yet on disk. */
async function committed<T>(write: Promise<T>): Promise<T> {
  return write;
}

/** A write's result once it is flushed, not only committed (with `separateFlushed`, lmdb hangs the flush on the promise). */
async function durably<T>(write: Promise<T>): Promise<T> {
  const result = await write;
  await (write as Promise<T> & { flushed?: Promise<unknown> }).flushed;
  return result;
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || Buffer.byteLength(key) > MAX_KEY_BYTES || key.includes('\u0000')) {
    throw new ValidationError('KEY_INVALID', [
      {
        where: 'key',
        message: `${JSON.stringify(String(key).slice(0, 200))} cannot be stored (empty, NUL, or over ${MAX_KEY_BYTES} bytes)`,
      },
    ]);
  }
}

function reasonOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
}

/** A database error (a full disk, a permission) as the port's retryable error, naming the object. */
function unavailable(err: unknown, op: string, bucket: string, key: string): Error {
  if (err instanceof BatonError) return err;
  return new RetryableError('STORE_UNAVAILABLE', `the local store could not ${op} ${bucket}/${key}: ${reasonOf(err)}`, { cause: err });
}

/** A body as stored, and the dictionary it was compressed against (its id in hex; its scope, and `bucket/scope`), if one. */
interface Encoded {
  value: Buffer;
  against?: { scope: string; name: string; id: string };
}

/** A large body's pieces: their id (hex), their keys in order, and the body's size in bytes. */
interface Pieces {
  id: string;
  keys: string[];
  size: number;
}

interface JournalEntry {
  state: 'writing' | 'dropped';
  at: number;
}

function journalEntry(state: JournalEntry['state'], at: number): Buffer {
  return Buffer.from(JSON.stringify({ state, at }));
}

/** A journal entry, or undefined when it cannot be read (its pieces are then left alone: a writer may be at work on them). */
function readJournalEntry(value: Buffer): JournalEntry | undefined {
  try {
    const entry = JSON.parse(value.toString('utf8')) as Partial<JournalEntry>;
    return (entry.state === 'writing' || entry.state === 'dropped') && typeof entry.at === 'number'
      ? { state: entry.state, at: entry.at }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a stored value is a body compressed against its dictionary: a marker, a format this
 * store writes, and room for the header. A plain body that happens to start with 0xFF (a UTF-16LE
 * byte-order mark is FF FE) or 0xC1 is read as it is, unless its second byte is a format's (1 or
 * 2) and it has ten bytes or more: it then reads as a compressed body whose dictionary is missing
 * (an upload would have to start with Á or ÿ in Windows-1252 and then the control character 0x01 or 0x02).
 */
function isDeflated(stored: Buffer): boolean {
  return (
    stored.length >= HEADER_BYTES &&
    (stored[0] === COMPRESSED || stored[0] === COMPRESSED_BEFORE) &&
    (stored[1] === FORMAT_DEFLATE_RAW || stored[1] === FORMAT_LZ4)
  );
}
