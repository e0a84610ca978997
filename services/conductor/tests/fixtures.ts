import type { ConductorSettings } from '../src/core/conductor';
import { SendingGovernors } from '../src/core/sending-governors';

export const DOMAIN = 'mg.example.com';

/** One sending domain with `cap` calls per minute, in one-second slices. */
export function testGovernors(cap: number): SendingGovernors {
  return new SendingGovernors({ domains: [{ domain: DOMAIN, perWindowMax: cap }], windowMs: 60_000, sliceMs: 1_000, marginMs: 500 });
}

export const buckets = { campaigns: 'campaigns', stubs: 'stubs', rendered: 'rendered' };
export const UNSUBSCRIBE_SECRET = 'test-unsubscribe-secret';

/** Settings for a conductor under test: small batches, a scan on every tick. */
export function testSettings(overrides: Partial<ConductorSettings> = {}): ConductorSettings {
  return {
    stage: 'dev',
    maxWorkers: 2,
    batchSize: 4,
    workerTimeBudgetMs: 60_000,
    leaseGraceMs: 10_000,
    scanIntervalMs: 0,
    stallMs: 30_000,
    maxAttempts: 3,
    leaseHorizonMs: 10_000,
    sigma: 2,
    publicUrl: 'http://localhost:8080',
    unsubscribeSecret: UNSUBSCRIBE_SECRET,
    ...overrides,
  };
}
