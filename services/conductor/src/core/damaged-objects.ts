/**
 * A campaign's stored objects that cannot be read, by key, with why: what its `needs-attention`
 * condition shows until each reads again.
 */
export class DamagedObjects {
  private readonly byKey = new Map<string, string>();

  /** Records a damaged object; true the first time (so it is logged once, not every scan). */
  note(key: string, reason: string): boolean {
    const known = this.byKey.has(key);
    this.byKey.set(key, reason);
    return !known;
  }

  clear(key: string): void {
    this.byKey.delete(key);
  }

  /** What needs an operator's look: each damaged object's key and the reason. */
  list(): { key: string; reason: string }[] {
    return [...this.byKey].map(([key, reason]) => ({ key, reason }));
  }
}
