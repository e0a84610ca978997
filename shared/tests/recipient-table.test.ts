import { RecipientTable, packRecipientIds, recipientIdFor, unpackRecipientIds } from '../src';

const idOf = (i: number) => recipientIdFor('acme', `reader${i}@example.com`);

describe('RecipientTable', () => {
  it('gives each recipient id one index and the same id back from it', () => {
    // Prepare
    const table = new RecipientTable();
    const ids = Array.from({ length: 5_000 }, (_, i) => idOf(i));
    // Act
    const indexes = ids.map((id) => table.add(id));
    // Assess
    expect(indexes).toEqual(ids.map((_, i) => i));
    expect(table.size).toBe(5_000);
    expect(ids.map((id) => table.add(id))).toEqual(indexes);
    expect(ids.map((id) => table.indexOf(id))).toEqual(indexes);
    expect(indexes.map((i) => table.idAt(i))).toEqual(ids);
  });

  it('answers -1 for an id it does not hold, however close to one it holds', () => {
    // Prepare
    const table = new RecipientTable();
    const id = idOf(1);
    table.add(id);
    const lastDigit = id.endsWith('0') ? '1' : '0';
    // Act, Assess
    expect(table.indexOf(id.slice(0, 31) + lastDigit)).toBe(-1);
    expect(table.indexOf('0' + id.slice(1))).toBe(id.startsWith('0') ? 0 : -1);
    expect(table.indexOf(id.toUpperCase())).toBe(-1);
    expect(table.indexOf(id.slice(0, 31))).toBe(-1);
    expect(table.size).toBe(1);
  });

  it('holds ids that are not 32 lower-case hex digits as they are, beside the hex ones', () => {
    // Prepare
    const table = new RecipientTable();
    const odd = ['r1', 'waiting-0', idOf(7).toUpperCase(), 'g'.repeat(32), idOf(8) + '0', ''];
    // Act
    const indexes = [...odd, idOf(7)].map((id) => table.add(id));
    // Assess
    expect(indexes).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(indexes.map((i) => table.idAt(i))).toEqual([...odd, idOf(7)]);
    expect(odd.map((id) => table.indexOf(id))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(table.indexOf('r2')).toBe(-1);
  });

  it('keeps ids that share their first digits apart (ids made by hand, not by a hash)', () => {
    // Prepare
    const table = new RecipientTable();
    const ids = Array.from({ length: 3_000 }, (_, i) => i.toString(16).padStart(32, '0'));
    // Act
    for (const id of ids) table.add(id);
    // Assess
    expect(ids.every((id, i) => table.indexOf(id) === i && table.idAt(i) === id)).toBe(true);
  });

  it('keeps a byte per recipient for its owner, zero until set', () => {
    // Prepare
    const table = new RecipientTable();
    for (let i = 0; i < 2_000; i++) table.add(idOf(i));
    // Act
    table.setByte(1_500, 0x0b);
    // Assess
    expect(table.byteAt(1_500)).toBe(0x0b);
    expect(table.byteAt(1_499)).toBe(0);
    expect(() => table.idAt(2_000)).toThrow(RangeError);
  });

  it('holds a recipient in under 64 bytes, spare capacity included (a string in a Set alone costs more)', () => {
    // Prepare
    const table = new RecipientTable();
    const n = 100_000;
    // Act
    for (let i = 0; i < n; i++) table.add(idOf(i));
    // Assess: 16 bytes of id, a byte, 8–16 of hash slots, up to twice that before the next growth.
    expect(table.byteLength / n).toBeLessThan(64);
  });
});

describe('packRecipientIds', () => {
  it('gives back an equal list, in order, whether the ids are hex or not', () => {
    // Prepare
    const hex = Array.from({ length: 300 }, (_, i) => idOf(i));
    const mixed = [idOf(1), 'r1', ''];
    // Act
    const packed = packRecipientIds(hex);
    // Assess
    expect(packed).toBeInstanceOf(Uint32Array);
    expect((packed as Uint32Array).byteLength).toBe(16 * 300);
    expect(unpackRecipientIds(packed)).toEqual(hex);
    expect(unpackRecipientIds(packRecipientIds(mixed))).toEqual(mixed);
    expect(unpackRecipientIds(packRecipientIds([]))).toEqual([]);
  });
});
