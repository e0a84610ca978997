import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InDoubtError, keys, type OutgoingEmail, type Sender } from '@baton/shared';
import { MemoryObjectStore } from '@baton/shared/memory-object-store';
import { CallJournal, journalledClaims, journalledSender, readCallJournal } from '../src/call-journal';

const ref = { customerId: 'acme', campaignId: 'c-1', recipientId: '0123456789abcdef0123456789abcdef' };

function email(): OutgoingEmail {
  return {
    from: 'a@acme.test',
    to: 'reader@example.com',
    subject: 'Hi',
    html: '<p>Hi</p>',
    text: 'Hi',
    headers: {},
    variables: { 'customer-id': ref.customerId, 'campaign-id': ref.campaignId, 'recipient-id': ref.recipientId, 'lease-id': 'lease-1' },
  };
}

describe('the provider-call journal', () => {
  let dir: string;
  let file: string;
  let journal: CallJournal;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'baton-journal-'));
    file = path.join(dir, 'calls.jsonl');
    journal = new CallJournal(file);
  });

  afterEach(() => {
    journal.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has the start on disk before the provider is called, and the answer once it came', async () => {
    // Prepare: a provider that reads the journal as it is called.
    let seenAtCall: string[] = [];
    const provider: Sender = {
      send: async () => {
        seenAtCall = readCallJournal(file).map((l) => l.e);
        return { providerId: '<1@mg>' };
      },
    };
    // Act
    await journalledSender(provider, journal).send(email());
    // Assess
    expect(seenAtCall).toEqual(['start']);
    expect(readCallJournal(file)).toEqual([
      { t: expect.any(Number), e: 'start', campaignId: 'c-1', recipientId: ref.recipientId, leaseId: 'lease-1' },
      { t: expect.any(Number), e: 'answer', campaignId: 'c-1', recipientId: ref.recipientId, leaseId: 'lease-1' },
    ]);
  });

  it('journals a failed call with its code and throws the same error', async () => {
    const error = new InDoubtError('PROVIDER_TIMEOUT', 'no answer in 10 s');
    const provider: Sender = { send: () => Promise.reject(error) };
    await expect(journalledSender(provider, journal).send(email())).rejects.toBe(error);
    expect(readCallJournal(file).map((l) => [l.e, l.code])).toEqual([
      ['start', undefined],
      ['error', 'PROVIDER_TIMEOUT'],
    ]);
  });

  it('journals a claim and its release as each is begun and once the store answered, and nothing else the store writes', async () => {
    // Prepare: a store that reads the journal while the claim is being written.
    const memory = new MemoryObjectStore();
    let seenDuringWrite: string[] | undefined;
    const put = memory.put.bind(memory);
    memory.put = async (...args) => {
      if (args[1].includes('/claims/')) seenDuringWrite ??= readCallJournal(file).map((l) => l.e);
      return put(...args);
    };
    const store = journalledClaims(memory, journal);
    // Act
    await store.put('campaigns', keys.claim(ref), '{}', { ifNoneMatch: '*' });
    await store.put('campaigns', keys.outcome(ref), '{}');
    expect(await memory.get('campaigns', keys.outcome(ref))).toBe('{}');
    await expect(store.put('campaigns', keys.claim(ref), '{}', { ifNoneMatch: '*' })).rejects.toThrow();
    await store.delete('campaigns', keys.claim(ref));
    await store.delete('campaigns', keys.outcome(ref));
    // Assess
    expect(seenDuringWrite).toEqual(['claiming']);
    expect(readCallJournal(file).map((l) => [l.e, l.recipientId])).toEqual([
      ['claiming', ref.recipientId],
      ['claimed', ref.recipientId],
      ['claiming', ref.recipientId],
      ['claim-refused', ref.recipientId],
      ['releasing', ref.recipientId],
      ['released', ref.recipientId],
    ]);
    expect(await memory.get('campaigns', keys.claim(ref))).toBeUndefined();
    expect(await memory.get('campaigns', keys.outcome(ref))).toBeUndefined();
  });

  it('appends across lives and skips a last line torn by a crash', () => {
    journal.write({ t: 1, e: 'start', campaignId: 'c-1', recipientId: 'r1' });
    journal.close();
    const next = new CallJournal(file);
    next.write({ t: 2, e: 'answer', campaignId: 'c-1', recipientId: 'r1' });
    next.close();
    appendFileSync(file, '{"t":3,"e":"sta');
    expect(readCallJournal(file).map((l) => l.t)).toEqual([1, 2]);
  });

  it('reads a journal never written as empty', () => {
    expect(readCallJournal(path.join(dir, 'none.jsonl'))).toEqual([]);
  });
});
