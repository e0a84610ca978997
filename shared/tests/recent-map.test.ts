import { RecentMap } from '../src/recent-map';

describe('RecentMap', () => {
  it('holds at most max entries and forgets the least recently used one first: a get or a set makes an entry the most recent', () => {
    // Prepare
    const map = new RecentMap<string, number>(3);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);

    // Act: a read of a, a new value of b, then two more entries.
    const a = map.get('a');
    map.set('b', 20);
    map.set('d', 4);
    const afterD = ['a', 'b', 'c', 'd'].map((k) => map.peek(k));
    map.set('e', 5);

    // Assess: c went first (least recent), then a.
    expect(a).toBe(1);
    expect(afterD).toEqual([1, 20, undefined, 4]);
    expect(['a', 'b', 'c', 'd', 'e'].map((k) => map.peek(k))).toEqual([undefined, 20, undefined, 4, 5]);
    expect(map.size).toBe(3);
  });

  it('peeks without changing the order, deletes and clears', () => {
    // Prepare
    const map = new RecentMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);

    // Act: a peek of a does not save it from the next set.
    const peeked = map.peek('a');
    map.set('c', 3);
    const deleted = [map.delete('b'), map.delete('b')];
    const sizeAfterDelete = map.size;
    map.clear();

    // Assess
    expect(peeked).toBe(1);
    expect(map.peek('a')).toBeUndefined();
    expect(deleted).toEqual([true, false]);
    expect(sizeAfterDelete).toBe(1);
    expect(map.size).toBe(0);
  });

  it('refuses a bound under one, or not a whole number', () => {
    expect(() => new RecentMap(0)).toThrow(RangeError);
    expect(() => new RecentMap(1.5)).toThrow('a RecentMap holds at least one entry: 1.5');
    expect(new RecentMap(1).max).toBe(1);
  });
});
