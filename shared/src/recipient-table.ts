/**
 * Recipient ids held compactly, each under a small dense number (its index: 0, 1, 2, … in the
 * order they were added) that its owner's queues and sets hold instead of the string. A recipient
 * id is 32 lower-case hex digits (keys.ts `recipientIdFor`): held here as 16 bytes, found again
 * through an open-addressing hash table of indexes. As a JavaScript string it costs about 56
 * bytes in every set, map or array that holds it, and one sliced out of a listed key keeps the
 * whole key alive: the conductor's campaign run held about 160 bytes a recipient this way
 * (docs/benchmarks.md, fourth pass). Any other id (the key schema refuses them; tests use short
 * ones) is kept as a string, in a map, beside the hex ones, so nothing is refused.
 *
 * Each index also has one byte the owner may use as it likes (the conductor's run keeps a
 * recipient's outcome there). Strings are made again only where they leave: leases, lists, the
 * summary. Used by the conductor's campaign run and by the audience parser's duplicate check.
 */
export class RecipientTable {
  /** Four 32-bit words per index: the id's hex digits, eight a word (zero for an id kept as a string). */
  private words = new Uint32Array(4 * INITIAL);
  private bytes = new Uint8Array(INITIAL);
  /** Open addressing, linear probing: index + 1, 0 for an empty slot; at most half full. */
  private slots = new Int32Array(2 * INITIAL);
  private hexCount = 0;
  private count = 0;
  private readonly otherIndex = new Map<string, number>();
  private readonly otherIds = new Map<number, string>();
  private readonly probe = new Uint32Array(4);

  /** Ids held. */
  get size(): number {
    return this.count;
  }

  /** The id's index, or -1 if it is not held. */
  indexOf(id: string): number {
    if (!hexWords(id, this.probe)) return this.otherIndex.get(id) ?? -1;
    const slot = this.findSlot(this.probe, this.slots);
    return this.slots[slot]! - 1;
  }

  /** The id's index, held from now on if it was not. */
  add(id: string): number {
    if (!hexWords(id, this.probe)) {
      const known = this.otherIndex.get(id);
      if (known !== undefined) return known;
      const index = this.append();
      this.otherIndex.set(id, index);
      this.otherIds.set(index, id);
      return index;
    }
    let slot = this.findSlot(this.probe, this.slots);
    if (this.slots[slot] !== 0) return this.slots[slot]! - 1;
    if (2 * (this.hexCount + 1) > this.slots.length) {
      this.rehash(2 * this.slots.length);
      slot = this.findSlot(this.probe, this.slots);
    }
    const index = this.append();
    this.words.set(this.probe, 4 * index);
    this.slots[slot] = index + 1;
    this.hexCount++;
    return index;
  }

  /** The id held at `index` (a new string each call). */
  idAt(index: number): string {
    if (index < 0 || index >= this.count) throw new RangeError(`RecipientTable: no recipient at index ${index}`);
    const other = this.otherIds.size > 0 ? this.otherIds.get(index) : undefined;
    return other ?? hexOf(this.words, 4 * index);
  }

  /** The owner's byte at `index` (0 until set). */
  byteAt(index: number): number {
    return this.bytes[index]!;
  }

  setByte(index: number, value: number): void {
    this.bytes[index] = value;
  }

  /** The bytes its typed arrays hold, spare capacity included (what a test guards the layout's cost with). */
  get byteLength(): number {
    return this.words.byteLength + this.bytes.byteLength + this.slots.byteLength;
  }

  private append(): number {
    if (this.count === this.bytes.length) {
      const words = new Uint32Array(2 * this.words.length);
      words.set(this.words);
      this.words = words;
      const bytes = new Uint8Array(2 * this.bytes.length);
      bytes.set(this.bytes);
      this.bytes = bytes;
    }
    return this.count++;
  }

  /** The slot holding these words, or the empty slot where they would go. */
  private findSlot(id: Uint32Array, slots: Int32Array): number {
    const mask = slots.length - 1;
    for (let slot = hashOf(id, 0) & mask; ; slot = (slot + 1) & mask) {
      const held = slots[slot]!;
      if (held === 0 || this.sameAt(held - 1, id)) return slot;
    }
  }

  private sameAt(index: number, id: Uint32Array): boolean {
    const at = 4 * index;
    const words = this.words;
    return words[at] === id[0] && words[at + 1] === id[1] && words[at + 2] === id[2] && words[at + 3] === id[3];
  }

  private rehash(length: number): void {
    const slots = new Int32Array(length);
    const mask = length - 1;
    for (const held of this.slots) {
      if (held === 0) continue;
      let slot = hashOf(this.words, 4 * (held - 1)) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = held;
    }
    this.slots = slots;
  }
}

/**
 * A list of recipient ids packed for keeping a while (16 bytes an id instead of about 60 as an
 * array of strings): `unpackRecipientIds` gives an equal list back. A list holding any id that is
 * not 32 lower-case hex digits is kept as it is.
 */
export type PackedRecipientIds = Uint32Array | readonly string[];

export function packRecipientIds(ids: readonly string[]): PackedRecipientIds {
  const words = new Uint32Array(4 * ids.length);
  const probe = new Uint32Array(4);
  for (let i = 0; i < ids.length; i++) {
    if (!hexWords(ids[i]!, probe)) return [...ids];
    words.set(probe, 4 * i);
  }
  return words;
}

export function unpackRecipientIds(packed: PackedRecipientIds): string[] {
  if (!(packed instanceof Uint32Array)) return [...packed];
  const ids: string[] = [];
  for (let at = 0; at < packed.length; at += 4) ids.push(hexOf(packed, at));
  return ids;
}

const INITIAL = 1024;
const HEX_CODE_LIST = [...'0123456789abcdef'].map((c) => c.charCodeAt(0));
const CODES: number[] = new Array<number>(32).fill(0);

/** The 32 hex digits of the four words at `at`, as one flat string. */
function hexOf(words: Uint32Array, at: number): string {
  for (let w = 0; w < 4; w++) {
    const word = words[at + w]!;
    for (let k = 0; k < 8; k++) CODES[8 * w + k] = HEX_CODE_LIST[(word >>> (28 - 4 * k)) & 0xf]!;
  }
  return String.fromCharCode(...CODES);
}

/** Writes the id's 32 hex digits into `out` as four words; false (out unspecified) if it is not 32 lower-case hex digits. */
function hexWords(id: string, out: Uint32Array): boolean {
  if (id.length !== 32) return false;
  for (let w = 0; w < 4; w++) {
    let word = 0;
    for (let k = 0; k < 8; k++) {
      const c = id.charCodeAt(8 * w + k);
      const nibble = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
      if (nibble < 0) return false;
      word = (word << 4) | nibble;
    }
    out[w] = word >>> 0;
  }
  return true;
}

/** Mixes all four words (ids made by hand, in tests or tools, may share their first digits). */
function hashOf(words: Uint32Array, at: number): number {
  let h = Math.imul(words[at]! ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ words[at + 1]!, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ words[at + 2]!, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ words[at + 3]!, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
