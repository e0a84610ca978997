import { ObjectExistsError } from '../../src/errors';
import { MemoryObjectStore } from '../../src/object-store/memory-object-store';
import { describeLedgerContract } from '../ledger-contract';
import { describeObjectStoreContract } from './object-store-contract';

describeObjectStoreContract('MemoryObjectStore', async () => new MemoryObjectStore());
describeLedgerContract('MemoryObjectStore', async () => new MemoryObjectStore());

describe('MemoryObjectStore', () => {
  it('records every call in order, a losing conditional create included', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await store.put('b', 'k', 'one', { ifNoneMatch: '*' });

    // Act
    await expect(store.put('b', 'k', 'two', { ifNoneMatch: '*' })).rejects.toBeInstanceOf(ObjectExistsError);
    await store.get('b', 'k');
    await store.list('b', 'pre/');
    await store.delete('b', 'k');

    // Assess
    expect(store.calls).toEqual([
      { op: 'put', bucket: 'b', key: 'k' },
      { op: 'put', bucket: 'b', key: 'k' },
      { op: 'get', bucket: 'b', key: 'k' },
      { op: 'list', bucket: 'b', key: 'pre/' },
      { op: 'delete', bucket: 'b', key: 'k' },
    ]);
  });

  it('exposes stored objects by bucket/key for assertions', async () => {
    // Prepare
    const store = new MemoryObjectStore();

    // Act
    await store.put('b', 'x/y.json', '{}');

    // Assess
    expect(store.objects.get('b/x/y.json')).toBe('{}');
  });
});
