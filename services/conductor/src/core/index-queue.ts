/**
 * A queue of indexes, first in first out: a growable ring of 32-bit integers (4 bytes an entry
 * against 8 for a reference to a string, and no string kept alive by it).
 */
export class IndexQueue {
  private ring = new Int32Array(64);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(index: number): void {
    if (this.count === this.ring.length) this.grow();
    this.ring[(this.head + this.count) & (this.ring.length - 1)] = index;
    this.count++;
  }

  /** The oldest index, removed; -1 when empty. */
  shift(): number {
    if (this.count === 0) return -1;
    const index = this.ring[this.head]!;
    this.head = (this.head + 1) & (this.ring.length - 1);
    this.count--;
    return index;
  }

  private grow(): void {
    const ring = new Int32Array(2 * this.ring.length);
    for (let k = 0; k < this.count; k++) ring[k] = this.ring[(this.head + k) & (this.ring.length - 1)]!;
    this.ring = ring;
    this.head = 0;
  }
}
