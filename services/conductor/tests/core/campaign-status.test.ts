import { TRANSITIONS, isFinal, phaseOf, storedStatus, transition, type CampaignPhase } from '../../src/core/campaign-status';
import { CampaignStateError } from '../../src/core/errors';

const at = '2026-11-21T12:00:00.000Z';
const PHASES: CampaignPhase[] = ['draft', 'scheduled', 'sending', 'paused', 'cancelling', 'cancelled', 'done', 'failed'];

describe('the campaign transition table', () => {
  it('reads a cancelled campaign without finishedAt as cancelling, and stores cancelling as cancelled', () => {
    expect(phaseOf({ version: 1, status: 'cancelled', updatedAt: at })).toBe('cancelling');
    expect(phaseOf({ version: 1, status: 'cancelled', updatedAt: at, finishedAt: at })).toBe('cancelled');
    expect(storedStatus('cancelling')).toBe('cancelled');
    for (const p of PHASES.filter((p) => p !== 'cancelling')) expect(storedStatus(p)).toBe(p);
  });

  it('allows exactly the moves in the table and names the refused ones', () => {
    // Every (phase, action) pair: allowed iff the table lists the phase.
    for (const [action, move] of Object.entries(TRANSITIONS) as [keyof typeof TRANSITIONS, (typeof TRANSITIONS)['send']][]) {
      for (const phase of PHASES) {
        if (move.from.includes(phase)) expect(transition('c-1', phase, action)).toBe(move.to);
        else expect(() => transition('c-1', phase, action)).toThrow(CampaignStateError);
      }
    }
    expect(() => transition('c-1', 'done', 'cancel')).toThrow('cannot cancel campaign c-1: it is done');
  });

  it('never moves a campaign out of a final phase, except a done one a marketer retries', () => {
    for (const [action, move] of Object.entries(TRANSITIONS)) {
      if (action === 'reopen') continue;
      for (const from of move.from) expect(isFinal(from)).toBe(false);
    }
    expect(TRANSITIONS.reopen).toEqual({ from: ['done'], to: 'sending' });
    expect(PHASES.filter(isFinal)).toEqual(['cancelled', 'done', 'failed']);
  });

  it('lets a cancelling campaign end only as cancelled or failed', () => {
    const from = Object.entries(TRANSITIONS).filter(([, m]) => m.from.includes('cancelling'));
    expect(from.map(([, m]) => m.to).sort()).toEqual(['cancelled', 'failed']);
  });

  it('lets a scheduled campaign start, be rescheduled or be cancelled, and nothing else', () => {
    const from = Object.entries(TRANSITIONS).filter(([, m]) => m.from.includes('scheduled'));
    expect(from.map(([a]) => a).sort()).toEqual(['cancel', 'reschedule', 'start']);
    expect(transition('c-1', 'scheduled', 'start')).toBe('sending');
  });
});
